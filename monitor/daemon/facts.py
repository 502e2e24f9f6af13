"""Evidence as physical events, written into the record (a part of :class:`monitor.daemon.recorder.Recorder`).

* **One event, one fact.** A trap and the poll it triggered that report the same thing of the same device
  within :data:`~monitor.engine.causes.FACT_WINDOW` (with no opposite fact in between) are one evidence row
  whose ``source`` names both (``poll+trap``); no second row, no second message, no second count.
* **Power back is a reading, not a status.** An ``on_mains`` fact is recorded only when the UPS's input voltage
  is in its mains band, or the UPS reports on line with a plausible voltage
  (:func:`~monitor.engine.causes.power_restored`): a UPS whose battery ran out leaves battery mode at 0 V. And
  when a UPS the record still has on battery is polled with its voltage back, the poll records the power
  coming back even though no status change said so (battery → off → on line).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.clock import utc
from monitor.domain import DeviceKind, DeviceRef, Observation, ObservationKind, jsonable
from monitor.engine.causes import FACT_WINDOW, OPPOSITES, power_restored, sources_of
from monitor.engine.state import DeviceState, World
from monitor.storage.models import EvidenceRow

if TYPE_CHECKING:
    from monitor.daemon.recorder import Batch, NewObservation

log = logging.getLogger("monitor.daemon.recorder")

_K = ObservationKind
EPISODE_POWER_KINDS = frozenset({_K.ON_BATTERY.value, _K.LOW_BATTERY.value, _K.ON_MAINS.value})


def flat_metrics(state: DeviceState | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if state is not None:
        for _check, metrics in sorted(state.metrics.items()):
            out.update(jsonable(dict(metrics)))
    return out


class Facts:
    """The evidence rules above, for one configuration (devices, their database ids)."""

    def __init__(self, devices: Mapping[DeviceRef, Any], ids: Mapping[DeviceRef, int]) -> None:
        self.devices = devices
        self.ids = ids
        self._battery: dict[int, bool] = {}   # devices.id -> the record says "on battery" now (a cache)

    def band(self, ref: DeviceRef) -> tuple[float, float]:
        dev = self.devices.get(ref)
        pq = dev.power_quality if dev is not None else None
        return (pq.input_voltage_min, pq.input_voltage_max) if pq is not None else (198.0, 242.0)

    @staticmethod
    def _voltage(values: Mapping[str, Any]) -> float | None:
        for key in ("input_voltage", "input.voltage"):
            v = values.get(key)
            if isinstance(v, int | float) and not isinstance(v, bool):
                return float(v)
        return None

    def power_back(self, ref: DeviceRef, o: Observation, world: World) -> Observation | None:
        """An ``on_mains`` observation only when the power is really back (:func:`power_restored`): its own
        input voltage, else the UPS's latest reading, in band. Else None: not recorded."""
        metrics = flat_metrics(world.get(ref))
        voltage = self._voltage(o.values)
        if voltage is None and o.source == "poll":
            voltage = self._voltage(metrics)
        status = metrics.get("ups.status")
        if voltage is None or not power_restored(voltage, status if isinstance(status, str) else None,
                                                 self.band(ref)):
            log.info("%s: %s without mains voltage in band (%s V): not recorded as power back", ref, o.source,
                     voltage)
            return None
        return o if self._voltage(o.values) is not None else Observation(
            o.time, o.kind, o.text, o.source, {**o.values, "input_voltage": voltage})

    def _on_battery_now(self, session: Session, dev_id: int) -> bool:
        """Does the record hold an on-battery episode of this UPS with no power back since?"""
        if dev_id not in self._battery:
            last = session.scalars(select(EvidenceRow.kind).where(
                EvidenceRow.device_id == dev_id, EvidenceRow.kind.in_(sorted(EPISODE_POWER_KINDS)))
                .order_by(EvidenceRow.time.desc(), EvidenceRow.id.desc()).limit(1)).first()
            self._battery[dev_id] = last is not None and last != _K.ON_MAINS.value
        return self._battery[dev_id]

    def mains_from_polls(self, session: Session, batch: Batch) -> list[NewObservation]:
        """Power back seen by a poll: a UPS whose record says "on battery" now reads its input voltage in band
        (the UPS may have gone from battery to off and then to on line, which no status change reports)."""
        from monitor.daemon.recorder import NewObservation  # the recorder's type; it imports this module

        out: list[NewObservation] = []
        told = {(n.ref, n.observation.kind) for n in batch.observations}
        for ref, result in batch.samples:
            dev = self.devices.get(ref)
            dev_id = self.ids.get(ref)
            if dev is None or dev.kind is not DeviceKind.UPS or dev_id is None or (ref, _K.ON_MAINS) in told:
                continue
            voltage = self._voltage(result.metrics)
            status = result.metrics.get("ups.status")
            if not power_restored(voltage, status if isinstance(status, str) else None, self.band(ref)):
                continue
            if self._on_battery_now(session, dev_id):
                out.append(NewObservation(ref, Observation(result.time, _K.ON_MAINS,
                                                           f"mains power back ({voltage:g} V on the input)", "poll",
                                                           {"input_voltage": voltage or 0.0}), notable=False))
                told.add((ref, _K.ON_MAINS))
        return out

    def _same_event(self, session: Session, dev_id: int | None, o: Observation) -> EvidenceRow | None:
        """The row of this very event already recorded by another source (a trap, then the poll it triggered),
        within :data:`~monitor.engine.causes.FACT_WINDOW` and with no opposite fact in between."""
        if dev_id is None:
            return None
        t = utc(o.time)
        kinds = [o.kind.value, OPPOSITES.get(o.kind.value, o.kind.value)]
        rows = list(session.scalars(select(EvidenceRow).where(
            EvidenceRow.device_id == dev_id, EvidenceRow.time >= t - FACT_WINDOW, EvidenceRow.time <= t + FACT_WINDOW,
            EvidenceRow.kind.in_(kinds)).order_by(EvidenceRow.time)))
        same = [r for r in rows if r.kind == o.kind.value and o.source not in sources_of(r.source)]
        if not same:
            return None
        row = same[-1]
        between = [r for r in rows if r.kind != o.kind.value and min(row.time, t) <= r.time <= max(row.time, t)]
        return None if between else row

    def merged(self, session: Session, dev_id: int | None, o: Observation) -> bool:
        """Merge ``o`` into the row of the same event seen by another source; True when it was merged."""
        if o.kind.value in EPISODE_POWER_KINDS and dev_id is not None:
            self._battery[dev_id] = o.kind is not _K.ON_MAINS
        earlier = self._same_event(session, dev_id, o)
        if earlier is None:
            return False
        earlier.source = "+".join(sorted(sources_of(earlier.source) | {o.source}))
        earlier.values = {**jsonable(dict(o.values)), **dict(earlier.values or {})}
        earlier.time = min(earlier.time, utc(o.time))
        return True
