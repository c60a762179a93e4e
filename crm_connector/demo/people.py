"""Demo customers: identities, addresses, consent, hidden behaviour and category tastes.

Emails use only example.com / example.org / example.net; phone numbers come from the UK Ofcom
ranges reserved for drama (never assigned to real lines). The behaviour and tastes are the
hidden truth the analytics models should recover; nothing about them is stored in the CRM.
"""

from __future__ import annotations

import datetime as dt
import random
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

import numpy as np

from crm_connector.demo.config import Behaviour, DemoConfig
from crm_connector.demo.showcase import SHOWCASE
from crm_connector.demo.vocab import CATEGORIES, COUNTRIES, FIRST_NAMES, LAST_NAMES, STREET_WORDS

#: Share of generated (non-showcase) customers per behaviour; OCCASIONAL takes the rest.
BEHAVIOUR_SHARES = (
    (Behaviour.LOYAL, 0.15),
    (Behaviour.GROWING, 0.08),
    (Behaviour.LAPSING, 0.17),
    (Behaviour.ONE_OFF, 0.27),
    (Behaviour.NEW, 0.10),
)
EMAIL_DOMAINS = ("example.com", "example.org", "example.net")
#: E.164 prefixes of Ofcom drama ranges; each is followed by three digits (1,000 numbers).
DRAMA_PREFIXES = (
    "+447700900",
    "+441632960",
    "+442079460",
    "+441134960",
    "+441144960",
    "+441154960",
    "+441164960",
    "+441174960",
    "+441184960",
    "+441214960",
    "+441314960",
    "+441414960",
    "+441514960",
    "+441614960",
    "+441914980",
    "+442920180",
    "+442896496",
)
PAYMENT_METHODS = (("card", 0.58), ("paypal", 0.34), ("bank_transfer", 0.08))
#: How strongly customers stick to a few categories (smaller: stronger tastes).
TASTE_CONCENTRATION = 0.35
#: Share of a customer's lines drawn from their own tastes (the rest follow the crowd).
TASTE_WEIGHT = 0.75


@dataclass
class Person:
    id: int
    public_id: str
    first_name: str
    last_name: str
    email: str
    phone: str | None
    country: str
    city: str
    behaviour: Behaviour
    #: Cumulative probabilities of the category of each order line.
    category_cumulative: tuple[float, ...]
    favourite_categories: tuple[int, ...]
    address_ids: tuple[int, ...]
    method: str
    card_last4: str | None
    marketing_consent: bool
    data_processing_consent: bool
    #: Fraction of the time between sign-up and as-of after which consent was changed, if ever.
    consent_change: float | None


@dataclass
class People:
    persons: list[Person]
    #: Address rows without ``created_at`` (set with the customer's sign-up time).
    addresses: list[dict[str, Any]]


def _ascii(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^a-z]", "", folded.lower())


def _email(rng: random.Random, first: str, last: str, used: set[str]) -> str:
    f, l = _ascii(first) or "customer", _ascii(last) or "demo"
    local = rng.choice(
        (f"{f}.{l}", f"{f}{l}", f"{f[0]}.{l}", f"{f}_{l}", f"{f}.{l}{rng.randint(70, 99)}")
    )
    domain = rng.choice(EMAIL_DOMAINS)
    email, n = f"{local}@{domain}", 1
    while email in used:
        n += 1
        email = f"{local}{n}@{domain}"
    used.add(email)
    return email


def _postal(rng: random.Random, pattern: str) -> str:
    return "".join(
        rng.choice("0123456789")
        if ch == "9"
        else rng.choice("ACDEFHKNPRTVWXY")
        if ch == "A"
        else ch
        for ch in pattern
    )


def _street(rng: random.Random, country: str) -> str:
    style = rng.choice(COUNTRIES[country].streets)
    word, number = rng.choice(STREET_WORDS), rng.randint(1, 180)
    if style[0].islower():
        return f"{word}{style} {number}"
    if style in ("Road", "Street", "Lane"):
        return f"{number} {word} {style}"
    return f"{style} {word} {number}"


def _address(
    rng: random.Random, address_id: int, customer_id: int, country: str, city: str, default: bool
) -> dict[str, Any]:
    line2 = rng.choice(
        (None, None, None, None, f"Apartment {rng.randint(1, 40)}", f"Floor {rng.randint(1, 6)}")
    )
    return {
        "id": address_id,
        "customer_id": customer_id,
        "line1": _street(rng, country),
        "line2": line2,
        "city": city,
        "postal_code": _postal(rng, COUNTRIES[country].postal),
        "country": country,
        "is_default": default,
    }


