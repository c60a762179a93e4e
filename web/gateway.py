"""The gateway core: store every customer message first, then route it.

Conversation states (``support_conversation.status``): ``bot`` -> ``queued`` -> ``agent`` ->
``closed``; ``agent`` -> ``bot`` when an agent hands back; ``closed`` -> ``bot`` when the
customer writes again. In ``bot`` a message goes to Rasa; in ``queued``/``agent`` it only goes
to the inbox (the bot stays silent).

Bot down or slow: the message stays ``pending``; the customer gets, once per outage, a short
apology with a "Talk to a person" button (payload ``/human_handoff``) within
``WEB_RASA_TIMEOUT_SECONDS`` (a slow request keeps running up to
``WEB_RASA_REQUEST_TIMEOUT_SECONDS``; its answer is delivered when it comes). Each message goes
to Rasa with ``metadata.gateway_message_id``; before resending one whose request timed out, the
gateway reads Rasa's tracker, and if Rasa has it, takes the bot's replies from there instead of
sending it twice. Pressing it while the bot is still down queues the conversation
for people (reason ``bot_unavailable``). A background task retries pending messages every
``WEB_REDELIVER_INTERVAL_SECONDS``, oldest first and in order per conversation, until Rasa
answers. A per-conversation lock keeps one message in flight per conversation.

Channel adapter interface
-------------------------
A channel (the web widget, Telegram, ...) talks to the gateway with these calls:

* ``await gateway.submit_customer_message(channel, external_conversation_id, text,
  client_message_id, payload=None, metadata=None) -> Submitted`` -- stores the message (once per
  ``client_message_id``: a provider's retry is a no-op, ``Submitted.created`` is False), then
  routes it in the background. ``channel`` is a short name (``"telegram"``);
  ``external_conversation_id`` the provider's chat id (the conversation id becomes
  ``"<channel>-<external id>"``; the web channel passes the conversation id itself). ``payload``
  is a pressed button's payload (sent to the bot instead of the text); ``metadata`` is passed to
  the bot (e.g. ``{"shop_token": ...}``). Raises ``web.errors.BadRequest`` for empty or
  too long text (nothing stored).
* ``await gateway.submit_rating(channel, external_conversation_id, score, comment=None)``
  after a ``rating_request``.
* ``gateway.register_channel(channel, sender)`` with ``async def sender(external_conversation_id,
  frame)``: called for every frame the customer should get -- the same dicts the widget's web
  socket receives (``{"type": "message", "message": {...}}``, ``{"type": "state", ...}``,
  ``{"type": "rating_request"}``, ``{"type": "typing", ...}``); the adapter forwards what its
  provider can show and ignores the rest. A sender that raises is logged and does not stop
  the other deliveries (the message stays stored; the inbox shows it).
* ``await gateway.publish_delivery(message_id, channel, state, error)`` when the channel's
  outbox row for a stored message ends (sent, failed, uncertain): open inboxes update it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from sqlalchemy.orm import Session, sessionmaker

from crm_connector import (
    ChannelDeliveryState,
    ConversationStatus,
    ConversationView,
    CrmError,
    DeliveryState,
    InvalidInput,
    MessageAuthor,
    MessageView,
    conversations_with_pending,
    find_conversation,
    mark_delivered,
    open_conversation,
    pending_customer_messages,
    queue_for_person,
    rate_conversation,
    store_customer_message,
    store_outgoing_message,
    sync_after_bot_turn,
)
from web.errors import BadRequest, BotRejected, BotUnavailable
from web.rasa import RasaClient, replies_to
from web.serialize import conversation_json, delivery_json, message_json
from web.state import in_transaction, utcnow

log = logging.getLogger(__name__)

WEB_CHANNEL = "web"
HANDOFF_PAYLOAD = "/human_handoff"
BOT_UNAVAILABLE_REASON = "bot_unavailable"
APOLOGY = ("Sorry, I'm having trouble answering right now. Your message is saved and I'll reply "
           "as soon as I'm back, or a person from our team can take over.")
APOLOGY_BUTTONS = [{"title": "Talk to a person", "payload": HANDOFF_PAYLOAD}]
QUEUED_BY_GATEWAY = "A person from our team will take over this chat shortly."
REJECTED = "Sorry, I couldn't process that message. Could you say it differently?"

ChannelSender = Callable[[str, dict[str, Any]], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Submitted:
    conversation_id: str
    message: dict[str, Any]
    created: bool
    state: str


def sender_id_for(channel: str, external_conversation_id: str) -> str:
    if channel == WEB_CHANNEL:
        return external_conversation_id
    return f"{channel}-{external_conversation_id}"


class Gateway:
    def __init__(self, sessions: sessionmaker[Session], rasa: RasaClient, *, message_max_length: int,
                 redeliver_interval: float, apology_after: float = 4.0) -> None:
        self.sessions = sessions
        self.apology_after = apology_after
        #: Messages whose request timed out after sending: Rasa may have processed them.
        self._uncertain: set[int] = set()
        self.rasa = rasa
        self.message_max_length = message_max_length
        self.redeliver_interval = redeliver_interval
        self.customer_sockets: dict[str, set[web.WebSocketResponse]] = {}
        self.inbox_sockets: set[web.WebSocketResponse] = set()
        self.channels: dict[str, ChannelSender] = {}
        self.bot_down = False
        self._apologised: set[str] = set()
        self._resume: set[str] = set()
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._wake = asyncio.Event()

    # ------------------------------------------------------------------ channel adapter API

    def register_channel(self, channel: str, sender: ChannelSender) -> None:
        self.channels[channel] = sender

    async def submit_customer_message(
        self, channel: str, external_conversation_id: str, text: str, client_message_id: str | None,
        payload: str | None = None, metadata: dict[str, Any] | None = None,
    ) -> Submitted:
        if not isinstance(text, str) or not text.strip():
            raise BadRequest("The message is empty.")
        if len(text) > self.message_max_length:
            raise BadRequest(f"The message is too long (at most {self.message_max_length} characters).")
        sender = sender_id_for(channel, external_conversation_id)
        now = utcnow()

        def store(session: Session):  # type: ignore[no-untyped-def]
            conversation = open_conversation(session, sender, channel, now=now)
            return conversation, store_customer_message(
                session, sender, text, client_message_id, now=now, payload=payload, bot_metadata=metadata)

        try:
            conversation, stored = await in_transaction(self.sessions, store, write=True)
        except InvalidInput as exc:
            raise BadRequest(str(exc)) from exc
        message = message_json(stored.message)
        if stored.created:
            log.info("conversation %s: customer message %s stored", conversation.id, stored.message.id)
            await self._to_customer(sender, {"type": "message", "message": message}, channels=False)
            await self._to_inbox({"type": "message", "conversation_id": conversation.id,
                                  "message": message_json(stored.message, internal=True)})
            if stored.reopened:
                self._resume.add(sender)
                await self.publish_state(sender, ConversationStatus.BOT)
                await self._to_inbox({"type": "queue_changed"})
            if stored.status == ConversationStatus.BOT:
                if payload == HANDOFF_PAYLOAD and self.bot_down:
                    await self._queue_without_bot(sender)
                else:
                    self._spawn(self.route(sender))
        return Submitted(conversation_id=sender, message=message, created=stored.created,
                         state=stored.status.value)

    async def submit_rating(self, channel: str, external_conversation_id: str, score: int,
                            comment: str | None = None) -> ConversationView:
        sender = sender_id_for(channel, external_conversation_id)
        now = utcnow()
        view = await in_transaction(self.sessions, lambda s: rate_conversation(s, sender, score, comment, now=now),
                                    write=True)
        await self._to_customer(sender, {"type": "rating_saved"})
        await self._to_inbox({"type": "conversation", "conversation": conversation_json(view)})
        return view

    # ------------------------------------------------------------------ routing to the bot

    def _spawn(self, coroutine: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            # The message stays stored (pending); the redelivery task tries again.
            log.error("routing failed: %s (%s)", type(exc).__name__, getattr(exc, "code", "-"))
            self._wake.set()

    def _lock(self, sender: str) -> asyncio.Lock:
        lock = self._locks.get(sender)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[sender] = lock
        return lock

    async def route(self, sender: str, *, probe: bool = False) -> bool:
        """Deliver the conversation's pending messages to the bot, in order.

        Returns False when the bot is unavailable. While it is known to be down only the
        redelivery task (``probe=True``) tries; a customer's message then gets the apology.
        """
        async with self._lock(sender):
            while True:
                conversation = await in_transaction(self.sessions, lambda s: find_conversation(s, sender))
                if conversation is None or conversation.status != ConversationStatus.BOT:
                    return True
                pending = await in_transaction(
                    self.sessions, lambda s: pending_customer_messages(s, conversation.id))
                if not pending:
                    return True
                if self.bot_down and not probe:
                    await self._apologise(sender, conversation.id)
                    return False
                try:
                    await self._deliver(sender, conversation, pending[0])
                except BotUnavailable:
                    self._set_bot_down(True)
                    await self._to_customer(sender, {"type": "typing", "author": "bot", "on": False})
                    await self._apologise(sender, conversation.id)
                    return False
                self._set_bot_down(False)
                self._apologised.discard(sender)

    async def _deliver(self, sender: str, conversation: ConversationView, message: MessageView) -> None:
        await self._to_customer(sender, {"type": "typing", "author": "bot", "on": True})
        if sender in self._resume:
            try:
                await self.rasa.resume(sender)
            except BotRejected:
                log.warning("Rasa refused to resume conversation %s", conversation.id)
            self._resume.discard(sender)
        state = DeliveryState.DELIVERED
        try:
            replies = await self._ask_bot(sender, conversation.id, message)
        except BotRejected:
            replies = [{"text": REJECTED}]
            state = DeliveryState.FAILED
        now = utcnow()

        def record(session: Session):  # type: ignore[no-untyped-def]
            stored = []
            for reply in replies:
                text = reply.get("text") if isinstance(reply.get("text"), str) else ""
                buttons = reply.get("buttons") if isinstance(reply.get("buttons"), list) else None
                if text.strip() or buttons:
                    stored.append(store_outgoing_message(session, conversation.id, MessageAuthor.BOT,
                                                         text, now=now, buttons=buttons))
            mark_delivered(session, message.id, now=now, state=state)
            return stored, sync_after_bot_turn(session, sender, conversation.channel, now=now)

        stored, after = await in_transaction(self.sessions, record, write=True)
        await self._to_customer(sender, {"type": "typing", "author": "bot", "on": False})
        for reply in stored:
            await self.publish_message(sender, after.id, reply)
        if after.status != conversation.status:
            log.info("conversation %s handed off by the bot (%s)", after.id, after.handoff_reason)
            await self.publish_state(sender, after.status)
            await self.publish_conversation(after)

    async def _ask_bot(self, sender: str, conversation_id: int, message: MessageView) -> list[dict[str, Any]]:
        """The bot's replies to ``message``: sent once (``gateway_message_id`` in the metadata);
        after an uncertain failure Rasa's tracker says whether it already has it. A slow bot gets
        the customer the apology after ``apology_after`` seconds while the request keeps going."""
        if message.id in self._uncertain:
            earlier = replies_to(await self.rasa.tracker_events(sender), message.id)
            self._uncertain.discard(message.id)
            if earlier is not None:
                log.info("conversation %s: message %s had reached the bot; not sending it again",
                         conversation_id, message.id)
                return earlier
        metadata = {**(message.bot_metadata or {}), "gateway_message_id": message.id}
        request = asyncio.ensure_future(self.rasa.send(sender, message.payload or message.text, metadata))
        try:
            done, _ = await asyncio.wait({request}, timeout=self.apology_after)
            if not done:
                await self._apologise(sender, conversation_id)  # slow: tell the customer, keep waiting
            return await request
        except BotUnavailable as exc:
            if exc.maybe_received:
                self._uncertain.add(message.id)
            raise
        finally:
            if not request.done():
                request.cancel()

    async def _apologise(self, sender: str, conversation_id: int) -> None:
        if sender in self._apologised:
            return
        self._apologised.add(sender)
        now = utcnow()
        message = await in_transaction(self.sessions, lambda s: store_outgoing_message(
            s, conversation_id, MessageAuthor.SYSTEM, APOLOGY, now=now, buttons=APOLOGY_BUTTONS), write=True)
        await self.publish_message(sender, conversation_id, message)

    async def _queue_without_bot(self, sender: str) -> None:
        now = utcnow()
        async with self._lock(sender):
            def queue(session: Session):  # type: ignore[no-untyped-def]
                view = queue_for_person(session, sender, BOT_UNAVAILABLE_REASON, now=now)
                note = store_outgoing_message(session, view.id, MessageAuthor.SYSTEM, QUEUED_BY_GATEWAY, now=now)
                return view, note

            view, note = await in_transaction(self.sessions, queue, write=True)
        self._apologised.discard(sender)
        await self.publish_message(sender, view.id, note)
        await self.publish_state(sender, view.status)
        await self.publish_conversation(view)

    def _set_bot_down(self, down: bool) -> None:
        if down != self.bot_down:
            log.warning("the assistant is %s", "unavailable: holding messages" if down else "back: redelivering")
        self.bot_down = down

    async def redeliver_forever(self) -> None:
        """Background task: retry pending messages, oldest conversation first."""
        while True:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.redeliver_interval)
            self._wake.clear()
            try:
                senders = await in_transaction(self.sessions, conversations_with_pending)
                for sender in senders:
                    if not await self.route(sender, probe=True):
                        break  # still down: try again next round
            except CrmError as exc:
                log.warning("redelivery round failed: %s", exc.code)
            except Exception:  # noqa: BLE001 - the redelivery task must outlive any one bad round
                log.exception("redelivery round failed")

    def start(self) -> None:
        """Start the redelivery task (pending messages from before a restart included)."""
        self._spawn(self.redeliver_forever())

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await self.close_sockets()

    async def close_sockets(self) -> None:
        """Close every open web socket (at shutdown, so their handlers can end)."""
        sockets = [*self.inbox_sockets, *(w for s in self.customer_sockets.values() for w in s)]
        await asyncio.gather(*(ws.close(code=1001, message=b"server shutting down") for ws in sockets),
                             return_exceptions=True)

    # ------------------------------------------------------------------ after agent actions

    async def agent_message(self, view: ConversationView, message: MessageView) -> None:
        await self.publish_message(view.sender_id, view.id, message)

    async def agent_changed(self, before: ConversationStatus | None, view: ConversationView) -> None:
        """Tell the customer and the inbox about a claim, transfer, resolve or hand-back."""
        if before != view.status:
            await self.publish_state(view.sender_id, view.status)
            if view.status == ConversationStatus.CLOSED:
                await self._to_customer(view.sender_id, {"type": "rating_request"})
            if view.status == ConversationStatus.BOT:
                self._resume.add(view.sender_id)
                self._spawn(self.route(view.sender_id))
        await self.publish_conversation(view)

    # ------------------------------------------------------------------ fan-out

    async def publish_message(self, sender: str, conversation_id: int, message: MessageView) -> None:
        if not message.internal:
            await self._to_customer(sender, {"type": "message", "message": message_json(message)})
        await self._to_inbox({"type": "message", "conversation_id": conversation_id,
                              "message": message_json(message, internal=True)})

    async def publish_state(self, sender: str, status: ConversationStatus) -> None:
        await self._to_customer(sender, {"type": "state", "state": status.value})

    async def publish_conversation(self, view: ConversationView) -> None:
        await self._to_inbox({"type": "conversation", "conversation": conversation_json(view)})
        await self._to_inbox({"type": "queue_changed"})

    async def publish_delivery(self, message_id: int, channel: str, state: ChannelDeliveryState,
                               error: str | None) -> None:
        await self._to_inbox({"type": "delivery", "message_id": message_id,
                              "delivery": delivery_json(channel, state, error)})

    async def customer_typing(self, conversation_id: int) -> None:
        await self._to_inbox({"type": "typing", "conversation_id": conversation_id, "author": "customer"})

    async def agent_typing(self, sender: str) -> None:
        await self._to_customer(sender, {"type": "typing", "author": "agent", "on": True})

    async def _to_customer(self, sender: str, frame: dict[str, Any], *, channels: bool = True) -> None:
        for ws in list(self.customer_sockets.get(sender, ())):
            await _send(ws, frame)
        if not channels:
            return
        channel, _, external = sender.partition("-")
        adapter = self.channels.get(channel) if channel != WEB_CHANNEL else None
        if adapter is not None and external:
            try:
                await adapter(external, frame)
            except Exception:  # noqa: BLE001 - one failing provider must not stop the gateway
                log.exception("channel %s could not deliver a %s frame", channel, frame.get("type"))

    async def _to_inbox(self, frame: dict[str, Any]) -> None:
        for ws in list(self.inbox_sockets):
            await _send(ws, frame)


async def _send(ws: web.WebSocketResponse, frame: dict[str, Any]) -> None:
    if ws.closed:
        return
    with contextlib.suppress(ConnectionError, RuntimeError):
        await ws.send_json(frame)
