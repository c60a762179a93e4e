"""Chat latency of the assistant over the REST channel, next to a stock `rasa init` moodbot.

Everything runs on loopback with free ports and is stopped again at the end (also on Ctrl-C,
errors and the overall timeout):

- a small seeded SQLite CRM (showcase customer alex.morgan@example.com owns 10000101..10000107),
- the FAQ index (KNOWLEDGE_INDEX_DIR in the work dir), built by the action server on start
  (ACTIONS_PRELOAD_FAQ=true, as in production),
- the real action server and the real Rasa server with the production model and
  bot/endpoints.yml (SQL tracker store on the same SQLite file),
- the peer: `rasa init --no-prompt` (moodbot, trained offline) served with `rasa run
  --enable-api` (in-memory tracker store, no action server).

Turn kinds: ``faq`` (shop FAQ questions), ``order`` (a verified customer asks "where is my
order 1000010X?"; the verification turns are not timed), ``moodbot`` (the peer's own intents).
Phase 1: one customer at a time per kind. Phase 2: ``--concurrency`` customers at once per kind.
Each simulated customer talks ``--turns-per-customer`` timed turns, then a new customer (new
sender id) takes its place. ``/model/parse`` is timed separately (one at a time) to split the
webhook latency into NLU and the rest (tracker store, policies, action server).

    .venv/bin/python benchmarks/chat_latency.py [--duration 20] [--concurrency 20] \
        [--model var/models/crmbot-....tar.gz] [--work-dir /tmp/chatbench] [--out ...]

The production shape (README "Production services"): ``--postgres-admin-url`` seeds a new
PostgreSQL database next to that URL for the CRM and the trackers (dropped at the end);
``--lock-store-url redis://...`` and ``--event-broker-url amqp://...`` give the Rasa server the
Redis lock store and the RabbitMQ event broker, as `crmbot up` does (the run's queue is deleted
at the end).
"""

from __future__ import annotations

import _thread
import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import aiohttp  # noqa: E402
import psutil  # noqa: E402

from crm_connector import CrmSettings, create_db_engine, create_session_factory, upgrade_schema  # noqa: E402
from crm_connector.demo import DemoConfig, seed_demo_data  # noqa: E402
from crmbot.runtime import (  # noqa: E402
    check_services_reachable,
    process_env,
    rasa_endpoints,
    rasa_executable,
    running_action_server,
    stop_process,
    train,
)
from crmbot.settings import PlatformSettings  # noqa: E402
from tests.support.postgres import fresh_database  # noqa: E402
from tests.support.rasa_server import (  # noqa: E402
    RasaServer,
    free_port,
    rasa_subprocess_env,
    start_rasa_server,
)

HOST = "127.0.0.1"
EMAIL = "alex.morgan@example.com"
ORDERS = [f"1000010{i}" for i in range(1, 8)]
FAQ_QUESTIONS = [
    "how long does delivery take?",
    "do you ship to Austria?",
    "what payment methods do you accept?",
    "how do I return an item?",
    "can I pay with PayPal?",
    "how much does shipping cost?",
    "is there free shipping?",
    "do you offer gift cards?",
    "how long do refunds take?",
    "is there a warranty on your products?",
]
MOOD_TURNS = ["hi", "I am sad", "yes", "hello", "I am sad", "no", "bye"]  # every turn gets a reply
KINDS = ("faq", "order", "moodbot")


# --------------------------------------------------------------------------- processes

@dataclass
class Processes:
    """Everything this script started; `stop_all` ends each one by its own process group."""

    popens: list[subprocess.Popen[bytes]] = field(default_factory=list)
    servers: list[RasaServer] = field(default_factory=list)
    contexts: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)

    def stop_all(self) -> None:
        for server in self.servers:
            with contextlib.suppress(Exception):
                server.stop(timeout=15)
        self.contexts.close()  # the action server
        for process in self.popens:
            stop_process(process, timeout=15)


