"""Which other sites may embed the chat widget (``WEB_WIDGET_ORIGINS``).

* ``cors_middleware`` opens the customer chat API (``POST /api/chat/sessions``) to the listed
  origins: a preflight from one of them is answered, its real response names it in
  ``Access-Control-Allow-Origin``; any other origin gets no CORS headers (the browser blocks the
  response) and its preflight a 403. The widget's files (``/static/widget/``) are public and
  may be loaded by any page (``*``): a page that is not allowed shows the widget, which cannot
  connect. The inbox, login and dashboard routes never get CORS headers.
* ``check_chat_socket_origin`` guards the chat web socket: no ``Origin`` (a client that is not a
  browser), the gateway's own host, or a listed origin; anything else is refused before the
  upgrade.

No credentials are ever allowed cross-origin: the widget keeps its conversation token in the
page's storage and sends it in the body or the socket URL, never in a cookie.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from aiohttp import hdrs, web

from web.errors import Forbidden
from web.settings import ANY_ORIGIN
from web.state import SETTINGS

log = logging.getLogger(__name__)

#: Routes a page on another (allowed) origin may call.
CHAT_API_PATHS = frozenset({"/api/chat/sessions"})
#: The widget's ES modules: fetched in CORS mode by ``<script type="module">`` on other sites.
WIDGET_FILES = "/static/widget/"
#: How long a browser may reuse a preflight answer; an origin removed from the list stops
#: working within this time.
PREFLIGHT_MAX_AGE_SECONDS = 600
_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def origin_allowed(request: web.Request, origin: str) -> bool:
    """``origin`` is listed in ``WEB_WIDGET_ORIGINS`` (or the list is ``*``)."""
    allowed = request.app[SETTINGS].widget_origins
    return ANY_ORIGIN in allowed or origin.lower() in allowed


def same_host(request: web.Request, origin: str) -> bool:
    """``origin`` names the host and port this request was sent to (its ``Host`` header).

    The scheme is not compared: behind a TLS proxy the gateway sees plain HTTP while the page
    is HTTPS. A proxy must pass the original ``Host`` on, or the gateway's own origin must be
    listed in ``WEB_WIDGET_ORIGINS``."""
    try:
        page, target = urlsplit(origin), urlsplit(f"//{request.host}")
        default = _DEFAULT_PORTS.get(page.scheme.lower())
        page_port, target_port = page.port or default, target.port or default
    except ValueError:  # a malformed Origin or Host (bad port, unbalanced IPv6 brackets)
        return False
    return (default is not None and page.hostname is not None
            and page.hostname == target.hostname and page_port == target_port)


def check_chat_socket_origin(request: web.Request) -> None:
    """Raise ``Forbidden`` unless the chat socket's ``Origin`` is absent, our own or allowed."""
    origin = request.headers.get(hdrs.ORIGIN)
    if origin is None or same_host(request, origin) or origin_allowed(request, origin):
        return
    log.info("chat socket refused for origin %s", origin)
    raise Forbidden("This site may not open the chat (it is not in WEB_WIDGET_ORIGINS).")


def _add_vary_origin(response: web.StreamResponse) -> None:
    vary = response.headers.get(hdrs.VARY)
    if vary is None:
        response.headers[hdrs.VARY] = "Origin"
    elif "origin" not in {v.strip().lower() for v in vary.split(",")}:
        response.headers[hdrs.VARY] = f"{vary}, Origin"


def _allow(request: web.Request, response: web.StreamResponse, origin: str | None) -> None:
    """CORS headers of a chat API response (before it is sent)."""
    if ANY_ORIGIN in request.app[SETTINGS].widget_origins:
        response.headers[hdrs.ACCESS_CONTROL_ALLOW_ORIGIN] = ANY_ORIGIN
        return
    _add_vary_origin(response)  # the answer depends on Origin: caches must keep them apart
    if origin is not None and origin_allowed(request, origin):
        response.headers[hdrs.ACCESS_CONTROL_ALLOW_ORIGIN] = origin


def _preflight(request: web.Request, origin: str) -> web.Response:
    if not origin_allowed(request, origin):
        log.info("chat API preflight refused for origin %s", origin)
        response = web.json_response(
            {"error": Forbidden.code,
             "message": "This site may not use the chat (it is not in WEB_WIDGET_ORIGINS)."},
            status=Forbidden.status)
        _add_vary_origin(response)
        return response
    response = web.Response(status=204, headers={
        hdrs.ACCESS_CONTROL_ALLOW_METHODS: "POST",
        hdrs.ACCESS_CONTROL_ALLOW_HEADERS: "Content-Type",
        hdrs.ACCESS_CONTROL_MAX_AGE: str(PREFLIGHT_MAX_AGE_SECONDS),
    })
    _allow(request, response, origin)
    return response


@web.middleware
async def cors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """CORS for the chat API and the widget's files only. Outermost, so that error responses
    of the chat API carry the headers too (the widget reads their status)."""
    if request.path in CHAT_API_PATHS:
        origin = request.headers.get(hdrs.ORIGIN)
        if request.method == hdrs.METH_OPTIONS and origin is not None \
                and hdrs.ACCESS_CONTROL_REQUEST_METHOD in request.headers:
            return _preflight(request, origin)
        response = await handler(request)
        if not response.prepared:
            _allow(request, response, origin)
        return response
    if request.path.startswith(WIDGET_FILES) and request.method in (hdrs.METH_GET, hdrs.METH_HEAD):
        response = await handler(request)
        if not response.prepared:
            response.headers[hdrs.ACCESS_CONTROL_ALLOW_ORIGIN] = ANY_ORIGIN
        return response
    return await handler(request)
