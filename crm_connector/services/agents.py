"""Agent users of the inbox: creation, look-up and password checks (argon2id).

Passwords are hashed with argon2-cffi's ``PasswordHasher`` (argon2id, its default parameters);
a hash made with older parameters is re-hashed on the next successful login. A failed login
takes as long for an unknown user name as for a wrong password.
"""

from __future__ import annotations

import datetime as dt
import logging
import re

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_connector.db import db_boundary
from crm_connector.errors import AgentNotFound, AgentUserExists, InvalidInput
from crm_connector.models import AgentRole, AgentUser
from crm_connector.services.inbox_views import AgentView
from crm_connector.services.validation import require_aware

log = logging.getLogger(__name__)

_HASHER = PasswordHasher()
_USERNAME = re.compile(r"[a-z0-9][a-z0-9._-]{1,63}")
MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 1024
#: Verified against when the user name is unknown, so both failures cost the same.
_DUMMY_HASH = _HASHER.hash("not-a-real-password-0123456789")


def hash_password(password: str) -> str:
    if not isinstance(password, str) or not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise InvalidInput(
            f"A password must have between {MIN_PASSWORD_LENGTH} and {MAX_PASSWORD_LENGTH} characters.")
    return _HASHER.hash(password)


def normalise_username(username: object) -> str:
    if not isinstance(username, str) or not _USERNAME.fullmatch(username.strip().lower()):
        raise InvalidInput("A user name has 2-64 characters: lower-case letters, digits, '.', '_' or '-'.")
    return username.strip().lower()


def agent_view(user: AgentUser) -> AgentView:
    return AgentView(id=user.id, username=user.username, display_name=user.display_name,
                     role=user.role, active=user.active)


@db_boundary
def create_agent_user(
    session: Session, username: str, password: str, role: AgentRole | str, *,
    display_name: str | None = None, now: dt.datetime,
) -> AgentView:
    """A new inbox login. Raises ``AgentUserExists`` when the user name is taken."""
    name = normalise_username(username)
    try:
        role = AgentRole(role)
    except ValueError:
        raise InvalidInput("The role must be agent, manager or admin.") from None
    shown = (display_name or name).strip()[:100] or name
    if session.scalar(select(AgentUser.id).where(AgentUser.username == name)) is not None:
        raise AgentUserExists(f"The user name {name!r} is taken.")
    user = AgentUser(username=name, display_name=shown, password_hash=hash_password(password),
                     role=role, active=True, created_at=require_aware(now))
    session.add(user)
    session.flush()
    log.info("agent user %s created with role %s", user.id, role.value)
    return agent_view(user)


@db_boundary
def set_agent_password(session: Session, username: str, password: str) -> AgentView:
    user = session.scalars(select(AgentUser).where(AgentUser.username == normalise_username(username))).one_or_none()
    if user is None:
        raise AgentNotFound("No such inbox user.")
    user.password_hash = hash_password(password)
    log.info("password of agent user %s changed", user.id)
    return agent_view(user)


@db_boundary
def authenticate_agent(session: Session, username: str, password: str, *, now: dt.datetime) -> AgentView | None:
    """The active agent with this user name and password, or None. Records the login time."""
    try:
        name = normalise_username(username)
    except InvalidInput:
        name = None
    user = None if name is None else session.scalars(
        select(AgentUser).where(AgentUser.username == name, AgentUser.active.is_(True))).one_or_none()
    if not isinstance(password, str) or len(password) > MAX_PASSWORD_LENGTH:
        password = ""
    try:
        _HASHER.verify(user.password_hash if user else _DUMMY_HASH, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        log.info("failed inbox login (%s)", "known user" if user else "unknown user")
        return None
    if user is None:
        return None
    if _HASHER.check_needs_rehash(user.password_hash):
        user.password_hash = _HASHER.hash(password)
    user.last_login_at = require_aware(now)
    log.info("agent user %s logged in", user.id)
    return agent_view(user)


@db_boundary
def get_agent(session: Session, agent_id: int) -> AgentView | None:
    """The active agent ``agent_id``, or None (deleted or deactivated: the session ends)."""
    user = session.get(AgentUser, agent_id)
    if user is None or not user.active:
        return None
    return agent_view(user)


@db_boundary
def list_agents(session: Session, *, include_inactive: bool = False) -> list[AgentView]:
    query = select(AgentUser).order_by(AgentUser.display_name, AgentUser.id)
    if not include_inactive:
        query = query.where(AgentUser.active.is_(True))
    return [agent_view(u) for u in session.scalars(query)]
