"""The shipper against the real ingest on PostgreSQL (in-process through its ASGI app, so faults can be
injected at the transport): a first baseline carries history from before the feed, a dead link keeps
everything and backs off, the hub's refusals are followed, and the office records the Ministry's answers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, delete, insert, select, update

from monitor.daemon.shipper import Shipper, link_info
from monitor.domain import Status
from monitor.hub.app import build_app
from monitor.hub.dump import canonical_dump
from monitor.hub.models import HubAnswer, HubDeviceState, HubFeed, HubOfficeStatus, HubOutage
from monitor.storage import Database, feed
from monitor.storage import db as dbmod
from monitor.storage.models import FeedRow, HubAnswerRow
from tests.engine.conftest import SRV
from tests.engine.conftest import Office as EngineOffice
from tests.fakes import T0, FakeClock

from .conftest import Office
from .test_ingest import A, make_hub
from .workload import every_writer, settings_with_codes

HUB_LINK = """
hub: {{url: "https://hub.invalid", office_id: mura, token: "{token}", batch_records: {batch}, drain_rate: 1000,
      status_interval: 60s, retry_max: 30s}}
"""


class Switch(httpx.AsyncBaseTransport):
    """The link: passes requests to the hub's app, or fails them like a cut line, or answers as told."""

    def __init__(self, app: Any) -> None:
        self.inner = httpx.ASGITransport(app=app)
        self.down = False
        self.requests: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.down:
            raise httpx.ConnectError("link cut", request=request)
        return await self.inner.handle_async_request(request)


@dataclass
class Link:
    office: EngineOffice
    shipper: Shipper
    switch: Switch
    hub_engine: Engine

    async def drain(self, steps: int = 200) -> int:
        """Step the shipper until the hub holds everything; returns the steps taken."""
        for n in range(steps):
            pace = await self.shipper.step()
            info = self.office.db.call(link_info)
            if pace is None and info.backlog_records == 0:
                return n + 1
        raise AssertionError(f"not drained after {steps} steps: {self.office.db.call(link_info)}")

    def central(self) -> dict[Any, Any]:
        with self.hub_engine.connect() as conn:
            return canonical_dump(conn, "mura")

    def local(self) -> dict[Any, Any]:
        return self.office.db.call(feed.canonical_dump)


async def _link(hub_engine: Engine, tmp_path: Path, office: Office = A, batch: int = 5,
                limits: str = "") -> AsyncIterator[Link]:
    hub = make_hub(hub_engine, tmp_path, extra=limits)
    engine = dbmod.create_db_engine(f"sqlite:///{tmp_path / 'office.db'}")
    dbmod.upgrade(engine)
    db = Database(engine)
    settings = settings_with_codes(tmp_path, extra=HUB_LINK.format(token=office.token, batch=batch))
    o = EngineOffice(settings, db, FakeClock(T0 - timedelta(minutes=5)))
    await o.start()
    switch = Switch(build_app(hub.ingest))
    await hub.client.aclose()
    shipper = Shipper(settings, db, o.clock, transport=switch)
    shipper._client = shipper._make_client()
    try:
        yield Link(o, shipper, switch, hub_engine)
    finally:
        await shipper.stop()
        await o.stop()
        db.close()


@pytest.fixture
async def link(hub_engine: Engine, tmp_path: Path) -> AsyncIterator[Link]:
    async for x in _link(hub_engine, tmp_path):
        yield x


async def start(link: Link) -> None:
    from monitor.daemon.shipper import ensure_stream, target_of
    target = target_of(link.shipper.settings)
    await link.office.db.run(lambda s: ensure_stream(s, target, link.office.clock.now()))


async def test_history_from_before_the_hub_arrives_as_a_baseline_and_new_changes_follow(link: Link,
                                                                                         tmp_path: Path) -> None:
    await every_writer(link.office, tmp_path)          # months of record before the office was linked
    await start(link)
    steps = await link.drain()
    records = link.office.db.call(feed.canonical_dump)
    assert steps >= len(records) // 5                  # batches of 5
    assert link.central() == link.local()
    info = link.office.db.call(link_info)
    assert info.backlog_records == 0 and info.last_contact_at is not None and info.last_error is None
    assert info.baseline_seq is not None and info.acked_seq == info.last_seq
    assert link.office.db.call(lambda s: s.scalars(select(FeedRow)).all()) == []   # acknowledged rows are gone
    with link.hub_engine.connect() as conn:            # the status came along: states, liveness
        states = {(r.site_code, r.device_key): r.status for r in conn.execute(select(HubDeviceState))}
        office = conn.execute(select(HubOfficeStatus)).one()
    assert states[("62.12", "srv")] == "up" and ("62.12.01", "pc") in states
    assert office.backlog_records >= 0 and office.software
    # a change afterwards: shipped on the next step
    await link.office.series(SRV, [Status.DOWN] * 3, 70)
    await link.drain()
    assert link.central() == link.local()


