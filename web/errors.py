"""Errors of the web gateway. Views turn them (and ``crm_connector`` errors) into JSON
``{"error": code, "message": text}`` responses; a customer never sees a traceback."""

from __future__ import annotations


class WebError(Exception):
    """Root of every error raised by ``web``."""

    code = "web_error"
    status = 500


class BadRequest(WebError):
    code = "bad_request"
    status = 400


class Unauthorized(WebError):
    code = "unauthorized"
    status = 401


class Forbidden(WebError):
    code = "forbidden"
    status = 403


class CsrfRejected(Forbidden):
    code = "csrf"


class NotFound(WebError):
    code = "not_found"
    status = 404


class BotUnavailable(WebError):
    """Rasa did not answer in time, refused the connection, or answered with a server error."""

    code = "bot_unavailable"
    status = 503
    #: True when the request was sent and may have been processed (a timeout, a dropped
    #: connection); False when nothing reached the assistant.
    maybe_received = False


class BotRejected(WebError):
    """Rasa answered a message with a client error (4xx): retrying will not help."""

    code = "bot_rejected"
    status = 502
