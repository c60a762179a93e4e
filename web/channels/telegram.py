"""Telegram channel: the Bot API webhook in, ``sendMessage`` out.

In: ``POST /channels/telegram/webhook``. Telegram sends the secret given to ``setWebhook`` in
``X-Telegram-Bot-Api-Secret-Token``; it is compared in constant time, anything else is 401.
``update_id`` is the idempotency key: the message is stored with client id
``telegram-update-<update_id>``, so a provider retry stores and answers nothing new. A text
message or a pressed inline button (``callback_query``) goes to the gateway like a widget
message (conversation ``telegram-<chat id>``).

Out: the gateway calls ``TelegramChannel.deliver`` with the frames a widget would get. Bot, agent
and system messages go out with ``sendMessage`` (buttons as an inline keyboard), a
``rating_request`` as a 1-5 keyboard. Each chat has its own ordered outbox worker, so a slow
provider never holds up the gateway. ``TelegramClient`` retries 429 (honouring
``retry_after``) and 5xx with exponential backoff, and remembers what it sent by key: the same
message is never sent twice. A request that may have reached Telegram (timeout after sending)
is not retried.

The outbox is durable: each outgoing message is first written to ``channel_delivery``
(``pending``), marked ``sending`` while a request is on the wire (back to ``pending`` when a
429/5xx proves nothing was sent) and ends ``sent`` (with Telegram's ``message_id``),
``failed`` or ``uncertain``. A key recorded once is never sent again, even after a restart. At
start-up the pending messages are queued again in their order per chat; uncertain ones (and
those cut off mid-request) are not sent again, only logged by id.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import random
import weakref
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import aiohttp
from aiohttp import web
from sqlalchemy.orm import Session, sessionmaker

from crm_connector import (
    ChannelDeliveryState,
    ChannelDeliveryView,
    CrmError,
    finish_channel_delivery,
    record_channel_delivery,
    release_delivery_attempt,
    resume_channel_deliveries,
    start_delivery_attempt,
)
from web.channels.errors import (
    ChannelError,
    DeliveryUncertain,
    ProviderRejected,
    ProviderUnavailable,
)
from web.errors import BadRequest, WebError
from web.state import GATEWAY, SETTINGS, in_transaction, utcnow

log = logging.getLogger(__name__)

CHANNEL = "telegram"
WEBHOOK_PATH = "/channels/telegram/webhook"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
RATING_PREFIX = "rating:"
MAX_UPDATE_BYTES = 256 * 1024
MAX_TEXT = 4096  # Bot API limit of one message
MAX_CALLBACK_DATA = 64  # Bot API limit of callback_data, in bytes
RATING_PROMPT = "How did we do? Please rate this conversation (1 = poor, 5 = excellent)."
RATING_THANKS = "Thank you for your feedback!"
NOT_TEXT = "Sorry, I can only read text messages here."
#: How many uncertain delivery ids the start-up warning names.
LOGGED_UNCERTAIN = 50

Keyboard = list[list[dict[str, str]]]


class AlreadyHandled(ChannelError):
    """The outbox says this delivery is not pending any more (sent, given up, or taken by
    another worker): nothing was sent and nothing should be."""

    code = "already_handled"


class RequestTracker(Protocol):
    """Told about each request of one send, so the outbox knows what may have reached
    Telegram. ``request_starts`` returns False to stop the send before anything goes out."""

    async def request_starts(self) -> bool: ...

    async def not_sent(self, code: str) -> None: ...


# ---------------------------------------------------------------------------- Bot API client


class TelegramClient:
    """A small Bot API client on an ``aiohttp.ClientSession``.

    ``call`` retries 429 and 5xx answers and failed connections (the request never reached
    Telegram) up to ``max_attempts`` times with exponential backoff and jitter, honouring
    ``parameters.retry_after`` (capped at ``max_delay``). ``send_message`` with a ``key`` sends
    each key once: a later call with the same key returns the first result, and concurrent
    calls share one request.
    """

    def __init__(
        self,
        http: aiohttp.ClientSession,
        api_url: str,
        token: str,
        *,
        max_attempts: int = 5,
        base_delay: float = 0.5,
        max_delay: float = 30.0,
        remember: int = 10_000,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if not token:
            raise ValueError("a Telegram bot token is required")
        self._http = http
        self._base = f"{api_url.rstrip('/')}/bot{token}"
        self.max_attempts = max(1, max_attempts)
        self.base_delay = base_delay
        self.max_delay = max_delay
        self._remember = remember
        self._sent: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._in_flight: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._sleep = sleep

    def _backoff(self, attempt: int, retry_after: object = None) -> float:
        if isinstance(retry_after, int | float) and retry_after >= 0:
            return min(float(retry_after), self.max_delay)
        delay = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        return delay * (0.5 + random.random() / 2)  # noqa: S311 - jitter, not security

    async def call(
        self,
        method: str,
        params: dict[str, Any],
        *,
        max_attempts: int | None = None,
        tracker: RequestTracker | None = None,
    ) -> Any:
        """Call ``method``; return its ``result``. Raises ``ProviderRejected`` (4xx),
        ``ProviderUnavailable`` (retries exhausted) or ``DeliveryUncertain``; ``AlreadyHandled``
        when the ``tracker`` stops it before a request."""
        attempts = max_attempts or self.max_attempts
        last = "no attempt"
        for attempt in range(1, attempts + 1):
            if tracker is not None and not await tracker.request_starts():
                raise AlreadyHandled(f"{method}: not pending any more, not sent")
            code = "no_attempt"
            try:
                async with self._http.post(f"{self._base}/{method}", json=params) as response:
                    status = response.status
                    try:
                        body = await response.json(content_type=None)
                    except (ValueError, aiohttp.ContentTypeError):
                        body = None
            except aiohttp.ClientConnectorError as exc:
                # Nothing reached Telegram: safe to try again.
                last = f"connection failed ({type(exc).__name__})"
                code = "connection_failed"
                retry_after = None
            except (
                TimeoutError,
                aiohttp.ServerDisconnectedError,
                aiohttp.ClientPayloadError,
            ) as exc:
                raise DeliveryUncertain(
                    f"{method}: no answer after sending ({type(exc).__name__})"
                ) from exc
            except aiohttp.ClientError as exc:
                raise DeliveryUncertain(f"{method}: {type(exc).__name__}") from exc
            else:
                body = body if isinstance(body, dict) else {}
                if status == 200 and body.get("ok") is True:
                    return body.get("result")
                description = str(body.get("description") or f"HTTP {status}")[:200]
                if status != 429 and status < 500:
                    raise ProviderRejected(method, status, description)
                last = f"HTTP {status}"
                code = f"http_{status}"
                parameters = body.get("parameters")
                retry_after = (
                    parameters.get("retry_after") if isinstance(parameters, dict) else None
                )
            if tracker is not None:
                await tracker.not_sent(code)
            if attempt < attempts:
                delay = self._backoff(attempt, retry_after)
                log.warning(
                    "telegram %s: %s, retry %s/%s in %.1f s",
                    method,
                    last,
                    attempt,
                    attempts - 1,
                    delay,
                )
                await self._sleep(delay)
        raise ProviderUnavailable(f"{method}: gave up after {attempts} attempts ({last})")

    async def send_message(
        self,
        chat_id: int | str,
        text: str,
        *,
        buttons: Keyboard | None = None,
        key: str | None = None,
        tracker: RequestTracker | None = None,
    ) -> dict[str, Any]:
        """``sendMessage``; with ``key``, at most once per key in this process (the first result
        is remembered; the channel's outbox remembers across restarts). ``tracker`` is told
        about each request (see ``RequestTracker``)."""
        params: dict[str, Any] = {"chat_id": chat_id, "text": text[:MAX_TEXT]}
        if buttons:
            params["reply_markup"] = {"inline_keyboard": buttons}
        if key is None:
            return await self.call("sendMessage", params, tracker=tracker)
        if key in self._sent:
            return self._sent[key]
        running = self._in_flight.get(key)
        if running is not None:
            return await asyncio.shield(running)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._in_flight[key] = future
        try:
            result = await self.call("sendMessage", params, tracker=tracker)
        except BaseException as exc:
            if not future.done():
                future.set_exception(exc)
                future.exception()  # retrieved: no "never retrieved" warning when nobody waits
            raise
        finally:
            self._in_flight.pop(key, None)
        self._sent[key] = result
        while len(self._sent) > self._remember:
            self._sent.popitem(last=False)
        future.set_result(result)
        return result

    def was_sent(self, key: str) -> bool:
        return key in self._sent

    async def answer_callback_query(self, callback_query_id: str, text: str | None = None) -> None:
        params: dict[str, Any] = {"callback_query_id": callback_query_id}
        if text:
            params["text"] = text
        await self.call("answerCallbackQuery", params, max_attempts=2)

    async def set_webhook(self, url: str, secret: str) -> Any:
        """Register ``url`` (the public address of ``WEBHOOK_PATH``) with Telegram."""
        return await self.call(
            "setWebhook",
            {"url": url, "secret_token": secret, "allowed_updates": ["message", "callback_query"]},
        )


# ---------------------------------------------------------------------------- webhook parsing


@dataclass(frozen=True, slots=True)
class TelegramUpdate:
    """What the gateway needs from one update. ``text`` is what the customer typed or the
    title of the pressed button (``payload`` its callback data)."""

    update_id: int
    chat_id: int
    text: str | None
    payload: str | None = None
    callback_query_id: str | None = None

    @property
    def client_message_id(self) -> str:
        return f"telegram-update-{self.update_id}"


def _chat_id(message: object) -> int | None:
    chat = message.get("chat") if isinstance(message, dict) else None
    value = chat.get("id") if isinstance(chat, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _button_title(message: object, data: str) -> str | None:
    markup = message.get("reply_markup") if isinstance(message, dict) else None
    rows = markup.get("inline_keyboard") if isinstance(markup, dict) else None
    for row in rows if isinstance(rows, list) else []:
        for button in row if isinstance(row, list) else []:
            if (
                isinstance(button, dict)
                and button.get("callback_data") == data
                and isinstance(button.get("text"), str)
            ):
                return button["text"]
    return None


def parse_update(body: object) -> TelegramUpdate | None:
    """Parse a webhook body. Raises ``BadRequest`` when it is not an update at all; returns
    None for updates this channel does not handle (edits, channel posts, ...)."""
    if not isinstance(body, dict):
        raise BadRequest("A Telegram update must be a JSON object.")
    update_id = body.get("update_id")
    if not isinstance(update_id, int) or isinstance(update_id, bool) or update_id < 0:
        raise BadRequest("A Telegram update needs a non-negative integer update_id.")
    message = body.get("message")
    if isinstance(message, dict):
        chat_id = _chat_id(message)
        if chat_id is None:
            raise BadRequest("The message has no chat id.")
        text = message.get("text")
        return TelegramUpdate(update_id, chat_id, text if isinstance(text, str) else None)
    callback = body.get("callback_query")
    if isinstance(callback, dict):
        chat_id = _chat_id(callback.get("message"))
        data = callback.get("data")
        callback_id = callback.get("id")
        if chat_id is None or not isinstance(data, str) or not isinstance(callback_id, str):
            raise BadRequest("The callback query has no chat, id or data.")
        title = _button_title(callback.get("message"), data) or data
        return TelegramUpdate(
            update_id, chat_id, title, payload=data, callback_query_id=callback_id
        )
    return None


def secret_matches(expected: str, given: str | None) -> bool:
    """Constant-time comparison of the webhook secret."""
    if not expected or given is None:
        return False
    return hmac.compare_digest(expected.encode(), given.encode())


def inline_keyboard(buttons: list[dict[str, Any]]) -> list[list[dict[str, str]]]:
    """Bot buttons as an inline keyboard, one button per row. A payload longer than Telegram's
    64-byte ``callback_data`` limit cannot be a button; the customer can still type it."""
    rows = []
    for button in buttons or []:
        title = str(button.get("title") or button.get("payload") or "").strip()
        data = str(button.get("payload") or title)
        if not title or len(data.encode()) > MAX_CALLBACK_DATA:
            log.info(
                "telegram: a button was left out (no title or payload too long for callback_data)"
            )
            continue
        rows.append([{"text": title[:64], "callback_data": data}])
    return rows


# ---------------------------------------------------------------------------- the channel


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One queued message: its ``channel_delivery`` row, what to send and the stored
    conversation message it shows (None for a rating prompt)."""

    delivery_id: int
    key: str | None
    text: str = field(repr=False)
    buttons: Keyboard | None = field(repr=False)
    message_id: int | None = None

    @classmethod
    def of(cls, delivery: ChannelDeliveryView) -> Outgoing:
        return cls(delivery.id, delivery.delivery_key, delivery.text, delivery.buttons,
                   delivery.conversation_message_id)


class OutboxTracker:
    """A ``RequestTracker`` that keeps one ``channel_delivery`` row up to date."""

    def __init__(self, sessions: sessionmaker[Session], delivery_id: int) -> None:
        self._sessions = sessions
        self.delivery_id = delivery_id

    async def request_starts(self) -> bool:
        return await in_transaction(
            self._sessions, lambda s: start_delivery_attempt(s, self.delivery_id), write=True
        )

    async def not_sent(self, code: str) -> None:
        await in_transaction(
            self._sessions,
            lambda s: release_delivery_attempt(s, self.delivery_id, code),
            write=True,
        )


class TelegramChannel:
    """Plugs Telegram into the gateway (``web.gateway`` channel adapter interface). Its outbox
    lives in the gateway's database (``gateway.sessions``)."""

    def __init__(self, gateway: Any, client: TelegramClient, secret: str) -> None:
        if not secret:
            raise ValueError("a webhook secret is required")
        self.gateway = gateway
        self.client = client
        self._secret = secret
        self._sessions: sessionmaker[Session] = gateway.sessions
        self._outboxes: dict[str, asyncio.Queue[Outgoing]] = {}
        self._workers: dict[str, asyncio.Task[None]] = {}
        #: Held while a message is recorded and queued, so row ids follow the queue per chat.
        self._chat_locks: weakref.WeakValueDictionary[str, asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )
        self._seen_updates: OrderedDict[int, None] = OrderedDict()
        self._tasks: set[asyncio.Task[None]] = set()
        self._closing = False

    # -- in ----------------------------------------------------------------------------------
    async def handle_webhook(self, request: web.Request) -> web.Response:
        if not secret_matches(self._secret, request.headers.get(SECRET_HEADER)):
            log.warning("telegram webhook: wrong or missing secret token, refused")
            return _error(401, "unauthorized", "Wrong or missing secret token.")
        if request.content_length is not None and request.content_length > MAX_UPDATE_BYTES:
            return _error(413, "too_large", "The update is too large.")
        try:
            raw = await request.read()
            if len(raw) > MAX_UPDATE_BYTES:
                return _error(413, "too_large", "The update is too large.")
            update = parse_update(json.loads(raw or b"null"))
        except (ValueError, UnicodeDecodeError):
            return _error(400, "bad_request", "The body is not valid JSON.")
        except BadRequest as exc:
            return _error(400, exc.code, str(exc))
        if update is not None:
            await self.handle_update(update)
        # 200 for everything handled or deliberately ignored, so Telegram does not retry it.
        return web.json_response({"ok": True})

    async def handle_update(self, update: TelegramUpdate) -> None:
        chat = str(update.chat_id)
        if update.callback_query_id is not None:
            self._spawn(self._answer_callback(update.callback_query_id))
            if update.payload and update.payload.startswith(RATING_PREFIX):
                if self._first_time(update.update_id):  # a retried update rates once
                    await self._rate(update)
                return
        if update.text is None:
            if self._first_time(update.update_id):
                await self._enqueue(chat, f"notice-{update.update_id}", NOT_TEXT, None)
            return
        try:
            submitted = await self.gateway.submit_customer_message(
                CHANNEL, chat, update.text, update.client_message_id, payload=update.payload
            )
        except BadRequest as exc:
            if self._first_time(update.update_id):
                await self._enqueue(chat, f"refused-{update.update_id}", str(exc), None)
            return
        log.info(
            "telegram update %s stored as message %s (new: %s)",
            update.update_id,
            submitted.message.get("id"),
            submitted.created,
        )

    async def _rate(self, update: TelegramUpdate) -> None:
        try:
            score = int(update.payload.removeprefix(RATING_PREFIX))  # type: ignore[union-attr]
            await self.gateway.submit_rating(CHANNEL, str(update.chat_id), score)
        except (ValueError, WebError) as exc:
            log.info(
                "telegram update %s: rating not saved (%s)", update.update_id, type(exc).__name__
            )
        except Exception as exc:  # noqa: BLE001 - CrmError and friends: the customer gets no traceback
            log.info(
                "telegram update %s: rating not saved (%s)", update.update_id, type(exc).__name__
            )

    async def _answer_callback(self, callback_query_id: str) -> None:
        with contextlib.suppress(WebError):
            await self.client.answer_callback_query(callback_query_id)

    def _first_time(self, update_id: int) -> bool:
        if update_id in self._seen_updates:
            return False
        self._seen_updates[update_id] = None
        while len(self._seen_updates) > 10_000:
            self._seen_updates.popitem(last=False)
        return True

    # -- out ---------------------------------------------------------------------------------
    async def deliver(self, external_conversation_id: str, frame: dict[str, Any]) -> None:
        """The gateway's channel sender: record what Telegram can show in the outbox and queue
        it (returns once it is recorded, not sent); ignore the rest."""
        kind = frame.get("type")
        if kind == "message":
            message = frame.get("message") or {}
            if message.get("author") == "customer" or message.get("internal"):
                return
            text = str(message.get("text") or "").strip()
            buttons = inline_keyboard(message.get("buttons") or [])
            if not text and not buttons:
                return
            if message.get("author") == "agent" and message.get("agent_name"):
                text = f"{message['agent_name']}: {text}"
            message_id = message.get("id")
            await self._enqueue(
                external_conversation_id,
                f"message-{message_id}",
                text or "…",
                buttons or None,
                message_id=message_id if isinstance(message_id, int) else None,
            )
        elif kind == "rating_request":
            stars = [
                [{"text": "★" * n, "callback_data": f"{RATING_PREFIX}{n}"} for n in range(1, 6)]
            ]
            await self._enqueue(external_conversation_id, None, RATING_PROMPT, stars)
        elif kind == "rating_saved":
            await self._enqueue(external_conversation_id, None, RATING_THANKS, None)

    async def _enqueue(
        self,
        chat: str,
        key: str | None,
        text: str,
        buttons: Keyboard | None,
        *,
        message_id: int | None = None,
    ) -> None:
        """Record the message in the outbox (``pending``), then queue it. A key recorded
        before (sent, queued or given up, in this process or an earlier one) is not queued."""
        now = utcnow()
        async with self._chat_lock(chat):
            try:
                recorded = await in_transaction(
                    self._sessions,
                    lambda s: record_channel_delivery(
                        s,
                        channel=CHANNEL,
                        external_conversation_id=chat,
                        key=key and f"{chat}:{key}",
                        text=text,
                        buttons=buttons,
                        now=now,
                        conversation_message_id=message_id,
                    ),
                    write=True,
                )
            except CrmError as exc:
                # Stored in the conversation and visible in the inbox; the agent can follow up.
                log.error(
                    "telegram: a message to conversation %s-%s was not queued: %s",
                    CHANNEL,
                    chat,
                    exc.code,
                )
                return
            if not recorded.created:
                log.info(
                    "telegram: delivery %s is %s already, not queued again",
                    recorded.delivery.id,
                    recorded.delivery.state.value,
                )
                return
            self._queue(chat, Outgoing.of(recorded.delivery))

    def _chat_lock(self, chat: str) -> asyncio.Lock:
        lock = self._chat_locks.get(chat)
        if lock is None:
            lock = asyncio.Lock()
            self._chat_locks[chat] = lock
        return lock

    def _queue(self, chat: str, outgoing: Outgoing) -> None:
        queue = self._outboxes.setdefault(chat, asyncio.Queue())
        queue.put_nowait(outgoing)
        if chat not in self._workers and not self._closing:  # closing: sent at the next start
            self._workers[chat] = self._spawn(self._drain(chat, queue))

    async def resume(self) -> None:
        """At start-up: queue the messages an earlier run left pending, in their order per
        chat. Uncertain ones (they may have reached the customer) are only logged, by id."""
        try:
            found = await in_transaction(
                self._sessions, lambda s: resume_channel_deliveries(s, CHANNEL), write=True
            )
        except CrmError as exc:
            log.error("telegram: the outbox could not be read at start-up: %s", exc.code)
            return
        if found.uncertain_ids:
            log.warning(
                "telegram: %s deliveries are uncertain (they may have reached the customer) "
                "and are not sent again; ids: %s",
                len(found.uncertain_ids),
                ", ".join(str(i) for i in found.uncertain_ids[-LOGGED_UNCERTAIN:]),
            )
        for delivery in found.pending:
            self._queue(delivery.external_conversation_id, Outgoing.of(delivery))
        if found.pending:
            log.info("telegram: %s pending deliveries queued again", len(found.pending))

    def requeue(self, delivery: ChannelDeliveryView) -> None:
        """Queue a delivery an agent sends again (``retry_channel_delivery`` made it
        ``pending``), behind what its chat has queued already, as ``resume`` does."""
        if delivery.channel != CHANNEL:
            raise ValueError(f"delivery {delivery.id} is not a Telegram delivery")
        self._queue(delivery.external_conversation_id, Outgoing.of(delivery))
        log.info("telegram: delivery %s queued again", delivery.id)

    async def _drain(self, chat: str, queue: asyncio.Queue[Outgoing]) -> None:
        try:
            while not queue.empty():
                outgoing = queue.get_nowait()
                try:
                    await self._send(chat, outgoing)
                except Exception as exc:  # noqa: BLE001 - one bad message must not stop the chat
                    # Its row stays as it was ("sending" becomes "uncertain" at the next start).
                    log.error(
                        "telegram: delivery %s failed unexpectedly: %s",
                        outgoing.delivery_id,
                        type(exc).__name__,
                    )
        finally:
            self._workers.pop(chat, None)
            if queue.empty():
                self._outboxes.pop(chat, None)
            elif not self._closing:  # something arrived while we were leaving
                self._workers[chat] = self._spawn(self._drain(chat, queue))

    async def _send(self, chat: str, outgoing: Outgoing) -> None:
        """Send one queued message and record how it ended."""
        tracker = OutboxTracker(self._sessions, outgoing.delivery_id)
        provider_id: Any = None
        try:
            result = await self.client.send_message(
                int(chat), outgoing.text, buttons=outgoing.buttons, key=outgoing.key,
                tracker=tracker,
            )
        except AlreadyHandled:
            log.info("telegram: delivery %s is not pending any more", outgoing.delivery_id)
            return
        except CrmError as exc:
            # The outbox could not be updated: what it says now errs on the side of not
            # sending twice (a row left "sending" becomes "uncertain" at the next start).
            log.error(
                "telegram: delivery %s: the outbox could not be updated: %s",
                outgoing.delivery_id,
                exc.code,
            )
            return
        except WebError as exc:
            state = (
                ChannelDeliveryState.UNCERTAIN
                if isinstance(exc, DeliveryUncertain)
                else ChannelDeliveryState.FAILED
            )
            code = exc.code
            if isinstance(exc, ProviderRejected):
                code = f"{exc.code}_{exc.http_status}"
            # Stored in the conversation and visible in the inbox; the agent can follow up.
            log.error(
                "telegram: delivery %s to conversation %s-%s was not delivered: %s",
                outgoing.delivery_id,
                CHANNEL,
                chat,
                code,
            )
        else:
            state, code = ChannelDeliveryState.SENT, None
            provider_id = result.get("message_id") if isinstance(result, dict) else None
        now = utcnow()
        try:
            changed = await in_transaction(
                self._sessions,
                lambda s: finish_channel_delivery(
                    s,
                    outgoing.delivery_id,
                    state,
                    now=now,
                    provider_message_id=provider_id,
                    error=code,
                ),
                write=True,
            )
        except CrmError as exc:
            log.error(
                "telegram: delivery %s ended %s but the outbox could not record it: %s",
                outgoing.delivery_id,
                state.value,
                exc.code,
            )
            return
        if changed and outgoing.message_id is not None:  # the inbox shows how it ended
            await self.gateway.publish_delivery(outgoing.message_id, CHANNEL, state, code)

    def _spawn(self, coroutine: Awaitable[None]) -> asyncio.Task[None]:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def idle(self) -> None:
        """Wait until every queued outgoing message has been handled (for shutdown and tests)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        """Stop the workers. What they had not sent stays ``pending`` in the outbox (sent at
        the next start); a request cut off on the wire leaves its row ``sending``."""
        self._closing = True
        while self._tasks:
            tasks = list(self._tasks)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": code, "message": message}, status=status)


# ---------------------------------------------------------------------------- wiring

TELEGRAM = web.AppKey("telegram", TelegramChannel)


def setup_telegram(
    app: web.Application,
    *,
    gateway_key: web.AppKey[Any],
    bot_token: str | None,
    secret: str | None,
    api_url: str,
    timeout_seconds: float = 15.0,
) -> bool:
    """Add the webhook route and a cleanup context that opens the Bot API client, queues the
    outbox's pending messages again and registers the channel with the gateway
    (``app[gateway_key]``, which must exist by then: call this after the gateway's own cleanup
    context was added). Returns False (and adds nothing) when the bot token or the secret is
    not configured."""
    if not bot_token or not secret:
        log.info("telegram channel off (WEB_TELEGRAM_BOT_TOKEN / WEB_TELEGRAM_SECRET not set)")
        return False

    async def context(app: web.Application) -> AsyncIterator[None]:
        timeout = aiohttp.ClientTimeout(total=timeout_seconds, connect=min(5.0, timeout_seconds))
        async with aiohttp.ClientSession(timeout=timeout) as http:
            channel = TelegramChannel(
                app[gateway_key], TelegramClient(http, api_url, bot_token), secret
            )
            app[TELEGRAM] = channel
            await channel.resume()  # before new messages, so the pending ones go first
            app[gateway_key].register_channel(CHANNEL, channel.deliver)
            try:
                yield
            finally:
                await channel.close()

    async def webhook(request: web.Request) -> web.Response:
        return await request.app[TELEGRAM].handle_webhook(request)

    app.cleanup_ctx.append(context)
    app.router.add_post(WEBHOOK_PATH, webhook)
    return True


def setup(app: web.Application) -> bool:
    """Called by ``web.app.init_app``: the Telegram channel from ``WEB_TELEGRAM_*`` settings."""
    settings = app[SETTINGS]
    token = settings.telegram_bot_token.get_secret_value() if settings.telegram_bot_token else None
    secret = settings.telegram_secret.get_secret_value() if settings.telegram_secret else None
    return setup_telegram(
        app, gateway_key=GATEWAY, bot_token=token, secret=secret, api_url=settings.telegram_api_url
    )
