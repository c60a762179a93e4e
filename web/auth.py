"""Inbox logins: argon2-hashed passwords (``crm_connector.authenticate_agent``), encrypted
cookie sessions (aiohttp-session ``EncryptedCookieStorage``, key derived from
``WEB_SESSION_SECRET``), a CSRF token per session and roles agent < manager < admin.

* ``require_role(role)`` guards an API handler: no session -> 401, lower role -> 403, and
  every state-changing method (POST, PUT, PATCH, DELETE) must carry ``X-CSRF-Token`` equal to
  the session's token -> else 403. ``require_role(role, page=True)`` redirects to ``/login``.
* The customer side (conversation tokens) does not use cookies, so it needs no CSRF token.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import logging
import secrets
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp_session import Session as CookieSession
from aiohttp_session import get_session, new_session
from aiohttp_session import setup as setup_cookie_sessions
from aiohttp_session.cookie_storage import EncryptedCookieStorage
from yarl import URL

from crm_connector import AgentRole, AgentView, get_agent
from web.errors import CsrfRejected, Forbidden, Unauthorized
from web.settings import WebSettings
from web.state import SESSIONS, in_transaction

log = logging.getLogger(__name__)

COOKIE_NAME = "crmbot_session"
CSRF_HEADER = "X-CSRF-Token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
ROLE_RANK = {AgentRole.AGENT: 1, AgentRole.MANAGER: 2, AgentRole.ADMIN: 3}
AGENT_KEY: web.RequestKey[AgentView | None] = web.RequestKey("agent", object)  # type: ignore[arg-type]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def derive_key(settings: WebSettings, purpose: str) -> bytes:
    """A 32-byte key for one purpose, derived from the session secret."""
    secret = settings.session_secret.get_secret_value().encode()
    return hmac.new(secret, purpose.encode(), hashlib.sha256).digest()


def setup_sessions(app: web.Application, settings: WebSettings) -> None:
    storage = EncryptedCookieStorage(
        derive_key(settings, "session-cookie"), cookie_name=COOKIE_NAME,
        httponly=True, samesite="Strict", secure=settings.cookie_secure,
        max_age=settings.session_max_age_seconds)
    setup_cookie_sessions(app, storage)


def csrf_token(session: CookieSession) -> str:
    """The session's CSRF token, created on first use."""
    token = session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        session["csrf"] = token
    return token


def check_csrf(session: CookieSession, supplied: object) -> None:
    expected = session.get("csrf")
    if not isinstance(expected, str) or not isinstance(supplied, str) or \
            not hmac.compare_digest(expected.encode(), supplied.encode()):
        raise CsrfRejected("The request is missing its CSRF token (reload the page).")


async def log_in(request: web.Request, agent: AgentView) -> CookieSession:
    session = await new_session(request)  # a fresh session (and CSRF token) on every login
    session["agent_id"] = agent.id
    csrf_token(session)
    return session


async def current_agent(request: web.Request) -> AgentView | None:
    """The logged-in, still active agent of this request, or None."""
    if AGENT_KEY in request:
        return request[AGENT_KEY]
    session = await get_session(request)
    agent_id = session.get("agent_id")
    agent = None
    if isinstance(agent_id, int):
        agent = await in_transaction(request.app[SESSIONS], lambda s: get_agent(s, agent_id))
        if agent is None:
            session.invalidate()
    request[AGENT_KEY] = agent
    return agent


def safe_next(target: object, default: str = "/inbox") -> str:
    """Where to go after signing in: ``target`` when it is a path on this site, else
    ``default`` (an address elsewhere, ``//host``, a scheme or a control character would make
    the login form an open redirect)."""
    if not isinstance(target, str) or not target.startswith("/") or target.startswith("//") \
            or len(target) > 2048 or any(c < " " or c in "\\\x7f" for c in target):
        return default
    parts = urlsplit(target)
    return target if not parts.scheme and not parts.netloc else default


def has_role(agent: AgentView, role: AgentRole) -> bool:
    return ROLE_RANK[agent.role] >= ROLE_RANK[role]


def require_role(role: AgentRole = AgentRole.AGENT, *, page: bool = False) -> Callable[[Handler], Handler]:
    def decorate(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def guarded(request: web.Request) -> web.StreamResponse:
            agent = await current_agent(request)
            if agent is None:
                if page:  # back to this page after signing in
                    raise web.HTTPFound(URL("/login").with_query(next=request.path_qs))
                raise Unauthorized("Please log in.")
            if not has_role(agent, role):
                log.info("agent %s (%s) refused %s %s", agent.id, agent.role.value,
                         request.method, request.path)
                raise Forbidden("Your role does not allow this.")
            if request.method in UNSAFE_METHODS:
                check_csrf(await get_session(request), request.headers.get(CSRF_HEADER))
            return await handler(request)

        return guarded

    return decorate
