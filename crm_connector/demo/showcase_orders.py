"""The scripted orders of the showcase customers (see ``showcase.SHOWCASE``).

Times are fixed offsets from as-of 00:00 UTC, so "delivered 5 days ago" holds for any as-of.
Each order has two lines (quantities 1 and 2) of category bestsellers, which are always on sale.
"""

from __future__ import annotations

import datetime as dt

from crm_connector.demo import scans
from crm_connector.demo.catalog import Catalog
from crm_connector.demo.config import DemoConfig
from crm_connector.demo.materialise import CANCELLED_REASON
from crm_connector.demo.orders import shipping_cents
from crm_connector.demo.people import People
from crm_connector.demo.plans import CancelPlan, PlannedLine, PlannedOrder, RefundPlan, Scan, Story
from crm_connector.demo.showcase import SHOWCASE, ShowcaseCustomer

#: When the showcase customers signed up, in days before as-of.
SIGNED_UP_DAYS_AGO = {"C0000001": 420, "C0000002": 200, "C0000003": 10}
_CARRIER = {"Germany": ("DHL", "Kassel"), "Netherlands": ("PostNL", "Nieuwegein")}

#: scenario -> (days before as-of, hour, minute) the order was placed.
PLACED = {
    "delivered_recent": (7, 9, 12),
    "delivered_old": (63, 19, 40),
    "in_transit": (2, 20, 15),
    "delayed": (6, 11, 0),
    "lost": (27, 9, 30),
    "paid_not_shipped": (1, 20, 55),
    "refunded": (24, 14, 0),
    "out_for_delivery": (4, 12, 10),
    "label_created": (1, 13, 5),
    "awaiting_payment": (1, 10, 30),
    "cancelled": (11, 19, 0),
    "partially_refunded": (14, 9, 0),
    "refund_requested": (10, 20, 0),
    "returned_to_sender": (15, 10, 0),
}


class Clock:
    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self, days_ago: int, hour: int, minute: int) -> dt.datetime:
        """``hour:minute`` UTC on the day ``days_ago`` days before as-of (negative: after)."""
        return self.now - dt.timedelta(days=days_ago) + dt.timedelta(hours=hour, minutes=minute)


def _all_items(order: PlannedOrder) -> tuple[tuple[int, int, int], ...]:
    return tuple((i, line.quantity, line.total_cents) for i, line in enumerate(order.lines))


