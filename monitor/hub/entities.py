"""How an office's snapshot becomes a central row, and how a central row reads back as that snapshot.

The office's feed (``monitor/storage/feed.py``) sends, per entity, every column of the row plus ``site``
(the office's site id) and ``device`` (a device's key). The central tables (``monitor/hub/models.py``)
store every one of those fields once:

* the office's ids are renamed: ``id`` -> ``local_id``, ``site``/``site_id`` -> ``site_local_id``,
  ``device_id`` -> ``device_local_id``, ``incident_id`` -> ``incident_local_id``, ``device``/``key`` ->
  ``device_key``;
* fields that always repeat another (``site_id`` and ``site``; a site's ``code`` and its ``site_code``)
  are stored once and given back as :attr:`CentralEntity.aliases`;
* times become ``timestamptz`` and come back in the snapshot's ``…Z`` form; JSON stays JSON.

:func:`to_row` refuses a snapshot with an unknown or missing field (the shapes disagree: the hub answers
422), so a column added at the office without its central column is caught by the first test that ships
it. :func:`to_snapshot` is the inverse; ``tests/hub`` prove ``to_snapshot(to_row(s)) == s`` for every
entity through the canonical dump of both sides.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import DateTime, RowMapping, Table

from monitor.hub.models import (
    HubAcknowledgement,
    HubBase,
    HubDevice,
    HubEvidence,
    HubIncident,
    HubMaintenance,
    HubMonitorGap,
    HubOutage,
    HubReportRun,
    HubSite,
    table_of,
)
from monitor.storage.feed import iso

META = frozenset({"site_code", "office_id", "version", "received_at"})
"""Central columns that are not snapshot fields."""


class ShapeError(ValueError):
    """A snapshot that does not fit its central table (unknown entity, unknown or missing field)."""


@dataclass(frozen=True)
class CentralEntity:
    name: str
    model: type[HubBase]
    scope: Literal["site", "office"]
    renames: Mapping[str, str]
    """snapshot field -> central column (fields not named keep their name)."""
    aliases: Mapping[str, str] = field(default_factory=dict)
    """snapshot field -> central column whose value it always equals (stored once)."""

    @property
    def table(self) -> Table:
        return table_of(self.model)

    @property
    def key(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.table.primary_key.columns)

    def columns(self) -> dict[str, str]:
        """snapshot field -> central column, for every stored field."""
        back = {v: k for k, v in self.renames.items()}
        return {back.get(c.name, c.name): c.name for c in self.table.columns if c.name not in META}


_IDS = {"id": "local_id", "device_id": "device_local_id", "incident_id": "incident_local_id", "device": "device_key"}
_WITH_SITE_ID = {**_IDS, "site_id": "site_local_id"}

ENTITIES: tuple[CentralEntity, ...] = (
    CentralEntity("site", HubSite, "site", {"id": "local_id"}, {"site": "local_id", "code": "site_code"}),
    CentralEntity("device", HubDevice, "site", {**_WITH_SITE_ID, "key": "device_key"}, {"site": "site_local_id"}),
    CentralEntity("incident", HubIncident, "site", _WITH_SITE_ID, {"site": "site_local_id"}),
    CentralEntity("outage", HubOutage, "site", {**_IDS, "site": "site_local_id"}),
    CentralEntity("evidence", HubEvidence, "site", _WITH_SITE_ID, {"site": "site_local_id"}),
    CentralEntity("acknowledgement", HubAcknowledgement, "site", {**_IDS, "site": "site_local_id"}),
    CentralEntity("maintenance", HubMaintenance, "site", _WITH_SITE_ID, {"site": "site_local_id"}),
    CentralEntity("monitor_gap", HubMonitorGap, "office", {"id": "local_id"}),
    CentralEntity("report_run", HubReportRun, "site", _WITH_SITE_ID, {"site": "site_local_id"}),
)
BY_NAME: dict[str, CentralEntity] = {e.name: e for e in ENTITIES}


def parse_time(value: Any) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ShapeError(f"expected a time, got {value!r}")
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ShapeError(f"not an ISO time: {value!r}") from None
    if t.tzinfo is None:
        raise ShapeError(f"a time without zone: {value!r}")
    return t.astimezone(UTC)


def _is_time(table: Table, column: str) -> bool:
    return isinstance(table.c[column].type, DateTime)


def to_row(entity: CentralEntity, snapshot: Mapping[str, Any], *, office_id: str, site_code: str | None,
           version: int, received_at: datetime) -> dict[str, Any]:
    """The central row for ``snapshot`` (raises :class:`ShapeError` when it does not fit)."""
    table = entity.table
    columns = entity.columns()
    row: dict[str, Any] = {"office_id": office_id, "version": version, "received_at": received_at}
    if entity.scope == "site":
        if site_code is None:
            raise ShapeError(f"{entity.name} record without a site code")
        row["site_code"] = site_code
    for name, value in snapshot.items():
        if name in entity.aliases:
            continue
        column = columns.get(name)
        if column is None:
            raise ShapeError(f"{entity.name}: unknown field {name!r}")
        row[column] = parse_time(value) if _is_time(table, column) else value
    missing = [f for f, c in columns.items() if c not in row and not table.c[c].nullable]
    if missing:
        raise ShapeError(f"{entity.name}: missing field(s) {', '.join(sorted(missing))}")
    for c in columns.values():
        row.setdefault(c, None)
    for name, column in entity.aliases.items():
        if name in snapshot and snapshot[name] != (iso(row[column]) if _is_time(table, column) else row[column]):
            raise ShapeError(f"{entity.name}: {name}={snapshot[name]!r} disagrees with {column}={row[column]!r}")
    return row


def to_snapshot(entity: CentralEntity, row: Mapping[str, Any] | RowMapping) -> dict[str, Any]:
    """The office's snapshot of a central row (the inverse of :func:`to_row`)."""
    out: dict[str, Any] = {}
    for name, column in (*entity.columns().items(), *entity.aliases.items()):
        value = row[column]
        out[name] = iso(value) if isinstance(value, datetime) else value
    return out
