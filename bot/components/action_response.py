"""Validate action-server responses with one compiled JSON-schema validator.

Rasa 3.6 checks every response of the action server (`RemoteAction._validate_action_result`)
with `jsonschema.validate(result, schema)`, which first validates the *schema* against its
meta-schema and builds a new validator, on every call. With jsonschema 4.17 (draft 2020-12 meta
schema, `$dynamicRef`) that meta-check was 20 % of the Rasa server's CPU per chat turn in a
profile of the chat-latency benchmark (py-spy, 20 concurrent customers; benchmarks/README.md,
"Chat latency"). The schema is a constant, so checking it once and reusing the validator gives
the same verdicts and the same error message for a fraction of the work.

`install()` swaps the method in; it is idempotent and is called when Rasa loads this project's
policies (`bot.components.fresh_state_policies`), so every server of this project has it.
"""

from __future__ import annotations

import functools
from typing import Any

from jsonschema import exceptions, validators
from rasa.core.actions.action import RemoteAction
from rasa.shared.constants import DOCS_BASE_URL

_MARK = "_crmbot_compiled_validator"


@functools.cache
def response_validator() -> Any:
    """The validator of `RemoteAction.action_response_format_spec()`, its schema checked once."""
    schema = RemoteAction.action_response_format_spec()
    cls = validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def validate_action_result(self: RemoteAction, result: dict[str, Any]) -> bool:
    """Drop-in for `RemoteAction._validate_action_result` (same verdict, same message)."""
    error = exceptions.best_match(response_validator().iter_errors(result))
    if error is None:
        return True
    error.message += (
        ". Failed to validate Action server response from API, "
        "make sure your response from the Action endpoint is valid. "
        f"For more information about the format visit {DOCS_BASE_URL}/custom-actions"
    )
    raise error


def install() -> None:
    """Use the compiled validator in every `RemoteAction` (idempotent)."""
    if getattr(RemoteAction._validate_action_result, _MARK, False):
        return
    setattr(validate_action_result, _MARK, True)
    RemoteAction._validate_action_result = validate_action_result  # type: ignore[method-assign]
