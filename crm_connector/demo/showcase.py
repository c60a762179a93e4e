"""Fixed, documented demo customers whose orders sit in the interesting states.

They are the same for every seed, size and as-of date (names, emails, customer numbers, order
numbers); only product choices and amounts follow the seed. Every time is relative to as-of:
"5 days" means 5 days before ``as_of`` 00:00 UTC. Identify as a customer with the email address
and one of the order numbers.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ShowcaseOrder:
    scenario: str
    number: str
    description: str


@dataclass(frozen=True)
class ShowcaseCustomer:
    public_id: str
    first_name: str
    last_name: str
    email: str
    phone: str
    country: str
    city: str
    orders: tuple[ShowcaseOrder, ...]

    def order_number(self, scenario: str) -> str:
        for order in self.orders:
            if order.scenario == scenario:
                return order.number
        raise KeyError(scenario)

    def as_dict(self) -> dict[str, object]:
        return {
            "public_id": self.public_id,
            "name": f"{self.first_name} {self.last_name}",
            "email": self.email,
            "phone": self.phone,
            "orders": {order.scenario: order.number for order in self.orders},
        }


SHOWCASE: tuple[ShowcaseCustomer, ...] = (
    ShowcaseCustomer(
        public_id="C0000001",
        first_name="Alex",
        last_name="Morgan",
        email="alex.morgan@example.com",
        phone="+447700900001",
        country="Germany",
        city="Berlin",
        orders=(
            ShowcaseOrder(
                "delivered_recent",
                "10000101",
                "delivered 5 days ago: inside the 30-day return window, refundable",
            ),
            ShowcaseOrder(
                "delivered_old",
                "10000102",
                "delivered 60 days ago: outside the 30-day return window",
            ),
            ShowcaseOrder(
                "in_transit",
                "10000103",
                "picked up yesterday, in transit, expected in 2 days (on time)",
            ),
            ShowcaseOrder(
                "delayed",
                "10000104",
                "expected 2 days ago, a 'delayed' scan since, still not delivered",
            ),
            ShowcaseOrder(
                "lost",
                "10000105",
                "last scan 26 days ago, declared lost 5 days ago, not refunded yet",
            ),
            ShowcaseOrder(
                "paid_not_shipped",
                "10000106",
                "paid 3 hours ago, no parcel yet: cancellable, address changeable",
            ),
            ShowcaseOrder(
                "refunded",
                "10000107",
                "delivered 20 days ago, fully refunded 12 days ago (order returned)",
            ),
        ),
    ),
    ShowcaseCustomer(
        public_id="C0000002",
        first_name="Sam",
        last_name="Taylor",
        email="sam.taylor@example.org",
        phone="+447700900002",
        country="Netherlands",
        city="Utrecht",
        orders=(
            ShowcaseOrder(
                "out_for_delivery",
                "10000201",
                "delivery attempt failed yesterday, out for delivery again",
            ),
            ShowcaseOrder(
                "label_created",
                "10000202",
                "paid yesterday, shipping label created, not collected by the carrier yet",
            ),
            ShowcaseOrder(
                "awaiting_payment",
                "10000203",
                "placed yesterday by bank transfer, payment not received yet",
            ),
            ShowcaseOrder(
                "cancelled",
                "10000204",
                "cancelled by the customer 10 days ago before shipping, refunded",
            ),
            ShowcaseOrder(
                "partially_refunded",
                "10000205",
                "delivered 12 days ago, one of two lines refunded, the rest refundable",
            ),
            ShowcaseOrder(
                "refund_requested",
                "10000206",
                "delivered 8 days ago, refund requested yesterday and not processed yet",
            ),
            ShowcaseOrder(
                "returned_to_sender",
                "10000207",
                "address not found, parcel returned to the sender, refunded",
            ),
        ),
    ),
    ShowcaseCustomer(
        public_id="C0000003",
        first_name="Jordan",
        last_name="Lee",
        email="jordan.lee@example.net",
        phone="+447700900003",
        country="Ireland",
        city="Dublin",
        orders=(),
    ),
)

SHOWCASE_ORDER_COUNT = sum(len(customer.orders) for customer in SHOWCASE)


def showcase_customer(email: str) -> ShowcaseCustomer:
    for customer in SHOWCASE:
        if customer.email == email:
            return customer
    raise KeyError(email)


def showcase_lines() -> list[str]:
    """Human-readable lines for the end of ``crmbot db seed`` and for docs."""
    lines = ["Showcase customers (identify with the email address and an order number):"]
    for customer in SHOWCASE:
        lines.append(
            f"  {customer.email}  {customer.public_id}  {customer.first_name} {customer.last_name}"
            f"  phone {customer.phone}"
        )
        if not customer.orders:
            lines.append("    (registered 10 days ago, no orders)")
        for order in customer.orders:
            lines.append(f"    {order.number}  {order.scenario:<20} {order.description}")
    return lines
