"""Identity checks: email + order number, and the shop's signed token."""

from __future__ import annotations

import base64
import datetime as dt
import json

import jwt
import pytest
from factories import (
    NOW,
    Sessions,
    make_customer,
    make_order,
)
from pydantic import SecretStr

from crm_connector import (
    CrmSettings,
    InvalidInput,
    ShopTokenInvalid,
    TokenRejection,
    VerificationFailed,
    VerificationMethod,
    issue_shop_token,
    read_transaction,
    verify_email_and_order,
    verify_shop_token,
)

SECRET = "test-shop-secret-with-at-least-32-bytes!"


@pytest.fixture
def shop(sessions: Sessions) -> Sessions:
    with sessions.begin() as session:
        anna = make_customer(session, "C0000001", email="anna.schmidt@example.com")
        ben = make_customer(session, "C0000002", email="ben@example.org", phone=None)
        make_order(session, anna, "10000001")
        make_order(session, ben, "10000002")
    return sessions


@pytest.fixture
def settings(crm_settings: CrmSettings) -> CrmSettings:
    return crm_settings.model_copy(
        update={"shop_token_secret": SecretStr(SECRET), "shop_token_max_age_seconds": 3600}
    )


def test_email_and_own_order_verifies_the_customer(shop: Sessions) -> None:
    with read_transaction(shop) as session:
        identity = verify_email_and_order(session, " Anna.Schmidt@Example.com ", "#10000001")
    assert identity.customer_public_id == "C0000001"
    assert identity.method == VerificationMethod.EMAIL_AND_ORDER


@pytest.mark.parametrize(
    ("email", "order_number"),
    [
        ("anna.schmidt@example.com", "10000002"),  # somebody else's order
        ("anna.schmidt@example.com", "99999999"),  # no such order
        ("nobody@example.com", "10000001"),  # no such email
        ("ben@example.org", "10000001"),  # the other way round
    ],
)
def test_every_mismatch_gives_the_same_answer(
    shop: Sessions, email: str, order_number: str
) -> None:
    with read_transaction(shop) as session, pytest.raises(VerificationFailed) as caught:
        verify_email_and_order(session, email, order_number)
    assert str(caught.value) == (
        "We could not verify your identity with that email address and order number. "
        "Please check both and try again."
    )


def test_malformed_values_are_invalid_input(shop: Sessions) -> None:
    with read_transaction(shop) as session:
        with pytest.raises(InvalidInput, match="email"):
            verify_email_and_order(session, "anna", "10000001")
        with pytest.raises(InvalidInput, match="order number"):
            verify_email_and_order(session, "anna.schmidt@example.com", "10000001; DROP TABLE")


def test_shop_token_round_trip(shop: Sessions, settings: CrmSettings) -> None:
    token = issue_shop_token(settings, "C0000001", now=NOW, ttl_seconds=600)
    with read_transaction(shop) as session:
        identity = verify_shop_token(session, settings, token, now=NOW + dt.timedelta(seconds=599))
    assert identity.customer_public_id == "C0000001"
    assert identity.method == VerificationMethod.SHOP_TOKEN
    assert identity.expires_at == NOW + dt.timedelta(seconds=600)
    claims = jwt.decode(
        token, SECRET, algorithms=["HS256"], audience="crmbot", options={"verify_exp": False}
    )
    assert claims["sub"] == "C0000001" and claims["aud"] == "crmbot"
    assert claims["exp"] - claims["iat"] == 600


def _expect_rejection(shop: Sessions, settings: CrmSettings, token: str,
                      reason: TokenRejection, now: dt.datetime = NOW) -> ShopTokenInvalid:
    with read_transaction(shop) as session, pytest.raises(ShopTokenInvalid) as caught:
        verify_shop_token(session, settings, token, now=now)
    assert caught.value.reason == reason
    assert isinstance(caught.value, VerificationFailed)
    return caught.value


