"""Evidence is true (issue 12, Deliver 2), through the real pipeline and recorder on a real database:

* one physical event is one fact: a trap and the poll it triggered saying the same thing are one evidence row
  naming both sources (and one line, one count, in every text built from it);
* "power back" needs the mains voltage in band (or the UPS on line with a plausible voltage): a UPS whose
  battery ran out leaves battery mode at 0 V — that is not the power coming back — and a poll that reads the
  voltage back records it even when no status change says so.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select

from monitor.domain import CheckResult, Observation, ObservationKind, ReasonCode, Status
from monitor.engine.causes import merge_facts, power_restored
from monitor.storage.models import EvidenceRow

from .conftest import CHECK, UPS, Office

K = ObservationKind


def ups(status: Status, t: datetime, observations: tuple[tuple[ObservationKind, dict[str, Any]], ...] = (),
        **metrics: Any) -> CheckResult:
    obs = tuple(Observation(time=t, kind=k, text=k.value.replace("_", " "), values=v) for k, v in observations)
    return CheckResult(check=CHECK[UPS], type="snmp", status=status, time=t,
                       reason=None if status is Status.UP else "condition",
                       reason_code=None if status is Status.UP else ReasonCode.CONDITION, observations=obs,
                       metrics=metrics)


def evidence(office: Office) -> list[tuple[str, str, dict[str, Any]]]:
    rows = office.db.call(lambda s: list(s.scalars(select(EvidenceRow).order_by(EvidenceRow.time, EvidenceRow.id))))
    return [(r.kind, r.source, dict(r.values or {})) for r in rows]


async def poll(office: Office, result: CheckResult) -> None:
    assert office.pipeline is not None
    office.clock._now = max(office.clock.now(), result.time)
    office.pipeline.submit_result(UPS, result)
    await office.pipeline.drain()


async def test_a_trap_and_the_poll_after_it_are_one_fact(office: Office) -> None:
    await office.trap(UPS, K.ON_BATTERY, 0)
    await poll(office, ups(Status.DEGRADED, office.at(0.3), ((K.ON_BATTERY, {"charge": 100, "input_voltage": 0}),),
                           **{"ups.status": "OB", "input.voltage": 0}))
    assert evidence(office) == [("on_battery", "poll+trap", {"charge": 100, "input_voltage": 0})]
    # a second trap a while later, after power came back in between, is a new event
    await poll(office, ups(Status.UP, office.at(2), **{"ups.status": "OL", "input.voltage": 220}))
    await office.trap(UPS, K.ON_BATTERY, 2.2)
    assert [(k, s) for k, s, _ in evidence(office)] == [("on_battery", "poll+trap"), ("on_mains", "poll"),
                                                        ("on_battery", "trap")]


async def test_power_back_needs_the_mains_voltage(office: Office) -> None:
    await poll(office, ups(Status.DEGRADED, office.at(0), ((K.ON_BATTERY, {"input_voltage": 0}),),
                           **{"ups.status": "OB", "input.voltage": 0}))
    # the battery runs out: the UPS leaves battery mode with nothing on its input — not "power back"
    await poll(office, ups(Status.DOWN, office.at(3), ((K.ON_MAINS, {"input_voltage": 0}),),
                           **{"ups.status": "OFF", "input.voltage": 0}))
    await office.trap(UPS, K.ON_MAINS, 4)                       # a bare "power restored" trap: no voltage read
    assert [k for k, _, _ in evidence(office)] == ["on_battery"]
    # the next poll reads 221 V on the input, the UPS on line: now the power is back (no status change says so)
    await poll(office, ups(Status.UP, office.at(5), **{"ups.status": "OL", "input.voltage": 221}))
    assert evidence(office)[-1] == ("on_mains", "poll", {"input_voltage": 221.0})
    # and once back, further polls add nothing
    await poll(office, ups(Status.UP, office.at(6), **{"ups.status": "OL", "input.voltage": 222}))
    assert [k for k, _, _ in evidence(office)] == ["on_battery", "on_mains"]


def test_power_restored_rule() -> None:
    band = (198.0, 242.0)
    assert power_restored(221, None, band) and power_restored(198, "OB", band)
    assert not power_restored(0, "OL", band) and not power_restored(None, "OL", band)
    assert power_restored(185, "OL", band)                   # on line, low but plausible mains
    assert not power_restored(185, "OB", band) and not power_restored(60, "OL", band)


def test_merge_facts_keeps_two_sightings_by_one_source_apart() -> None:
    t = datetime(2026, 11, 23, 1, 0)
    items = [(t, "spd", "strike", "poll"), (t.replace(second=30), "spd", "strike", "poll"),
             (t, "spd-1", "spd_tripped", "trap"), (t.replace(second=1), "spd-1", "spd_tripped", "poll"),
             (t.replace(second=1), "spd-1", "spd_tripped", "poll")]      # an exact copy (incident + outage)
    merged = merge_facts(items, lambda x: x)
    assert [(i[1], i[2], s) for i, s in merged] == [("spd", "strike", "poll"), ("spd-1", "spd_tripped", "poll+trap"),
                                                    ("spd", "strike", "poll")]
