"""Shared fixtures: databases (SQLite files, and PostgreSQL when EKTP_TEST_PG_URL names a server),
config files written per test, and the path of the real-device recordings the tests use
(``tests/data/librenms``: LibreNMS test fixtures, GPL-3.0, unmodified — see its NOTICE.txt). The suite reads
nothing outside the checkout."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import textwrap
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

from monitor.storage.db import create_db_engine

ROOT = Path(__file__).resolve().parent.parent
RECORDINGS = ROOT / "tests" / "data" / "librenms"
PG_URL = os.environ.get("EKTP_TEST_PG_URL")


def _pg_database(admin_url: str) -> Iterator[str]:
    """A fresh database on the test PostgreSQL server, dropped afterwards."""
    name = f"ektp_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    base, _, _ = admin_url.rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(
                f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"))
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database URL for an empty database, on SQLite and (when available) PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'test.db'}"
        return
    if not PG_URL:
        if os.environ.get("EKTP_REQUIRE_PG"):
            pytest.fail("EKTP_REQUIRE_PG is set but no PostgreSQL server: scripts/test starts one")
        pytest.skip("no PostgreSQL server (set EKTP_TEST_PG_URL)")
    yield from _pg_database(PG_URL)


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = create_db_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def write_config(tmp_path: Path) -> Callable[..., Path]:
    """Write a YAML config (dedented) into the test's folder and return its path."""

    def write(body: str, name: str = "config.yaml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(body).lstrip("\n"), encoding="utf-8")
        return path

    return write


MINIMAL = """
telegram: {enabled: false}
sites:
  - id: test
    name: "Kantor Uji"
    timezone: Asia/Jakarta
    devices:
      - {id: router, name: "Router", kind: router, address: 127.0.0.1, checks: [{type: ping}]}
      - {id: srv, name: "Server", kind: recording_server, address: 127.0.0.2, depends_on: [router],
         checks: [{type: tcp, port: 9}]}
"""


def sqlite_rows(db: Path, sql: str) -> list[tuple[object, ...]]:
    """Rows of ``sql`` from the SQLite file ``db``, read-only (a running daemon keeps writing it)."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


async def wait_until(predicate: Callable[[], object], within: float, what: str) -> None:
    """Poll ``predicate`` until it is true, at most ``within`` seconds of real time; else fail naming ``what``."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if predicate():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out after {within} s waiting for {what}")


def stop_daemon(proc: subprocess.Popen[bytes], timeout: float = 30.0) -> int:
    """SIGTERM a daemon this test started (by its PID) and wait; SIGKILL it if it does not stop in time."""
    proc.terminate()
    try:
        return proc.wait(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
