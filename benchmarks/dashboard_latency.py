"""Manager dashboard and inbox customer-panel latency on a shop's real history.

Everything runs on loopback in a work directory and is stopped again at the end (also on
errors and Ctrl-C):

1. a SQLite CRM with the Online Retail history imported by `crmbot import transactions`
   (default ``../shared/data/online_retail/transactions_until_2011-10-31.csv.gz``: 4,010
   customers, 20,252 invoices, 430,502 lines), ``--conversations`` synthetic conversations of
   the last days in Rasa's tracker-store table (``conversation_pipeline.events``; the
   unanswered ones ask CLINC150's real requests, ``--unanswered-from``), and
   `crmbot analytics refresh` (conversation pipeline, segments, churn, lifetime value, demand,
   recommendations) into the work directory's models folder;
2. a manager account (`crmbot users add`) and ``--panels`` inbox conversations, each linked to a
   random customer of the history (seeded);
3. the real gateway (`python -m web`) on a free port, signed in to over HTTP like a browser.

Phase 1, one request at a time: each page's first request after the gateway started (cold:
the unanswered-question page loads the MiniLM model, the first customer panel scores every
customer) and then ``--requests`` more (warm). Phase 2, ``--concurrency`` managers loading
pages in a loop while one agent opens customer panels, for ``--duration`` seconds: does a heavy
page hold up the agent? Times are wall-clock on the client, in milliseconds.

    .venv/bin/python benchmarks/dashboard_latency.py [--requests 10] [--concurrency 4] \
        [--duration 20] [--conversations 10000] [--work-dir /tmp/dashbench] [--out ...]

A ``--work-dir`` that already holds a prepared SQLite CRM (``prepared.json``) is reused as it
is. ``--postgres-admin-url`` puts the CRM in a new PostgreSQL database instead (the production
shape), dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import random
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import aiohttp  # noqa: E402
import numpy as np  # noqa: E402
from sqlalchemy import insert, select  # noqa: E402

from analytics.pipeline import TRACKER_EVENTS  # noqa: E402
from benchmarks.conversation_pipeline import events  # noqa: E402
from crm_connector import (  # noqa: E402
    CrmSettings,
    create_db_engine,
    create_session_factory,
    open_conversation,
    write_transaction,
)
from crm_connector.models import Customer, SalesOrder  # noqa: E402
from crmbot.runtime import stop_process, wait_until_healthy  # noqa: E402
from tests.support.postgres import fresh_database  # noqa: E402
from tests.support.rasa_server import free_port  # noqa: E402

HOST = "127.0.0.1"
DATA = REPO.parent / "shared" / "data"
DEFAULT_HISTORY = DATA / "online_retail" / "transactions_until_2011-10-31.csv.gz"
#: Real user requests for the unanswered messages: CLINC150's 15,000 training texts (150
#: topics, so they group as a shop's unanswered questions would).
DEFAULT_UNANSWERED = DATA / "clinc150" / "data_full_train_val.json"
MANAGER = "bench-manager"
#: The pages a manager opens, with the period that shows an imported history (``all``).
PAGES = [
    "/dashboard?days=30&freq=day",
    "/dashboard?days=all&freq=week",
    "/dashboard/sales?days=all&freq=day",
    "/dashboard/sales?days=all&freq=week",
    "/dashboard/customers",
    "/dashboard/customers/at-risk.csv",
    "/dashboard/gaps?days=all",
    "/api/analytics/kpis?days=all&freq=week",
    "/api/analytics/sales?days=all",
]
PANEL = "/api/inbox/conversations/{id}/customer"


# --------------------------------------------------------------------------- preparation

def _crmbot(args: list[str], env: dict[str, str], *, stdin: str | None = None,
            timeout: float = 1800) -> float:
    """Run a `crmbot` command (its output goes to ours); return its wall-clock seconds."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "crmbot", *args], env=env, input=stdin, text=True,
                   check=True, timeout=timeout, cwd=REPO)
    return time.perf_counter() - started


def unanswered_texts(path: Path) -> list[str]:
    """The texts of a CLINC150 ``data_full``-style file (``train``: ``[text, intent]`` pairs)."""
    try:
        rows = json.loads(path.read_text())["train"]
        return [str(text) for text, _ in rows]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SystemExit(f"cannot read the unanswered texts from {path}: {exc}") from None


