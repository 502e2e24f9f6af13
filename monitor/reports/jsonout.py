"""The report's figures for machines (``report --format json``): one JSON object per report.

Per site, service and device: the seconds in each part of the coverage model (``up``, ``degraded``,
``down`` — with ``down_by_cause`` and the ``unreachable`` share —, ``maintenance``, ``unknown``,
``not_running``, ``not_yet_monitored``, ``future``), the monitored seconds and the availability (a ratio
0–1, ``null`` when nothing was monitored); the parts of each sum to ``period_s``. Times are ISO 8601 UTC
(``…Z``): this file is for programs; people read the PDF, HTML and CSV. Shape::

    {"schema": 1, "site": {"id", "name", "timezone"}, "period": {"label", "kind", "start", "end", "seconds"},
     "now", "monitor": {"running", "known_until", "monitoring_since"},
     "figures": {...parts...}, "services": [{"id", "name", "rule", ...parts...}],
     "devices": [{"id", "name", "kind", "in_config", ...parts...}],
     "outages": [{"id", "device", "start", "end", "open_at_end", "status", "cause", "in_period_s", "downtime_s",
                  "maintenance_s", "not_monitored_s", "incident"}]}
"""

from __future__ import annotations

import json
from typing import Any

from monitor.domain import jsonable
from monitor.reports.availability import Availability
from monitor.reports.figures import ReportFigures

SCHEMA = 1


def _parts(a: Availability) -> dict[str, Any]:
    return a.parts.to_json()


def figures_json(fig: ReportFigures) -> dict[str, Any]:
    cur = fig.current
    return {
        "schema": SCHEMA,
        "site": {"id": fig.site.id, "name": fig.site.name, "timezone": fig.site.timezone},
        "period": {"label": fig.period.label, "kind": fig.period.kind, "start": jsonable(fig.period.start),
                   "end": jsonable(fig.period.end), "seconds": fig.period.seconds},
        "now": jsonable(fig.now),
        "monitor": {"running": fig.running, "known_until": jsonable(fig.record_end),
                    "monitoring_since": jsonable(fig.monitoring_began) if fig.monitoring_began else None},
        "figures": _parts(cur.site),
        "services": [{"id": s.id, "name": s.name, "rule": s.up_when, **_parts(s.availability)} for s in cur.services],
        "devices": [{"id": d.device.id, "name": d.device.name, "kind": d.device.kind, "in_config": d.device.in_config,
                     **_parts(d.availability)} for d in cur.devices],
        "outages": [{"id": x.outage.id, "device": x.device.id, "start": jsonable(x.start),
                     "end": jsonable(x.end) if x.end else None, "open_at_end": x.open_at_end,
                     "status": x.outage.status.value, "cause": x.cause.value, "in_period_s": round(x.in_period_s, 3),
                     "downtime_s": round(x.downtime_s, 3), "maintenance_s": round(x.maintenance_s, 3),
                     "not_monitored_s": round(x.unmonitored_s, 3), "incident": x.outage.incident_id}
                    for x in fig.outages],
    }


def report_json(fig: ReportFigures) -> bytes:
    return (json.dumps(figures_json(fig), ensure_ascii=False, indent=1) + "\n").encode("utf-8")
