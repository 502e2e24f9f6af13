"""Device states are written when their essentials change, otherwise at most every PERSIST_EVERY, and all
deferred states on a clean stop (issue 8: rewriting every state on every result did not scale)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from monitor.daemon.pipeline import PERSIST_EVERY
from monitor.domain import Status
from monitor.storage.models import DeviceStateRow

from .conftest import SRV, UPS, Office, ups_result


def state_row(office: Office, ref: Any) -> DeviceStateRow:
    dev_id = office.recorder.ids[ref]
    row = office.db.call(lambda s: s.scalars(select(DeviceStateRow).where(DeviceStateRow.device_id == dev_id)).one())
    assert row is not None
    return row


async def test_unchanged_states_are_written_at_most_every_few_minutes(office: Office) -> None:
    await office.feed(SRV, Status.UP, 0)
    first = state_row(office, SRV)
    assert first.status == "up"
    await office.feed(SRV, Status.UP, 1)                       # nothing essential changed: deferred
    assert state_row(office, SRV).last_check_at == first.last_check_at
    assert office.pipeline is not None and office.pipeline.counters["states_deferred"] >= 1
    await office.feed(SRV, Status.DOWN, 2)                     # a pending failure: written at once
    assert state_row(office, SRV).last_check_at == office.at(2)
    await office.feed(SRV, Status.UP, 3)                       # streak broken: written
    later = 3 + PERSIST_EVERY.total_seconds() / 60
    await office.feed(SRV, Status.UP, later - 1)               # within the period: deferred
    assert state_row(office, SRV).last_check_at == office.at(3)
    await office.feed(SRV, Status.UP, later)                   # the period is over: written
    assert state_row(office, SRV).last_check_at == office.at(later)


async def test_new_metrics_wait_but_a_condition_is_written_at_once_and_stop_flushes(office: Office) -> None:
    await office.feed(UPS, Status.UP, 0)
    assert office.pipeline is not None
    office.pipeline.submit_result(UPS, ups_result(Status.UP, office.at(1), **{"battery.charge": 90}))
    office.clock.set(office.at(1))
    await office.pipeline.drain()
    assert "battery.charge" not in str(state_row(office, UPS).metrics)   # only the metrics changed: deferred
    await office.stop()                                                 # a clean stop writes it
    assert state_row(office, UPS).metrics["snmp:ups-rfc1628"]["battery.charge"] == 90


async def test_listeners_are_told_after_a_batch_with_events_is_written(office: Office) -> None:
    assert office.pipeline is not None
    told: list[int] = []
    office.pipeline.on_written = lambda: told.append(len(office.events()))
    await office.feed(SRV, Status.UP, 0)                        # first result: up at once (a status change)
    after_first = list(told)
    await office.feed(SRV, Status.UP, 1)                        # nothing new: nobody is woken
    assert told == after_first
    for minute in (2, 3, 4):                                     # confirmed down: an outage opens
        await office.feed(SRV, Status.DOWN, minute)
    assert len(told) > len(after_first)
    assert told[-1] == len(office.events())                     # told after the events were committed
