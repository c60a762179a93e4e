"""The action server of the assistant (rasa-sdk): one module per conversation flow.

Run it with ``python -m actions.server --port 5055`` (``crmbot up`` does; ``actions.server`` says why one
process rather than ``python -m rasa_sdk --actions actions``, which serves the same). The
names of actions, slots, forms and responses are those of ``docs/conversation-design.md``.

| module | actions |
|---|---|
| ``verification`` | ``action_session_start``, ``validate_verify_form`` |
| ``order_status`` | ``action_check_order_status`` |
| ``refunds`` | ``validate_refund_form``, ``action_submit_refund`` |
| ``cancellations`` | ``validate_cancel_form``, ``action_cancel_order`` |
| ``addresses`` | ``validate_address_form``, ``action_change_address`` |
| ``faq`` | ``action_answer_faq`` |
| ``fallback`` | ``action_default_fallback`` |
| ``handoff`` | ``action_handoff`` |
| ``recommendations`` | ``action_recommend_products`` |

Settings, the database and the FAQ retriever come from ``actions.context`` (built lazily on
first use; tests install their own with ``actions.context.configure``).
"""

from actions.context import preload_in_server_worker

# No-op unless ACTIONS_PRELOAD_FAQ=true and this is a server worker process (see there).
preload_in_server_worker()
