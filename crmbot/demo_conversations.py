"""Scripted customer conversations played through the running web gateway, for a live demo.

``crmbot demo conversations`` talks to the gateway exactly as the chat widget and the agent inbox
do: ``POST /api/chat/sessions`` and the ``/ws/chat`` socket for customers, the inbox's login and
``/api/inbox/...`` calls for the agent who takes the hand-offs. Every answer comes from the real
Rasa server and action server, and everything lands where real conversations land (the tracker
store, the gateway's messages, hand-offs and ratings), so the manager dashboard shows containment,
fallbacks, hand-offs, ratings and unanswered questions right after ``make run``.

The mix is deterministic for a seed: FAQ questions from the corpus (question or one of its
alternatives), order status with verification by a demo customer's e-mail, product suggestions,
questions the shop has no answer for (in groups, so they cluster into suggested FAQs), and
requests for a person (every other one from a customer who verified over an order first, so the
inbox shows their CRM profile), which the demo agent claims, answers and resolves and the customer
rates.
Nothing is bought, refunded or cancelled: the demo data stays as seeded.
"""

from __future__ import annotations

import logging
import random
import re
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp

log = logging.getLogger(__name__)

#: Questions the FAQ corpus has no answer for (the assistant says it does not know), in groups
#: of the same need: asked together, a group becomes one suggested FAQ on the dashboard.
UNANSWERED = (
    ("Do you have a mobile app?", "Is there an app for iPhone?",
     "Can I shop with your app on Android?"),
    ("Do you sell refurbished products?", "Can I buy refurbished products from you?",
     "Do you sell refurbished or used items?"),
    ("Can I get a paper catalogue by post?", "Do you send printed catalogues?"),
    ("Do you have a loyalty programme?", "Do you have a bonus points scheme?"),
)
PERSON_REQUESTS = ("I want to talk to a real person", "Can I speak to a human please?",
                   "Please put me through to an agent")
RECOMMEND_REQUESTS = ("What would you recommend?", "Can you suggest something for me?")
ORDER_REQUESTS = ("Where is my order {number}?", "What is the status of order {number}?")
GREETINGS = ("Hi", "Hello", "Good morning")
THANKS = ("Thanks!", "Thank you, that helps", "great, thanks")
AGENT_REPLIES = ("Hello, {agent} here. I have looked at your conversation and sorted it out for you.",
                 "Hi, this is {agent}. Thanks for waiting, it is taken care of now.")
RATING_COMMENTS = {5: "Very helpful, thank you", 4: "Quick help", 3: "OK", 2: "Took a while",
                   1: "Not helpful"}
#: The customers' ratings after a person helped them, taken in turn from a seeded starting
#: point: mostly good, never all the same (mean 3.8).
RATINGS = (5, 3, 4, 2, 5, 4, 1, 5, 4, 5)
#: Share of each kind in the mix (the rest are FAQ questions).
MIX = {"order": 0.15, "recommend": 0.1, "unanswered": 0.2, "person": 0.15}
TURN_TIMEOUT_SECONDS = 60.0
QUIET_SECONDS = 0.5
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


class DemoTrafficError(Exception):
    """The gateway could not be driven (not running, login refused, unexpected answer)."""


@dataclass(frozen=True)
class Script:
    """One customer's conversation: what they type, and whether they end up with a person."""

    kind: str
    messages: tuple[str, ...]
    wants_person: bool = False
    rating: int | None = None


@dataclass
class Outcome:
    conversations: int = 0
    customer_messages: int = 0
    handoffs_resolved: int = 0
    ratings: int = 0
    kinds: Counter[str] = field(default_factory=Counter)


