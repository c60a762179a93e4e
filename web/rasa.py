"""The Rasa server's REST channel and tracker API, with a timeout on every call."""

from __future__ import annotations

import asyncio
import logging
from typing import Any
from urllib.parse import quote

import aiohttp

from web.errors import BotRejected, BotUnavailable

log = logging.getLogger(__name__)


class RasaClient:
    """``send`` posts one customer message and returns the bot's replies; ``resume`` un-pauses
    a conversation the bot handed to a person. Both raise ``BotUnavailable`` when Rasa (or the
    action server behind it) is down, slower than ``timeout_seconds``, or fails with a server
    error; ``maybe_received`` on the error says whether Rasa may have processed the message
    anyway (a timeout after sending), in which case ``tracker_events`` + ``replies_to`` tell."""

    def __init__(self, http: aiohttp.ClientSession, base_url: str, timeout_seconds: float) -> None:
        self.http = http
        self.base_url = base_url.rstrip("/")
        self.timeout = aiohttp.ClientTimeout(total=timeout_seconds)

    async def send(self, sender_id: str, text: str, metadata: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        body: dict[str, Any] = {"sender": sender_id, "message": text}
        if metadata:
            body["metadata"] = metadata
        replies = await self._post("/webhooks/rest/webhook", body, sender_id)
        if not isinstance(replies, list):
            raise BotUnavailable("The assistant answered with something that is not a list of messages.")
        return [r for r in replies if isinstance(r, dict)]

    async def resume(self, sender_id: str) -> None:
        await self._post(f"/conversations/{quote(sender_id, safe='')}/tracker/events",
                         {"event": "resume"}, sender_id)

    async def _post(self, path: str, body: dict[str, Any], sender_id: str) -> Any:
        try:
            async with self.http.post(self.base_url + path, json=body, timeout=self.timeout) as response:
                if response.status >= 500:
                    raise BotUnavailable(f"The assistant failed with HTTP {response.status}.")
                if response.status >= 400:
                    log.warning("Rasa refused a call for conversation %s: HTTP %s", sender_id, response.status)
                    raise BotRejected(f"The assistant refused the message (HTTP {response.status}).")
                return await response.json(content_type=None)
        except aiohttp.ClientConnectorError as exc:  # nothing was sent
            log.warning("Rasa unreachable for conversation %s: %s", sender_id, type(exc).__name__)
            raise BotUnavailable("The assistant is not reachable.") from exc
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as exc:
            log.warning("Rasa unavailable for conversation %s: %s", sender_id, type(exc).__name__)
            error = BotUnavailable("The assistant did not answer in time.")
            error.maybe_received = True  # Rasa may have processed it: check before sending again
            raise error from exc

    async def tracker_events(self, sender_id: str) -> list[dict[str, Any]]:
        """The conversation's events as Rasa recorded them (GET /conversations/{id}/tracker)."""
        url = f"{self.base_url}/conversations/{quote(sender_id, safe='')}/tracker"
        try:
            async with self.http.get(url, timeout=self.timeout) as response:
                if response.status >= 400:
                    raise BotUnavailable(f"The assistant's tracker answered HTTP {response.status}.")
                body = await response.json(content_type=None)
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as exc:
            raise BotUnavailable("The assistant's tracker is not reachable.") from exc
        events = body.get("events") if isinstance(body, dict) else None
        return [e for e in events if isinstance(e, dict)] if isinstance(events, list) else []


def replies_to(events: list[dict[str, Any]], gateway_message_id: int) -> list[dict[str, Any]] | None:
    """The bot's replies to the user message the gateway sent with ``gateway_message_id`` in its
    metadata, as REST-channel messages; None when Rasa never recorded that message."""
    found = False
    replies: list[dict[str, Any]] = []
    for event in events:
        if event.get("event") == "user":
            if found:
                break
            metadata = event.get("metadata") if isinstance(event.get("metadata"), dict) else {}
            found = metadata.get("gateway_message_id") == gateway_message_id
        elif found and event.get("event") == "bot":
            data = event.get("data") if isinstance(event.get("data"), dict) else {}
            replies.append({"text": event.get("text") or "", "buttons": data.get("buttons") or None})
    return replies if found else None