def _tail(path: Path, chars: int = 4000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except FileNotFoundError:
        return "<no log>"


def _without_password(value: Any) -> Any:
    """A service URL as it goes into the results file: the password replaced by ***."""
    if not isinstance(value, str) or "://" not in value:
        return value
    parts = urlsplit(value)
    if parts.password is None:
        return value
    return parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@")).geturl()


def delete_queue(broker_url: str, queue: str) -> None:
    """Drop the run's event queue (nothing consumes it here)."""
    import pika

    connection = pika.BlockingConnection(pika.URLParameters(broker_url))
    try:
        connection.channel().queue_delete(queue)
    finally:
        connection.close()


def seed_crm(work: Path, postgres_url: str | None = None) -> CrmSettings:
    """A fresh CRM (and tracker store) for the run: a SQLite file in ``work``, or the new
    PostgreSQL database at ``postgres_url`` (already migrated)."""
    if postgres_url is None:
        for old in work.glob("crm.sqlite*"):
            old.unlink()
    crm = CrmSettings(database_url=postgres_url or f"sqlite:///{work / 'crm.sqlite'}")
    engine = create_db_engine(crm)
    if postgres_url is None:
        upgrade_schema(engine)
    sessions = create_session_factory(engine)
    with sessions.begin() as session:
        seed_demo_data(session, DemoConfig(as_of=dt.datetime.now(dt.UTC).date(),
                                           customers=120, products=60, orders=800))
    engine.dispose()
    return crm


def start_moodbot_init(rasa: Path, work: Path, procs: Processes) -> tuple[subprocess.Popen[bytes], Path]:
    """`rasa init --no-prompt` in the background (it trains the moodbot)."""
    target = work / "moodbot"
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)  # rasa init wants an existing (empty) directory
    log = work / "moodbot-init.log"
    env = rasa_subprocess_env(home=work / "home-moodbot")
    with log.open("w") as log_file:
        process = subprocess.Popen(
            [str(rasa), "init", "--no-prompt", "--init-dir", str(target)],
            cwd=work, env=env, stdin=subprocess.DEVNULL, stdout=log_file,
            stderr=subprocess.STDOUT, start_new_session=True,
        )
    procs.popens.append(process)
    return process, log


# --------------------------------------------------------------------------- load