def prepare(work: Path, history: Path, conversations: int, panels: int, seed: int,
            env: dict[str, str], *, unanswered: Path, reuse: bool) -> dict[str, Any]:
    """The CRM, models, manager and panel conversations (see the module docstring); the
    timings of each step, also kept in ``prepared.json`` for a ``reuse`` of the work directory
    (its SQLite CRM)."""
    marker = work / "prepared.json"
    if reuse and marker.exists():
        print(f"reusing the CRM prepared in {work}", flush=True)
        return json.loads(marker.read_text())
    if not history.is_file():
        raise SystemExit(f"no history file at {history} (see ../shared/data/README.md)")
    marker.unlink(missing_ok=True)
    shutil.rmtree(work / "models", ignore_errors=True)
    for old in work.glob("crm.sqlite*"):
        old.unlink()
    texts = unanswered_texts(unanswered)
    info: dict[str, Any] = {"history": str(history), "conversations": conversations,
                            "unanswered_from": str(unanswered)}
    print("[1/5] crmbot db upgrade", flush=True)
    _crmbot(["db", "upgrade"], env)
    print(f"[2/5] crmbot import transactions {history.name}", flush=True)
    info["import_s"] = round(_crmbot(["import", "transactions", str(history), "--no-progress",
                                      "--show-rejects", "0"], env), 1)
    engine = create_db_engine(CrmSettings(database_url=env["CRM_DATABASE_URL"]))
    try:
        print(f"[3/5] {conversations:,} synthetic conversations of the last days", flush=True)
        TRACKER_EVENTS.metadata.create_all(engine, tables=[TRACKER_EVENTS])
        start = (dt.datetime.now(dt.UTC) - dt.timedelta(days=conversations * 65 / 86400 + 1))
        rows = events(conversations, seed, start=start.timestamp(), unknown=texts)
        with engine.begin() as conn:
            conn.execute(insert(TRACKER_EVENTS), rows)
        info["tracker_events"] = len(rows)
        unanswered_sent = [json.loads(r["data"])["text"] for r in rows  # type: ignore[arg-type]
                           if r["intent_name"] == "nlu_fallback"]
        info["unanswered_messages"] = len(unanswered_sent)
        info["unanswered_distinct"] = len(set(unanswered_sent))
        print("[4/5] crmbot analytics refresh", flush=True)
        info["refresh_s"] = round(_crmbot(["analytics", "refresh", "--no-progress"], env), 1)
        print("[5/5] manager account and inbox conversations", flush=True)
        _crmbot(["users", "add", MANAGER, "--role", "manager", "--password-stdin"], env,
                stdin=env["BENCH_PASSWORD"] + "\n")
        sessions = create_session_factory(engine)
        with write_transaction(sessions) as session:
            buyers = sorted(session.scalars(select(Customer.public_id).join(SalesOrder)
                                            .distinct()))
            info["customers"] = len(buyers)
            now = dt.datetime.now(dt.UTC)
            info["panel_conversations"] = [
                open_conversation(session, f"bench-panel-{i}", "web", now=now,
                                  customer_public_id=public_id).id
                for i, public_id in enumerate(random.Random(seed).sample(buyers, panels))]
    finally:
        engine.dispose()
    marker.write_text(json.dumps(info, indent=2))
    return info


# --------------------------------------------------------------------------- gateway

def start_gateway(work: Path, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port(HOST)
    log = (work / "gateway.log").open("wb")
    gateway_env = {**env, "WEB_HOST": HOST, "WEB_PORT": str(port),
                   "WEB_SESSION_SECRET": secrets.token_urlsafe(40),
                   "WEB_RASA_URL": f"http://{HOST}:{free_port(HOST)}"}  # the bot is not needed
    process = subprocess.Popen([sys.executable, "-m", "web"], env=gateway_env, cwd=REPO,
                               stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://{HOST}:{port}"
    try:
        wait_until_healthy(f"{url}/healthz", timeout=120, process=process,
                           log_path=work / "gateway.log", name="gateway")
    except BaseException:
        stop_process(process, timeout=15)
        raise
    return process, url


async def sign_in(url: str, password: str) -> aiohttp.ClientSession:
    """A browser-like client signed in as the manager (session cookie, CSRF token)."""
    client = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True),
                                   timeout=aiohttp.ClientTimeout(total=120))
    async with client.get(f"{url}/login") as response:
        token = re.search(r'name="csrf_token" value="([^"]+)"', await response.text())
    if token is None:
        raise RuntimeError("no CSRF token on the login page")
    form = {"csrf_token": token.group(1), "username": MANAGER, "password": password}
    async with client.post(f"{url}/login", data=form, allow_redirects=False) as response:
        if response.status != 303:
            raise RuntimeError(f"sign-in failed: HTTP {response.status}")
    return client