def _behaviours(rng: random.Random, count: int) -> list[Behaviour]:
    out: list[Behaviour] = []
    for behaviour, share in BEHAVIOUR_SHARES:
        out.extend([behaviour] * int(count * share))
    out.extend([Behaviour.OCCASIONAL] * (count - len(out)))
    rng.shuffle(out)
    return out


def _phone_pool() -> list[str]:
    reserved = {c.phone for c in SHOWCASE}
    return [
        f"{p}{n:03d}" for p in DRAMA_PREFIXES for n in range(1000) if f"{p}{n:03d}" not in reserved
    ]


def build_people(config: DemoConfig) -> People:
    rng = random.Random(f"crmbot-demo:{config.seed}:people")
    np_rng = np.random.default_rng([config.seed, 1])
    share = np.array([c.demand for c in CATEGORIES], dtype=float)
    share /= share.sum()
    countries = sorted(COUNTRIES)
    country_weights = [COUNTRIES[c].weight for c in countries]

    generated = config.customers - len(SHOWCASE)
    behaviours = [Behaviour.SHOWCASE] * len(SHOWCASE) + _behaviours(rng, generated)
    with_phone = [i for i in range(config.customers) if i < len(SHOWCASE) or rng.random() < 0.85]
    pool = _phone_pool()
    drawn = rng.sample(pool, min(len(pool), len(with_phone)))
    phones = dict(zip(with_phone, drawn, strict=False))
    used_emails = {c.email for c in SHOWCASE}

    persons: list[Person] = []
    addresses: list[dict[str, Any]] = []
    for index in range(config.customers):
        customer_id = index + 1
        taste = np_rng.dirichlet(np.full(len(CATEGORIES), TASTE_CONCENTRATION))
        mix = TASTE_WEIGHT * taste + (1.0 - TASTE_WEIGHT) * share
        cumulative = tuple(float(x) for x in np.cumsum(mix / mix.sum()))
        favourites = tuple(int(i) for i in np.argsort(-taste, kind="stable")[:2])
        if index < len(SHOWCASE):
            fixed = SHOWCASE[index]
            first, last, email, phone = fixed.first_name, fixed.last_name, fixed.email, fixed.phone
            country, city = fixed.country, fixed.city
        else:
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            email = _email(rng, first, last, used_emails)
            phone = phones.get(index)
            country = rng.choices(countries, weights=country_weights)[0]
            city = rng.choice(COUNTRIES[country].cities)
        ids = [len(addresses) + 1]
        addresses.append(_address(rng, ids[0], customer_id, country, city, True))
        if rng.random() < 0.2:
            ids.append(len(addresses) + 1)
            other_city = rng.choice(COUNTRIES[country].cities)
            addresses.append(_address(rng, ids[1], customer_id, country, other_city, False))
        method = rng.choices(
            [m for m, _ in PAYMENT_METHODS], weights=[w for _, w in PAYMENT_METHODS]
        )[0]
        if index < len(SHOWCASE):
            method = "card"
        persons.append(
            Person(
                id=customer_id,
                public_id=f"C{customer_id:07d}",
                first_name=first,
                last_name=last,
                email=email,
                phone=phone,
                country=country,
                city=city,
                behaviour=behaviours[index],
                category_cumulative=cumulative,
                favourite_categories=favourites,
                address_ids=tuple(ids),
                method=method,
                card_last4=f"{rng.randint(0, 9999):04d}",
                marketing_consent=rng.random() < 0.42,
                data_processing_consent=rng.random() < 0.98 or index < len(SHOWCASE),
                consent_change=rng.uniform(0.1, 0.9) if rng.random() < 0.2 else None,
            )
        )
    return People(persons=persons, addresses=addresses)


def customer_rows(
    people: People, signed_up: dict[int, dt.datetime], now: dt.datetime
) -> list[dict[str, Any]]:
    """Customer rows; ``signed_up`` gives each customer's ``created_at``."""
    rows = []
    for person in people.persons:
        created = signed_up[person.id]
        consent_at = created
        if person.consent_change is not None:
            consent_at = created + (now - created) * person.consent_change
            consent_at = consent_at.replace(microsecond=0)
        rows.append(
            {
                "id": person.id,
                "public_id": person.public_id,
                "external_ref": None,
                "first_name": person.first_name,
                "last_name": person.last_name,
                "email": person.email,
                "phone": person.phone,
                "country": person.country,
                "marketing_consent": person.marketing_consent,
                "data_processing_consent": person.data_processing_consent,
                "consent_updated_at": consent_at,
                "created_at": created,
            }
        )
    return rows


def address_rows(people: People, signed_up: dict[int, dt.datetime]) -> list[dict[str, Any]]:
    return [{**row, "created_at": signed_up[row["customer_id"]]} for row in people.addresses]
