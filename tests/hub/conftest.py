"""Fixtures of the national hub's tests: a fresh PostgreSQL database per test (the server named by
EKTP_TEST_PG_URL; ``scripts/test`` starts one, ``.ci/run`` requires it), the hub's schema in it, a
throwaway CA (trustme) with a certificate for 127.0.0.1, HUB.yaml files, and the hub as a real
``ektp-monitor hub serve`` process on loopback."""

from __future__ import annotations

import asyncio
import os
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import trustme
from sqlalchemy import Engine, select

from monitor.hub import db as hubdb
from monitor.hub.config import DEFAULT_INGEST_ROLE
from monitor.hub.tokens import hash_token, new_token
from monitor.sandbox import free_tcp_port
from monitor.storage import Database, feed
from monitor.storage import db as dbmod
from monitor.storage.models import FeedRow
from tests.conftest import PG_URL, _pg_database
from tests.engine.conftest import Office as EngineOffice
from tests.fakes import T0, FakeClock

from .workload import every_writer, settings_with_codes

ROLE = DEFAULT_INGEST_ROLE
BIN = Path(sys.executable).with_name("ektp-monitor")


def require_pg() -> str:
    if not PG_URL:
        if os.environ.get("EKTP_REQUIRE_PG"):
            pytest.fail("EKTP_REQUIRE_PG is set but no PostgreSQL server: scripts/test starts one")
        pytest.skip("the hub needs PostgreSQL (set EKTP_TEST_PG_URL; scripts/test starts one)")
    return PG_URL


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh, empty database on the test PostgreSQL server (dropped afterwards)."""
    yield from _pg_database(require_pg())


@pytest.fixture
def hub_engine(pg_url: str) -> Iterator[Engine]:
    """The hub's schema (migrations, ingest role, RLS) in a fresh database."""
    engine = hubdb.create_hub_engine(pg_url)
    hubdb.upgrade(engine, ROLE)
    yield engine
    engine.dispose()


@dataclass
class Office:
    """An office as HUB.yaml knows it, with its token (the hub keeps only the hash)."""

    id: str
    sites: Sequence[str]
    token: str = field(default_factory=new_token)
    revoked: Sequence[str] = ()

    def yaml(self) -> str:
        revoked = ", ".join(f'"{hash_token(t)}"' for t in self.revoked)
        return (f'  - {{id: {self.id}, name: "Kantor {self.id}", sites: [{", ".join(repr(s) for s in self.sites)}], '
                f'tokens: ["{hash_token(self.token)}"], revoked_tokens: [{revoked}]}}\n')


def hub_yaml(path: Path, db_url: str, offices: Sequence[Office], *, listen: str = "127.0.0.1:0",
             tls: tuple[Path, Path] | None = None, extra: str = "") -> Path:
    transport = (f"tls: {{cert_file: {tls[0]}, key_file: {tls[1]}}}\n" if tls else "behind_proxy: true\n")
    body = (f'listen: "{listen}"\n{transport}database: {{url: "{db_url}"}}\n{extra}'
            f"offices:\n{''.join(o.yaml() for o in offices)}")
    path.write_text(body, encoding="utf-8")
    return path


@dataclass(frozen=True)
class Tls:
    ca_file: Path
    cert_file: Path
    key_file: Path


@pytest.fixture(scope="session")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    """A throwaway CA and a certificate for 127.0.0.1 / localhost signed by it."""
    d = tmp_path_factory.mktemp("tls")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    ca.cert_pem.write_to_path(str(d / "ca.pem"))
    cert.private_key_pem.write_to_path(str(d / "hub.key"))
    cert.cert_chain_pems[0].write_to_path(str(d / "hub.crt"))
    return Tls(d / "ca.pem", d / "hub.crt", d / "hub.key")


