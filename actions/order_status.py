"""'Where is my order?': ``action_check_order_status``.

With an ``order_number`` slot: the status, the explanation the CRM gives (delays and lost
parcels included), the last tracking events and the expected delivery date. Without one (or
with one that is not the customer's): the customer's recent orders as buttons.
"""

from __future__ import annotations

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.common import BAD_ORDER_NUMBER, GuardedAction, in_transaction, normalise_order_number
from actions.context import ActionContext
from actions.order_text import describe_status, offer_recent_orders
from actions.wording import button, humanise
from crm_connector import OrderNotFound, get_order_status

ASK_WHICH = "Which order would you like to check? Here are your latest orders:"


class ActionCheckOrderStatus(GuardedAction):
    needs_verification = True

    def name(self) -> str:
        return "action_check_order_status"

    async def act(
        self, context: ActionContext, dispatcher: CollectingDispatcher, tracker: Tracker,
        domain: DomainDict, customer: str | None,
    ) -> list[EventType]:
        if customer is None:  # needs_verification already answered
            return []
        raw = tracker.get_slot("order_number")
        if raw is None:
            await offer_recent_orders(context, dispatcher, customer, ASK_WHICH)
            return []
        number = normalise_order_number(raw)
        if number is None:
            dispatcher.utter_message(text=BAD_ORDER_NUMBER)
            await offer_recent_orders(context, dispatcher, customer, ASK_WHICH)
            return [SlotSet("order_number", None)]
        now = context.now()
        try:
            view = await in_transaction(
                context, lambda s: get_order_status(s, customer, number, now)
            )
        except OrderNotFound as exc:
            dispatcher.utter_message(text=humanise(str(exc)))
            await offer_recent_orders(context, dispatcher, customer, ASK_WHICH)
            return [SlotSet("order_number", None)]
        buttons = []
        if view.is_lost:
            buttons = [button("Request a refund", "request_refund", order_number=number),
                       button("Talk to a person", "human_handoff")]
        elif view.is_delayed:
            buttons = [button("Talk to a person", "human_handoff")]
        text = describe_status(view, tz=context.timezone, today=now.date(),
                               timeline_events=context.settings.timeline_events_shown)
        dispatcher.utter_message(text=text, buttons=buttons)
        return [SlotSet("order_number", number)] if number != raw else []