async def test_a_dead_link_keeps_everything_backs_off_and_drains_when_it_returns(link: Link, tmp_path: Path) -> None:
    await start(link)
    link.switch.down = True
    await every_writer(link.office, tmp_path)
    waits = [await link.shipper.step() for _ in range(6)]
    assert all(w is not None for w in waits)
    assert waits[-1] is not None and waits[0] is not None and waits[-1] > waits[0]        # backing off
    assert max(w for w in waits if w is not None) <= 30 * 1.2                              # retry_max
    info = link.office.db.call(link_info)
    assert info.backlog_records > 20 and info.last_contact_at is None
    assert info.last_error is not None and "link cut" in info.last_error
    link.switch.down = False
    await link.drain()
    assert link.central() == link.local()
    assert link.office.db.call(link_info).last_error is None


async def test_a_lost_acknowledgement_and_a_hub_that_lost_data_are_both_repaired(link: Link, tmp_path: Path) -> None:
    await every_writer(link.office, tmp_path)
    await start(link)
    await link.drain()
    # the hub's database was restored from an older backup: its cursor went back and rows are gone
    with link.hub_engine.begin() as conn:
        conn.execute(update(HubFeed).values(acked_seq=3))
        conn.execute(delete(HubOutage))
    await link.office.series(SRV, [Status.DOWN] * 3, 70)
    await link.drain()
    assert link.central() == link.local()              # a new baseline sent everything again


async def test_an_office_restored_from_a_backup_does_not_reuse_seqs(link: Link, tmp_path: Path) -> None:
    await start(link)
    await every_writer(link.office, tmp_path)
    await link.drain()
    hub_seq = link.office.db.call(feed.last_seq)
    # the office's database goes back in time: the counter is lower than what the hub has seen
    link.office.db.call(lambda s: s.execute(update(feed.FeedStateRow).values(last_seq=5)))
    await link.office.series(SRV, [Status.DOWN] * 3, 70)      # new rows get seqs the hub already holds
    await link.drain()
    assert link.office.db.call(feed.last_seq) > hub_seq        # moved beyond, with a new baseline
    assert link.central() == link.local()


async def test_the_hub_refusing_keeps_the_backlog(hub_engine: Engine, tmp_path: Path) -> None:
    wrong = Office("mura", ["62.12"])                    # a token the hub does not know
    async for link in _link(hub_engine, tmp_path, office=wrong):
        await start(link)
        await every_writer(link.office, tmp_path)
        wait = await link.shipper.step()
        info = link.office.db.call(link_info)
        assert wait is not None and wait >= 30 * 0.8                  # slow: a person must act
        assert info.last_error is not None and info.last_error.startswith("HTTP 401")
        assert info.backlog_records > 0 and info.last_contact_at is None


async def test_a_batch_too_large_is_halved(hub_engine: Engine, tmp_path: Path) -> None:
    async for link in _link(hub_engine, tmp_path, batch=40, limits="limits: {max_records: 9}\n"):
        await start(link)
        await every_writer(link.office, tmp_path)
        await link.drain()
        assert link.shipper._max_records <= 9
        assert link.central() == link.local()


async def test_the_ministrys_answers_are_recorded_at_the_office_and_confirmed(link: Link) -> None:
    await start(link)
    with link.hub_engine.begin() as conn:
        conn.execute(insert(HubAnswer), [{"site_code": "62.12", "office_id": "mura", "incident_local_id": 1,
                                          "status": "replacement_approved", "note": "dikirim minggu ini",
                                          "answered_by": "Ditjen Dukcapil",
                                          "answered_at": datetime(2026, 12, 3, 2, tzinfo=UTC)}])
    await link.shipper.step()                                      # the status goes: the answer comes back
    [row] = link.office.db.call(lambda s: s.scalars(select(HubAnswerRow)).all())
    assert (row.site_id, row.incident_id, row.status, row.confirmed) == ("mura", 1, "replacement_approved", False)
    assert link.office.db.call(link_info).answers_unconfirmed == 1
    await link.shipper.step()                                      # it confirms what it recorded
    assert link.office.db.call(lambda s: s.scalars(select(HubAnswerRow.confirmed)).all()) == [True]
    with link.hub_engine.connect() as conn:
        assert conn.execute(select(HubAnswer.delivered_at)).scalar() is not None
    assert await link.shipper.step() is None                       # nothing left to say


async def test_the_drain_is_paced_while_catching_up(hub_engine: Engine, tmp_path: Path) -> None:
    async for link in _link(hub_engine, tmp_path, batch=20):
        await every_writer(link.office, tmp_path)
        await start(link)
        link.shipper.hub = link.shipper.hub.model_copy(update={"drain_rate": 50})
        pace = await link.shipper.step()
        assert pace is not None and 0.2 <= pace <= 0.4           # 20 records at 50/s, minus the time it took

