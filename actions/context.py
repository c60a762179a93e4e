"""What the actions need from outside: settings, the CRM database, the FAQ retriever, a clock.

Nothing is built at import time. ``get_context()`` builds one ``ActionContext`` from the
environment (through the settings classes) on first use; the engine and session factory are
created on the first database call, the FAQ retriever on the first FAQ turn (or, with
``ACTIONS_PRELOAD_FAQ=true``, in a background thread as soon as a server worker imports the
package: see ``preload_in_server_worker``). Tests install their own context with
``configure(ActionContext(...))`` and get the previous one back to restore it.

One context per process: one engine with its connection pool, one ``sessionmaker`` (a session
lives for one transaction, never for the process), one retriever (model and index in memory).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import multiprocessing
import threading
import time
from collections.abc import Callable
from typing import TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from actions.settings import ActionSettings
from crm_connector import (
    CrmSettings,
    create_db_engine,
    create_session_factory,
    read_transaction,
    write_transaction,
)
from knowledge import FaqRetriever, KnowledgeError, KnowledgeSettings

log = logging.getLogger(__name__)

T = TypeVar("T")


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class ActionContext:
    """Settings plus the lazily opened resources built from them (thread-safe)."""

    def __init__(
        self,
        settings: ActionSettings | None = None,
        crm: CrmSettings | None = None,
        knowledge: KnowledgeSettings | None = None,
        *,
        clock: Callable[[], dt.datetime] = utc_now,
        retriever: FaqRetriever | None = None,
    ) -> None:
        self.settings = settings if settings is not None else ActionSettings()
        self.crm = crm if crm is not None else CrmSettings()
        self.knowledge = knowledge if knowledge is not None else KnowledgeSettings()
        self.clock = clock
        self._retriever = retriever
        self._engine: Engine | None = None
        self._sessions: sessionmaker[Session] | None = None
        self._db_lock = threading.Lock()
        self._faq_lock = threading.Lock()

    # -- database -------------------------------------------------------------------------
    @property
    def sessions(self) -> sessionmaker[Session]:
        """The session factory; the engine is created (not connected) on first access."""
        if self._sessions is None:
            with self._db_lock:
                if self._sessions is None:
                    self._engine = create_db_engine(self.crm)
                    self._sessions = create_session_factory(self._engine)
        return self._sessions

    # -- FAQ ------------------------------------------------------------------------------
    @property
    def faq_enabled(self) -> bool:
        return self.settings.faq_enabled

    def faq(self) -> FaqRetriever:
        """The FAQ retriever, loaded once (model, corpus, index; a stale index is rebuilt).

        Raises ``KnowledgeError`` subclasses when it cannot be loaded; the next call retries.
        """
        if self._retriever is None:
            with self._faq_lock:
                if self._retriever is None:
                    log.info("loading the FAQ retriever")
                    self._retriever = FaqRetriever.load(self.knowledge)
        return self._retriever

    # -- time -----------------------------------------------------------------------------
    def now(self) -> dt.datetime:
        """The current time (timezone-aware); tests pass a fixed clock."""
        return self.clock()

    @property
    def timezone(self) -> ZoneInfo:
        return self.settings.timezone

    def close(self) -> None:
        """Dispose of the engine's pool (tests; the server keeps it for its lifetime)."""
        with self._db_lock:
            if self._engine is not None:
                self._engine.dispose()
            self._engine = None
            self._sessions = None


async def in_transaction(
    context: ActionContext, work: Callable[[Session], T], *, write: bool = False
) -> T:
    """Run ``work(session)`` in one transaction, in a worker thread (the services are
    synchronous; the event loop keeps serving other conversations meanwhile)."""

    def job() -> T:
        begin = write_transaction if write else read_transaction
        with begin(context.sessions) as session:
            return work(session)

    return await asyncio.to_thread(job)


_current: ActionContext | None = None
_current_lock = threading.Lock()


def get_context() -> ActionContext:
    """The process's context, built from the environment on first use."""
    global _current
    if _current is None:
        with _current_lock:
            if _current is None:
                _current = ActionContext()
    return _current


def configure(context: ActionContext | None) -> ActionContext | None:
    """Install ``context`` (``None``: build from the environment on next use); returns the
    previous one so a test can put it back."""
    global _current
    with _current_lock:
        previous, _current = _current, context
    return previous


#: How long the preload waits for the worker to serve before loading anyway.
_SERVING_WAIT_SECONDS = 300.0


def wait_until_serving(app_name: str = "rasa_sdk", timeout: float = _SERVING_WAIT_SECONDS) -> bool:
    """Wait until this process's Sanic app ``app_name`` serves requests (``True``), or
    ``timeout`` seconds (``False``)."""
    from sanic import Sanic
    from sanic.exceptions import SanicException

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if Sanic.get_app(app_name).state.is_running:
                return True
        except SanicException:  # the worker has not created its app yet
            pass
        time.sleep(0.2)
    return False


def preload_in_server_worker() -> threading.Thread | None:
    """With ``ACTIONS_PRELOAD_FAQ=true``, load the FAQ retriever in the background once the
    server worker serves (for ``python -m rasa_sdk``; ``actions.server`` starts its preload
    itself once it serves).

    Only in a child process: ``python -m rasa_sdk`` imports the actions in its primary process
    and again in each Sanic worker process, and only the workers answer requests. (A worker
    imports them while it is being unpickled, before ``multiprocessing.parent_process()`` is
    set, but its process already has its own name.) The load (importing torch, reading the
    model, building a stale index) waits until the worker serves: Sanic stops the whole server
    when a worker has not started within 30 s, which a load competing with the start-up for
    the CPU made happen on a busy machine. An FAQ question asked before the preload is done
    loads the retriever itself (``ActionContext.faq`` is locked). Returns the loading thread,
    or ``None``.
    """
    in_child = (multiprocessing.parent_process() is not None
                or multiprocessing.current_process().name != "MainProcess")
    if not in_child:
        return None
    return start_faq_preload(get_context(), wait_for_server=True)


def start_faq_preload(
    context: ActionContext, *, wait_for_server: bool = False
) -> threading.Thread | None:
    """With ``ACTIONS_PRELOAD_FAQ=true`` (and the FAQ on), load the FAQ retriever in a
    background thread (after ``wait_until_serving`` if asked); returns the thread."""
    if not (context.settings.preload_faq and context.faq_enabled):
        return None

    def load() -> None:
        if wait_for_server and not wait_until_serving():
            log.warning("the server worker did not start serving; preloading the FAQ anyway")
        try:
            context.faq()
        except KnowledgeError as exc:
            log.error("preloading the FAQ retriever failed (%s): %s", exc.code, exc)
        except Exception as exc:  # noqa: BLE001 - logged; the first FAQ turn retries
            log.error("preloading the FAQ retriever failed: %s", type(exc).__name__)

    thread = threading.Thread(target=load, name="faq-preload", daemon=True)
    thread.start()
    return thread
