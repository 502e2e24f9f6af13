"""The national feed at the office (SQLite and PostgreSQL): every writer of the record writes its feed row
in the same transaction, and the feed replayed reproduces the record exactly."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, func, insert, select, text, update

from monitor.daemon.shipper import prune_unshipped, start_stream
from monitor.storage import Database, feed
from monitor.storage.models import Base, FeedRow, MaintenanceRow, OutageRow, SiteRow
from tests.engine.conftest import Office
from tests.fakes import T0, FakeClock

from .workload import every_writer, settings_with_codes


@pytest.fixture
async def coded(migrated: Database, tmp_path: Path) -> AsyncIterator[Office]:
    o = Office(settings_with_codes(tmp_path), migrated, FakeClock(T0 - timedelta(minutes=5)))
    await o.start()
    try:
        yield o
    finally:
        await o.stop()


def replay(rows: list[FeedRow]) -> dict[tuple[str, str | None, str], dict[str, Any]]:
    """The record as the feed tells it: the newest version of each entity."""
    out: dict[tuple[str, str | None, str], tuple[int, dict[str, Any]]] = {}
    for r in rows:
        key = (r.entity, r.site_code, r.local_id)
        if key not in out or out[key][0] < r.version:
            out[key] = (r.version, r.snapshot)
    return {k: v for k, (_n, v) in out.items()}


def feed_rows(db: Database) -> list[FeedRow]:
    return db.call(lambda s: list(s.scalars(select(FeedRow).order_by(FeedRow.seq))))


def test_every_table_travels_or_says_why() -> None:
    shipped = {e.table.name for e in feed.ENTITIES}
    tables = set(Base.metadata.tables)
    assert shipped.isdisjoint(feed.NOT_SHIPPED)
    assert tables == shipped | set(feed.NOT_SHIPPED), tables ^ (shipped | set(feed.NOT_SHIPPED))


async def test_every_writer_writes_the_feed_and_the_feed_reproduces_the_record(coded: Office, tmp_path: Path) -> None:
    await every_writer(coded, tmp_path)
    rows = feed_rows(coded.db)
    seqs = [r.seq for r in rows]
    assert seqs == list(range(1, len(rows) + 1))                       # gap-free, in commit order
    assert all(r.version == r.seq and r.schema_version == feed.FEED_SCHEMA_VERSION for r in rows)
    record = coded.db.call(feed.canonical_dump)
    assert replay(rows) == record                                      # 0 missing, 0 extra, 0 differing
    entities = {k[0] for k in record}
    assert entities == {e.name for e in feed.ENTITIES}, entities       # the workload touched every entity
    # the snapshot: every column after the change, plus the site and device keys; NUL made safe for PostgreSQL
    outage = next(v for k, v in record.items() if k[0] == "outage" and v["device"] == "srv")
    assert outage["site"] == "mura" and outage["timeline"] and outage["gaps"]
    assert outage["ended_at"].endswith("Z") and len(outage["ended_at"]) == len("2026-11-23T01:07:00.000000Z")
    texts = [v["text"] for k, v in record.items() if k[0] == "evidence"]
    assert not any("\x00" in t for t in texts)
    if coded.db.engine.dialect.name == "sqlite":
        assert any("\ufffd" in t for t in texts)
    ack = next(v for k, v in record.items() if k[0] == "acknowledgement")
    assert ack["site"] == "mura" and ack["user_name"] == "Budi (IT)"
    inc = record[("incident", "62.12", str(ack["incident_id"]))]
    assert inc["title"] == "Listrik padam (diperbarui)" and inc["escalation"]["acknowledged"]["by"] == "Budi (IT)"
    gap = next(v for k, v in record.items() if k[0] == "monitor_gap")
    assert next(k for k in record if k[0] == "monitor_gap")[1] is None and gap["reason"] == "host_rebooted"
    pc = next(v for k, v in record.items() if k[0] == "device" and v["key"] == "pc")
    assert (pc["installed"], pc["funding"], pc["site"]) == ("2019-03", "apbn", "kecamatan")
    site = record[("site", "62.12", "mura")]
    assert (site["code"], site["province"]) == ("62.12", "Kalimantan Tengah")
    dc = next(v for k, v in record.items() if k[0] == "device" and v["key"] == "dc")
    assert dc["active"] is True and len([r for r in rows if r.entity == "device" and r.snapshot["key"] == "dc"]) == 3


async def test_one_feed_row_per_changed_entity_per_transaction_and_none_for_a_rollback(coded: Office) -> None:
    before = feed_rows(coded.db)
    srv = coded.recorder.ids[next(iter(coded.recorder.ids))]

    def two_changes(s: Any) -> None:
        row = MaintenanceRow(site_id="mura", device_id=srv, kind="maintenance", starts_at=T0, ends_at=T0 + timedelta(1),
                             reason="a", created_by="x", created_at=T0)
        s.add(row)
        s.flush()
        row.reason = "b"                                               # changed again in the same transaction
    coded.db.call(two_changes)
    after = feed_rows(coded.db)[len(before):]
    assert [(r.entity, r.snapshot["reason"]) for r in after] == [("maintenance", "b")]

    def fails(s: Any) -> None:
        s.add(MaintenanceRow(site_id="mura", kind="mute", starts_at=T0, ends_at=T0 + timedelta(1), reason="c",
                             created_by="x", created_at=T0))
        s.flush()
        raise RuntimeError("the writer failed")
    with pytest.raises(RuntimeError):
        coded.db.call(fails)
    assert len(feed_rows(coded.db)) == len(before) + 1
    assert coded.db.call(feed.last_seq) == after[-1].seq              # no seq spent on the rollback


async def test_a_writer_that_would_bypass_the_feed_is_refused(coded: Office) -> None:
    refused = [
        lambda s: s.execute(insert(OutageRow).values(device_id=1, started_at=T0, status="down", updated_at=T0)),
        lambda s: s.execute(delete(MaintenanceRow)),
        lambda s: s.execute(text("UPDATE outages SET cause = 'power'")),
        lambda s: s.execute(text("insert into incidents (site_id) values ('mura')")),
        lambda s: s.delete(s.get(SiteRow, "mura")),
    ]
    for fn in refused:
        with pytest.raises(feed.FeedError):
            coded.db.call(fn)
    # reading, and writing tables that do not travel, stay free
    coded.db.call(lambda s: s.execute(text("UPDATE kv SET updated_at = updated_at")))
    n = coded.db.call(lambda s: s.scalar(select(func.count()).select_from(FeedRow)))
    coded.db.call(lambda s: s.execute(update(SiteRow).where(SiteRow.id == "mura").values(name="Disdukcapil Mura")))
    assert coded.db.call(lambda s: s.scalar(select(func.count()).select_from(FeedRow))) == n + 1


async def test_a_baseline_supersedes_the_feed_and_sites_without_a_code_stay_home(migrated: Database,
                                                                                tmp_path: Path) -> None:
    body_no_code = settings_with_codes(tmp_path, second_site=False).model_copy()
    office = Office(body_no_code, migrated, FakeClock(T0))
    await office.start()
    await office.stop()
    # a site without a code: its rows are not shippable and get no seq
    migrated.call(lambda s: s.execute(update(SiteRow).where(SiteRow.id == "mura").values(code=None)))
    assert not [r for r in feed_rows(migrated) if r.site_code is None and r.entity != "monitor_gap"]
    migrated.call(lambda s: s.execute(update(SiteRow).where(SiteRow.id == "mura").values(code="62.12")))
    last = migrated.call(feed.last_seq)
    first, count = migrated.call(lambda s: start_stream(s, "https://hub#mura", T0))
    rows = feed_rows(migrated)
    assert first == last + 1 and [r.seq for r in rows] == list(range(first, first + count))
    assert replay(rows) == migrated.call(feed.canonical_dump) and count == len(migrated.call(feed.canonical_dump))
    assert all(a.seq < b.seq for a, b in pairwise(rows))
    assert migrated.call(prune_unshipped) == count and feed_rows(migrated) == []
