"""The hub as it runs: ``ektp-monitor hub serve`` processes over HTTPS (a throwaway CA) on PostgreSQL.

* more than 1,000 forged requests — office A writing B's site and B writing A's, unknown and revoked tokens,
  replays of old seqs with changed content, an old schema, oversized bodies and batches — are all refused
  with their codes, and not one row of the hub changes;
* two replicas behind "a load balancer" (the office's batches alternate between them, from several threads
  at once, with duplicates): the cursor never skips and the copy is exact.
"""

from __future__ import annotations

import gzip
import itertools
import random
import signal
import ssl
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, create_engine, select, text

from monitor.hub import protocol
from monitor.hub.dump import canonical_dump
from monitor.hub.models import HubBase, HubFeed
from monitor.hub.tokens import hash_token

from .conftest import HubProcess, Office, Tls
from .test_ingest import OLD, A, B, C, Record, batches, request

pytest_plugins: list[str] = []
LIMITS = "limits: {max_request_bytes: 65536, max_records: 200}\n"


def snapshot_of_every_table(engine: Engine) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    with engine.connect() as conn:
        for name in sorted(HubBase.metadata.tables):
            out[name] = sorted(str(sorted((k, str(v)) for k, v in r.items()))
                               for r in conn.execute(text(f"SELECT * FROM {name}")).mappings())
    return out


@pytest.fixture
def client(tls: Tls) -> Iterator[Callable[[str], httpx.Client]]:
    made: list[httpx.Client] = []

    def make(base_url: str) -> httpx.Client:
        c = httpx.Client(base_url=base_url, verify=ssl.create_default_context(cafile=str(tls.ca_file)), timeout=30)
        made.append(c)
        return c
    yield make
    for c in made:
        c.close()


def post(c: httpx.Client, office: Office | None, body: Any = None, *, raw: bytes | None = None) -> httpx.Response:
    headers = {"Content-Encoding": "gzip"}
    if office is not None:
        headers["Authorization"] = f"Bearer {office.token}"
    return c.post(protocol.INGEST_PATH, content=raw if raw is not None else protocol.encode(body), headers=headers)


def test_a_thousand_forged_requests_are_refused_and_change_nothing(
        hub_process: Any, pg_url: str, client: Callable[[str], httpx.Client], office_record: Record,
        tmp_path: Path) -> None:
    hub: HubProcess = hub_process([A, B, C], extra=LIMITS)
    c = client(hub.url)
    rows = office_record.rows
    for b in batches(rows, 20):                                   # the honest record first
        assert post(c, A, request(b)).status_code == 200
    engine = create_engine(pg_url)
    before = snapshot_of_every_table(engine)
    rng = random.Random(1000)
    last = rows[-1]["seq"]
    site_rows = [x for x in rows if x["entity"] not in ("monitor_gap",)]

    def a_writes_b() -> tuple[int, httpx.Response]:
        x = rng.choice(site_rows)
        snap = {**x["snapshot"], **({"code": "62.04"} if x["entity"] == "site" else {})}
        return 403, post(c, A, request([{**x, "seq": last + 1, "site_code": "62.04", "snapshot": snap}]))

    def b_writes_a() -> tuple[int, httpx.Response]:
        x = rng.choice(site_rows)
        return 403, post(c, B, request([{**x, "seq": 1}], office="barsel"))

    def unknown_token() -> tuple[int, httpx.Response]:
        return 401, post(c, Office("mura", [], token=f"ektp_{rng.getrandbits(256):x}"), request(rows[:1]))

    def revoked_token() -> tuple[int, httpx.Response]:
        return 401, post(c, OLD, request([], office="katingan"))

    def old_seq() -> tuple[int, httpx.Response]:
        x = rng.choice(rows)
        forged = {**x, "version": 10**12, "snapshot": {**x["snapshot"], "name": "PALSU"} if "name" in x["snapshot"]
                  else {**x["snapshot"]}}
        return 409, post(c, A, request([forged]))

    def old_schema() -> tuple[int, httpx.Response]:
        x = rng.choice(rows)
        return 422, post(c, A, request([{**x, "seq": last + 1, "schema_version": rng.choice([0, -1, 99])}]))

    def oversized() -> tuple[int, httpx.Response]:
        if rng.random() < 0.5:
            return 413, post(c, A, request([{**rows[0], "seq": last + 1 + i} for i in range(201)]))
        return 413, post(c, A, None, raw=gzip.compress(rng.randbytes(70_000), 1))

    kinds = [a_writes_b, b_writes_a, unknown_token, revoked_token, old_seq, old_schema, oversized]
    counts: dict[str, int] = {}
    started = time.monotonic()
    for fn in itertools.islice(itertools.cycle(kinds), 1050):
        want, r = fn()
        assert r.status_code == want, (fn.__name__, r.status_code, r.text[:300])
        counts[fn.__name__] = counts.get(fn.__name__, 0) + 1
    elapsed = time.monotonic() - started
    assert snapshot_of_every_table(engine) == before               # 0 rows changed
    assert post(c, A, request(rows[-1:])).json()["expected_seq"] == last + 1
    engine.dispose()
    print(f"\n[hub https] {sum(counts.values())} forged requests refused in {elapsed:.1f} s "
          f"({sum(counts.values()) / elapsed:.0f}/s): {counts}; 0 rows changed")


