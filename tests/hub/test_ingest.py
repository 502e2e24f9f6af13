"""The ingest on a real PostgreSQL, driven in-process through its ASGI app: the protocol (cursor, newer
version wins, baselines, status, the Ministry's answers), every refusal code, and the central copy equal
to the office's record by a canonical dump of both sides."""

from __future__ import annotations

import gzip
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, func, insert, select, text

from monitor.hub import entities, protocol
from monitor.hub.app import build_app
from monitor.hub.config import HubConfig, load_hub_config
from monitor.hub.db import sync_offices
from monitor.hub.dump import canonical_dump
from monitor.hub.ingest import Ingest
from monitor.hub.models import HubAnswer, HubDeviceState, HubFeed, HubOfficeStatus, HubOutage
from monitor.storage import feed

from .conftest import OLD, A, B, C, Office, Record, batches, hub_yaml, request


@dataclass
class Hub:
    config: HubConfig
    engine: Engine
    ingest: Ingest
    client: httpx.AsyncClient

    async def post(self, office: Office | None, body: Any, *, raw: bytes | None = None,
                   headers: dict[str, str] | None = None) -> httpx.Response:
        h = {"Content-Encoding": "gzip", **(headers or {})}
        if office is not None:
            h["Authorization"] = f"Bearer {office.token}"
        return await self.client.post(protocol.INGEST_PATH, content=raw if raw is not None else protocol.encode(body),
                                      headers=h)

    def dump(self, office_id: str = "mura") -> dict[Any, Any]:
        with self.engine.connect() as conn:
            return canonical_dump(conn, office_id)

    def everything(self) -> dict[str, list[Any]]:
        """Every row of every hub table except the liveness columns (for '0 rows changed')."""
        out: dict[str, list[Any]] = {}
        with self.engine.connect() as conn:
            for name in sorted(entities.HubBase.metadata.tables):
                rows = conn.execute(text(f"SELECT * FROM {name}")).mappings()
                out[name] = sorted((str(sorted((k, str(v)) for k, v in r.items() if k not in ("last_seen",))))
                                   for r in rows)
        return out

    def acked(self, office_id: str = "mura") -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(HubFeed.acked_seq).where(HubFeed.office_id == office_id)).scalar() or 0)


def make_hub(engine: Engine, tmp_path: Path, *, check_ownership: bool = True, extra: str = "") -> Hub:
    cfg = load_hub_config(hub_yaml(tmp_path / "hub.yaml", str(engine.url.render_as_string(hide_password=False)),
                                   [A, B, C], listen="127.0.0.1:8443", extra=extra))
    sync_offices(engine, cfg, datetime.now(UTC))
    ingest = Ingest(cfg, engine, check_ownership=check_ownership)
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=build_app(ingest)), base_url="http://hub")
    return Hub(cfg, engine, ingest, client)


@pytest.fixture
async def hub(hub_engine: Engine, tmp_path: Path) -> AsyncIterator[Hub]:
    h = make_hub(hub_engine, tmp_path)
    yield h
    await h.client.aclose()


# ------------------------------------------------------------------------------------------ the copy


async def test_the_central_copy_equals_the_office_record(hub: Hub, office_record: Record) -> None:
    for batch in batches(office_record.rows, 7):
        r = await hub.post(A, request(batch))
        assert r.status_code == 200, r.text
        assert r.json()["acknowledged_seq"] == batch[-1]["seq"]
    assert hub.dump() == office_record.dump                               # 0 missing, 0 extra, 0 differing
    assert hub.acked() == office_record.rows[-1]["seq"]
    with hub.engine.connect() as conn:                                    # the outage's timeline and cause, typed
        o = conn.execute(select(HubOutage).where(HubOutage.device_key == "srv")).first()
        assert o is not None and o.timeline and o.cause and o.ended_at is not None and o.ended_at.tzinfo is not None