@dataclass
class Stats:
    latencies_ms: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    started: float = 0.0
    finished: float = 0.0
    setup_turns: int = 0

    def error(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1

    def summary(self) -> dict[str, Any]:
        lat = sorted(self.latencies_ms)
        elapsed = max(self.finished - self.started, 1e-9)
        served = len(lat) + sum(self.errors.values()) + self.setup_turns
        return {
            "turns": len(lat),
            "served_turns": served,
            "served_turns_per_s": round(served / elapsed, 2),
            "errors": sum(self.errors.values()),
            "error_kinds": dict(self.errors),
            "seconds": round(elapsed, 2),
            "turns_per_s": round(len(lat) / elapsed, 2),
            "p50_ms": _pct(lat, 50), "p95_ms": _pct(lat, 95), "p99_ms": _pct(lat, 99),
            "mean_ms": round(statistics.fmean(lat), 1) if lat else None,
            "max_ms": round(lat[-1], 1) if lat else None,
            "untimed_setup_turns": self.setup_turns,
        }


def _pct(sorted_values: list[float], p: float) -> float | None:
    if not sorted_values:
        return None
    k = (len(sorted_values) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(sorted_values) - 1)
    return round(sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (k - lo), 1)


async def _post(session: aiohttp.ClientSession, url: str, payload: dict[str, Any],
                timeout: float) -> tuple[Any, str | None, float]:
    """POST json; return (body, error kind or None, milliseconds)."""
    started = time.perf_counter()
    try:
        async with session.post(url, json=payload,
                                timeout=aiohttp.ClientTimeout(total=timeout)) as response:
            body = await response.json(content_type=None)
            ms = (time.perf_counter() - started) * 1000
            if response.status != 200:
                return body, f"http_{response.status}", ms
            return body, None, ms
    except TimeoutError:
        return None, "timeout", (time.perf_counter() - started) * 1000
    except (aiohttp.ClientError, ValueError) as exc:
        return None, f"exception_{type(exc).__name__}", (time.perf_counter() - started) * 1000


def _text(replies: Any) -> str:
    if not isinstance(replies, list):
        return ""
    return "\n".join(str(r.get("text") or "") for r in replies if isinstance(r, dict))


class Customer:
    """One simulated customer (its own sender id) of one turn kind."""

    def __init__(self, kind: str, url: str, session: aiohttp.ClientSession, timeout: float,
                 offset: int) -> None:
        self.kind, self.url, self.session, self.timeout = kind, url, session, timeout
        self.sender = f"bench-{kind}-{uuid.uuid4().hex[:12]}"
        self.i = offset  # rotate the texts differently for each customer

    async def say(self, text: str) -> tuple[str, str | None, float]:
        body, error, ms = await _post(self.session, f"{self.url}/webhooks/rest/webhook",
                                      {"sender": self.sender, "message": text}, self.timeout)
        reply = _text(body)
        if error is None and not reply.strip():
            error = "empty_reply"
        return reply, error, ms

    async def setup(self, stats: Stats) -> bool:
        """Order customers verify first (not timed)."""
        if self.kind != "order":
            return True
        first, error, _ = await self.say(f"where is my order {ORDERS[2]}?")
        stats.setup_turns += 1
        if error or "email" not in first.lower():
            stats.error("verification_failed" if not error else f"setup_{error}")
            return False
        reply, error, _ = await self.say(f"my email is {EMAIL}")
        stats.setup_turns += 1
        if error or ORDERS[2] not in reply:
            stats.error("verification_failed" if not error else f"setup_{error}")
            return False
        return True

    def next_text(self) -> tuple[str, str | None]:
        """The next timed message and a string its reply must contain (or None)."""
        self.i += 1
        if self.kind == "faq":
            return FAQ_QUESTIONS[self.i % len(FAQ_QUESTIONS)], None
        if self.kind == "order":
            order = ORDERS[self.i % len(ORDERS)]
            return f"where is my order {order}?", order
        return MOOD_TURNS[self.i % len(MOOD_TURNS)], None

    async def turn(self, stats: Stats | None) -> None:
        text, must_contain = self.next_text()
        reply, error, ms = await self.say(text)
        if error is None and must_contain and must_contain not in reply:
            error = "unexpected_reply"
        if stats is None:
            return
        if error:
            stats.error(error)
        else:
            stats.latencies_ms.append(ms)


async def run_phase(kind: str, url: str, *, workers: int, duration: float, max_turns: int,
                    turns_per_customer: int, warmup: int, timeout: float,
                    processes: dict[str, list[psutil.Process]] | None = None) -> dict[str, Any]:
    """One phase of one turn kind; with ``processes``, also their CPU per served turn."""
    stats = Stats()
    connector = aiohttp.TCPConnector(limit=workers + 2)
    async with aiohttp.ClientSession(connector=connector) as session:
        # warm-up, untimed: each worker's first customer (verified for order turns) talks
        # `warmup` turns and then starts the timed phase
        warm = [Customer(kind, url, session, timeout, offset=w) for w in range(workers)]
        ready: list[Customer | None] = [None] * workers
        warm_stats = Stats()

        async def warm_one(w: int) -> None:
            if await warm[w].setup(warm_stats):
                for _ in range(warmup):
                    await warm[w].turn(None)
                ready[w] = warm[w]

        await asyncio.gather(*(warm_one(w) for w in range(workers)))
        budget = [max_turns]
        cpu_before = cpu_seconds(processes or {})
        stats.started = time.perf_counter()
        deadline = stats.started + duration

        async def worker(w: int) -> None:
            customer = ready[w]
            while time.perf_counter() < deadline and budget[0] > 0:
                if customer is None:  # the next customer (verifies first, not timed)
                    customer = Customer(kind, url, session, timeout, offset=w * 3)
                    if not await customer.setup(stats):
                        customer = None
                        await asyncio.sleep(0.05)
                        continue
                for _ in range(turns_per_customer):
                    if time.perf_counter() >= deadline or budget[0] <= 0:
                        return
                    budget[0] -= 1
                    await customer.turn(stats)
                customer = None

        await asyncio.gather(*(worker(w) for w in range(workers)))
        stats.finished = time.perf_counter()
        cpu_after = cpu_seconds(processes or {})
    out = stats.summary()
    if processes:
        out["cpu_ms_per_turn"] = cpu_per_turn(cpu_before, cpu_after, out["served_turns"])
    out["customers"] = workers
    out["warmup_errors"] = sum(warm_stats.errors.values())
    return out


async def time_parse(url: str, texts: list[str], seconds: float, timeout: float) -> dict[str, Any]:
    """`POST /model/parse` one at a time: the NLU share of a turn."""
    stats = Stats()
    async with aiohttp.ClientSession() as session:
        for text in texts[:3]:  # warm-up
            await _post(session, f"{url}/model/parse", {"text": text}, timeout)
        stats.started = time.perf_counter()
        i = 0
        while time.perf_counter() - stats.started < seconds:
            _, error, ms = await _post(session, f"{url}/model/parse",
                                       {"text": texts[i % len(texts)]}, timeout)
            i += 1
            if error:
                stats.error(error)
            else:
                stats.latencies_ms.append(ms)
        stats.finished = time.perf_counter()
    return stats.summary()


# --------------------------------------------------------------------------- CPU per turn

def server_processes(servers: dict[str, int]) -> dict[str, list[psutil.Process]]:
    """Each named server's process and its children (Sanic workers), found by pid."""
    found: dict[str, list[psutil.Process]] = {}
    for name, pid in servers.items():
        with contextlib.suppress(psutil.Error):
            root = psutil.Process(pid)
            found[name] = [root, *root.children(recursive=True)]
    return found


def action_server_pid() -> int:
    """The action server this script started (`python -m actions.server`)."""
    for child in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.Error):
            if "actions.server" in " ".join(child.cmdline()):
                return child.pid
    raise RuntimeError("the action server process was not found")


