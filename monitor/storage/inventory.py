"""Keep the ``sites`` and ``devices`` tables in step with the config.

Rows are never deleted: a device removed from the config is marked inactive so its outage history
stays readable in reports. :func:`sync_inventory` returns the mapping every writer needs from a
:class:`monitor.domain.DeviceRef` to the database id.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.domain import DeviceRef
from monitor.settings import Settings
from monitor.storage.models import DeviceRow, SiteRow


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
        row.name, row.timezone, row.active, row.updated_at = site.name, site.timezone, True, now
    for site_id, row in sites.items():
        if site_id not in seen_sites and row.active:
            row.active, row.updated_at = False, now
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
        drow.name, drow.kind, drow.address = dev.name, dev.kind.value, dev.address
        drow.installed, drow.active, drow.updated_at = dev.installed, True, now
    for key, drow in devices.items():
        if key not in seen and drow.active:
            drow.active, drow.updated_at = False, now
    session.flush()
    for site, dev in settings.iter_devices():
        mapping[DeviceRef(site.id, dev.id)] = devices[(site.id, dev.id)].id if (site.id, dev.id) in devices \
            else session.scalars(select(DeviceRow.id).where(DeviceRow.site_id == site.id,
                                                              DeviceRow.key == dev.id)).one()
    return mapping


def device_refs(session: Session) -> dict[int, DeviceRef]:
    """devices.id -> DeviceRef for every device ever recorded (active or not)."""
    return {row.id: DeviceRef(row.site_id, row.key) for row in session.scalars(select(DeviceRow))}
