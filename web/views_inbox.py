"""Agent side: login and logout, the inbox page, the inbox API and the inbox web socket.

Views stay thin: they check the role (``web.auth.require_role``), parse the request, call one
``crm_connector`` service in a transaction and tell the gateway what changed.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import aiohttp_jinja2
from aiohttp import WSMsgType, web
from aiohttp_session import get_session

from crm_connector import (
    AgentRole,
    AgentView,
    CrmError,
    add_canned_reply,
    add_note,
    agent_reply,
    authenticate_agent,
    claim_conversation,
    conversation_history,
    customer_profile,
    delivery_states,
    get_conversation,
    hand_back_to_bot,
    list_active_agents,
    list_canned_replies,
    list_conversations,
    resolve_conversation,
    retry_channel_delivery,
    transfer_conversation,
)
from web.auth import (
    AGENT_KEY,
    check_csrf,
    csrf_token,
    current_agent,
    log_in,
    require_role,
    safe_next,
)
from web.channels import TELEGRAM
from web.errors import BadRequest, CsrfRejected, Forbidden
from web.serialize import agent_json, conversation_json, delivery_json, message_json, profile_json
from web.state import CUSTOMER_INSIGHTS, GATEWAY, SESSIONS, STATIC_DIR, in_transaction, utcnow
from web.views_chat import json_body

log = logging.getLogger(__name__)

MAX_LOGIN_FIELD = 1024


# ------------------------------------------------------------------ pages


@aiohttp_jinja2.template("login.html")
async def login_page(request: web.Request) -> dict[str, Any]:
    session = await get_session(request)
    return {"csrf_token": csrf_token(session), "error": None, "username": "",
            "next": safe_next(request.query.get("next"))}


async def login(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    session = await get_session(request)
    target = safe_next(form.get("next"))  # the page that sent here, or the inbox
    try:
        check_csrf(session, form.get("csrf_token"))
    except CsrfRejected:
        return _login_again(request, session, "Your form expired; please try again.", "", target,
                            status=403)
    username, password = form.get("username"), form.get("password")
    if not isinstance(username, str) or not isinstance(password, str) or \
            len(username) > MAX_LOGIN_FIELD or len(password) > MAX_LOGIN_FIELD:
        return _login_again(request, session, "Please enter your user name and password.", "",
                            target, status=400)
    now = utcnow()
    agent = await in_transaction(request.app[SESSIONS],
                                 lambda s: authenticate_agent(s, username, password, now=now), write=True)
    if agent is None:
        return _login_again(request, session, "Wrong user name or password.", username, target,
                            status=401)
    await log_in(request, agent)
    raise web.HTTPSeeOther(target)


def _login_again(request: web.Request, session: Any, error: str, username: str, target: str, *,
                 status: int) -> web.Response:
    context = {"csrf_token": csrf_token(session), "error": error, "username": username[:64],
               "next": target}
    return aiohttp_jinja2.render_template("login.html", request, context, status=status)


async def logout(request: web.Request) -> web.StreamResponse:
    session = await get_session(request)
    supplied = request.headers.get("X-CSRF-Token")
    if supplied is None and request.content_type == "application/x-www-form-urlencoded":
        supplied = (await request.post()).get("csrf_token")
    check_csrf(session, supplied)
    session.invalidate()
    raise web.HTTPSeeOther("/login")


@require_role(AgentRole.AGENT, page=True)
async def inbox_page(request: web.Request) -> web.StreamResponse:
    return web.FileResponse(request.app[STATIC_DIR] / "inbox" / "index.html")


async def shop_page(request: web.Request) -> web.StreamResponse:
    return web.FileResponse(request.app[STATIC_DIR] / "shop" / "index.html")


# ------------------------------------------------------------------ API


def _agent(request: web.Request) -> AgentView:
    agent = request.get(AGENT_KEY)
    if agent is None:  # require_role ran first; this is a programming error, not user input
        raise Forbidden("Please log in.")
    return agent


def _path_id(request: web.Request, name: str = "id", what: str = "conversation") -> int:
    """A numeric id from the URL path (``{id}``, ``{message_id}``); anything else is a 400."""
    raw = request.match_info[name]
    if not raw.isdigit() or len(raw) > 18:
        raise BadRequest(f"The {what} id is a number.")
    return int(raw)


def _conversation_id(request: web.Request) -> int:
    return _path_id(request)


@require_role()
async def me(request: web.Request) -> web.Response:
    agent = _agent(request)
    # The messaging channels this gateway can send on: the inbox offers "Retry" only for those.
    channels = ["telegram"] if request.app.get(TELEGRAM) is not None else []
    return web.json_response({**agent_json(agent), "csrf_token": csrf_token(await get_session(request)),
                              "channels": channels})


@require_role()
async def conversations(request: web.Request) -> web.Response:
    view = request.query.get("view", "queue")
    agent, now = _agent(request), utcnow()
    rows = await in_transaction(request.app[SESSIONS], lambda s: list_conversations(s, view, agent, now=now))
    return web.json_response({"conversations": [conversation_json(r) for r in rows]})


@require_role()
async def conversation_detail(request: web.Request) -> web.Response:
    conversation_id, now = _conversation_id(request), utcnow()

    def load(session):  # type: ignore[no-untyped-def]
        view = get_conversation(session, conversation_id, now=now)
        messages = conversation_history(session, conversation_id, include_internal=True)
        return view, messages, delivery_states(session, [m.id for m in messages])

    view, messages, deliveries = await in_transaction(request.app[SESSIONS], load)
    return web.json_response({"conversation": conversation_json(view), "messages": [
        message_json(m, internal=True, delivery=deliveries.get(m.id)) for m in messages]})


@require_role()
async def conversation_customer(request: web.Request) -> web.Response:
    conversation_id = _conversation_id(request)
    insights_hook = request.app[CUSTOMER_INSIGHTS]

    def load(session):  # type: ignore[no-untyped-def]
        profile = customer_profile(session, conversation_id)
        insights = None
        if insights_hook is not None and profile.public_id is not None:
            insights = customer_insights(insights_hook, session, profile.public_id)
        return profile, insights

    profile, insights = await in_transaction(request.app[SESSIONS], load)
    return web.json_response(profile_json(profile, insights))


def customer_insights(hook: Any, session: Any, customer_public_id: str) -> dict[str, Any] | None:
    """ANALYTICS HOOK: segment, churn risk and reasons, recommendations for the profile panel.

    ``hook`` is ``analytics.customer_insights(session, customer_public_id) -> dict`` (keys
    ``segment``, ``churn_risk``, ``churn_level``, ``churn_reasons``, ``recommendations``), wired in
    ``web.app.init_app`` when analytics provides it. A failing hook leaves the panel without
    insights instead of failing the profile.
    """
    try:
        result = hook(session, customer_public_id)
    except Exception:  # noqa: BLE001 - insights are optional; the CRM profile must still show
        log.exception("customer insights failed for customer %s", customer_public_id)
        return None
    return result if isinstance(result, dict) else None


async def _change(request: web.Request, action: Any, *, text_field: str | None = None) -> web.Response:
    """Run one agent action on a conversation and publish what changed."""
    conversation_id, agent, now = _conversation_id(request), _agent(request), utcnow()
    body = await json_body(request)
    argument: Any = None
    if text_field is not None:
        argument = body.get(text_field)
        if not isinstance(argument, str):
            raise BadRequest(f"{text_field} is required.")
    gateway = request.app[GATEWAY]

    def run(session):  # type: ignore[no-untyped-def]
        before = get_conversation(session, conversation_id, now=now).status
        result = action(session, conversation_id, agent, argument, now)
        return before, result, get_conversation(session, conversation_id, now=now)

    before, result, after = await in_transaction(request.app[SESSIONS], run, write=True)
    if text_field is not None:
        await gateway.agent_message(after, result)
    await gateway.agent_changed(before, after)
    return web.json_response({"conversation": conversation_json(after), **(
        {"message": message_json(result, internal=True)} if text_field is not None else {})})


@require_role()
async def claim(request: web.Request) -> web.Response:
    return await _change(request, lambda s, c, a, _, now: claim_conversation(s, c, a, now=now))


@require_role()
async def reply(request: web.Request) -> web.Response:
    return await _change(request, lambda s, c, a, t, now: agent_reply(s, c, a, t, now=now), text_field="text")


@require_role()
async def note(request: web.Request) -> web.Response:
    return await _change(request, lambda s, c, a, t, now: add_note(s, c, a, t, now=now), text_field="text")


@require_role()
async def transfer(request: web.Request) -> web.Response:
    body = await json_body(request)
    target = body.get("agent_id")
    if isinstance(target, bool) or not isinstance(target, int):
        raise BadRequest("agent_id (a number) is required.")
    return await _change(request, lambda s, c, a, _, now: transfer_conversation(s, c, a, target, now=now))


@require_role()
async def resolve(request: web.Request) -> web.Response:
    return await _change(request, lambda s, c, a, _, now: resolve_conversation(s, c, a, now=now))


@require_role()
async def handback(request: web.Request) -> web.Response:
    return await _change(request, lambda s, c, a, _, now: hand_back_to_bot(s, c, a, now=now))


@require_role()
async def retry_delivery(request: web.Request) -> web.Response:
    """Send again a message that a messaging channel did not deliver (its outbox row is
    ``failed``): the row goes back to ``pending`` and the channel queues it; the inbox learns
    how it ends from the ``delivery`` frame. 202 with the message's ``delivery``."""
    conversation_id = _conversation_id(request)
    message_id = _path_id(request, "message_id", "message")
    telegram = request.app.get(TELEGRAM)
    if telegram is None:
        return web.json_response({"error": "channel_unavailable", "message": (
            "Telegram is not configured here, so the message cannot be sent again.")}, status=409)
    delivery = await in_transaction(
        request.app[SESSIONS],
        lambda s: retry_channel_delivery(s, message_id, conversation_id=conversation_id),
        write=True)
    telegram.requeue(delivery)
    return web.json_response({"message_id": message_id, "delivery": delivery_json(
        delivery.channel, delivery.state, delivery.last_error)}, status=202)


