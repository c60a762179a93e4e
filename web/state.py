"""Typed application state (``web.AppKey``) and the bridge from async views to the
synchronous CRM services (each call runs in a worker thread inside one transaction)."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import aiohttp
from aiohttp import web
from sqlalchemy.orm import Session, sessionmaker

from crm_connector import CrmSettings, read_transaction, write_transaction
from web.settings import WebSettings

if TYPE_CHECKING:
    from web.gateway import Gateway

T = TypeVar("T")

SETTINGS = web.AppKey("settings", WebSettings)
CRM_SETTINGS = web.AppKey("crm_settings", CrmSettings)
SESSIONS = web.AppKey("sessions", sessionmaker)
HTTP = web.AppKey("http", aiohttp.ClientSession)
GATEWAY: web.AppKey[Gateway] = web.AppKey("gateway")
STATIC_DIR = web.AppKey("static_dir", Path)
#: ``(session, customer_public_id) -> dict`` with segment, churn risk and reasons and
#: recommendations; None until analytics provides ``analytics.customer_insights``.
CUSTOMER_INSIGHTS: web.AppKey[Callable[..., dict[str, Any]] | None] = web.AppKey("customer_insights")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


async def in_transaction(sessions: sessionmaker[Session], work: Callable[[Session], T], *,
                         write: bool = False) -> T:
    """Run ``work(session)`` in a worker thread inside a read or write transaction."""
    def run() -> T:
        opener = write_transaction if write else read_transaction
        with opener(sessions) as session:
            return work(session)

    return await asyncio.to_thread(run)
