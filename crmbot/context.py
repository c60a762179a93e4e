"""Builds the settings and database handles once per command."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from crm_connector import CrmSettings, create_db_engine, create_session_factory


@dataclass
class CliContext:
    crm: CrmSettings

    @classmethod
    def from_env(cls) -> CliContext:
        return cls(crm=CrmSettings())

    @cached_property
    def engine(self) -> Engine:
        return create_db_engine(self.crm)

    @cached_property
    def sessions(self) -> sessionmaker[Session]:
        return create_session_factory(self.engine)
