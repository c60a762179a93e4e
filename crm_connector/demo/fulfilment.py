"""The full story of a generated order: payment, warehouse, carrier scans, cancellation, refund.

Rates (of all orders): ~1.5% cancelled by the customer before the parcel left, ~0.8% cancelled
for a bank transfer that never arrived; of shipped parcels ~4% delayed, ~4% need a second
delivery attempt, ~0.6% are lost and ~0.6% go back to the sender; refunds (customer returns,
lost or returned parcels, goodwill for late delivery) hit ~5% of orders.
"""

from __future__ import annotations

import datetime as dt
import random

from crm_connector.demo import scans
from crm_connector.demo.materialise import CANCELLED_REASON
from crm_connector.demo.plans import CancelPlan, PlannedOrder, RefundPlan, Scan, Story
from crm_connector.demo.vocab import (
    CANCEL_REASONS,
    COUNTRIES,
    DELAY_REASONS,
    DELIVERY_OUTCOMES,
    RETURN_REASONS,
)

SUNDAY = 6
#: Reasons for which the shipping cost is refunded with a full return.
OUR_FAULT = ("Item arrived damaged", "Received the wrong item")


def at_time(day: dt.date, hour_from: float, hour_to: float, rng: random.Random) -> dt.datetime:
    """A random second between two hours of ``day`` (UTC)."""
    seconds = rng.randint(int(hour_from * 3600), int(hour_to * 3600))
    return dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC) + dt.timedelta(seconds=seconds)


def after(at: dt.datetime, hours_from: float, hours_to: float, rng: random.Random) -> dt.datetime:
    return at + dt.timedelta(seconds=rng.randint(int(hours_from * 3600), int(hours_to * 3600)))


def working_days_later(day: dt.date, count: int) -> dt.date:
    """``count`` days after ``day``, not counting Sundays (carriers do not deliver then)."""
    while count > 0:
        day += dt.timedelta(days=1)
        if day.weekday() != SUNDAY:
            count -= 1
    return day


