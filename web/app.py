"""The aiohttp application: ``init_app(settings, crm)`` builds it; nothing global.

Resources live in cleanup contexts: the database engine, the HTTP client session to Rasa, the
gateway with its redelivery task (closed in reverse order on shutdown).
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import aiohttp_jinja2
import jinja2
from aiohttp import web

from crm_connector import (
    AgentNotFound,
    ConversationNotFound,
    ConversationStateConflict,
    CrmError,
    CrmSettings,
    DatabaseUnavailable,
    InvalidInput,
    create_db_engine,
    create_session_factory,
)
from web import views_chat, views_inbox
from web.auth import setup_sessions
from web.errors import WebError
from web.gateway import Gateway
from web.origins import cors_middleware
from web.rasa import RasaClient
from web.settings import WebSettings
from web.state import (
    CRM_SETTINGS,
    CUSTOMER_INSIGHTS,
    GATEWAY,
    HTTP,
    SESSIONS,
    SETTINGS,
    STATIC_DIR,
)

log = logging.getLogger(__name__)

WEB_DIR = Path(__file__).resolve().parent
_CRM_STATUS = {ConversationNotFound: 404, AgentNotFound: 404, ConversationStateConflict: 409,
               InvalidInput: 400, DatabaseUnavailable: 503}


def _json_error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": code, "message": message}, status=status)


@web.middleware
async def error_middleware(request: web.Request, handler: Callable[..., Any]) -> web.StreamResponse:
    """Domain errors become ``{"error", "message"}`` JSON; nothing else leaks a traceback."""
    try:
        return await handler(request)
    except WebError as exc:
        return _json_error(exc.status, exc.code, str(exc))
    except CrmError as exc:
        status = next((s for cls, s in _CRM_STATUS.items() if isinstance(exc, cls)), 400)
        return _json_error(status, exc.code, str(exc))
    except web.HTTPException as exc:
        if exc.status >= 400 and request.path.startswith(("/api/", "/ws/", "/channels/")):
            return _json_error(exc.status, "http_error", exc.reason)
        raise


def load_customer_insights() -> Callable[..., dict[str, Any]] | None:
    """ANALYTICS HOOK: ``analytics.customer_insights`` once analytics provides it, else None."""
    try:
        analytics = importlib.import_module("analytics")
    except ImportError:
        return None
    hook = getattr(analytics, "customer_insights", None)
    return hook if callable(hook) else None


async def _database(app: web.Application) -> AsyncIterator[None]:
    engine = create_db_engine(app[CRM_SETTINGS])
    app[SESSIONS] = create_session_factory(engine)
    yield
    engine.dispose()


async def _http(app: web.Application) -> AsyncIterator[None]:
    async with aiohttp.ClientSession() as session:
        app[HTTP] = session
        yield


async def _gateway(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    rasa = RasaClient(app[HTTP], settings.rasa_url,
                      max(settings.rasa_request_timeout_seconds, settings.rasa_timeout_seconds))
    gateway = Gateway(app[SESSIONS], rasa, message_max_length=settings.message_max_length,
                      redeliver_interval=settings.redeliver_interval_seconds,
                      apology_after=settings.rasa_timeout_seconds)
    app[GATEWAY] = gateway
    gateway.start()
    yield
    await gateway.close()


async def _close_sockets(app: web.Application) -> None:
    if GATEWAY in app:
        await app[GATEWAY].close_sockets()


async def favicon(request: web.Request) -> web.FileResponse:
    """GET /favicon.ico: browsers ask for it even when a page links its icon."""
    return web.FileResponse(request.app[STATIC_DIR] / "favicon.svg",
                            headers={"Content-Type": "image/svg+xml"})


async def health(request: web.Request) -> web.Response:
    """GET /healthz: the gateway is up (``crmbot up`` waits for it)."""
    return web.json_response({"status": "ok", "bot_available": not request.app[GATEWAY].bot_down})


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/healthz", health)
    r.add_get("/favicon.ico", favicon)
    r.add_get("/", views_inbox.shop_page, name="shop")
    r.add_get("/login", views_inbox.login_page, name="login")
    r.add_post("/login", views_inbox.login)
    r.add_post("/logout", views_inbox.logout, name="logout")
    r.add_get("/inbox", views_inbox.inbox_page, name="inbox")
    r.add_post("/api/chat/sessions", views_chat.create_session)
    r.add_get("/ws/chat", views_chat.chat_socket)
    r.add_get("/api/inbox/me", views_inbox.me)
    r.add_get("/api/inbox/conversations", views_inbox.conversations)
    r.add_get("/api/inbox/conversations/{id}", views_inbox.conversation_detail)
    r.add_get("/api/inbox/conversations/{id}/customer", views_inbox.conversation_customer)
    r.add_post("/api/inbox/conversations/{id}/claim", views_inbox.claim)
    r.add_post("/api/inbox/conversations/{id}/reply", views_inbox.reply)
    r.add_post("/api/inbox/conversations/{id}/note", views_inbox.note)
    r.add_post("/api/inbox/conversations/{id}/transfer", views_inbox.transfer)
    r.add_post("/api/inbox/conversations/{id}/resolve", views_inbox.resolve)
    r.add_post("/api/inbox/conversations/{id}/handback", views_inbox.handback)
    r.add_post("/api/inbox/conversations/{id}/messages/{message_id}/retry",
               views_inbox.retry_delivery)
    r.add_get("/api/inbox/canned", views_inbox.canned)
    r.add_post("/api/inbox/canned", views_inbox.add_canned)
    r.add_get("/api/inbox/agents", views_inbox.agents)
    r.add_get("/ws/inbox", views_inbox.inbox_socket)
    r.add_static("/static", app[STATIC_DIR], name="static", append_version=False)


def _register_channels(app: web.Application) -> None:
    """Messaging channels add their routes and outbound senders (``web/channels/``)."""
    try:
        telegram = importlib.import_module("web.channels.telegram")
    except ModuleNotFoundError as exc:
        if exc.name not in ("web.channels", "web.channels.telegram"):
            raise  # a broken channel module must not be switched off silently
        return
    setup = getattr(telegram, "setup", None)
    if callable(setup):
        setup(app)


def init_app(settings: WebSettings, crm: CrmSettings | None = None, *,
             static_dir: Path | None = None) -> web.Application:
    # CORS outermost: the chat API's error responses must carry its headers too.
    app = web.Application(middlewares=[cors_middleware, error_middleware],
                          client_max_size=256 * 1024)
    app[SETTINGS] = settings
    app[CRM_SETTINGS] = crm or CrmSettings()
    app[STATIC_DIR] = static_dir or WEB_DIR / "static"
    app[CUSTOMER_INSIGHTS] = load_customer_insights()
    setup_sessions(app, settings)
    aiohttp_jinja2.setup(app, loader=jinja2.FileSystemLoader(WEB_DIR / "templates"), autoescape=True)
    app.cleanup_ctx.extend([_database, _http, _gateway])
    app.on_shutdown.append(_close_sockets)
    add_routes(app)
    _register_channels(app)
    from web.dashboard import setup_dashboard  # manager pages (analytics issue)

    setup_dashboard(app)
    return app
