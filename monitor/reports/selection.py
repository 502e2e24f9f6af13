"""Which rows the PDF lists in full (pure): a bad week stays a document a head of office reads, not 40
pages of rows. The HTML file and the CSV list everything (see "Detail in the PDF" in
monitor/reports/figures.py)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from monitor.domain import Cause
from monitor.reports.availability import DeviceFigures
from monitor.reports.data import DeviceInfo
from monitor.reports.figures import (
    ACK_DETAIL_LIMIT,
    DETAIL_LIMIT,
    DEVICE_LIMIT,
    Failure,
    IncidentAck,
    OutageLine,
    ReportFigures,
    count_causes,
)


@dataclass(frozen=True, slots=True)
class OutageGroup:
    """Outages of one device left out of the PDF's detailed list, summed up."""

    device: DeviceInfo
    count: int
    downtime_s: float
    causes: tuple[tuple[Cause, int], ...]


def outage_detail(fig: ReportFigures, limit: int | None = DETAIL_LIMIT
                  ) -> tuple[tuple[OutageLine, ...], tuple[OutageGroup, ...]]:
    """(outages listed in full, in time order; the others summed up per device) — see "Detail in the PDF"."""
    lines = fig.outages
    if limit is None or len(lines) <= limit:
        return lines, ()
    central_devices = {a.device.id for a in fig.central_actions if a.device is not None}

    def weight(x: OutageLine) -> tuple[int, int, float, float]:
        return (0 if x.open_at_end else 1, 0 if x.device.id in central_devices or x.central else 1,
                -x.downtime_s, x.start.timestamp())

    chosen = set(id(x) for x in sorted(lines, key=weight)[:limit])
    shown = tuple(x for x in lines if id(x) in chosen)
    rest: dict[str, list[OutageLine]] = defaultdict(list)
    for x in lines:
        if id(x) not in chosen:
            rest[x.device.id].append(x)
    groups = [OutageGroup(xs[0].device, len(xs), sum(x.downtime_s for x in xs),
                          count_causes(Failure(x.device.id, x.start, x.end, x.cause) for x in xs))
              for xs in rest.values()]
    groups.sort(key=lambda g: (-g.downtime_s, g.device.name))
    return shown, tuple(groups)


@dataclass(frozen=True, slots=True)
class AckStats:
    incidents: int
    acknowledged: int
    mean_s: float | None
    median_s: float | None
    slowest_s: float | None


def ack_stats(acks: Sequence[IncidentAck]) -> AckStats:
    times = sorted(t for a in acks if (t := a.time_to_ack_s) is not None)
    n = len(times)
    median = None if not n else (times[n // 2] if n % 2 else (times[n // 2 - 1] + times[n // 2]) / 2)
    return AckStats(len(acks), n, sum(times) / n if n else None, median, times[-1] if n else None)


def device_detail(devices: Sequence[DeviceFigures], limit: int | None = DEVICE_LIMIT) -> tuple[DeviceFigures, ...]:
    """The per-device rows for the PDF: all of them (in report order) up to ``limit``; beyond it the ``limit``
    devices with the most down + degraded time, in report order."""
    if limit is None or len(devices) <= limit:
        return tuple(devices)
    ranked = sorted(range(len(devices)), key=lambda i: -(devices[i].availability.down_s
                                                         + devices[i].availability.degraded_s))[:limit]
    return tuple(devices[i] for i in sorted(ranked))


def ack_detail(acks: Sequence[IncidentAck], limit: int | None = ACK_DETAIL_LIMIT) -> tuple[IncidentAck, ...]:
    """Acknowledgements listed in the PDF: all when few; else those with notes, the unacknowledged and the
    slowest, up to ``limit``, in time order."""
    if limit is None or len(acks) <= limit:
        return tuple(acks)
    ranked = sorted(acks, key=lambda a: (0 if any(n.note for n in a.notes) else 1,
                                         0 if a.acknowledged_at is None else 1, -(a.time_to_ack_s or 0.0)))
    keep = set(id(a) for a in ranked[:limit])
    return tuple(a for a in acks if id(a) in keep)
