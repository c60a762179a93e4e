"""Finding customers by email, phone and customer number."""

from __future__ import annotations

import dataclasses

import pytest
from factories import (
    Sessions,
    make_customer,
)

from crm_connector import (
    AmbiguousCustomer,
    CrmSettings,
    CustomerNotFound,
    InvalidInput,
    find_customer_by_email,
    find_customer_by_phone,
    get_customer,
    normalise_phone,
    read_transaction,
)

ANNA_PHONE = "+4915112345678"


@pytest.fixture
def customers(sessions: Sessions) -> Sessions:
    with sessions.begin() as session:
        make_customer(session, "C0000001", email="anna.schmidt@example.com", phone=ANNA_PHONE)
        make_customer(session, "C0000002", email="ben@example.org", phone="+441632960961",
                      first_name="Ben", last_name="Jones")
    return sessions


@pytest.mark.parametrize("typed", ["anna.schmidt@example.com", "  Anna.Schmidt@EXAMPLE.com\n"])
def test_email_lookup_ignores_case_and_spaces(customers: Sessions, typed: str) -> None:
    with read_transaction(customers) as session:
        found = find_customer_by_email(session, typed)
    assert found.public_id == "C0000001"
    assert found.email == "anna.schmidt@example.com"
    assert found.display_name == "Anna Schmidt"


def test_customer_view_carries_no_database_id_and_hides_personal_data_in_repr(
    customers: Sessions,
) -> None:
    with read_transaction(customers) as session:
        found = get_customer(session, "C0000002")
    names = {f.name for f in dataclasses.fields(found)}
    assert "id" not in names and "public_id" in names
    assert "ben@example.org" not in repr(found) and "Jones" not in repr(found)
    with pytest.raises(dataclasses.FrozenInstanceError):
        found.email = "x@y.z"  # type: ignore[misc]


def test_unknown_email_and_customer_number_are_not_found(customers: Sessions) -> None:
    with read_transaction(customers) as session:
        with pytest.raises(CustomerNotFound):
            find_customer_by_email(session, "nobody@example.com")
        with pytest.raises(CustomerNotFound):
            get_customer(session, "C9999999")


@pytest.mark.parametrize("bad", ["", "   ", "anna", "anna@", "@example.com", "an na@example.com",
                                 "anna@example", "anna@@example.com", "a" * 320 + "@example.com"])
def test_malformed_email_is_invalid_input(customers: Sessions, bad: str) -> None:
    with read_transaction(customers) as session, pytest.raises(InvalidInput, match="email"):
        find_customer_by_email(session, bad)


@pytest.mark.parametrize(
    "typed",
    [
        "+49 151 1234-5678",
        "+4915112345678",
        "0049 151 12345678",
        "+49 (0)151 1234 5678",
        "+49-151-1234.5678",
        "0049/151/12345678",
        " +49 151 12345678 ",
    ],
)
def test_phone_spellings_normalise_to_e164(typed: str) -> None:
    assert normalise_phone(typed) == ANNA_PHONE


def test_national_phone_numbers_need_a_default_country_code() -> None:
    with pytest.raises(InvalidInput, match="country code"):
        normalise_phone("0151 12345678")
    configured = CrmSettings(default_phone_country_code="49").default_phone_country_code
    assert normalise_phone("0151 12345678", default_country_code=configured) == ANNA_PHONE
    assert normalise_phone("(01632) 960961", default_country_code="44") == "+441632960961"


@pytest.mark.parametrize(
    "bad",
    ["", "call me", "+49 151 CALL-ANNA", "+49 151 1234 ext 5", "12345", "+49 12", "+0049151123456",
     "+49 151 1234 5678 9012 345", "151 12345678", "+4915112345678" + "9" * 30],
)
def test_malformed_phone_is_invalid_input(bad: str) -> None:
    with pytest.raises(InvalidInput):
        normalise_phone(bad, default_country_code="49")


@pytest.mark.parametrize("typed", ["+49 151 1234-5678", "0049 (0)151 12345678", "0151/12345678"])
def test_phone_lookup_finds_the_customer_in_any_spelling(customers: Sessions, typed: str) -> None:
    with read_transaction(customers) as session:
        found = find_customer_by_phone(session, typed, default_country_code="49")
    assert found.public_id == "C0000001"


def test_phone_lookup_of_unknown_and_shared_numbers(customers: Sessions) -> None:
    with customers.begin() as session:
        make_customer(session, "C0000003", email="carla@example.com", phone="+4930111111",
                      first_name="Carla", last_name="Schmidt")
        make_customer(session, "C0000004", email="dirk@example.com", phone="+4930111111",
                      first_name="Dirk", last_name="Schmidt")
    with read_transaction(customers) as session:
        with pytest.raises(CustomerNotFound):
            find_customer_by_phone(session, "+49 170 0000000")
        with pytest.raises(AmbiguousCustomer, match="email"):
            find_customer_by_phone(session, "+49 30 111111")