# --------------------------------------------------------------------------- measuring

@dataclass
class Timings:
    ms: list[float] = field(default_factory=list)
    bytes: int = 0
    errors: dict[str, int] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {"requests": len(self.ms), "kb": round(self.bytes / 1024, 1)}
        if self.ms:
            p50, p95 = np.percentile(self.ms, [50, 95])
            out.update(p50_ms=round(float(p50), 1), p95_ms=round(float(p95), 1),
                       max_ms=round(max(self.ms), 1))
        if self.errors:
            out["errors"] = dict(self.errors)
        return out


async def timed_get(client: aiohttp.ClientSession, url: str, timings: Timings) -> None:
    started = time.perf_counter()
    try:
        async with client.get(url, allow_redirects=False) as response:
            body = await response.read()
            if response.status != 200:
                timings.errors[f"http_{response.status}"] = timings.errors.get(
                    f"http_{response.status}", 0) + 1
                return
    except (aiohttp.ClientError, TimeoutError) as exc:
        kind = type(exc).__name__
        timings.errors[kind] = timings.errors.get(kind, 0) + 1
        return
    timings.ms.append((time.perf_counter() - started) * 1000)
    timings.bytes = len(body)


async def one_at_a_time(client: aiohttp.ClientSession, url: str, paths: list[str],
                        requests: int) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for path in paths:
        cold, warm = Timings(), Timings()
        await timed_get(client, url + path, cold)
        for _ in range(requests):
            await timed_get(client, url + path, warm)
        results[path] = _cold_and_warm(path, cold, warm)
    return results


def _cold_and_warm(name: str, cold: Timings, warm: Timings) -> dict[str, Any]:
    """The first request's time and the warm ones' summary, also printed as a line."""
    result = {"cold_ms": round(cold.ms[0], 1) if cold.ms else None, **warm.summary(),
              **({"cold_errors": cold.errors} if cold.errors else {})}
    print(f"  {name:40} cold {result['cold_ms'] or 0:7.0f} ms   warm p50 "
          f"{result.get('p50_ms', 0):7.1f} ms  p95 {result.get('p95_ms', 0):7.1f} ms  "
          f"{result['kb']:6.1f} kB", flush=True)
    return result


async def under_load(url: str, password: str, panels: list[str], concurrency: int,
                     duration: float, seed: int) -> dict[str, Any]:
    """``concurrency`` managers cycling through the pages, one agent through the panels."""
    per_path: dict[str, Timings] = {p: Timings() for p in PAGES}
    panel = Timings()
    deadline = time.monotonic() + duration
    clients = [await sign_in(url, password) for _ in range(concurrency + 1)]

    async def manager(client: aiohttp.ClientSession, rng: random.Random) -> None:
        while time.monotonic() < deadline:
            path = rng.choice(PAGES)
            await timed_get(client, url + path, per_path[path])

    async def agent(client: aiohttp.ClientSession) -> None:
        i = 0
        while time.monotonic() < deadline:
            await timed_get(client, url + panels[i % len(panels)], panel)
            i += 1

    started = time.perf_counter()
    try:
        await asyncio.gather(agent(clients[0]), *(
            manager(c, random.Random(seed + n)) for n, c in enumerate(clients[1:])))
    finally:
        for client in clients:
            await client.close()
    elapsed = time.perf_counter() - started
    pages = sum(len(t.ms) for t in per_path.values())
    return {"seconds": round(elapsed, 1), "pages": pages,
            "pages_per_s": round(pages / elapsed, 2),
            "per_page": {p: t.summary() for p, t in per_path.items()},
            "panel": panel.summary()}


