"""A fake Telegram Bot API on loopback (aiohttp), for the Telegram channel tests.

It answers ``POST /bot<token>/<method>`` like the real API: ``{"ok": true, "result": ...}``,
401 for a wrong token. Every call is recorded in ``attempts``; the ones it answered with
success in ``calls`` (``sent_messages`` filters ``sendMessage``). ``fail_next(n, status)`` makes
the next ``n`` calls fail with 429 (with ``retry_after``) or a 5xx, before anything is "sent";
``clear_failures()`` forgets the ones not used yet. ``drop_next(n)`` reads the next ``n``
requests and closes the connection without an answer (the client cannot know whether the
message went out; recorded in ``attempts`` with status 0); ``hold_next(n)`` reads them and
never answers until ``release()`` (or ``close``), then answers 503.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    status: int


@dataclass
class FakeTelegram:
    token: str = "123456:TEST-token"
    attempts: list[Call] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)
    _failures: list[tuple[int, int | None]] = field(default_factory=list)
    _drops: int = 0
    _holds: int = 0
    _released: asyncio.Event = field(default_factory=asyncio.Event)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))
    url: str = ""
    _runner: web.AppRunner | None = None

    def fail_next(self, count: int, status: int = 429, retry_after: int | None = 0) -> None:
        self._failures.extend([(status, retry_after)] * count)

    def clear_failures(self) -> None:
        self._failures.clear()

    def drop_next(self, count: int) -> None:
        self._drops += count

    def hold_next(self, count: int) -> None:
        self._holds += count

    def release(self) -> None:
        """Let every held request end (with a 503)."""
        self._released.set()

    def attempts_of(self, method: str) -> list[Call]:
        return [a for a in self.attempts if a.method == method]

    @property
    def sent_messages(self) -> list[dict[str, Any]]:
        return [c.params for c in self.calls if c.method == "sendMessage"]

    def texts_to(self, chat_id: int) -> list[str]:
        return [m["text"] for m in self.sent_messages if str(m["chat_id"]) == str(chat_id)]

    async def wait_for_messages(self, chat_id: int, count: int, timeout: float = 30.0) -> list[str]:
        """Wait until ``chat_id`` got at least ``count`` messages; return their texts."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(self.texts_to(chat_id)) < count:
            if loop.time() > deadline:
                raise AssertionError(
                    f"chat {chat_id} got {self.texts_to(chat_id)}, expected {count} messages"
                )
            await asyncio.sleep(0.05)
        return self.texts_to(chat_id)

    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        try:
            params = await request.json()
        except ValueError:
            params = {}
        if request.match_info["token"] != self.token:
            self.attempts.append(Call(method, params, 401))
            return web.json_response(
                {"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401
            )
        if self._drops:
            self._drops -= 1
            self.attempts.append(Call(method, params, 0))
            if request.transport is not None:
                request.transport.close()  # the request was read; the answer never comes
            return web.Response(status=500)
        if self._holds:
            self._holds -= 1
            self.attempts.append(Call(method, params, 0))
            await self._released.wait()
            return web.json_response({"ok": False, "error_code": 503}, status=503)
        if self._failures:
            status, retry_after = self._failures.pop(0)
            self.attempts.append(Call(method, params, status))
            body: dict[str, Any] = {
                "ok": False,
                "error_code": status,
                "description": "Too Many Requests" if status == 429 else "Internal Server Error",
            }
            if status == 429 and retry_after is not None:
                body["parameters"] = {"retry_after": retry_after}
                body["description"] += f": retry after {retry_after}"
            return web.json_response(body, status=status)
        if method == "sendMessage" and (not params.get("chat_id") or not params.get("text")):
            self.attempts.append(Call(method, params, 400))
            return web.json_response(
                {
                    "ok": False,
                    "error_code": 400,
                    "description": "Bad Request: message text is empty",
                },
                status=400,
            )
        self.attempts.append(Call(method, params, 200))
        self.calls.append(Call(method, params, 200))
        result: Any = True
        if method == "sendMessage":
            result = {
                "message_id": next(self._ids),
                "chat": {"id": params["chat_id"], "type": "private"},
                "date": 0,
                "text": params["text"],
            }
        return web.json_response({"ok": True, "result": result})

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/bot{token}/{method}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"
        return self.url

    async def close(self) -> None:
        self.release()
        if self._runner is not None:
            await self._runner.cleanup()


async def running_fake_telegram() -> AsyncIterator[FakeTelegram]:
    """Body of a pytest fixture: ``fake = pytest.fixture(running_fake_telegram)``."""
    fake = FakeTelegram()
    await fake.start()
    try:
        yield fake
    finally:
        await fake.close()


#: Update ids for the tests' webhook calls: unique in the test process.
_update_ids = itertools.count(1_000_000)


def text_update(chat_id: int, text: str, update_id: int | None = None) -> dict[str, Any]:
    """A Telegram ``Update`` with a customer's text message, as the webhook receives it."""
    return {
        "update_id": next(_update_ids) if update_id is None else update_id,
        "message": {
            "message_id": 1,
            "date": 0,
            "chat": {"id": chat_id, "type": "private"},
            "from": {"id": chat_id, "is_bot": False, "first_name": "Alex"},
            "text": text,
        },
    }


def button_update(chat_id: int, payload: str, title: str, text: str,
                  update_id: int | None = None) -> dict[str, Any]:
    """A Telegram ``Update`` for the customer pressing the inline button ``title`` (callback data
    ``payload``) under the bot's message ``text``."""
    return {
        "update_id": next(_update_ids) if update_id is None else update_id,
        "callback_query": {
            "id": f"cb-{chat_id}", "data": payload, "from": {"id": chat_id},
            "message": {"message_id": 9, "chat": {"id": chat_id}, "text": text, "reply_markup": {
                "inline_keyboard": [[{"text": title, "callback_data": payload}]]}},
        },
    }