def test_two_replicas_share_one_offices_batches(hub_process: Any, pg_url: str,
                                                client: Callable[[str], httpx.Client],
                                                office_record: Record) -> None:
    first: HubProcess = hub_process([A, B], name="replica1")
    second: HubProcess = hub_process([A, B], name="replica2")
    clients = [client(first.url), client(second.url)]
    rows = office_record.rows
    parts = batches(rows, 3)
    acked = [0]
    statuses: dict[int, int] = {}

    def office_thread(i: int) -> None:
        rng = random.Random(i)
        for _ in range(300):
            start = acked[0]
            if start >= rows[-1]["seq"]:
                return
            b = next(p for p in parts if p[-1]["seq"] > start)
            r = post(clients[rng.randrange(2)], A, request(b))       # the load balancer's choice
            statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
            assert r.status_code in (200, 409), r.text
            body = r.json()
            acked[0] = max(acked[0], body["acknowledged_seq"] if r.status_code == 200 else body["expected_seq"] - 1)

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(office_thread, range(4)))
    engine = create_engine(pg_url)
    with engine.connect() as conn:
        assert canonical_dump(conn, "mura") == office_record.dump
        cursor = conn.execute(select(HubFeed)).one()
    engine.dispose()
    assert cursor.acked_seq == rows[-1]["seq"] and cursor.records_applied == len(rows)
    assert statuses.get(200, 0) >= len(parts) and statuses.get(409, 0) > 0
    print(f"\n[hub https] two replicas, 4 office threads: {statuses}, cursor {cursor.acked_seq}, "
          f"{cursor.records_applied} records applied once each")


def test_sighup_takes_new_tokens_and_revocations_without_a_restart(hub_process: Any,
                                                                    client: Callable[[str], httpx.Client]) -> None:
    hub: HubProcess = hub_process([A, B])
    c = client(hub.url)
    assert post(c, A, request([])).status_code == 200
    text_ = hub.config.read_text(encoding="utf-8")
    revoked = text_.replace(f'tokens: ["{hash_token(A.token)}"], revoked_tokens: []',
                            f'tokens: [], revoked_tokens: ["{hash_token(A.token)}"]')
    assert revoked != text_
    hub.config.write_text(revoked, encoding="utf-8")
    assert hub.proc is not None
    hub.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 20
    while post(c, A, request([])).status_code != 401:
        assert time.monotonic() < deadline, hub.tail()
        time.sleep(0.2)
    hub.config.write_text("offices: [oops\n", encoding="utf-8")         # a broken file is refused
    hub.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 20
    while "reload refused" not in hub.tail():
        assert time.monotonic() < deadline, hub.tail()
        time.sleep(0.2)
    assert post(c, B, request([], office="barsel")).status_code == 200   # still serving on the last good rules
    assert post(c, A, request([])).status_code == 401