async def test_replays_shuffles_lost_acks_and_a_gap_end_in_the_same_state_as_a_clean_run(
        hub: Hub, office_record: Record) -> None:
    rng = random.Random(15)
    sent = batches(office_record.rows, 5)
    codes: dict[int, int] = {}
    acked = 0
    rounds = 0
    while acked < office_record.rows[-1]["seq"]:
        rounds += 1
        assert rounds < 200, "the office never caught up"
        # the office sends everything it thinks is unacknowledged, twice, in shuffled order, plus a batch from the
        # future (a gap); 30 % of the acknowledgements are lost on the way back
        pending = [b for b in sent if b[-1]["seq"] > acked]
        wave = pending[:6] * 2 + [sent[-1]]
        rng.shuffle(wave)
        for b in wave:
            r = await hub.post(A, request(b))
            codes[r.status_code] = codes.get(r.status_code, 0) + 1
            assert r.status_code in (200, 409), r.text
            if rng.random() < 0.3:
                continue                                                  # the reply never arrived
            body = r.json()
            acked = max(acked, body["acknowledged_seq"] if r.status_code == 200 else body["expected_seq"] - 1)
    assert codes.get(409) and codes.get(200)
    assert hub.dump() == office_record.dump and hub.acked() == office_record.rows[-1]["seq"]
    with hub.engine.connect() as conn:                                    # every record applied exactly once
        assert conn.execute(select(HubFeed.records_applied)).scalar() == len(office_record.rows)
    before = hub.everything()
    last = office_record.rows[-1]["seq"]
    for b in sent:                                                        # a full replay afterwards: nothing moves
        r = await hub.post(A, request(b))
        assert r.status_code == 409 and r.json()["error"] == "already_stored" and r.json()["expected_seq"] == last + 1
    assert _strip_received(hub.everything()) == _strip_received(before)


def _strip_received(tables: dict[str, list[Any]]) -> dict[str, list[Any]]:
    return {k: v for k, v in tables.items() if k not in ("hub_feeds",)}


async def test_newer_version_wins_whatever_the_arrival_order(hub: Hub, office_record: Record) -> None:
    rows = office_record.rows
    r = await hub.post(A, request(rows))
    assert r.status_code == 200
    outage = next(x for x in reversed(rows) if x["entity"] == "outage")
    older = {**outage, "seq": rows[-1]["seq"] + 1, "version": 1, "snapshot": {**outage["snapshot"], "cause": "unknown"}}
    r = await hub.post(A, request([older]))                               # a fresh seq carrying an old version
    assert r.status_code == 200 and r.json()["applied"] == 1
    assert hub.dump() == office_record.dump                               # the newer version stayed


async def test_a_new_baseline_is_accepted_above_the_cursor_and_removes_what_the_office_no_longer_has(
        hub: Hub, office_record: Record) -> None:
    rows = office_record.rows
    assert (await hub.post(A, request(rows))).status_code == 200
    # the office was restored from an older backup: its baseline (everything but the last outages) starts above
    kept = [x for x in rows if x["entity"] != "report_run"]
    latest: dict[tuple[str, str], dict[str, Any]] = {}
    for x in kept:
        latest[(x["entity"], x["local_id"])] = x
    start = rows[-1]["seq"] + 101
    baseline = [{**x, "seq": start + n, "version": start + n} for n, x in enumerate(latest.values())]
    info = {"first": start, "last": baseline[-1]["seq"]}
    r = await hub.post(A, request(baseline[:3], baseline=info))           # starts exactly at baseline.first
    assert r.status_code == 200, r.text
    r = await hub.post(A, request(baseline[3:], baseline=info))
    assert r.status_code == 200 and r.json()["acknowledged_seq"] == info["last"]
    expected = {k: v for k, v in office_record.dump.items() if k[0] != "report_run"}
    assert hub.dump() == expected                                         # report runs gone: not in the baseline
    r = await hub.post(A, request([{**rows[0], "seq": info["last"] + 5}], baseline=info))
    assert r.status_code == 409 and r.json()["expected_seq"] == info["last"] + 1


