"""Keep the ``sites`` and ``devices`` tables in step with the config.

Rows are never deleted: a device removed from the config is marked inactive so its outage history
stays readable in reports. :func:`sync_inventory` returns the mapping every writer needs from a
:class:`monitor.domain.DeviceRef` to the database id.

A row is written only when something in it changed (``updated_at`` then moves): every change of the
inventory is a change of the record, shipped to the hub (``monitor/storage/feed.py``), and a restart
that changes nothing must not re-send every site and device.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.domain import DeviceRef
from monitor.settings import Settings
from monitor.storage.models import DeviceRow, SiteRow


def _assign(row: Any, now: datetime, **values: Any) -> None:
    """Set ``values`` on ``row``; move ``updated_at`` only when one of them differs."""
    changed = False
    for name, value in values.items():
        if getattr(row, name, None) != value:
            setattr(row, name, value)
            changed = True
    if changed or getattr(row, "updated_at", None) is None:
        row.updated_at = now


def sync_inventory(session: Session, settings: Settings, now: datetime) -> dict[DeviceRef, int]:
    """Upsert sites and devices from ``settings``; returns DeviceRef -> devices.id for active devices."""
    sites = {row.id: row for row in session.scalars(select(SiteRow))}
    seen_sites: set[str] = set()
    for site in settings.sites:
        seen_sites.add(site.id)
        row = sites.get(site.id)
        if row is None:
            row = SiteRow(id=site.id)
            session.add(row)
        _assign(row, now, name=site.name, timezone=site.timezone, code=site.code, province=site.province,
                active=True)
    for site_id, row in sites.items():
        if site_id not in seen_sites and row.active:
            _assign(row, now, active=False)
    session.flush()

    devices = {(row.site_id, row.key): row for row in session.scalars(select(DeviceRow))}
    mapping: dict[DeviceRef, int] = {}
    seen: set[tuple[str, str]] = set()
    for site, dev in settings.iter_devices():
        key = (site.id, dev.id)
        seen.add(key)
        drow = devices.get(key)
        if drow is None:
            drow = DeviceRow(site_id=site.id, key=dev.id, added_at=now)
            session.add(drow)
        _assign(drow, now, name=dev.name, kind=dev.kind.value, address=dev.address, installed=dev.installed,
                funding=dev.funding, model=dev.model, active=True)
    for key, drow in devices.items():
        if key not in seen and drow.active:
            _assign(drow, now, active=False)
    session.flush()
    for site, dev in settings.iter_devices():
        mapping[DeviceRef(site.id, dev.id)] = devices[(site.id, dev.id)].id if (site.id, dev.id) in devices \
            else session.scalars(select(DeviceRow.id).where(DeviceRow.site_id == site.id,
                                                              DeviceRow.key == dev.id)).one()
    return mapping


def device_refs(session: Session) -> dict[int, DeviceRef]:
    """devices.id -> DeviceRef for every device ever recorded (active or not)."""
    return {row.id: DeviceRef(row.site_id, row.key) for row in session.scalars(select(DeviceRow))}
