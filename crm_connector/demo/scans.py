"""Tracking scans that tell one consistent parcel story, and carrier-like tracking numbers.

label created -> picked up -> sorting hub(s) -> delivery depot -> out for delivery -> delivered;
a delay is reported at the depot after the promised date has passed; a lost parcel goes quiet
after a hub scan, is reported overdue after the promised date and declared lost weeks later;
an undeliverable parcel goes back to the sender.
"""

from __future__ import annotations

import datetime as dt
import random

from crm_connector.demo.plans import Scan
from crm_connector.demo.vocab import WAREHOUSE
from crm_connector.models import ShipmentStatus as S

_DIGITS = "0123456789"
_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"


def label_created(at: dt.datetime) -> Scan:
    return Scan(
        at,
        S.PENDING,
        WAREHOUSE,
        "Shipping label created; waiting for the carrier to collect the parcel",
    )


def picked_up(at: dt.datetime, carrier: str) -> Scan:
    return Scan(at, S.IN_TRANSIT, WAREHOUSE, f"Picked up by {carrier}")


def at_hub(at: dt.datetime, hub: str) -> Scan:
    return Scan(at, S.IN_TRANSIT, f"{hub} sorting hub", "Processed at sorting hub")


def at_depot(at: dt.datetime, city: str) -> Scan:
    return Scan(at, S.IN_TRANSIT, f"{city} delivery depot", "Arrived at the delivery depot")


def out_for_delivery(at: dt.datetime, city: str, *, retry: bool = False) -> Scan:
    text = "Out for delivery (second attempt)" if retry else "Out for delivery"
    return Scan(at, S.OUT_FOR_DELIVERY, city, text)


def attempt_failed(at: dt.datetime, city: str) -> Scan:
    return Scan(
        at,
        S.OUT_FOR_DELIVERY,
        city,
        "Delivery attempt failed: nobody was home. We will try again on the next working day",
    )


def delivered(at: dt.datetime, city: str, outcome: str) -> Scan:
    return Scan(at, S.DELIVERED, city, outcome)


def delayed_at_depot(at: dt.datetime, city: str, reason: str) -> Scan:
    return Scan(
        at,
        S.DELAYED,
        f"{city} delivery depot",
        f"Delayed because of {reason}; the parcel will go out on a later day",
    )


def overdue(at: dt.datetime, last_scan: dt.datetime) -> Scan:
    return Scan(
        at,
        S.DELAYED,
        None,
        f"No tracking update since {last_scan:%Y-%m-%d}; the carrier has opened an investigation",
    )


def declared_lost(at: dt.datetime) -> Scan:
    return Scan(at, S.LOST, None, "Declared lost by the carrier after an investigation")


def address_not_found(at: dt.datetime, city: str) -> Scan:
    return Scan(at, S.OUT_FOR_DELIVERY, city, "Delivery failed: the address could not be found")


def returning(at: dt.datetime, city: str) -> Scan:
    return Scan(at, S.RETURNED, f"{city} delivery depot", "Returning the parcel to the sender")


def returned(at: dt.datetime) -> Scan:
    return Scan(at, S.RETURNED, WAREHOUSE, "Returned to the sender")


class TrackingNumbers:
    """Unique, carrier-shaped tracking numbers drawn from one random stream."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._used: set[str] = set()

    def new(self, carrier: str) -> str:
        while True:
            number = self._draw(carrier)
            if number not in self._used:
                self._used.add(number)
                return number

    def _digits(self, count: int) -> str:
        return "".join(self._rng.choice(_DIGITS) for _ in range(count))

    def _draw(self, carrier: str) -> str:
        r = self._rng
        if carrier == "DHL":
            return "00340434" + self._digits(12)
        if carrier == "DPD":
            return "0" + self._digits(13)
        if carrier == "GLS":
            return self._digits(11)
        if carrier == "UPS":
            middle = "".join(r.choice(_LETTERS + _DIGITS) for _ in range(6))
            return f"1Z{middle}68{self._digits(8)}"
        if carrier == "PostNL":
            return "3S" + "".join(r.choice(_LETTERS) for _ in range(4)) + self._digits(7)
        return carrier[:3].upper() + self._digits(12)
