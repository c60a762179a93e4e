"""The web gateway: customer chat (widget and messaging channels), the agent inbox and the
pages around them, as one aiohttp application built by ``init_app(settings)``.

API contract: docs/web-api.md. Channel adapters use ``Gateway`` (see ``web.gateway``).
"""

from web.app import init_app
from web.errors import BadRequest, BotUnavailable, Forbidden, NotFound, Unauthorized, WebError
from web.gateway import ChannelSender, Gateway, Submitted, sender_id_for
from web.settings import WebSettings
from web.state import GATEWAY, SESSIONS, SETTINGS

__all__ = [
    "GATEWAY", "SESSIONS", "SETTINGS", "BadRequest", "BotUnavailable", "ChannelSender", "Forbidden",
    "Gateway", "NotFound", "Submitted", "Unauthorized", "WebError", "WebSettings", "init_app",
    "sender_id_for",
]