class StoryTeller:
    def __init__(self, rng: random.Random, tracking: scans.TrackingNumbers) -> None:
        self._rng = rng
        self._tracking = tracking

    def tell(self, order: PlannedOrder) -> Story:
        rng = self._rng
        story = self._payment(order)
        if story.paid_at is None:
            return story
        label_at = self._label_time(after(story.paid_at, 1.5, 20, rng))
        if rng.random() < 0.015:
            gap = (label_at - story.paid_at).total_seconds()
            cancel_at = story.paid_at + dt.timedelta(seconds=int(gap * rng.uniform(0.1, 0.9)))
            story.cancel = CancelPlan(
                cancel_at, f"customer:{order.customer_public_id}", rng.choice(CANCEL_REASONS)
            )
            story.refund = RefundPlan(
                requested_at=cancel_at,
                requested_by=story.cancel.requested_by,
                reason=f"{CANCELLED_REASON}: {story.cancel.reason}",
                amount_cents=order.total_cents,
                items=(),
                approved_at=cancel_at,
                completed_at=after(cancel_at, 20, 50, rng),
                for_cancellation=True,
            )
            return story
        self._ship(order, story, label_at)
        return story

    # --- payment ---------------------------------------------------------------------------

    def _payment(self, order: PlannedOrder) -> Story:
        rng, placed = self._rng, order.placed_at
        if order.method == "bank_transfer":
            if rng.random() < 0.10:
                cancel = CancelPlan(
                    after(placed, 7 * 24, 7 * 24 + 2, rng),
                    "system",
                    "Payment not received within 7 days",
                )
                return Story(paid_at=None, unpaid=True, cancel=cancel)
            return Story(paid_at=after(placed, 16, 72, rng))
        if order.method == "card" and rng.random() < 0.02:
            failed = after(placed, 20 / 3600, 90 / 3600, rng)
            return Story(paid_at=after(failed, 2 / 60, 20 / 60, rng), failed_payment_at=failed)
        return Story(paid_at=after(placed, 10 / 3600, 5 / 60, rng))

    def _label_time(self, at: dt.datetime) -> dt.datetime:
        """The warehouse works 06:00-22:00, Monday to Saturday."""
        day = at.date()
        if at.hour >= 22:
            day += dt.timedelta(days=1)
        if day.weekday() == SUNDAY:
            day += dt.timedelta(days=1)
        if day != at.date() or at.hour < 6:
            return at_time(day, 6, 8, self._rng)
        return at

    # --- shipping ------------------------------------------------------------------------

    def _ship(self, order: PlannedOrder, story: Story, label_at: dt.datetime) -> None:
        rng = self._rng
        country = COUNTRIES[order.country]
        carrier = rng.choice(country.carriers)
        pickup_day = label_at.date()
        if label_at.hour >= 15 or pickup_day.weekday() == SUNDAY:
            pickup_day = working_days_later(pickup_day, 1)
        pickup_at = at_time(pickup_day, 17, 19.5, rng)
        transit = country.transit_days + (1 if rng.random() < 0.3 else 0)
        planned = working_days_later(pickup_day, transit)

        roll = rng.random()
        fate = (
            "lost"
            if roll < 0.006
            else "returned"
            if roll < 0.012
            else "delayed"
            if roll < 0.052
            else "second_attempt"
            if roll < 0.092
            else "normal"
        )
        if fate in ("lost", "delayed"):
            slack = 0
        elif fate == "second_attempt":
            slack = rng.choice((1, 1, 2))
        else:
            slack = rng.choices((0, 1, 2), weights=(0.55, 0.35, 0.10))[0]
        estimate_day = working_days_later(planned, slack)
        story.carrier = carrier
        story.tracking_number = self._tracking.new(carrier)
        story.estimated_delivery_at = dt.datetime.combine(estimate_day, dt.time(20), tzinfo=dt.UTC)

        depot_at = at_time(planned, 3.5, 6, rng)
        hubs = list(country.hubs)
        route = [rng.choice(hubs)] if len(hubs) == 1 or rng.random() < 0.5 else rng.sample(hubs, 2)
        span = (depot_at - pickup_at).total_seconds() - 4 * 3600
        hub_scans = [
            scans.at_hub(
                pickup_at
                + dt.timedelta(
                    seconds=int(2 * 3600 + span * (i + 1) / (len(route) + 1)) + rng.randint(0, 1800)
                ),
                hub,
            )
            for i, hub in enumerate(route)
        ]
        events: list[Scan] = [scans.label_created(label_at), scans.picked_up(pickup_at, carrier)]
        city = order.city
        if fate == "lost":
            last = hub_scans[0]
            events.append(last)
            events.append(
                scans.overdue(at_time(estimate_day + dt.timedelta(days=1), 9, 12, rng), last.at)
            )
            lost_at = after(last.at, 18 * 24, 25 * 24, rng)
            events.append(scans.declared_lost(lost_at))
            story.scans = events
            if rng.random() < 0.85:
                requested = after(lost_at, 2, 72, rng)
                by = f"customer:{order.customer_public_id}" if rng.random() < 0.7 else "system"
                story.refund = self._full_refund(order, requested, by, "Parcel lost in transit")
            return
        events.extend(hub_scans)
        events.append(scans.at_depot(depot_at, city))
        if fate == "returned":
            out = at_time(planned, 7, 10, rng)
            failed = at_time(planned, 11, 17, rng)
            back_day = working_days_later(planned, 1)
            home = at_time(working_days_later(back_day, rng.randint(2, 4)), 10, 16, rng)
            events += [
                scans.out_for_delivery(out, city),
                scans.address_not_found(failed, city),
                scans.returning(at_time(back_day, 6, 9, rng), city),
                scans.returned(home),
            ]
            story.scans = events
            story.refund = self._full_refund(
                order,
                after(home, 2, 20, rng),
                "system",
                "Parcel returned to the sender: address not found",
            )
            return
        day = planned
        if fate == "delayed":
            events.append(
                scans.delayed_at_depot(
                    at_time(planned, 20.5, 23.5, rng), city, rng.choice(DELAY_REASONS)
                )
            )
            day = working_days_later(planned, rng.randint(1, 4))
        elif fate == "second_attempt":
            events += [
                scans.out_for_delivery(at_time(day, 7, 10, rng), city),
                scans.attempt_failed(at_time(day, 14, 19.5, rng), city),
            ]
            day = working_days_later(day, 1)
        out_at = at_time(day, 7, 10, rng)
        delivered_at = after(out_at, 1, 9, rng)
        events += [
            scans.out_for_delivery(out_at, city, retry=fate == "second_attempt"),
            scans.delivered(delivered_at, city, rng.choice(DELIVERY_OUTCOMES)),
        ]
        story.scans = events
        if fate == "delayed" and rng.random() < 0.2:
            requested = after(delivered_at, 1, 72, rng)
            amount = order.shipping_cents or max(100, min(500, order.total_cents // 10))
            approved = after(requested, 0.2, 2, rng)
            story.refund = RefundPlan(
                requested,
                f"customer:{order.customer_public_id}",
                "Goodwill for a late delivery",
                amount,
                (),
                approved_at=approved,
                completed_at=after(approved, 1, 24, rng),
            )
        elif fate != "delayed" and rng.random() < 0.036:
            story.refund = self._customer_return(order, delivered_at)

    # --- refunds ---------------------------------------------------------------------------

    def _full_refund(
        self, order: PlannedOrder, requested: dt.datetime, by: str, reason: str
    ) -> RefundPlan:
        rng = self._rng
        items = tuple((i, line.quantity, line.total_cents) for i, line in enumerate(order.lines))
        approved = after(requested, 0.1, 4, rng)
        return RefundPlan(
            requested,
            by,
            reason,
            order.total_cents,
            items,
            approved_at=approved,
            completed_at=after(approved, 24, 72, rng),
        )

    def _customer_return(self, order: PlannedOrder, delivered_at: dt.datetime) -> RefundPlan:
        rng = self._rng
        by = f"customer:{order.customer_public_id}"
        reason = rng.choice(RETURN_REASONS)
        late = rng.random() < 0.04
        requested = after(delivered_at, (31 if late else 0.3) * 24, (60 if late else 27) * 24, rng)
        if rng.random() < 0.55 or (len(order.lines) == 1 and order.lines[0].quantity == 1):
            items = tuple(
                (i, line.quantity, line.total_cents) for i, line in enumerate(order.lines)
            )
        else:
            chosen = sorted(rng.sample(range(len(order.lines)), rng.randint(1, len(order.lines))))
            items = tuple(
                (i, q, q * order.lines[i].unit_price_cents)
                for i in chosen
                for q in [rng.randint(1, order.lines[i].quantity)]
            )
        amount = sum(item[2] for item in items)
        full = sum(item[1] for item in items) == sum(line.quantity for line in order.lines)
        if full and reason in OUR_FAULT:
            amount += order.shipping_cents
        if late or rng.random() < 0.07:
            return RefundPlan(
                requested, by, reason, amount, items, rejected_at=after(requested, 3, 48, rng)
            )
        approved = after(requested, 0.2, 24, rng)
        return RefundPlan(
            requested,
            by,
            reason,
            amount,
            items,
            approved_at=approved,
            completed_at=after(approved, 48, 168, rng),
        )
