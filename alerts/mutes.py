"""Mutes, maintenance and inhibition: reasons not to send a message *now*.

Checked by the dispatcher when it claims a row, not only when the row is written (Alertmanager's
``MuteStage``): a mute set from Telegram, a maintenance window that began, or an incident that opened
during the group wait still applies to messages already queued. A muted row is kept as ``suppressed`` with
the reason (:func:`mute_check` returns it), never deleted.

Sources, one concept (Alertmanager's ``Muter``):

* **mutes** — rows in ``maintenance`` with kind ``mute``, per device or for a whole site (``device_id`` NULL),
  set with the "Bisukan" button or ``/mute``; ad-hoc maintenance rows (kind ``maintenance``) count the same;
* **maintenance windows** from the config (one-off or crontab in the site's zone, read through
  :mod:`monitor.engine.maintenance` like the engine does);
* **planned** — the payload says the outage is inside maintenance;
* **inhibition** — while an incident with cause power or lightning is open at a site, notes about power and
  surge facts at that site (UPS on battery, transfer, bad mains, abnormal voltage, reboot) are inhibited:
  the incident message already carries them as its evidence.

A row about an incident is muted only when *every* open device of it is muted (or the site is). A recovery
is never muted once something about the incident reached that audience (they must hear it ended). Deliveries
about the delivery itself (digests, reports, broken receivers, the daily line, monitor gaps) are never muted,
nor the notes telling the IT staff that someone muted, unmuted, set maintenance or acknowledged from the
command line (kind ``operator``: a mute must never hide that it was set).

Whether incident grouping merges a server that stopped answering with the UPS that went on battery seconds
before is the engine's call (``causes.incident_window``); the group wait and send-time rendering then make
them one message. A separate incident is never hidden: a server going down when the battery ran out is
news, not noise.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts.compose import INCIDENT_KINDS, incident_devices
from alerts.outbox import SENT
from monitor.clock import format_local
from monitor.domain import parse_duration
from monitor.engine.maintenance import Calendar
from monitor.storage.models import DeviceRow, IncidentRow, MaintenanceRow, OutageRow, OutboxRow

if TYPE_CHECKING:
    from alerts.outbox import MuteCheck
    from monitor.settings import Settings

NEVER_MUTED = frozenset({"digest", "group", "report", "receiver_broken", "receiver_restored", "alive",
                         "monitor_gap", "operator"})
INHIBITED_FACTS = frozenset({"on_battery", "transfer", "line_bad", "voltage_abnormal", "on_mains", "reboot",
                             "spd_tripped", "strike"})
INHIBITING_CAUSES = frozenset({"power", "lightning"})
MAX_MUTE = timedelta(days=7)


# ------------------------------------------------------------------------------------------------ writing


class TargetError(ValueError):
    """A mute or maintenance request that cannot be carried out: ``key`` names the phrase that explains it
    (``bot.no_device``, ``bot.no_site``, ``bot.ambiguous``, ``bot.bad_duration``, ...) in
    :mod:`alerts.messages`, ``values`` fill it in — so Telegram and the command line say the same thing."""

    def __init__(self, key: str, **values: object) -> None:
        super().__init__(f"{key}: {values}")
        self.key = key
        self.values = values


@dataclass(frozen=True, slots=True)
class WindowTarget:
    """What a mute or maintenance window covers: one device, or a whole site (``device_id`` None)."""

    site_id: str
    device_id: int | None
    device_name: str | None      # None for the whole site


def resolve_target(session: Session, settings: Settings, site_ids: Sequence[str], name: str) -> WindowTarget:
    """``device``, ``site/device`` or ``site/*`` among ``site_ids`` (the sites the asker may see); raises
    :class:`TargetError`. The one resolver of the Telegram commands and the command line."""
    if name.endswith("/*"):
        site_id = name[:-2]
        if site_id not in [s.id for s in settings.sites]:
            raise TargetError("bot.no_site", name=site_id, choices=", ".join(s.id for s in settings.sites))
        return WindowTarget(site_id, None, None)
    found = find_device(session, list(site_ids), name)
    if not found:
        choices = sorted(d.key for d in session.scalars(select(DeviceRow).where(
            DeviceRow.site_id.in_(list(site_ids)), DeviceRow.active.is_(True))))
        raise TargetError("bot.no_device", name=name, choices=", ".join(choices[:30]) or "—")
    if len(found) > 1:
        raise TargetError("bot.ambiguous", name=name, choices=", ".join(f"{d.site_id}/{d.key}" for d in found))
    return WindowTarget(found[0].site_id, found[0].id, found[0].name)


def window_duration(text: str) -> timedelta:
    """A mute's or maintenance window's length as typed (``30m``, ``2h``, ``1d``): more than nothing, at most
    :data:`MAX_MUTE`; raises :class:`TargetError` (``bot.bad_duration``)."""
    try:
        duration: timedelta | None = parse_duration(text)
    except ValueError:
        duration = None
    if duration is None or duration.total_seconds() <= 0 or duration > MAX_MUTE:
        raise TargetError("bot.bad_duration", value=text)
    return duration


def add_window(session: Session, *, kind: str, site_id: str, device_id: int | None, starts_at: datetime,
               ends_at: datetime, reason: str, by: str, now: datetime) -> MaintenanceRow:
    """Write one ad-hoc window (``kind`` ``mute``: alerts are held; ``maintenance``: outages starting in it are
    planned, see :mod:`monitor.engine.maintenance`). Every mute and ad-hoc maintenance row is written here."""
    if kind not in ("mute", "maintenance"):
        raise ValueError(f"unknown window kind {kind!r}")
    if ends_at <= max(starts_at, now):
        raise ValueError(f"a {kind} must end in the future")
    if ends_at - starts_at > MAX_MUTE:
        raise ValueError(f"a {kind} lasts at most 7 days; use a maintenance window in the config for longer")
    row = MaintenanceRow(site_id=site_id, device_id=device_id, kind=kind, starts_at=starts_at, ends_at=ends_at,
                         reason=reason, created_by=by[:200], created_at=now)
    session.add(row)
    session.flush()
    return row


def add_mute(session: Session, *, site_id: str, device_id: int | None, until: datetime, reason: str, by: str,
             now: datetime) -> MaintenanceRow:
    """Mute a device (or the whole site when ``device_id`` is None) until ``until``."""
    return add_window(session, kind="mute", site_id=site_id, device_id=device_id, starts_at=now, ends_at=until,
                      reason=reason, by=by, now=now)


def end_window(session: Session, row_id: int, now: datetime, *, kind: str | None = None) -> MaintenanceRow:
    """End an ad-hoc window now (one not begun yet is cancelled); raises :class:`TargetError`
    (``op.no_window``, ``op.window_over``)."""
    row = session.get(MaintenanceRow, row_id)
    if row is None or (kind is not None and row.kind != kind):
        raise TargetError("op.no_window", id=row_id)
    if row.cancelled_at is not None or row.ends_at <= now:
        raise TargetError("op.window_over", id=row_id)
    row.cancelled_at = now
    return row


def cancel_mutes(session: Session, *, site_id: str, device_id: int | None, now: datetime) -> int:
    """End the active mutes of a device (or the site-wide ones when ``device_id`` is None); returns how many."""
    rows = active_mutes(session, now, site_id=site_id)
    count = 0
    for row in rows:
        if row.kind == "mute" and row.device_id == device_id:
            row.cancelled_at = now
            count += 1
    return count


def active_mutes(session: Session, now: datetime, *, site_id: str | None = None) -> list[MaintenanceRow]:
    stmt = select(MaintenanceRow).where(MaintenanceRow.starts_at <= now, MaintenanceRow.ends_at > now,
                                        MaintenanceRow.cancelled_at.is_(None))
    if site_id is not None:
        stmt = stmt.where(MaintenanceRow.site_id == site_id)
    return list(session.scalars(stmt.order_by(MaintenanceRow.ends_at.desc())))


# ---------------------------------------------------------------------------------------------- checking


def _describe(row: MaintenanceRow, zone: str) -> str:
    what = "muted" if row.kind == "mute" else "maintenance"
    return f"{what} by {row.created_by} until {format_local(row.ends_at, zone)}: {row.reason}"


def _config_window(calendar: Calendar, site_id: str, device_keys: set[str], now: datetime) -> str | None:
    """A config maintenance window (one-off or crontab, via :mod:`monitor.engine.maintenance`) covering every
    device of the row — or the site, for a row without devices."""
    if not device_keys:
        windows = [w for w in calendar.active(site_id, "", now) if not w.devices]
    else:
        per_device = [calendar.active(site_id, key, now) for key in sorted(device_keys)]
        if not all(per_device):
            return None
        windows = per_device[0]
    if not windows:
        return None
    w = windows[0]
    return f"maintenance window ({w.source}) until {w.ends_at:%Y-%m-%d %H:%M}Z: {w.reason}"


def _row_devices(session: Session, row: OutboxRow) -> list[int]:
    ref = row.payload.get("refresh") if isinstance(row.payload.get("refresh"), dict) else None
    if ref and ref.get("incident_id") is not None:
        return incident_devices(session, int(ref["incident_id"]))
    if ref and ref.get("outage_id") is not None:
        o = session.get(OutageRow, int(ref["outage_id"]))
        return [o.device_id] if o else []
    keys = row.payload.get("devices") or []
    if not keys or row.site_id is None:
        return []
    return list(session.scalars(select(DeviceRow.id).where(DeviceRow.site_id == row.site_id,
                                                           DeviceRow.key.in_([str(k) for k in keys]))))


def _delivered_before(session: Session, row: OutboxRow) -> bool:
    if row.incident_id is None and row.group_key is None:
        return False
    stmt = select(OutboxRow.id).where(OutboxRow.audience == row.audience, OutboxRow.status == SENT,
                                      OutboxRow.kind.in_(INCIDENT_KINDS))
    stmt = stmt.where(OutboxRow.incident_id == row.incident_id) if row.incident_id is not None \
        else stmt.where(OutboxRow.group_key == row.group_key)
    return session.scalars(stmt.limit(1)).first() is not None


def _inhibited(session: Session, row: OutboxRow) -> str | None:
    kinds = {str(i.get("kind")) for i in row.payload.get("items", []) if isinstance(i, dict)}
    if not kinds or not kinds <= INHIBITED_FACTS or row.site_id is None:
        return None
    source = session.scalars(select(IncidentRow).where(
        IncidentRow.site_id == row.site_id, IncidentRow.ended_at.is_(None),
        IncidentRow.cause.in_(INHIBITING_CAUSES)).order_by(IncidentRow.started_at)).first()
    if source is None:
        return None
    return f"inhibited by open incident #{source.id} ({source.cause}): its message carries this evidence"


def mute_reason(session: Session, settings: Settings, row: OutboxRow, now: datetime, *,
                calendar: Calendar | None = None) -> str | None:
    """Why ``row`` must not be sent now, or None (see the module docstring)."""
    if row.kind in NEVER_MUTED:
        return None
    if row.payload.get("planned") and row.kind != "recovery":
        return "planned maintenance"
    if row.kind == "recovery":
        if _delivered_before(session, row):
            return None
        if row.payload.get("planned"):
            return "planned maintenance"
    if row.site_id is None:
        return None
    try:
        zone = settings.site(row.site_id).timezone
    except KeyError:
        zone = "Asia/Jakarta"
    device_ids = _row_devices(session, row)
    mutes = active_mutes(session, now, site_id=row.site_id)
    site_wide = next((m for m in mutes if m.device_id is None), None)
    if site_wide is not None:
        return _describe(site_wide, zone)
    if device_ids:
        covering = {m.device_id: m for m in reversed(mutes) if m.device_id is not None}
        if all(d in covering for d in device_ids):
            return _describe(covering[device_ids[0]], zone)
    keys = set(session.scalars(select(DeviceRow.key).where(DeviceRow.id.in_(device_ids)))) if device_ids else set()
    window = _config_window(calendar or Calendar(settings), row.site_id, keys, now)
    if window:
        return window
    if row.kind == "observation":
        return _inhibited(session, row)
    return None


def mute_check(settings: Settings) -> MuteCheck:
    """The dispatcher's ``mute_check`` for ``settings``."""
    calendar = Calendar(settings)

    def check(session: Session, row: OutboxRow, now: datetime) -> str | None:
        return mute_reason(session, settings, row, now, calendar=calendar)
    return check


def muted_devices(session: Session, site_id: str, now: datetime) -> dict[int | None, MaintenanceRow]:
    """Active mutes of a site by device id (None = site-wide), for /status."""
    return {m.device_id: m for m in reversed(active_mutes(session, now, site_id=site_id))}


def find_device(session: Session, site_ids: list[str], name: str) -> list[DeviceRow]:
    """Devices matching ``name`` (``device`` or ``site/device``) among ``site_ids``."""
    site, _, dev = name.rpartition("/")
    stmt = select(DeviceRow).where(DeviceRow.active.is_(True), DeviceRow.key == (dev if site else name))
    stmt = stmt.where(DeviceRow.site_id == site) if site else stmt.where(DeviceRow.site_id.in_(site_ids))
    return list(session.scalars(stmt))


__all__ = ["TargetError", "WindowTarget", "active_mutes", "add_mute", "add_window", "cancel_mutes", "end_window",
           "find_device", "mute_check", "mute_reason", "muted_devices", "resolve_target", "window_duration"]
