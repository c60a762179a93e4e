"""Proving who a customer is, before the bot shows or changes anything of theirs.

Two ways:

* **email + order number**: the order must belong to the customer with that email. Every
  mismatch (unknown email, unknown order, somebody else's order) raises the same
  ``VerificationFailed`` message, answered by one query, so the reply never tells which half
  was wrong. (Throttling repeated attempts is the caller's job.)
* **shop token**: the shop website, where the customer is signed in, hands the chat widget an
  HS256 JWT signed with ``CrmSettings.shop_token_secret``: ``sub`` = customer number, ``aud`` =
  ``"crmbot"``, ``iat`` and ``exp`` (seconds since the epoch). ``issue_shop_token`` makes one
  (the demo shop and tests use it). ``verify_shop_token`` accepts only HS256, checks signature,
  audience, expiry and age against the given ``now`` (so tests can fix the clock); every
  rejection is a ``ShopTokenInvalid`` (a ``VerificationFailed``) with a ``reason`` code.
"""

from __future__ import annotations

import datetime as dt
import logging

import jwt
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crm_connector.db import db_boundary
from crm_connector.errors import (
    CustomerNotFound,
    InvalidInput,
    ShopTokenInvalid,
    VerificationFailed,
)
from crm_connector.models import Customer, SalesOrder
from crm_connector.services.customers import normalise_email
from crm_connector.services.repository import customer_view, get_customer_row
from crm_connector.services.validation import (
    normalise_order_number,
    normalise_public_id,
    require_aware,
)
from crm_connector.services.views import TokenRejection, VerificationMethod, VerifiedIdentity
from crm_connector.settings import CrmSettings

log = logging.getLogger(__name__)

SHOP_TOKEN_AUDIENCE = "crmbot"
SHOP_TOKEN_ALGORITHM = "HS256"
#: Clock difference tolerated between the shop and us, in seconds.
CLOCK_SKEW_SECONDS = 60
_MAX_TOKEN_LENGTH = 4096

EMAIL_ORDER_MISMATCH = (
    "We could not verify your identity with that email address and order number. "
    "Please check both and try again."
)


@db_boundary
def verify_email_and_order(session: Session, email: str, order_number: str) -> VerifiedIdentity:
    """The customer owning ``order_number`` if their email is ``email``, else
    ``VerificationFailed``.

    ``InvalidInput`` only for values that cannot be an email or an order number at all.
    """
    address = normalise_email(email)
    number = normalise_order_number(order_number)
    customer = session.scalars(
        select(Customer)
        .join(SalesOrder, SalesOrder.customer_id == Customer.id)
        .where(func.lower(Customer.email) == address, SalesOrder.number == number)
        .limit(1)
    ).first()
    if customer is None:
        log.info("verification by email and order number failed")
        raise VerificationFailed(EMAIL_ORDER_MISMATCH)
    log.info("customer %s verified by email and order number", customer.public_id)
    return VerifiedIdentity(
        customer=customer_view(customer), method=VerificationMethod.EMAIL_AND_ORDER
    )


def issue_shop_token(
    settings: CrmSettings,
    customer_public_id: str,
    *,
    now: dt.datetime,
    ttl_seconds: int | None = None,
) -> str:
    """A signed token saying "the shop signed in customer ``customer_public_id`` at ``now``".

    ``ttl_seconds`` defaults to (and may not exceed) ``settings.shop_token_max_age_seconds``.
    """
    subject = normalise_public_id(customer_public_id)
    issued = int(require_aware(now).timestamp())
    ttl = settings.shop_token_max_age_seconds if ttl_seconds is None else ttl_seconds
    longest = settings.shop_token_max_age_seconds
    if isinstance(ttl, bool) or not isinstance(ttl, int) or not 0 < ttl <= longest:
        raise InvalidInput(f"ttl_seconds must be between 1 and {longest} seconds.")
    claims = {"sub": subject, "aud": SHOP_TOKEN_AUDIENCE, "iat": issued, "exp": issued + ttl}
    secret = settings.shop_token_secret.get_secret_value()
    return jwt.encode(claims, secret, algorithm=SHOP_TOKEN_ALGORITHM)


@db_boundary
def verify_shop_token(
    session: Session, settings: CrmSettings, token: str, *, now: dt.datetime
) -> VerifiedIdentity:
    """The customer a shop token names, if the token is genuine, for us, and current."""
    claims = _decode(settings, token, now=require_aware(now))
    try:
        customer = get_customer_row(session, claims["sub"])
    except (CustomerNotFound, InvalidInput):
        log.warning("shop token names no known customer")
        raise ShopTokenInvalid(
            "The shop sign-in does not match any customer account; "
            "please sign in on the shop again.",
            reason=TokenRejection.UNKNOWN_CUSTOMER,
        ) from None
    log.info("customer %s verified by shop token", customer.public_id)
    return VerifiedIdentity(
        customer=customer_view(customer),
        method=VerificationMethod.SHOP_TOKEN,
        expires_at=dt.datetime.fromtimestamp(claims["exp"], dt.UTC),
    )


def _decode(settings: CrmSettings, token: object, *, now: dt.datetime) -> dict[str, object]:
    if not isinstance(token, str) or not token or len(token) > _MAX_TOKEN_LENGTH:
        raise _rejected(TokenRejection.MALFORMED)
    try:
        claims = jwt.decode(
            token,
            settings.shop_token_secret.get_secret_value(),
            algorithms=[SHOP_TOKEN_ALGORITHM],
            audience=SHOP_TOKEN_AUDIENCE,
            # Times are checked below against the caller's ``now``, not the wall clock.
            options={
                "require": ["sub", "aud", "iat", "exp"],
                "verify_exp": False,
                "verify_iat": False,
                "verify_nbf": False,
            },
        )
    except (jwt.InvalidSignatureError, jwt.InvalidAlgorithmError):
        raise _rejected(TokenRejection.BAD_SIGNATURE) from None
    except jwt.InvalidAudienceError:
        raise _rejected(TokenRejection.WRONG_AUDIENCE) from None
    except jwt.InvalidTokenError:
        raise _rejected(TokenRejection.MALFORMED) from None
    issued, expires = claims["iat"], claims["exp"]
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (issued, expires)):
        raise _rejected(TokenRejection.MALFORMED)
    stamp = now.timestamp()
    if issued > stamp + CLOCK_SKEW_SECONDS:
        raise _rejected(TokenRejection.NOT_YET_VALID)
    if expires <= stamp or stamp - issued > settings.shop_token_max_age_seconds:
        raise _rejected(TokenRejection.EXPIRED)
    return claims


_REJECTION_MESSAGES = {
    TokenRejection.MALFORMED: "The shop sign-in token is not readable; "
    "please sign in on the shop again.",
    TokenRejection.BAD_SIGNATURE: "The shop sign-in token failed its signature check "
    "(it was altered or not issued by our shop); please sign in on the shop again.",
    TokenRejection.WRONG_AUDIENCE: "The shop sign-in token was not issued for the assistant; "
    "please open the chat from the shop again.",
    TokenRejection.EXPIRED: "The shop sign-in has expired; please sign in on the shop again.",
    TokenRejection.NOT_YET_VALID: "The shop sign-in token is dated in the future; "
    "check the shop's clock.",
}


def _rejected(reason: TokenRejection) -> ShopTokenInvalid:
    log.warning("shop token rejected: %s", reason.value)
    return ShopTokenInvalid(_REJECTION_MESSAGES[reason], reason=reason)