async def measure(url: str, password: str, panel_ids: list[int], args: argparse.Namespace,
                  ) -> dict[str, Any]:
    panels = [PANEL.format(id=i) for i in panel_ids]
    client = await sign_in(url, password)
    try:
        print("phase 1: one request at a time (cold = first after the gateway started)",
              flush=True)
        sequential = await one_at_a_time(client, url, PAGES, args.requests)
        cold_panel, warm_panel = Timings(), Timings()
        await timed_get(client, url + panels[0], cold_panel)
        for n in range(args.requests):
            await timed_get(client, url + panels[(n + 1) % len(panels)], warm_panel)
        sequential["customer panel"] = _cold_and_warm("customer panel", cold_panel, warm_panel)
    finally:
        await client.close()
    print(f"phase 2: {args.concurrency} managers + 1 agent for {args.duration:.0f} s", flush=True)
    loaded = await under_load(url, password, panels, args.concurrency, args.duration, args.seed)
    print(f"  {loaded['pages']} pages ({loaded['pages_per_s']}/s); agent's panel "
          f"{loaded['panel']}", flush=True)
    return {"one_at_a_time": sequential, "under_load": loaded}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--history", type=Path, default=DEFAULT_HISTORY)
    parser.add_argument("--unanswered-from", type=Path, default=DEFAULT_UNANSWERED,
                        help="CLINC150-style JSON whose train texts are the unanswered messages")
    parser.add_argument("--conversations", type=int, default=10_000)
    parser.add_argument("--panels", type=int, default=20, help="inbox conversations to open")
    parser.add_argument("--requests", type=int, default=10, help="warm requests per page")
    parser.add_argument("--concurrency", type=int, default=4, help="managers in phase 2")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of phase 2")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--work-dir", type=Path, help="default: a new temporary directory")
    parser.add_argument("--postgres-admin-url", help="the CRM in a new PostgreSQL database next "
                        "to this URL (dropped at the end), e.g. "
                        "postgresql+psycopg://postgres@127.0.0.1/test")
    parser.add_argument("--out", type=Path,
                        default=REPO / "var" / "benchmarks" / "dashboard_latency.json")
    args = parser.parse_args()
    if min(args.conversations, args.panels, args.requests, args.concurrency) < 1:
        parser.error("--conversations, --panels, --requests and --concurrency must be >= 1")
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="dashbench-"))
    work.mkdir(parents=True, exist_ok=True)
    password_file = work / "manager-password"
    if not password_file.exists():
        password_file.write_text(secrets.token_urlsafe(18))
        password_file.chmod(0o600)
    with contextlib.ExitStack() as cleanup:
        if args.work_dir is None:
            cleanup.callback(shutil.rmtree, work, ignore_errors=True)
        database_url = f"sqlite:///{work / 'crm.sqlite'}"
        if args.postgres_admin_url:
            database_url = cleanup.enter_context(
                fresh_database(args.postgres_admin_url, "crmbot_dashbench"))
        env = {**os.environ, "CRM_DATABASE_URL": database_url,
               "ANALYTICS_ARTIFACTS_DIR": str(work / "models"),
               "BENCH_PASSWORD": password_file.read_text()}
        info = prepare(work, args.history, args.conversations, args.panels, args.seed, env,
                       unanswered=args.unanswered_from, reuse=not args.postgres_admin_url)
        gateway, url = start_gateway(work, env)
        cleanup.callback(stop_process, gateway, timeout=15)  # before the database is dropped
        results = asyncio.run(measure(url, env["BENCH_PASSWORD"], info["panel_conversations"],
                                      args))
    report = {"measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
              "database": "postgresql" if args.postgres_admin_url else "sqlite",
              "cpus": os.cpu_count(), "load_average": [round(v, 2) for v in os.getloadavg()],
              "prepared": {k: v for k, v in info.items() if k != "panel_conversations"},
              "args": {k: str(v) for k, v in vars(args).items()}, **results}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(f"results in {args.out}")
    errors = [p for p, r in results["one_at_a_time"].items() if r.get("errors")]
    errors += [p for p, r in results["under_load"]["per_page"].items() if r.get("errors")]
    if results["under_load"]["panel"].get("errors"):
        errors.append("customer panel")
    if errors:
        print(f"errors on: {', '.join(errors)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
