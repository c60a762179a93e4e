"""Low NLU confidence: ``action_default_fallback``.

1. The FAQ index first: if it answers the message confidently, that is the reply.
2. Otherwise, the first time in a row: ``utter_ask_rephrase``; from the second time in a row:
   ``utter_offer_human``. ``fallback_streak`` counts the misunderstood messages in a row and
   restarts at 0 after any message the bot understood.

As Rasa's own default fallback does, the action returns ``UserUtteranceReverted()``: the
misunderstood message does not count for what the bot predicts next (a form resumes where it
was). The streak is set after the revert so that it survives it. Because the offer is reverted
too, ``utter_offer_human`` needs buttons whose payloads name the intents (``/human_handoff``,
``/deny``) rather than a rule on a bare "yes".
"""

from __future__ import annotations

import logging

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet, UserUtteranceReverted
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.common import GuardedAction, latest_text, previous_bot_action, slot_number
from actions.context import ActionContext
from actions.faq import faq_answer, say_faq_answer
from knowledge import FaqAnswer, KnowledgeError

log = logging.getLogger(__name__)

FALLBACK_ACTION = "action_default_fallback"


def fallback_streak(tracker: Tracker) -> int:
    """Misunderstood messages in a row before the latest one."""
    if previous_bot_action(tracker) != FALLBACK_ACTION:
        return 0
    return int(slot_number(tracker, "fallback_streak"))


class ActionDefaultFallback(GuardedAction):
    def name(self) -> str:
        return FALLBACK_ACTION

    async def act(
        self, context: ActionContext, dispatcher: CollectingDispatcher, tracker: Tracker,
        domain: DomainDict, customer: str | None,
    ) -> list[EventType]:
        answer: FaqAnswer | None = None
        try:
            text = latest_text(tracker, context.settings.max_input_chars)
            answer = await faq_answer(context, text, tracker.latest_message)
        except KnowledgeError as exc:
            log.error("fallback without FAQ retrieval (%s)", exc.code)
        if answer is not None:
            say_faq_answer(dispatcher, answer)
            return [UserUtteranceReverted(), SlotSet("fallback_streak", 0.0)]
        streak = fallback_streak(tracker) + 1
        response = "utter_ask_rephrase" if streak == 1 else "utter_offer_human"
        dispatcher.utter_message(response=response)
        return [UserUtteranceReverted(), SlotSet("fallback_streak", float(streak))]

    def failure_events(self, tracker: Tracker) -> list[EventType]:
        return [UserUtteranceReverted()]