def build_scripts(count: int, seed: int, faqs: Sequence[tuple[str, Sequence[str]]],
                  orders: Sequence[tuple[str, str]]) -> list[Script]:
    """``count`` conversations for ``seed``: ``faqs`` are ``(question, alternatives)``,
    ``orders`` ``(order number, owner's e-mail)``. Same inputs, same scripts."""
    if count < 1:
        raise ValueError("count must be at least 1")
    if not faqs:
        raise ValueError("the FAQ corpus is empty")
    rng = random.Random(seed)
    kinds = [kind for kind, share in MIX.items() for _ in range(round(share * count))]
    if not orders:
        kinds = [kind for kind in kinds if kind != "order"]
    kinds = (kinds + ["faq"] * count)[:count]
    rng.shuffle(kinds)
    groups = list(UNANSWERED)
    rng.shuffle(groups)
    unanswered = [text for group in groups for text in group]  # whole groups first
    first_rating = rng.randrange(len(RATINGS))
    people = 0  # requests for a person so far
    scripts = []
    for kind in kinds:
        opening = (rng.choice(GREETINGS),) if rng.random() < 0.3 else ()
        closing = (rng.choice(THANKS),) if rng.random() < 0.4 else ()
        if kind == "faq":
            question, alternatives = rng.choice(list(faqs))
            scripts.append(Script(kind, (*opening, rng.choice([question, *alternatives]), *closing)))
        elif kind == "order":
            scripts.append(Script(kind, (*opening, *_order_request(rng, orders), *closing)))
        elif kind == "recommend":
            scripts.append(Script(kind, (*opening, rng.choice(RECOMMEND_REQUESTS))))
        elif kind == "unanswered":
            text = unanswered.pop(0) if unanswered else rng.choice(rng.choice(UNANSWERED))
            scripts.append(Script(kind, (*opening, text)))
        else:
            # every other one (the first included) is a customer who verified over an order
            # first, so the inbox shows a CRM profile (orders, segment, churn risk,
            # recommendations) beside the hand-off
            verified = _order_request(rng, orders) if orders and people % 2 == 0 else ()
            rating = RATINGS[(first_rating + people) % len(RATINGS)]
            people += 1
            scripts.append(Script(kind, (*opening, *verified, rng.choice(PERSON_REQUESTS)),
                                  wants_person=True, rating=rating))
    return scripts


def _order_request(rng: random.Random, orders: Sequence[tuple[str, str]]) -> tuple[str, str]:
    """Asking about one of ``orders`` and verifying with its owner's e-mail."""
    number, email = rng.choice(list(orders))
    return rng.choice(ORDER_REQUESTS).format(number=number), f"my email is {email}"


class Customer:
    """One widget conversation on the gateway's customer API."""

    def __init__(self, http: aiohttp.ClientSession, base_url: str) -> None:
        self.http = http
        self.base_url = base_url
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.state = "bot"
        self.client_ids: list[str] = []

    async def open(self) -> None:
        async with self.http.post(f"{self.base_url}/api/chat/sessions", json={}) as response:
            if response.status != 200:
                raise DemoTrafficError(f"POST /api/chat/sessions answered {response.status}")
            session = await response.json()
        self.ws = await self.http.ws_connect(
            f"{self.base_url}{session['ws_url']}", params={"token": session["conversation_token"]})
        first = await self._frame(TURN_TIMEOUT_SECONDS)
        if first is None or first.get("type") != "history":
            raise DemoTrafficError("the chat socket did not start with the history")
        self.state = first.get("state", self.state)

    async def say(self, text: str) -> list[str]:
        """Send ``text``; the bot's replies once it has answered (none when a person has it)."""
        client_id = str(uuid.uuid4())
        self.client_ids.append(client_id)
        await self._send({"type": "message", "text": text, "client_id": client_id})
        replies: list[str] = []
        answered = False
        while True:
            frame = await self._frame(QUIET_SECONDS if answered else TURN_TIMEOUT_SECONDS)
            if frame is None:
                if answered:
                    return replies
                raise DemoTrafficError(f"no answer within {TURN_TIMEOUT_SECONDS:.0f} s")
            kind = frame.get("type")
            if kind == "error":
                raise DemoTrafficError(f"the gateway refused a message: {frame.get('code')}")
            if kind == "typing" and frame.get("author") == "bot" and not frame.get("on"):
                answered = True
            elif kind == "message" and frame["message"].get("author") in ("bot", "system"):
                replies.append(frame["message"].get("text", ""))
                answered = True
            elif kind == "state":
                self.state = frame["state"]
                if self.state != "bot":
                    answered = True

    async def wait_for(self, wanted: str) -> None:
        """Read frames until one of type ``wanted`` arrives."""
        while True:
            frame = await self._frame(TURN_TIMEOUT_SECONDS)
            if frame is None:
                raise DemoTrafficError(f"no {wanted!r} frame within {TURN_TIMEOUT_SECONDS:.0f} s")
            if frame.get("type") == "state":
                self.state = frame["state"]
            if frame.get("type") == wanted:
                return

    async def rate(self, score: int, comment: str) -> None:
        await self._send({"type": "rating", "score": score, "comment": comment})
        await self.wait_for("rating_saved")

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()

    async def _send(self, frame: dict[str, Any]) -> None:
        assert self.ws is not None
        await self.ws.send_json(frame)

    async def _frame(self, timeout: float) -> dict[str, Any] | None:
        assert self.ws is not None
        try:
            message = await self.ws.receive(timeout=timeout)
        except TimeoutError:
            return None
        if message.type != aiohttp.WSMsgType.TEXT:
            raise DemoTrafficError("the chat socket closed")
        frame = message.json()
        return frame if isinstance(frame, dict) else None