def test_expired_token_is_rejected(shop: Sessions, settings: CrmSettings) -> None:
    token = issue_shop_token(settings, "C0000001", now=NOW, ttl_seconds=600)
    later = NOW + dt.timedelta(seconds=600)
    error = _expect_rejection(shop, settings, token, TokenRejection.EXPIRED, now=later)
    assert "expired" in str(error) and "sign in" in str(error)


def test_token_older_than_the_maximum_age_is_rejected_even_if_exp_is_later(
    shop: Sessions, settings: CrmSettings
) -> None:
    issued = int(NOW.timestamp())
    token = jwt.encode(
        {"sub": "C0000001", "aud": "crmbot", "iat": issued, "exp": issued + 86400}, SECRET
    )
    later = NOW + dt.timedelta(hours=2)
    _expect_rejection(shop, settings, token, TokenRejection.EXPIRED, now=later)


def test_tampered_payload_fails_the_signature_check(shop: Sessions, settings: CrmSettings) -> None:
    header, payload, signature = issue_shop_token(settings, "C0000001", now=NOW).split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["sub"] = "C0000002"  # try to become Ben
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    forged_token = f"{header}.{forged}.{signature}"
    error = _expect_rejection(shop, settings, forged_token, TokenRejection.BAD_SIGNATURE)
    assert "signature" in str(error)


def test_token_signed_with_another_secret_is_rejected(
    shop: Sessions, settings: CrmSettings
) -> None:
    other_secret = SecretStr("another-secret-also-32-bytes-long!!")
    other = settings.model_copy(update={"shop_token_secret": other_secret})
    token = issue_shop_token(other, "C0000001", now=NOW)
    _expect_rejection(shop, settings, token, TokenRejection.BAD_SIGNATURE)


def test_unsigned_token_is_rejected(shop: Sessions, settings: CrmSettings) -> None:
    issued = int(NOW.timestamp())
    claims = {"sub": "C0000001", "aud": "crmbot", "iat": issued, "exp": issued + 60}
    token = jwt.encode(claims, None, algorithm="none")
    _expect_rejection(shop, settings, token, TokenRejection.BAD_SIGNATURE)


def test_token_for_another_audience_is_rejected(shop: Sessions, settings: CrmSettings) -> None:
    issued = int(NOW.timestamp())
    claims = {"sub": "C0000001", "aud": "newsletter", "iat": issued, "exp": issued + 60}
    token = jwt.encode(claims, SECRET)
    error = _expect_rejection(shop, settings, token, TokenRejection.WRONG_AUDIENCE)
    assert "not issued for the assistant" in str(error)


@pytest.mark.parametrize("token", ["", "not-a-token", "a.b.c", "x" * 5000])
def test_garbage_is_malformed(shop: Sessions, settings: CrmSettings, token: str) -> None:
    _expect_rejection(shop, settings, token, TokenRejection.MALFORMED)


def test_token_without_expiry_is_malformed(shop: Sessions, settings: CrmSettings) -> None:
    token = jwt.encode({"sub": "C0000001", "aud": "crmbot", "iat": int(NOW.timestamp())}, SECRET)
    _expect_rejection(shop, settings, token, TokenRejection.MALFORMED)


def test_token_from_the_future_is_rejected(shop: Sessions, settings: CrmSettings) -> None:
    token = issue_shop_token(settings, "C0000001", now=NOW + dt.timedelta(minutes=10))
    _expect_rejection(shop, settings, token, TokenRejection.NOT_YET_VALID)


def test_token_for_an_unknown_customer_is_rejected(shop: Sessions, settings: CrmSettings) -> None:
    token = issue_shop_token(settings, "C0000999", now=NOW)
    _expect_rejection(shop, settings, token, TokenRejection.UNKNOWN_CUSTOMER)


def test_issue_refuses_a_lifetime_above_the_maximum(settings: CrmSettings) -> None:
    with pytest.raises(InvalidInput, match="ttl_seconds"):
        issue_shop_token(settings, "C0000001", now=NOW, ttl_seconds=7200)
    with pytest.raises(InvalidInput):
        issue_shop_token(settings, "C0000001", now=NOW.replace(tzinfo=None))
