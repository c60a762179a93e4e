"""'What would you recommend?': ``action_recommend_products``.

A verified customer (``verified`` + ``customer_id``) gets products picked from their own
purchase history (repeat purchases, products bought together, what is popular now); anyone
else gets our best sellers. The model is the newest ``recommendations-<date>.skops`` in the
analytics artifacts folder (written by ``crmbot analytics refresh``), loaded once per action
context and reloaded only when a newer one appears; when none is saved it is fitted once from
the CRM's orders (in a worker thread) and that fit is cached the same way. Replies name
products and why, never codes or ids.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import weakref
from dataclasses import dataclass
from pathlib import Path

from rasa_sdk import Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.common import GuardedAction, conversation_label
from actions.context import ActionContext
from crm_connector import read_transaction
from analytics import (
    AnalyticsError,
    AnalyticsSettings,
    PurchaseRecommender,
    Recommendation,
    best_sellers,
    latest_artifact_path,
    recommend_for_customer,
)
from analytics.recommend import ARTIFACT_NAME, fit_from_crm, newest_saved_recommender

log = logging.getLogger(__name__)

SHOWN = 5
PERSONAL_INTRO = "Based on what you've ordered before, you might like:"
BEST_SELLERS_INTRO = "Here are some of our best sellers right now:"
BEST_SELLERS_HINT = ("If you tell me your email address and an order number, I can suggest "
                     "things that match what you usually buy.")
NOTHING_YET = ("I don't have any recommendations for you yet. Our best sellers are on the "
               "shop's home page, and I'm happy to help with anything else.")


@dataclass
class _Cached:
    model: PurchaseRecommender
    #: The newest artifact when it was made (a broken one is not retried until a newer one
    #: appears); ``None``: no artifact was saved, the model is a fit from the CRM.
    path: Path | None


#: One recommender per action context (like its engine and FAQ retriever), dropped with it.
_models: weakref.WeakKeyDictionary[ActionContext, _Cached] = weakref.WeakKeyDictionary()
_models_lock = threading.Lock()


def _artifacts_dir() -> Path:
    """Where ``crmbot analytics refresh`` saves models (``ANALYTICS_ARTIFACTS_DIR``)."""
    return AnalyticsSettings().artifacts_dir


def _latest(directory: Path) -> Path | None:
    try:
        return latest_artifact_path(directory, ARTIFACT_NAME)
    except AnalyticsError:
        return None


def recommender(context: ActionContext) -> PurchaseRecommender:
    """The context's recommender: the newest saved artifact (reloaded only when a newer one
    appears), else one fit from the CRM's orders, cached until an artifact is saved.

    Runs in a worker thread (it reads files and may fit); raises ``AnalyticsError`` when
    there is nothing to learn from (the next request tries again).
    """
    directory = _artifacts_dir()
    latest = _latest(directory)
    cached = _models.get(context)
    if cached is not None and cached.path == latest:
        return cached.model
    with _models_lock:
        cached = _models.get(context)
        if cached is not None and cached.path == latest:
            return cached.model
        latest, model = newest_saved_recommender(directory)
        if model is not None:
            log.info("recommender loaded from %s", latest.name)
        else:
            with read_transaction(context.sessions) as session:
                model = fit_from_crm(session, as_of=context.now())
            log.info("recommender fitted from the CRM (no usable saved model)")
        _models[context] = _Cached(model, latest)
        return model


def product_name(name: str) -> str:
    """Names as a person writes them: ``WHITE HANGING HEART`` -> ``White hanging heart``."""
    name = " ".join(name.split())
    return name.capitalize() if name.isupper() else name


def _reason(item: Recommendation) -> str:
    reason = item.reason
    prefix = "often bought together with "
    if reason.startswith(prefix):
        return prefix + product_name(reason[len(prefix):])
    return reason


def describe(items: list[Recommendation], *, personal: bool) -> str:
    lines = [PERSONAL_INTRO if personal else BEST_SELLERS_INTRO]
    for item in items:
        lines.append(f"• {product_name(item.name)} ({_reason(item)})" if personal
                     else f"• {product_name(item.name)}")
    return "\n".join(lines)


class ActionRecommendProducts(GuardedAction):
    def name(self) -> str:
        return "action_recommend_products"

    async def act(
        self, context: ActionContext, dispatcher: CollectingDispatcher, tracker: Tracker,
        domain: DomainDict, customer: str | None,
    ) -> list[EventType]:
        try:
            model = await asyncio.to_thread(recommender, context)
            items = (recommend_for_customer(model, customer, SHOWN) if customer is not None
                     else best_sellers(model, SHOWN))
        except AnalyticsError as exc:
            log.info("no recommendations in conversation %s: %s", conversation_label(tracker),
                     type(exc).__name__)
            dispatcher.utter_message(text=NOTHING_YET)
            return []
        if not items:
            dispatcher.utter_message(text=NOTHING_YET)
            return []
        personal = customer is not None and any(i.personal for i in items)
        dispatcher.utter_message(text=describe(items, personal=personal))
        if customer is None:
            dispatcher.utter_message(text=BEST_SELLERS_HINT)
        return []
