"""The central record read back: an office's canonical dump, and the national outage list.

:func:`canonical_dump` gives, for one office, exactly the form :func:`monitor.storage.feed.canonical_dump`
gives at the office — {(entity, site code, local id): snapshot} — so "the hub holds the office's record"
is one equality (tests and ``bench/`` use it). :func:`outages` gives ``hub outages --json``: the fields of
the office's ``outages --json`` plus ``office`` and ``site_code``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, select

from monitor.clock import format_local
from monitor.domain import jsonable
from monitor.hub import entities
from monitor.hub.models import HubDevice, HubOutage, HubSite, table_of


def canonical_dump(conn: Connection, office_id: str) -> dict[tuple[str, str | None, str], dict[str, Any]]:
    """Every central row of ``office_id`` as the office's snapshot, by (entity, site code, local id)."""
    out: dict[tuple[str, str | None, str], dict[str, Any]] = {}
    for entity in entities.ENTITIES:
        table = entity.table
        for row in conn.execute(select(table).where(table.c.office_id == office_id)).mappings():
            snap = entities.to_snapshot(entity, row)
            code = row["site_code"] if entity.scope == "site" else None
            out[(entity.name, code, str(row["local_id"]))] = snap
    return out


def outages(conn: Connection, *, open_only: bool = False, since: datetime | None = None,
            office: str | None = None, site_code: str | None = None,
            now: datetime) -> list[dict[str, Any]]:
    """Outages of every office (or one office / one site code and those inside it), oldest first."""
    o, d, s = table_of(HubOutage), table_of(HubDevice), table_of(HubSite)
    stmt = (select(o, d.c.name.label("device_name"), d.c.kind.label("device_kind"), s.c.timezone.label("zone"))
            .outerjoin(d, (d.c.site_code == o.c.site_code) & (d.c.device_key == o.c.device_key))
            .outerjoin(s, s.c.site_code == o.c.site_code)
            .order_by(o.c.started_at, o.c.office_id, o.c.local_id))
    if open_only:
        stmt = stmt.where(o.c.ended_at.is_(None))
    if since is not None:
        stmt = stmt.where(o.c.started_at >= since)
    if office is not None:
        stmt = stmt.where(o.c.office_id == office)
    if site_code is not None:
        stmt = stmt.where((o.c.site_code == site_code) | o.c.site_code.like(site_code + ".%"))
    rows = []
    for r in conn.execute(stmt).mappings():
        zone = r["zone"] or "Asia/Jakarta"
        end = r["ended_at"]
        duration = ((end or now) - r["started_at"]).total_seconds()
        gaps = list(r["gaps"] or [])
        rows.append({
            "id": r["local_id"], "site": r["site_local_id"], "device": r["device_key"],
            "device_name": r["device_name"] or r["device_key"], "kind": r["device_kind"],
            "start": _z(r["started_at"]), "end": _z(end) if end else None,
            "duration_s": round(max(duration, 0.0), 3), "open": end is None, "status": r["status"],
            "cause": r["cause"], "evidence": list(r["evidence"] or []), "reason": r["reason"],
            "planned": r["planned"], "incident": r["incident_local_id"],
            "confirmed_at": _z(r["confirmed_at"]) if r["confirmed_at"] else None, "gaps": gaps,
            "gap_s": round(sum(float(g.get("duration_s", 0.0)) for g in gaps), 3),  # as the office's list
            "timeline": list(r["timeline"] or []),
            "start_local": format_local(r["started_at"], zone, "%d-%m-%Y %H:%M:%S"),
            "end_local": format_local(end, zone, "%d-%m-%Y %H:%M:%S") if end else None,
            "zone": zone, "office": r["office_id"], "site_code": r["site_code"]})
    return rows


def _z(t: datetime) -> Any:
    """The office's ``outages --json`` time form (``jsonable``: ISO UTC ending in ``Z``)."""
    return jsonable(t.astimezone(UTC))