class HubProcess:
    """``ektp-monitor hub serve`` as a child process on a loopback port (stopped by PID)."""

    def __init__(self, config: Path, log: Path, port: int, ca_file: Path) -> None:
        self.config, self.log_path, self.port, self.ca_file = config, log, port, ca_file
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def start(self, within: float = 30.0) -> HubProcess:
        self._log = self.log_path.open("ab")
        self.proc = subprocess.Popen([str(BIN), "hub", "serve", "-c", str(self.config)], stdout=self._log,
                                     stderr=subprocess.STDOUT)
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"hub exited with {self.proc.returncode}:\n{self.tail()}")
            try:
                ctx = ssl.create_default_context(cafile=str(self.ca_file))
                if httpx.get(self.url + "/healthz", verify=ctx, timeout=1.0).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"hub did not answer within {within}s:\n{self.tail()}")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill9(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self, timeout: float = 20.0) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._log.close()
        return self.proc.returncode

    def tail(self, n: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-n:] if self.log_path.exists() else ""


@pytest.fixture
def hub_process(tmp_path: Path, pg_url: str, tls: Tls) -> Iterator[Any]:
    """A factory: ``hub_process(offices)`` -> a running hub (schema upgraded by ``hub db upgrade``)."""
    started: list[HubProcess] = []

    def make(offices: Sequence[Office], name: str = "hub", port: int | None = None, extra: str = "") -> HubProcess:
        port = port or free_tcp_port()
        cfg = hub_yaml(tmp_path / f"{name}.yaml", pg_url, offices, listen=f"127.0.0.1:{port}",
                       tls=(tls.cert_file, tls.key_file), extra=extra)
        if not started:
            out = subprocess.run([str(BIN), "hub", "db", "upgrade", "-c", str(cfg)], capture_output=True, text=True,
                                 timeout=120)
            assert out.returncode == 0, out.stderr
        hub = HubProcess(cfg, tmp_path / f"{name}.log", port, tls.ca_file).start()
        started.append(hub)
        return hub

    yield make
    for hub in started:
        hub.stop()


def office_yaml(db: Path, *, hub_url: str, office: Office, ca_file: Path, sites: str, extra: str = "") -> str:
    """An office config with ``hub:`` (its token in a file, as recommended). ``sites`` is the YAML list of
    sites, written from column 0."""
    token_file = db.with_suffix(".token")
    token_file.write_text(office.token + "\n", encoding="utf-8")
    token_file.chmod(0o600)
    return (f'database: {{url: "sqlite:///{db}"}}\ntelegram: {{enabled: false}}\n'
            f'hub: {{url: "{hub_url}", office_id: {office.id}, token_file: {token_file}, ca_file: {ca_file},\n'
            "      status_interval: 2s, retry_max: 2s, timeout: 5s}\n"
            f"{extra.strip()}\nsites:\n{sites}")

A = Office("mura", ["62.12", "62.12.01"])
B = Office("barsel", ["62.04"])
OLD = Office("katingan", ["62.06"])
C = Office("katingan", ["62.06"], revoked=[OLD.token])


@dataclass
class Record:
    """An office database after every writer ran, with its feed and its canonical dump."""

    db: Database
    rows: list[dict[str, Any]]
    dump: dict[Any, Any]


@pytest.fixture(scope="module")
def office_record(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Record]:
    tmp = tmp_path_factory.mktemp("office")
    engine = dbmod.create_db_engine(f"sqlite:///{tmp / 'office.db'}")
    dbmod.upgrade(engine)
    db = Database(engine)

    async def run() -> None:
        o = EngineOffice(settings_with_codes(tmp), db, FakeClock(T0 - timedelta(minutes=5)))
        await o.start()
        try:
            await every_writer(o, tmp)
        finally:
            await o.stop()
    asyncio.run(run())
    rows = db.call(lambda s: [{"seq": r.seq, "entity": r.entity, "local_id": r.local_id, "version": r.version,
                               "schema_version": r.schema_version, "site_code": r.site_code, "snapshot": r.snapshot}
                              for r in s.scalars(select(FeedRow).order_by(FeedRow.seq))])
    yield Record(db, rows, db.call(feed.canonical_dump))
    db.close()


def request(records: list[dict[str, Any]], *, office: str = "mura", **extra: Any) -> dict[str, Any]:
    return {"office": office, "records": records, **extra}


def batches(rows: list[dict[str, Any]], size: int) -> list[list[dict[str, Any]]]:
    return [rows[i:i + size] for i in range(0, len(rows), size)]




from tests.engine.conftest import migrated  # noqa: E402, F401  (a migrated office database, SQLite and PostgreSQL)