def cpu_seconds(processes: dict[str, list[psutil.Process]]) -> dict[str, float]:
    """User + system CPU seconds used so far by each server (all its processes)."""
    used: dict[str, float] = {}
    for name, procs in processes.items():
        total = 0.0
        for proc in procs:
            with contextlib.suppress(psutil.Error):
                times = proc.cpu_times()
                total += times.user + times.system
        used[name] = total
    return used


def cpu_per_turn(before: dict[str, float], after: dict[str, float],
                 turns: int) -> dict[str, float]:
    """CPU milliseconds each server spent per served turn (timed and untimed set-up turns).

    Unlike wall-clock latency this hardly depends on what else the machine runs, and
    `cores * 1000 / sum` is the throughput ceiling of the machine for that turn kind.
    """
    if turns <= 0:
        return {}
    per_turn = {name: round((after[name] - before[name]) * 1000 / turns, 1)
                for name in after if name in before}
    per_turn["total"] = round(sum(per_turn.values()), 1)
    return per_turn


# --------------------------------------------------------------------------- main

def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def table(results: dict[str, Any]) -> str:
    cols = [("faq", "ours FAQ"), ("order", "ours order status"), ("moodbot", "moodbot")]
    lines = ["| | " + " | ".join(name for _, name in cols) + " |",
             "|---|" + "---|" * len(cols)]

    def row(label: str, phase: str, key: str, fmt: str = "{}") -> None:
        cells = []
        for kind, _ in cols:
            value = results["phases"].get(phase, {}).get(kind, {}).get(key)
            cells.append("–" if value is None else fmt.format(value))
        lines.append(f"| {label} | " + " | ".join(cells) + " |")

    for phase, title in (("sequential", "1 customer"),
                         ("concurrent", f"{results['config']['concurrency']} customers")):
        row(f"{title}: turns", phase, "turns")
        row(f"{title}: p50 ms", phase, "p50_ms")
        row(f"{title}: p95 ms", phase, "p95_ms")
        row(f"{title}: p99 ms", phase, "p99_ms")
        row(f"{title}: turns/s", phase, "turns_per_s")
        row(f"{title}: errors", phase, "errors")
        row(f"{title}: served turns/s (with set-up turns)", phase, "served_turns_per_s")
        for part in ("rasa", "actions", "total"):
            cells = []
            for kind, _ in cols:
                value = (results["phases"].get(phase, {}).get(kind, {})
                         .get("cpu_ms_per_turn", {}).get(part))
                cells.append("–" if value is None else str(value))
            lines.append(f"| {title}: CPU ms per turn, {part} | " + " | ".join(cells) + " |")
    cells = []
    for kind, _ in cols:
        value = results.get("parse", {}).get(kind, {}).get("p50_ms")
        cells.append("–" if value is None else str(value))
    lines.append("| /model/parse alone, 1 at a time: p50 ms | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per phase and kind")
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--model", type=Path, help="trained production model (.tar.gz); "
                        "default: train one into the work dir via crmbot.runtime.train")
    parser.add_argument("--work-dir", type=Path, help="default: a new temporary directory")
    parser.add_argument("--out", type=Path, default=REPO / "var" / "benchmarks" / "chat_latency.json")
    parser.add_argument("--turns-per-customer", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3, help="untimed turns per worker first")
    parser.add_argument("--max-turns", type=int, default=5000, help="cap per phase and kind")
    parser.add_argument("--turn-timeout", type=float, default=30.0)
    parser.add_argument("--parse-seconds", type=float, default=5.0)
    parser.add_argument("--overall-timeout", type=float, default=1800.0,
                        help="hard limit for the whole run (setup and training included)")
    parser.add_argument("--kinds", default=",".join(KINDS))
    parser.add_argument("--postgres-admin-url", help="CRM and trackers in a new PostgreSQL "
                        "database next to this URL, e.g. postgresql+psycopg://postgres@127.0.0.1/test")
    parser.add_argument("--lock-store-url", help="Redis lock store, redis://HOST:PORT/DB")
    parser.add_argument("--event-broker-url", help="RabbitMQ event broker, amqp://USER:PASS@HOST/")
    args = parser.parse_args()
    kinds = [k for k in args.kinds.split(",") if k]

    work = args.work_dir or Path(tempfile.mkdtemp(prefix="chat-latency-"))
    work.mkdir(parents=True, exist_ok=True)
    work = work.resolve()
    procs = Processes()
    timer = threading.Timer(args.overall_timeout, _thread.interrupt_main)
    timer.daemon = True
    timer.start()
    previous_term = signal.signal(signal.SIGTERM, lambda *_: _thread.interrupt_main())
    results: dict[str, Any] = {
        "config": {k: (str(v) if isinstance(v, Path) else _without_password(v))
                   for k, v in vars(args).items()},
        "started_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "loadavg_start": loadavg(), "cpus": os.cpu_count(), "phases": {}, "parse": {},
    }
    try:
        platform = PlatformSettings(
            models_dir=work / "models", rasa_port=free_port(), action_port=free_port(), host=HOST,
            rasa_lock_store_url=args.lock_store_url, rasa_event_broker_url=args.event_broker_url,
            rasa_event_queue=f"crmbot_bench_{uuid.uuid4().hex[:8]}")
        check_services_reachable(platform)
        if args.event_broker_url:
            procs.contexts.callback(delete_queue, args.event_broker_url, platform.rasa_event_queue)
        rasa = rasa_executable(platform)
        mood_init = mood_log = None
        if "moodbot" in kinds:
            mood_init, mood_log = start_moodbot_init(rasa, work, procs)
        print(f"work dir {work}; seeding the CRM", flush=True)
        postgres_url = None
        if args.postgres_admin_url:
            postgres_url = procs.contexts.enter_context(
                fresh_database(args.postgres_admin_url, "crmbot_bench"))
        crm = seed_crm(work, postgres_url)
        urls: dict[str, str] = {}
        pids: dict[str, dict[str, int]] = {}
        if {"faq", "order"} & set(kinds):
            if args.model:
                model = args.model.resolve()
            else:
                print("training the production model (crmbot.runtime.train)", flush=True)
                model, _ = train(platform, crm)
            results["model"] = str(model)
            print("starting the action server (builds the FAQ index)", flush=True)
            procs.contexts.enter_context(running_action_server(
                platform, crm, log_path=work / "action-server.log", timeout=300,
                env_overrides={"KNOWLEDGE_INDEX_DIR": str(work / "knowledge"),
                               "ACTIONS_PRELOAD_FAQ": "true"}))
            env = process_env(platform, crm, rasa=True)
            env["HOME"] = str(work / "home")
            (work / "home").mkdir(exist_ok=True)
            print("starting the Rasa server", flush=True)
            server = start_rasa_server(rasa, model, workdir=work / "rasa", env=env,
                                       endpoints=rasa_endpoints(platform),
                                       credentials=REPO / "bot" / "credentials.yml",
                                       ready_timeout=300)
            procs.servers.append(server)
            urls["faq"] = urls["order"] = server.url
            pids["faq"] = pids["order"] = {"rasa": server.process.pid,
                                           "actions": action_server_pid()}
        if mood_init is not None and mood_log is not None:
            print("waiting for `rasa init` (moodbot training)", flush=True)
            code = mood_init.wait(timeout=900)
            mood_models = sorted((work / "moodbot" / "models").glob("*.tar.gz"))
            if code != 0 or not mood_models:
                raise RuntimeError(f"rasa init failed ({code}):\n{_tail(mood_log)}")
            mood = start_rasa_server(rasa, mood_models[-1], workdir=work / "moodbot-run",
                                     env=rasa_subprocess_env(home=work / "home-moodbot"),
                                     ready_timeout=300)
            procs.servers.append(mood)
            urls["moodbot"] = mood.url
            pids["moodbot"] = {"rasa": mood.process.pid}

        for phase, workers in (("sequential", 1), ("concurrent", args.concurrency)):
            results["phases"][phase] = {}
            for kind in kinds:
                print(f"{phase}: {kind} ({workers} customer(s), {args.duration:g} s)", flush=True)
                res = run_phase(kind, urls[kind], workers=workers, duration=args.duration,
                                max_turns=args.max_turns,
                                turns_per_customer=args.turns_per_customer,
                                warmup=args.warmup, timeout=args.turn_timeout,
                                processes=server_processes(pids[kind]))
                results["phases"][phase][kind] = asyncio.run(res)
                results["phases"][phase][kind]["loadavg_after"] = loadavg()
                print(f"  {json.dumps(results['phases'][phase][kind])}", flush=True)
        parse_texts = {"faq": FAQ_QUESTIONS, "order": [f"where is my order {o}?" for o in ORDERS],
                       "moodbot": MOOD_TURNS}
        for kind in kinds:
            print(f"/model/parse alone: {kind}", flush=True)
            results["parse"][kind] = asyncio.run(
                time_parse(urls[kind], parse_texts[kind], args.parse_seconds, args.turn_timeout))
    except KeyboardInterrupt:
        print("interrupted (Ctrl-C, SIGTERM or --overall-timeout); stopping", file=sys.stderr)
        results["interrupted"] = True
    finally:
        timer.cancel()
        procs.stop_all()
        signal.signal(signal.SIGTERM, previous_term)
    results["loadavg_end"] = loadavg()
    results["finished_utc"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    print()
    print(table(results))
    print(f"\nload average start {results['loadavg_start']} end {results['loadavg_end']} "
          f"({results['cpus']} CPUs); JSON: {args.out}")
    return 1 if results.get("interrupted") else 0


if __name__ == "__main__":
    sys.exit(main())
