"""FAQ questions: ``action_answer_faq`` answers the latest message from the FAQ index.

The answer names the FAQ it came from. Below the index's answer threshold the action says it
does not know and offers a person (``utter_offer_human``); it never guesses.
"""

from __future__ import annotations

import asyncio
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.common import GuardedAction, latest_text, offer_person
from actions.context import ActionContext
from knowledge import FaqAnswer

NOT_KNOWN = "Sorry, I don't know the answer to that, and I'd rather not guess."
FAQ_OFF = "I can't answer questions from our help pages right now."


async def faq_answer(context: ActionContext, text: str,
                     parse_data: dict[str, Any] | None = None) -> FaqAnswer | None:
    """The FAQ answering ``text`` (loading the retriever on first use), or ``None``.

    ``parse_data``: the message's NLU result; its sentence vector, when it is one of ``text``,
    saves encoding the text again (``knowledge.query_vector``).
    """
    if not text or not context.faq_enabled:
        return None

    def answer() -> FaqAnswer | None:
        retriever = context.faq()
        return retriever.answer(text, known=retriever.known_vector(parse_data))

    return await asyncio.to_thread(answer)


def say_faq_answer(dispatcher: CollectingDispatcher, answer: FaqAnswer) -> None:
    source = f"(From our FAQ: \u201c{answer.question}\u201d)"
    dispatcher.utter_message(text=f"{answer.answer}\n\n{source}")


class ActionAnswerFaq(GuardedAction):
    def name(self) -> str:
        return "action_answer_faq"

    async def act(
        self, context: ActionContext, dispatcher: CollectingDispatcher, tracker: Tracker,
        domain: DomainDict, customer: str | None,
    ) -> list[EventType]:
        if not context.faq_enabled:
            offer_person(dispatcher, FAQ_OFF)
            return []
        answer = await faq_answer(context, latest_text(tracker, context.settings.max_input_chars),
                                  tracker.latest_message)
        if answer is None:
            offer_person(dispatcher, NOT_KNOWN)
        else:
            say_faq_answer(dispatcher, answer)
        return []