# ------------------------------------------------------------------------------------------ status, answers


async def test_the_status_is_liveness_and_current_state(hub: Hub) -> None:
    def status(at: str, srv: str) -> dict[str, Any]:
        return {"at": at, "software": "0.1.0", "backlog_records": 3, "open_incidents": [{"incident_id": 7}],
                "sites": [{"code": "62.12", "devices": [{"device": "srv", "status": srv, "since": at},
                                                        {"device": "ups", "status": "up"}]},
                          {"code": "62.12.01", "devices": [{"device": "pc", "status": "up"}]}]}
    r = await hub.post(A, request([], status=status("2026-12-03T01:00:00.000000Z", "down")))
    assert r.status_code == 200 and r.json()["acknowledged_seq"] == 0
    r = await hub.post(A, request([], status=status("2026-12-03T00:59:00.000000Z", "up")))   # older: state kept
    assert r.status_code == 200
    with hub.engine.connect() as conn:
        states = {(s.site_code, s.device_key): s.status for s in conn.execute(select(HubDeviceState))}
        office = conn.execute(select(HubOfficeStatus)).one()
    assert states == {("62.12", "srv"): "down", ("62.12", "ups"): "up", ("62.12.01", "pc"): "up"}
    assert office.backlog_records == 3 and office.open_incidents == [{"incident_id": 7}]
    assert office.status_at == datetime(2026, 12, 3, 1, 0, tzinfo=UTC)
    assert office.last_seen > datetime.now(UTC) - timedelta(minutes=1)


async def test_the_ministrys_answers_travel_back_until_the_office_confirms_them(hub: Hub) -> None:
    with hub.engine.begin() as conn:                                      # as the hub writes them (part B)
        conn.execute(insert(HubAnswer), [
            {"site_code": "62.12", "office_id": "mura", "incident_local_id": 3, "status": "received",
             "note": "diterima", "answered_by": "Ditjen Dukcapil", "answered_at": datetime(2026, 12, 3, tzinfo=UTC)},
            {"site_code": "62.04", "office_id": "barsel", "incident_local_id": 9, "status": "shipped", "note": None,
             "answered_by": "Ditjen Dukcapil", "answered_at": datetime(2026, 12, 3, tzinfo=UTC)}])
    r = await hub.post(A, request([]))
    [answer] = r.json()["answers"]                                        # only this office's
    assert (answer["site_code"], answer["incident_id"], answer["status"]) == ("62.12", 3, "received")
    assert (await hub.post(A, request([]))).json()["answers"] == [answer]   # again until confirmed
    r = await hub.post(A, request([], answers_received=[answer["id"]]))
    assert r.json()["answers"] == []
    with hub.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(HubAnswer).where(
            HubAnswer.delivered_at.is_not(None))).scalar() == 1


# ------------------------------------------------------------------------------------------ refusals


