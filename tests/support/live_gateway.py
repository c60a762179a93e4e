"""The real web gateway (``web.app.init_app``) on loopback, as a pytest plugin shared by every
test package (registered in ``tests/conftest.py``): served from an event loop in a thread of its
own, so synchronous tests (Playwright, the demo traffic's CLI) can talk to it, with the session's
real Rasa server and action server behind it (``tests.support.stack``).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, TypeVar

import pytest

from tests.support.rasa_server import free_port

T = TypeVar("T")


class LoopThread:
    """An event loop running in a thread of its own, for the servers the (sync) browser tests
    talk to: the real gateway, fakes of outside services."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self._thread.start()

    def run(self, work: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        return asyncio.run_coroutine_threadsafe(work, self.loop).result(timeout=timeout)

    def call(self, work: Callable[[], T]) -> T:
        """``work()`` in the loop's thread (a fake's state belongs to that loop)."""
        async def call() -> T:
            return work()
        return self.run(call())

    def serve(self, app: object, port: int) -> Callable[[], None]:
        """Serve the aiohttp ``app`` on 127.0.0.1:``port``; returns the function that stops it."""
        from aiohttp import web as aioweb

        runner = aioweb.AppRunner(app, access_log=None)

        async def start() -> None:
            await runner.setup()
            await aioweb.TCPSite(runner, "127.0.0.1", port).start()

        self.run(start())
        return lambda: self.run(runner.cleanup())

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        self.loop.close()


AGENT_PASSWORD = "browser-agent-password-1"


class LiveGateway:
    """The real web app (``web.app.init_app``) served on loopback from a thread of its own,
    talking to the session's real Rasa server and action server."""

    def __init__(self, url: str, crm: object, agent_username: str, agent_name: str,
                 analytics: object) -> None:
        self.url = url
        self.crm = crm
        self.agent_username = agent_username
        self.agent_name = agent_name
        #: the ``AnalyticsSettings`` whose artifacts folder the inbox's customer panel reads
        self.analytics = analytics


# Module scope, not session: a gateway's redelivery task delivers every pending customer message
# of the database it serves, so one left running would also deliver the messages of later tests
# that share the end-to-end database (each with a gateway of its own) to the session's Rasa
# server, and those messages would reach the bot twice.
@pytest.fixture(scope="module")
def live_gateway(rasa_server, e2e_crm, tmp_path_factory) -> Iterator[LiveGateway]:  # type: ignore[no-untyped-def]
    import datetime as dt
    import functools
    import secrets

    from analytics import AnalyticsSettings
    from analytics.insights import InsightCache, customer_insights

    from crm_connector import (
        AgentRole,
        create_agent_user,
        create_db_engine,
        create_session_factory,
        write_transaction,
    )
    from web import WebSettings, init_app
    from web.state import CUSTOMER_INSIGHTS

    username = f"dana-{secrets.token_hex(3)}"
    engine = create_db_engine(e2e_crm)
    with write_transaction(
        create_session_factory(engine)
    ) as session:  # the real service, as `crmbot users add` does
        create_agent_user(
            session,
            username,
            AGENT_PASSWORD,
            AgentRole.AGENT,
            display_name="Dana Reyes",
            now=dt.datetime.now(dt.UTC),
        )
    engine.dispose()

    port = free_port()
    settings = WebSettings(
        session_secret=secrets.token_urlsafe(48),
        rasa_url=rasa_server.url,
        rasa_timeout_seconds=45,
        port=port,
    )
    app = init_app(settings, e2e_crm)
    # The customer panel reads models from a folder of this gateway's own, never the ones
    # `make run` left in var/analytics (the demo's customer ids are the tests' too).
    analytics = AnalyticsSettings(_env_file=None,
                                  artifacts_dir=tmp_path_factory.mktemp("gateway-analytics"))
    app[CUSTOMER_INSIGHTS] = functools.partial(customer_insights,
                                               cache=InsightCache(analytics))
    served = LoopThread("live-gateway")
    stop = served.serve(app, port)
    try:
        yield LiveGateway(f"http://127.0.0.1:{port}", e2e_crm, username, "Dana Reyes", analytics)
    finally:
        stop()
        served.close()
