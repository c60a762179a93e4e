"""Handing the conversation to a person: ``action_handoff``.

Records the conversation as QUEUED in ``support_conversation`` (with the reason, the verified
customer and a short summary for the agent; see ``actions.summary``), writes an audit row,
tells the customer a person will take over (``utter_handoff``) and pauses the bot
(``ConversationPaused()``). If the queue cannot be written the bot is not paused: nobody would
pick the conversation up.

Reasons: ``verification_locked`` (too many wrong email/order pairs), ``complaint``,
``fallback`` (the bot did not understand), else the intent that asked for a person
(``human_handoff``).
"""

from __future__ import annotations

import re

from rasa_sdk import Tracker
from rasa_sdk.events import ConversationPaused, EventType
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.common import (
    GuardedAction,
    in_transaction,
    latest_intent,
    previous_bot_action,
    slot_number,
    user_intents,
)
from actions.context import ActionContext
from actions.summary import build_summary
from crm_connector import DatabaseUnavailable, queue_conversation

QUEUE_DOWN = ("I'm sorry, I can't pass you to a colleague right now because our support system "
              "is unavailable. Please try again in a few minutes.")
_GENERIC_INTENTS = frozenset({"affirm", "deny", "inform", "greet", "thank", "stop", "goodbye"})
_REASON = re.compile(r"[a-z0-9_]{1,64}")


def handoff_reason(tracker: Tracker, customer: str | None, max_failures: int) -> str:
    if customer is None and slot_number(tracker, "verification_failures") >= max_failures:
        return "verification_locked"
    if "complaint" in user_intents(tracker, 2):
        return "complaint"
    intent = latest_intent(tracker)
    if intent == "nlu_fallback" or previous_bot_action(tracker) == "action_default_fallback":
        return "fallback"
    if intent and intent not in _GENERIC_INTENTS and _REASON.fullmatch(intent):
        return intent
    return "human_handoff"


class ActionHandoff(GuardedAction):
    def name(self) -> str:
        return "action_handoff"

    async def act(
        self, context: ActionContext, dispatcher: CollectingDispatcher, tracker: Tracker,
        domain: DomainDict, customer: str | None,
    ) -> list[EventType]:
        settings = context.settings
        reason = handoff_reason(tracker, customer, settings.max_verification_failures)
        summary = build_summary(tracker, reason, max_chars=settings.handoff_summary_max_chars,
                                max_messages=settings.handoff_summary_messages)
        channel = tracker.get_latest_input_channel() or settings.default_channel
        now = context.now()
        try:
            await in_transaction(context, lambda s: queue_conversation(
                s, tracker.sender_id, channel, customer, reason, summary, now), write=True)
        except DatabaseUnavailable:
            dispatcher.utter_message(text=QUEUE_DOWN)
            return []
        dispatcher.utter_message(response="utter_handoff")
        return [ConversationPaused()]
