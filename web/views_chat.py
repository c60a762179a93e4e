"""Customer side: start or resume a conversation, and the chat web socket.

A conversation token (a JWT signed with a key derived from ``WEB_SESSION_SECRET``) names one
conversation; it is the only thing that lets a browser read or write a conversation, so a
customer can never read another one.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import uuid
from typing import Any

import jwt
from aiohttp import WSMsgType, web

from crm_connector import (
    ConversationStatus,
    CrmError,
    InvalidInput,
    ShopTokenInvalid,
    conversation_history,
    find_conversation,
    open_conversation,
    verify_shop_token,
)
from web.auth import derive_key
from web.errors import BadRequest, Unauthorized, WebError
from web.gateway import WEB_CHANNEL
from web.origins import check_chat_socket_origin
from web.serialize import message_json
from web.state import CRM_SETTINGS, GATEWAY, SESSIONS, SETTINGS, in_transaction, utcnow

log = logging.getLogger(__name__)

TOKEN_AUDIENCE = "crmbot-conversation"
TOKEN_LIFETIME = dt.timedelta(days=30)
MAX_FRAME_BYTES = 64 * 1024
MAX_COMMENT = 1000


def issue_conversation_token(request: web.Request, sender: str, shop_token: str | None) -> str:
    now = utcnow()
    claims: dict[str, Any] = {"sub": sender, "aud": TOKEN_AUDIENCE, "iat": int(now.timestamp()),
                              "exp": int((now + TOKEN_LIFETIME).timestamp())}
    if shop_token:
        claims["shop"] = shop_token
    return jwt.encode(claims, derive_key(request.app[SETTINGS], "conversation-token"), algorithm="HS256")


def read_conversation_token(request: web.Request, token: object) -> dict[str, Any]:
    if not isinstance(token, str) or not token or len(token) > 4096:
        raise Unauthorized("A conversation token is required.")
    try:
        claims = jwt.decode(token, derive_key(request.app[SETTINGS], "conversation-token"),
                            algorithms=["HS256"], audience=TOKEN_AUDIENCE, options={"require": ["sub", "exp"]})
    except jwt.PyJWTError as exc:
        raise Unauthorized("The conversation token is not valid; start a new conversation.") from exc
    if not isinstance(claims.get("sub"), str):
        raise Unauthorized("The conversation token is not valid; start a new conversation.")
    return claims


async def json_body(request: web.Request) -> dict[str, Any]:
    if request.content_length is not None and request.content_length > MAX_FRAME_BYTES:
        raise BadRequest("The request body is too large.")
    try:
        body = json.loads(await request.read() or b"{}")
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest("The request body is not valid JSON.") from exc
    if not isinstance(body, dict):
        raise BadRequest("The request body must be a JSON object.")
    return body


async def create_session(request: web.Request) -> web.Response:
    """POST /api/chat/sessions: resume the conversation of a valid token, else start one."""
    body = await json_body(request)
    sessions = request.app[SESSIONS]
    shop_token = body.get("shop_token")
    if shop_token is not None and not isinstance(shop_token, str):
        raise BadRequest("shop_token must be a string.")
    token = body.get("conversation_token")
    if token:
        try:
            claims = read_conversation_token(request, token)
        except Unauthorized:
            claims = None
        if claims is not None:
            sender = claims["sub"]
            found = await in_transaction(sessions, lambda s: find_conversation(s, sender))
            if found is not None:
                return web.json_response({"conversation_token": token, "conversation_id": sender,
                                          "ws_url": "/ws/chat", "resumed": True,
                                          **_widget_options(request)})
    customer = None
    accepted = False
    if shop_token:
        now = utcnow()
        try:
            identity = await in_transaction(sessions, lambda s: verify_shop_token(
                s, request.app[CRM_SETTINGS], shop_token, now=now))
            customer, accepted = identity.customer_public_id, True
        except ShopTokenInvalid as exc:
            log.info("shop token refused at chat start (%s)", exc.reason)
    sender = f"{WEB_CHANNEL}-{uuid.uuid4().hex}"
    now = utcnow()
    await in_transaction(sessions, lambda s: open_conversation(
        s, sender, WEB_CHANNEL, now=now, customer_public_id=customer), write=True)
    return web.json_response({
        "conversation_token": issue_conversation_token(request, sender, shop_token if accepted else None),
        "conversation_id": sender, "ws_url": "/ws/chat", "resumed": False,
        "shop_token_accepted": accepted, **_widget_options(request),
    })


def _widget_options(request: web.Request) -> dict[str, Any]:
    settings = request.app[SETTINGS]
    return {"allowed_link_hosts": list(settings.allowed_link_hosts),
            "message_max_length": settings.message_max_length}


async def chat_socket(request: web.Request) -> web.WebSocketResponse:
    """WS /ws/chat?token=...: history first, then messages both ways (docs/web-api.md).
    A browser page on a site that may not embed the widget is refused (403) first."""
    check_chat_socket_origin(request)
    claims = read_conversation_token(request, request.query.get("token"))
    sender = claims["sub"]
    metadata = {"shop_token": claims["shop"]} if claims.get("shop") else None
    gateway = request.app[GATEWAY]
    sessions = request.app[SESSIONS]
    conversation = await in_transaction(sessions, lambda s: find_conversation(s, sender))
    if conversation is None:
        raise Unauthorized("The conversation no longer exists; start a new one.")
    ws = web.WebSocketResponse(heartbeat=30, timeout=2.0, max_msg_size=MAX_FRAME_BYTES)
    await ws.prepare(request)
    history = await in_transaction(sessions, lambda s: conversation_history(s, conversation.id, include_internal=False))
    await ws.send_json({"type": "history", "messages": [message_json(m) for m in history],
                        "state": conversation.status.value})
    if conversation.status == ConversationStatus.CLOSED and conversation.rating is None:
        await ws.send_json({"type": "rating_request"})
    gateway.customer_sockets.setdefault(sender, set()).add(ws)
    try:
        async for frame in ws:
            if frame.type != WSMsgType.TEXT:
                if frame.type == WSMsgType.BINARY:
                    await _error(ws, "bad_frame", "Frames must be JSON text.")
                continue
            await _handle_frame(ws, request, sender, conversation.id, frame.data, metadata)
    finally:
        sockets = gateway.customer_sockets.get(sender)
        if sockets is not None:
            sockets.discard(ws)
            if not sockets:
                gateway.customer_sockets.pop(sender, None)
    return ws


async def _handle_frame(ws: web.WebSocketResponse, request: web.Request, sender: str,
                        conversation_id: int, data: str, metadata: dict[str, Any] | None) -> None:
    gateway = request.app[GATEWAY]
    try:
        frame = json.loads(data)
    except ValueError:
        await _error(ws, "bad_frame", "Frames must be JSON objects.")
        return
    if not isinstance(frame, dict):
        await _error(ws, "bad_frame", "Frames must be JSON objects.")
        return
    kind = frame.get("type")
    try:
        if kind == "message":
            text, client_id, payload = frame.get("text"), frame.get("client_id"), frame.get("payload")
            if not isinstance(text, str) or (client_id is not None and not isinstance(client_id, str)) \
                    or (payload is not None and not isinstance(payload, str)):
                raise BadRequest("A message needs text (and optionally client_id, payload) as strings.")
            if len(text) > gateway.message_max_length:
                await _error(ws, "too_long", f"The message is too long (at most "
                             f"{gateway.message_max_length} characters); nothing was sent.", client_id)
                return
            submitted = await gateway.submit_customer_message(WEB_CHANNEL, sender, text, client_id or None,
                                                              payload=payload, metadata=metadata)
            await ws.send_json({"type": "ack", "client_id": client_id, "id": submitted.message["id"]})
        elif kind == "rating":
            score, comment = frame.get("score"), frame.get("comment")
            if comment is not None and (not isinstance(comment, str) or len(comment) > MAX_COMMENT):
                raise BadRequest(f"A rating comment is text of at most {MAX_COMMENT} characters.")
            await gateway.submit_rating(WEB_CHANNEL, sender, score, comment)
        elif kind == "typing":
            await gateway.customer_typing(conversation_id)
        else:
            await _error(ws, "bad_frame", "Unknown frame type.")
    except WebError as exc:
        await _error(ws, exc.code, str(exc), frame.get("client_id") if kind == "message" else None)
    except InvalidInput as exc:
        await _error(ws, "invalid", str(exc))
    except CrmError as exc:
        await _error(ws, exc.code, str(exc))


async def _error(ws: web.WebSocketResponse, code: str, message: str, client_id: object = None) -> None:
    frame: dict[str, Any] = {"type": "error", "code": code, "message": message}
    if isinstance(client_id, str):
        frame["client_id"] = client_id
    await ws.send_json(frame)