async def test_every_refusal_has_its_code_and_changes_nothing(hub: Hub, office_record: Record) -> None:
    rows = office_record.rows
    assert (await hub.post(A, request(rows[:10]))).status_code == 200
    before = hub.everything()
    b_row = {**rows[10], "site_code": "62.04"}
    bad_gzip = b"\x1f\x8b" + b"not gzip"
    bomb = gzip.compress(b" " * (40 << 20))
    cases: list[tuple[int, str, Any]] = [
        (401, "no token", hub.client.post(protocol.INGEST_PATH, content=protocol.encode(request(rows[10:11])))),
        (401, "unknown token", hub.post(Office("mura", []), request(rows[10:11]))),
        (401, "revoked token", hub.post(OLD, request([], office="katingan"))),
        (401, "not bearer", hub.post(None, request(rows[10:11]), headers={"Authorization": f"Basic {A.token}"})),
        (403, "another office's site", hub.post(A, request([b_row]))),
        (403, "another office's name", hub.post(A, request(rows[10:11], office="barsel"))),
        (403, "status of another's site", hub.post(A, request([], status={"at": "2026-12-03T00:00:00Z", "sites": [
            {"code": "62.04", "devices": [{"device": "x", "status": "down"}]}]}))),
        (409, "a gap", hub.post(A, request(rows[12:14]))),
        (413, "too many records", hub.post(A, request(rows * (5001 // len(rows) + 1)))),
        (413, "a decompression bomb", hub.post(A, None, raw=bomb)),
        (413, "a huge body", hub.post(A, None, raw=b"x" * (5 << 20))),
        (422, "not gzip", hub.post(A, None, raw=bad_gzip)),
        (422, "not JSON", hub.post(A, None, raw=gzip.compress(b"{oops"))),
        (422, "unknown entity", hub.post(A, request([{**rows[10], "entity": "password"}]))),
        (422, "old schema", hub.post(A, request([{**rows[10], "schema_version": 0}]))),
        (422, "newer schema", hub.post(A, request([{**rows[10], "schema_version": 99}]))),
        (422, "unknown field", hub.post(A, request([{**rows[10], "snapshot": {**rows[10]["snapshot"], "x": 1}}]))),
        (422, "holes in the batch", hub.post(A, request([rows[10], rows[12]]))),
        (422, "gap entity with a site", hub.post(A, request([{**next(x for x in rows if x["entity"] == "monitor_gap"),
                                                               "seq": 11, "site_code": "62.12"}]))),
        (422, "a field of the wrong kind", hub.post(A, request([{**rows[10], "seq": "eleven"}]))),
    ]
    for code, what, call in cases:
        r = await call
        assert r.status_code == code, (what, r.status_code, r.text)
        assert r.json()["error"] and r.json()["detail"], what
        if code == 422 and "schema" in what:
            assert r.json()["error"] == "unsupported_schema" and r.json()["accepted_schema_versions"] == [1]
        if code == 401:
            assert r.headers["www-authenticate"].startswith("Bearer")
        if code == 409:
            assert r.json()["expected_seq"] == 11
    assert hub.everything() == before                                     # 0 rows changed


async def test_the_previous_schema_is_accepted_when_the_hub_can_lift_it(hub: Hub, office_record: Record,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    previous = feed.FEED_SCHEMA_VERSION - 1
    monkeypatch.setitem(protocol.UPGRADERS, previous,
                        lambda entity, snap: {k: v for k, v in snap.items() if k != "_old"})
    rec = {**office_record.rows[0], "schema_version": previous,
           "snapshot": {**office_record.rows[0]["snapshot"], "_old": True}}
    r = await hub.post(A, request([rec]))
    assert r.status_code == 200, r.text
    r = await hub.post(A, request([{**office_record.rows[1], "schema_version": previous - 1}]))
    assert r.status_code == 422 and r.json()["accepted_schema_versions"] == [1, 0]
    assert "upgrade the office" in r.json()["detail"]


async def test_row_level_security_alone_refuses_a_cross_office_write(hub_engine: Engine, tmp_path: Path,
                                                                     office_record: Record) -> None:
    unchecked = make_hub(hub_engine, tmp_path, check_ownership=False)
    try:
        ok = await unchecked.post(A, request(office_record.rows[:5]))
        assert ok.status_code == 200
        before = unchecked.everything()
        for entity in ("site", "outage", "evidence"):
            row = next(x for x in office_record.rows if x["entity"] == entity)
            snap = {**row["snapshot"], **({"code": "62.04"} if entity == "site" else {})}
            r = await unchecked.post(A, request([{**row, "seq": 6, "site_code": "62.04", "snapshot": snap}]))
            assert r.status_code == 403, (entity, r.text)
        r = await unchecked.post(A, request([], status={"at": "2026-12-03T00:00:00Z", "sites": [
            {"code": "62.04", "devices": [{"device": "x", "status": "down"}]}]}))
        assert r.status_code == 403
        assert unchecked.everything() == before
    finally:
        await unchecked.client.aclose()


def test_every_central_key_includes_the_site_code() -> None:
    from monitor.hub.models import OFFICE_TABLES, HubBase
    for table in HubBase.metadata.sorted_tables:
        keys = [list(table.primary_key.columns.keys())]
        keys += [list(c.columns.keys()) for c in table.constraints if c.__class__.__name__ == "UniqueConstraint"]
        keys += [list(i.columns.keys()) for i in table.indexes if i.unique]
        for key in keys:
            if table.name in OFFICE_TABLES:   # about an office as a whole (Citus reference tables)
                assert {"office_id", "site_code"} & set(key), (table.name, key)
            else:
                assert "site_code" in key, (table.name, key)
    assert len([t for t in HubBase.metadata.tables if t not in OFFICE_TABLES]) >= 10


def test_the_hub_migrations_make_exactly_the_models(hub_engine: Engine) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from monitor.hub.models import HubBase
    with hub_engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), HubBase.metadata)
        rls = conn.execute(text("SELECT relname FROM pg_class WHERE relrowsecurity ORDER BY relname")).scalars().all()
    diff = [d for d in diff if not (d[0] == "remove_table" and d[1].name == "hub_alembic_version")]
    assert diff == []
    assert set(rls) == {"hub_sites", "hub_devices", "hub_incidents", "hub_outages", "hub_evidence",
                        "hub_acknowledgements", "hub_maintenance", "hub_report_runs", "hub_device_states",
                        "hub_answers", "hub_feeds", "hub_office_status", "hub_monitor_gaps"}


def test_two_replicas_with_one_offices_batches_split_between_them_keep_the_cursor(
        hub_engine: Engine, tmp_path: Path, office_record: Record) -> None:
    """Two ingests (two engines: two connection pools, as two processes would have) apply one office's batches
    concurrently from several threads, duplicates included: the cursor never skips, the copy is exact."""
    from concurrent.futures import ThreadPoolExecutor

    from monitor.hub.db import create_hub_engine
    config = make_hub(hub_engine, tmp_path).config
    engines = [create_hub_engine(hub_engine.url.render_as_string(hide_password=False)) for _ in range(2)]
    ingests = [Ingest(config, e) for e in engines]
    office = config.office("mura")
    parts = batches(office_record.rows, 4)
    acked = [0]

    def send(i: int) -> None:
        rng = random.Random(i)
        for _ in range(400):
            if acked[0] >= office_record.rows[-1]["seq"]:
                return
            start = acked[0]
            b = next(p for p in parts if p[-1]["seq"] > start)
            try:
                reply = ingests[rng.randrange(2)].handle(office, protocol.IngestRequest.model_validate(request(b)))
            except protocol.Refusal as refusal:
                assert refusal.status == 409, refusal.body
                continue
            acked[0] = max(acked[0], reply.acknowledged_seq)

    with ThreadPoolExecutor(6) as pool:
        list(pool.map(send, range(6)))
    for e in engines:
        e.dispose()
    with hub_engine.connect() as conn:
        assert canonical_dump(conn, "mura") == office_record.dump
        cursor = conn.execute(select(HubFeed)).one()
    assert cursor.acked_seq == office_record.rows[-1]["seq"] and cursor.records_applied == len(office_record.rows)


async def test_a_hub_yaml_names_file_line_and_key_for_every_issue(tmp_path: Path) -> None:
    from monitor.errors import ConfigError
    path = tmp_path / "HUB.yaml"
    path.write_text('listen: "0.0.0.0:8443"\ndatabase: {url: "mysql://x@y/z"}\noffices:\n'
                    '  - {id: a, name: "A", sites: ["62.12", "99.01"], tokens: ["abc"]}\n'
                    '  - {id: b, name: "B", sites: ["62.12"]}\nschedules: {silent_after: 30s}\n', encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_hub_config(path)
    text_ = str(err.value)
    for expected in (f"{path}:2: database.url: the hub needs PostgreSQL",
                     f"{path}:4: offices[0].sites[1]: area code '99.01': 99 is not a province code",
                     f"{path}:4: offices[0].tokens[0]: a token hash looks like sha256:",
                     f"{path}:6: schedules.silent_after: silent_after must be at least 2m"):
        assert expected in text_, text_
    path.write_text('listen: "0.0.0.0:8443"\nbehind_proxy: true\ndatabase: {url: "postgresql://x@y/z"}\noffices:\n'
                    '  - {id: a, name: "A", sites: ["62.12"]}\n  - {id: b, name: "B", sites: ["62.12"]}\n',
                    encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_hub_config(path)
    assert f"{path}:1: listen: behind_proxy: listen on a loopback address" in str(err.value)
    assert f"{path}:6: offices[1].sites[0]: site 62.12 is listed for both 'a' and 'b'" in str(err.value)



def test_a_hub_owned_by_a_plain_user_as_the_install_guide_sets_it_up(pg_url: str, tmp_path: Path,
                                                                      office_record: Record) -> None:
    """No superuser at run time: the DBA makes the owner and the NOLOGIN ingest role once (docs/install.md);
    ``hub db upgrade`` as the owner does the rest, and row-level security applies to the ingest."""
    import uuid

    from sqlalchemy import create_engine

    from monitor.hub import db as hubdb
    tag = uuid.uuid4().hex[:8]
    owner, role = f"hubowner_{tag}", f"ingest_{tag}"
    admin = create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE ROLE {owner} LOGIN"))
        conn.execute(text(f"CREATE ROLE {role} NOLOGIN"))
        conn.execute(text(f"GRANT {role} TO {owner}"))
        conn.execute(text(f"GRANT CREATE, USAGE ON SCHEMA public TO {owner}"))
    url = pg_url.replace("://ektp@", f"://{owner}@")
    try:
        engine = hubdb.create_hub_engine(url)
        hubdb.upgrade(engine, role)
        hubdb.check_ingest_role(engine, role)
        cfg = load_hub_config(hub_yaml(tmp_path / "hub.yaml", url, [A, B], listen="127.0.0.1:8443"))
        cfg = cfg.model_copy(update={"database": cfg.database.model_copy(update={"ingest_role": role})})
        sync_offices(engine, cfg, datetime.now(UTC))
        ingest = Ingest(cfg, engine)
        office = cfg.office("mura")
        reply = ingest.handle(office, protocol.IngestRequest.model_validate(request(office_record.rows)))
        assert reply.acknowledged_seq == office_record.rows[-1]["seq"]
        unchecked = Ingest(cfg, engine, check_ownership=False)
        row = next(x for x in office_record.rows if x["entity"] == "outage")
        with pytest.raises(protocol.Refusal) as refused:
            unchecked.handle(office, protocol.IngestRequest.model_validate(
                request([{**row, "seq": reply.acknowledged_seq + 1, "site_code": "62.04"}])))
        assert refused.value.status == 403
        with engine.connect() as conn:
            assert canonical_dump(conn, "mura") == office_record.dump
        engine.dispose()
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{owner}'"))
        dbadmin = create_engine(pg_url, isolation_level="AUTOCOMMIT")
        with dbadmin.connect() as conn:
            conn.execute(text(f"DROP OWNED BY {owner}"))
            conn.execute(text(f"DROP OWNED BY {role}"))
        dbadmin.dispose()
        with admin.connect() as conn:
            conn.execute(text(f"DROP ROLE IF EXISTS {owner}"))
            conn.execute(text(f"DROP ROLE IF EXISTS {role}"))
        admin.dispose()