@require_role()
async def canned(request: web.Request) -> web.Response:
    rows = await in_transaction(request.app[SESSIONS], list_canned_replies)
    return web.json_response({"replies": [{"id": r.id, "title": r.title, "text": r.text} for r in rows]})


@require_role(AgentRole.MANAGER)
async def add_canned(request: web.Request) -> web.Response:
    body = await json_body(request)
    title, text, now = body.get("title"), body.get("text"), utcnow()
    if not isinstance(title, str) or not isinstance(text, str):
        raise BadRequest("title and text are required.")
    row = await in_transaction(request.app[SESSIONS], lambda s: add_canned_reply(s, title, text, now=now),
                               write=True)
    return web.json_response({"id": row.id, "title": row.title, "text": row.text}, status=201)


@require_role()
async def agents(request: web.Request) -> web.Response:
    rows = await in_transaction(request.app[SESSIONS], list_active_agents)
    return web.json_response({"agents": [{"id": a.id, "display_name": a.display_name, "role": a.role.value}
                                         for a in rows]})


@require_role()
async def inbox_socket(request: web.Request) -> web.WebSocketResponse:
    """WS /ws/inbox: live queue, messages and conversation changes for logged-in agents."""
    origin = request.headers.get("Origin")
    if origin is not None and origin.split("://", 1)[-1] != request.host:
        raise Forbidden("Cross-site web socket refused.")
    gateway = request.app[GATEWAY]
    ws = web.WebSocketResponse(heartbeat=30, timeout=2.0, max_msg_size=16 * 1024)
    await ws.prepare(request)
    gateway.inbox_sockets.add(ws)
    try:
        async for frame in ws:
            if frame.type != WSMsgType.TEXT:
                continue
            try:
                data = json.loads(frame.data)
            except ValueError:
                await ws.send_json({"type": "error", "code": "bad_frame", "message": "Frames must be JSON."})
                continue
            if isinstance(data, dict) and data.get("type") == "typing" and isinstance(data.get("conversation_id"), int):
                await _agent_typing(request, data["conversation_id"])
            else:
                await ws.send_json({"type": "error", "code": "bad_frame", "message": "Unknown frame."})
    finally:
        gateway.inbox_sockets.discard(ws)
    return ws


async def _agent_typing(request: web.Request, conversation_id: int) -> None:
    agent = await current_agent(request)
    now = utcnow()
    try:
        view = await in_transaction(request.app[SESSIONS], lambda s: get_conversation(s, conversation_id, now=now))
    except CrmError:  # a typing hint for a missing conversation is dropped
        return
    if agent is not None and view.assigned_agent_id == agent.id:
        await request.app[GATEWAY].agent_typing(view.sender_id)
