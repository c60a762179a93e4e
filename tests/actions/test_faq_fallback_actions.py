"""FAQ answers from the real index, and the fallback stages (FAQ, rephrase, offer a person)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from rasa_sdk.events import SlotSet, UserUtteranceReverted
from trackers import action, bot, responses, run, slot, texts, tracker, turn, user

from actions.context import ActionContext
from actions.faq import ActionAnswerFaq
from actions.fallback import ActionDefaultFallback
from crm_connector import CrmSettings
from knowledge import FaqRetriever, KnowledgeSettings


async def ask(text: str, intent: str = "ask_faq"):
    return await run(ActionAnswerFaq(), tracker(text, intent))


async def test_a_question_is_answered_naming_the_faq(
    faq_context: ActionContext, faq_retriever: FaqRetriever
) -> None:
    events, [message] = await ask("how long does shipping take to Germany?")

    faq = next(f for f in faq_retriever.faqs if f.id == "shipping-time")
    assert events == []
    source = "(From our FAQ: \u201cHow long does delivery take?\u201d)"
    assert message["text"] == f"{faq.answer}\n\n{source}"


async def test_payment_question(faq_context: ActionContext) -> None:
    _, [message] = await ask("what payment methods do you accept")
    assert "(From our FAQ: \u201c" in message["text"]
    assert "pay" in message["text"].lower()


async def test_an_off_topic_question_is_not_answered(faq_context: ActionContext) -> None:
    _, messages = await ask("what's the weather in Paris tomorrow?")
    assert texts(messages).startswith("Sorry, I don't know the answer to that")
    assert "From our FAQ" not in texts(messages)
    assert responses(messages) == ["utter_offer_human"]


async def test_faq_switched_off(down_context: ActionContext) -> None:
    _, messages = await ask("how long does shipping take?")
    assert "can't answer questions from our help pages" in texts(messages)
    assert responses(messages) == ["utter_offer_human"]


async def test_a_broken_index_offers_a_person(
    sqlite_settings: CrmSettings, make_context: Callable[..., ActionContext], tmp_path: Path
) -> None:
    make_context(sqlite_settings, faq_enabled=True,
                 knowledge=KnowledgeSettings(_env_file=None, corpus_path=tmp_path / "missing.yml",
                                             index_dir=tmp_path))
    _, messages = await ask("how long does shipping take?")
    assert "can't search our help pages right now" in texts(messages)
    assert responses(messages) == ["utter_offer_human"]


# -- fallback -------------------------------------------------------------------------------
async def test_the_fallback_tries_the_faq_first(faq_context: ActionContext) -> None:
    state = tracker("how much is postage to france", "nlu_fallback")
    events, [message] = await run(ActionDefaultFallback(), state)

    assert events == [UserUtteranceReverted(), SlotSet("fallback_streak", 0.0)]
    assert "(From our FAQ: \u201cHow much does shipping cost?\u201d)" in message["text"]


async def test_first_misunderstanding_asks_to_rephrase(faq_context: ActionContext) -> None:
    state = tracker("blorp zzkx", "nlu_fallback", history=turn("hi", "greet", "utter_greet"))
    events, messages = await run(ActionDefaultFallback(), state)

    assert events == [UserUtteranceReverted(), SlotSet("fallback_streak", 1.0)]
    assert responses(messages) == ["utter_ask_rephrase"]


def after_a_fallback(streak: float) -> list[dict]:
    """The events Rasa logs for a fallback turn (the message reverted, the streak kept)."""
    return [user("qwrtz", "nlu_fallback"), action("action_extract_slots"),
            action("action_default_fallback"), bot("rephrase?"), {"event": "rewind"},
            slot("fallback_streak", streak), action("action_listen")]


async def test_second_misunderstanding_in_a_row_offers_a_person(faq_context: ActionContext) -> None:
    state = tracker("blorp again", "nlu_fallback", slots={"fallback_streak": 1.0},
                    history=after_a_fallback(1.0))
    events, messages = await run(ActionDefaultFallback(), state)

    assert events == [UserUtteranceReverted(), SlotSet("fallback_streak", 2.0)]
    assert responses(messages) == ["utter_offer_human"]


async def test_an_understood_message_restarts_the_streak(faq_context: ActionContext) -> None:
    history = [*after_a_fallback(1.0), *turn("where is my order", "order_status",
                                            "action_check_order_status")]
    state = tracker("blorp", "nlu_fallback", slots={"fallback_streak": 1.0}, history=history)
    events, messages = await run(ActionDefaultFallback(), state)

    assert events == [UserUtteranceReverted(), SlotSet("fallback_streak", 1.0)]
    assert responses(messages) == ["utter_ask_rephrase"]


async def test_the_fallback_without_faq_still_reverts(down_context: ActionContext) -> None:
    state = tracker("how much is postage", "nlu_fallback")
    events, messages = await run(ActionDefaultFallback(), state)
    assert events == [UserUtteranceReverted(), SlotSet("fallback_streak", 1.0)]
    assert responses(messages) == ["utter_ask_rephrase"]
    assert "Traceback" not in texts(messages)