class _Script:
    """Builds the story of one showcase order."""

    def __init__(self, t: Clock, customer: ShowcaseCustomer, order: PlannedOrder) -> None:
        self.t, self.customer, self.order = t, customer, order
        self.city = customer.city
        self.carrier, self.hub = _CARRIER[customer.country]
        self.me = f"customer:{customer.public_id}"

    def paid(self, minutes: int = 1) -> dt.datetime:
        return self.order.placed_at + dt.timedelta(minutes=minutes)

    def start(self, label: dt.datetime, pickup: dt.datetime, hub: dt.datetime) -> list[Scan]:
        return [
            scans.label_created(label),
            scans.picked_up(pickup, self.carrier),
            scans.at_hub(hub, self.hub),
        ]

    def delivered_on(self, day: int, hour: int, minute: int) -> list[Scan]:
        t = self.t
        return [
            scans.at_depot(t(day, 4, 50), self.city),
            scans.out_for_delivery(t(day, 8, 5), self.city),
            scans.delivered(t(day, hour, minute), self.city, "Delivered to the recipient"),
        ]

    def story(self, scenario: str) -> Story:
        return getattr(self, scenario)()

    def delivered_recent(self) -> Story:
        t = self.t
        return Story(
            paid_at=self.paid(),
            estimated_delivery_at=t(5, 20, 0),
            scans=self.start(t(7, 13, 5), t(7, 18, 10), t(6, 1, 40)) + self.delivered_on(5, 13, 47),
        )

    def delivered_old(self) -> Story:
        t = self.t
        return Story(
            paid_at=self.paid(),
            estimated_delivery_at=t(59, 20, 0),
            scans=self.start(t(62, 9, 15), t(62, 17, 45), t(61, 0, 20))
            + self.delivered_on(60, 11, 2),
        )

    def in_transit(self) -> Story:
        t = self.t
        return Story(
            paid_at=self.paid(),
            estimated_delivery_at=t(-2, 20, 0),
            scans=self.start(t(1, 8, 30), t(1, 17, 50), t(1, 23, 40)),
        )

    def delayed(self) -> Story:
        t = self.t
        return Story(
            paid_at=self.paid(),
            estimated_delivery_at=t(2, 20, 0),
            scans=self.start(t(6, 15, 20), t(5, 18, 0), t(4, 1, 15))
            + [
                scans.at_depot(t(2, 4, 40), self.city),
                scans.delayed_at_depot(t(2, 21, 15), self.city, "high parcel volumes"),
            ],
        )

    def lost(self) -> Story:
        t = self.t
        return Story(
            paid_at=self.paid(),
            estimated_delivery_at=t(25, 20, 0),
            scans=self.start(t(27, 12, 0), t(27, 18, 20), t(26, 2, 10))
            + [scans.overdue(t(24, 10, 0), t(26, 2, 10)), scans.declared_lost(t(5, 10, 30))],
        )

    def paid_not_shipped(self) -> Story:
        return Story(paid_at=self.paid())

    def refunded(self) -> Story:
        t = self.t
        refund = RefundPlan(
            t(18, 10, 15),
            self.me,
            "Item arrived damaged",
            self.order.total_cents,
            _all_items(self.order),
            approved_at=t(18, 11, 0),
            completed_at=t(12, 15, 0),
        )
        return Story(
            paid_at=self.paid(),
            estimated_delivery_at=t(20, 20, 0),
            refund=refund,
            scans=self.start(t(24, 17, 30), t(23, 18, 0), t(22, 0, 30))
            + self.delivered_on(20, 12, 30),
        )

    def out_for_delivery(self) -> Story:
        t = self.t
        return Story(
            paid_at=self.paid(),
            estimated_delivery_at=t(0, 20, 0),
            scans=self.start(t(4, 16, 0), t(3, 17, 30), t(2, 2, 10))
            + [
                scans.at_depot(t(1, 4, 55), self.city),
                scans.out_for_delivery(t(1, 8, 20), self.city),
                scans.attempt_failed(t(1, 16, 40), self.city),
            ],
        )

    def label_created(self) -> Story:
        t = self.t
        return Story(
            paid_at=self.paid(),
            estimated_delivery_at=t(-2, 20, 0),
            scans=[scans.label_created(t(1, 16, 20))],
        )

    def awaiting_payment(self) -> Story:
        return Story(paid_at=None)

    def cancelled(self) -> Story:
        t = self.t
        cancel = CancelPlan(t(10, 8, 15), self.me, "Ordered by mistake")
        refund = RefundPlan(
            cancel.at,
            self.me,
            f"{CANCELLED_REASON}: {cancel.reason}",
            self.order.total_cents,
            (),
            approved_at=cancel.at,
            completed_at=t(9, 10, 0),
            for_cancellation=True,
        )
        return Story(paid_at=self.paid(), cancel=cancel, refund=refund)

    def partially_refunded(self) -> Story:
        t = self.t
        first = self.order.lines[0]
        refund = RefundPlan(
            t(10, 18, 0),
            self.me,
            "Wrong size",
            first.total_cents,
            ((0, first.quantity, first.total_cents),),
            approved_at=t(10, 19, 0),
            completed_at=t(6, 12, 0),
        )
        return Story(
            paid_at=self.paid(),
            estimated_delivery_at=t(12, 20, 0),
            refund=refund,
            scans=self.start(t(14, 11, 30), t(14, 17, 40), t(13, 1, 0))
            + self.delivered_on(12, 10, 25),
        )

    def refund_requested(self) -> Story:
        t = self.t
        refund = RefundPlan(
            t(1, 11, 20),
            self.me,
            "Not as described",
            self.order.total_cents,
            _all_items(self.order),
        )
        return Story(
            paid_at=self.paid(),
            estimated_delivery_at=t(8, 20, 0),
            refund=refund,
            scans=self.start(t(9, 9, 40), t(9, 17, 50), t(9, 23, 30))
            + self.delivered_on(8, 14, 10),
        )

    def returned_to_sender(self) -> Story:
        t, city = self.t, self.city
        refund = RefundPlan(
            t(9, 20, 0),
            "system",
            "Parcel returned to the sender: address not found",
            self.order.total_cents,
            _all_items(self.order),
            approved_at=t(9, 21, 0),
            completed_at=t(8, 12, 0),
        )
        return Story(
            paid_at=self.paid(),
            estimated_delivery_at=t(13, 20, 0),
            refund=refund,
            scans=self.start(t(15, 13, 0), t(15, 18, 0), t(14, 1, 0))
            + [
                scans.at_depot(t(13, 4, 50), city),
                scans.out_for_delivery(t(13, 8, 0), city),
                scans.address_not_found(t(13, 13, 20), city),
                scans.returning(t(12, 7, 30), city),
                scans.returned(t(9, 14, 0)),
            ],
        )


def showcase_orders(
    config: DemoConfig, people: People, catalog: Catalog, tracking: scans.TrackingNumbers
) -> list[tuple[PlannedOrder, Story]]:
    t = Clock(config.now)
    persons = {p.public_id: p for p in people.persons}
    bestsellers = sorted(p.id for p in catalog.products if p.sku.endswith("-1000"))
    out: list[tuple[PlannedOrder, Story]] = []
    slot = 0
    for customer in SHOWCASE:
        person = persons[customer.public_id]
        for entry in customer.orders:
            first, second = (
                bestsellers[slot % len(bestsellers)],
                bestsellers[(slot + 5) % len(bestsellers)],
            )
            slot += 1
            lines = [
                PlannedLine(first, 1, catalog.product(first).price_cents),
                PlannedLine(second, 2, catalog.product(second).price_cents),
            ]
            subtotal = sum(line.total_cents for line in lines)
            bank = entry.scenario == "awaiting_payment"
            order = PlannedOrder(
                customer_id=person.id,
                customer_public_id=person.public_id,
                address_id=person.address_ids[0],
                country=customer.country,
                city=customer.city,
                placed_at=t(*PLACED[entry.scenario]),
                lines=lines,
                shipping_cents=shipping_cents(customer.country, subtotal),
                method="bank_transfer" if bank else "card",
                card_last4=None if bank else person.card_last4,
                number=entry.number,
                scenario=entry.scenario,
            )
            story = _Script(t, customer, order).story(entry.scenario)
            if story.scans:
                story.carrier = _CARRIER[customer.country][0]
                story.tracking_number = tracking.new(story.carrier)
            out.append((order, story))
    return out


def showcase_sign_up(config: DemoConfig) -> dict[str, dt.datetime]:
    t = Clock(config.now)
    return {public_id: t(days, 18, 30) for public_id, days in SIGNED_UP_DAYS_AGO.items()}
