"""Persistent storage: SQLAlchemy 2 models, the :class:`Database` handle, Alembic migrations.

All database work of the daemon goes through :meth:`Database.run`, which executes a function inside
one transaction on a single dedicated thread. That keeps the event loop free when SQLite is busy or
the disk is slow (a locked database must never stall checks), serialises writers within the process
(SQLite has one writer anyway), and turns database failures into :class:`monitor.errors.StorageError`.

Importing this package installs the national feed's session hooks (:mod:`monitor.storage.feed`): every
committed change of the record also writes its feed row, whoever the writer is.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TypeVar

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from monitor.storage import feed as _feed  # noqa: F401  (registers the feed's session hooks for every writer)
from monitor.storage.db import make_sessionmaker, translate

T = TypeVar("T")


class Database:
    """An engine, its sessions, and one worker thread for asynchronous callers."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.sessions: sessionmaker[Session] = make_sessionmaker(engine)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="db")

    @contextmanager
    def transaction(self, action: str = "database") -> Iterator[Session]:
        """A session inside one transaction (commit on success, rollback on error). Synchronous."""
        with translate(action), self.sessions.begin() as session:
            yield session

    def call(self, fn: Callable[[Session], T], action: str = "database") -> T:
        with self.transaction(action) as session:
            return fn(session)

    async def run(self, fn: Callable[[Session], T], action: str = "database") -> T:
        """Run ``fn(session)`` in one transaction on the database thread; raise StorageError on failure."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self.call, fn, action)

    def close(self) -> None:
        self._executor.shutdown(wait=True)
        self.engine.dispose()
