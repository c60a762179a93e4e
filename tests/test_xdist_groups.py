"""`make test` runs two pytest-xdist workers with `--dist loadgroup`; tests/conftest.py puts each
module, and every test of the running assistant, in one group. A pytest or xdist upgrade that
drops the group would still pass every test, only slower (the model trained and the servers
started on both workers): this notices."""

from __future__ import annotations

import os

import pytest


def test_a_test_carries_its_group_under_xdist(request: pytest.FixtureRequest) -> None:
    if "PYTEST_XDIST_WORKER" not in os.environ:
        pytest.skip("not run by pytest-xdist (PYTEST_WORKERS=0)")
    assert request.node.nodeid.endswith("@tests/test_xdist_groups.py"), request.node.nodeid


def test_a_test_of_the_assistant_is_in_its_group(e2e_platform: object,
                                                 request: pytest.FixtureRequest) -> None:
    if "PYTEST_XDIST_WORKER" not in os.environ:
        pytest.skip("not run by pytest-xdist (PYTEST_WORKERS=0)")
    assert request.node.nodeid.endswith("@assistant"), request.node.nodeid