class Agent:
    """The demo agent on the inbox API (cookie session + CSRF header)."""

    def __init__(self, http: aiohttp.ClientSession, base_url: str) -> None:
        self.http = http
        self.base_url = base_url
        self.csrf = ""
        self.name = ""

    async def login(self, username: str, password: str) -> None:
        async with self.http.get(f"{self.base_url}/login") as response:
            found = CSRF_FIELD.search(await response.text())
        if found is None:
            raise DemoTrafficError("the login page has no CSRF token")
        form = {"username": username, "password": password, "csrf_token": found.group(1)}
        async with self.http.post(f"{self.base_url}/login", data=form,
                                  allow_redirects=False) as response:
            if response.status != 303:
                raise DemoTrafficError(f"the inbox refused the login of {username!r} "
                                       f"({response.status})")
        me = await self._json("GET", "/api/inbox/me")
        self.csrf, self.name = me["csrf_token"], me["display_name"]

    async def find_queued(self, client_id: str) -> int:
        """The queued conversation holding the customer message sent with ``client_id``."""
        queue = await self._json("GET", "/api/inbox/conversations", params={"view": "queue"})
        for row in sorted(queue["conversations"], key=lambda r: r["id"], reverse=True):
            detail = await self._json("GET", f"/api/inbox/conversations/{row['id']}")
            if any(m.get("client_id") == client_id for m in detail["messages"]):
                return int(row["id"])
        raise DemoTrafficError("the handed-off conversation is not in the queue")

    async def handle(self, conversation_id: int, reply: str) -> None:
        """Claim, answer and resolve, as an agent does in the inbox."""
        base = f"/api/inbox/conversations/{conversation_id}"
        await self._json("POST", f"{base}/claim")
        await self._json("POST", f"{base}/reply", json={"text": reply})
        await self._json("POST", f"{base}/resolve")

    async def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        headers = {"X-CSRF-Token": self.csrf} if method != "GET" else {}
        async with self.http.request(method, f"{self.base_url}{path}", headers=headers,
                                     **kwargs) as response:
            if response.status >= 400:
                raise DemoTrafficError(f"{method} {path} answered {response.status}")
            return await response.json()


async def play(base_url: str, scripts: Sequence[Script], *, agent_login: tuple[str, str],
               seed: int = 0, progress: Callable[[Script], None] | None = None) -> Outcome:
    """Play ``scripts`` one after another against the gateway at ``base_url``."""
    rng = random.Random(seed)
    outcome = Outcome()
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=10)
    # the inbox's session cookie comes from an IP address such as 127.0.0.1: ``unsafe`` lets the
    # jar keep it
    async with aiohttp.ClientSession(timeout=timeout) as http, \
            aiohttp.ClientSession(timeout=timeout,
                                  cookie_jar=aiohttp.CookieJar(unsafe=True)) as agent_http:
        agent = Agent(agent_http, base_url)
        if any(script.wants_person for script in scripts):
            await agent.login(*agent_login)
        for script in scripts:
            customer = Customer(http, base_url)
            await customer.open()
            try:
                for text in script.messages:
                    await customer.say(text)
                    outcome.customer_messages += 1
                    if customer.state != "bot":
                        break
                if script.wants_person and customer.state == "queued":
                    conversation = await agent.find_queued(customer.client_ids[-1])
                    reply = rng.choice(AGENT_REPLIES).format(agent=agent.name.split()[0])
                    await agent.handle(conversation, reply)
                    await customer.wait_for("rating_request")
                    outcome.handoffs_resolved += 1
                    if script.rating is not None:
                        await customer.rate(script.rating, RATING_COMMENTS[script.rating])
                        outcome.ratings += 1
                elif script.wants_person:
                    log.warning("a request for a person was not handed off (state %s)",
                                customer.state)
            finally:
                await customer.close()
            outcome.conversations += 1
            outcome.kinds[script.kind] += 1
            if progress is not None:
                progress(script)
    return outcome
