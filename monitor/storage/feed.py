"""The national feed: every change of the record, as a full snapshot, in the same transaction.

The office is the system of record for its sites; the hub keeps a copy. Every committed change of a
**feed entity** (the tables in :data:`ENTITIES`: the site/device inventory, outages with their timeline,
incidents with their escalation state, evidence, acknowledgements, maintenance and mutes, monitor gaps,
report runs) also writes one ``feed`` row per changed entity **inside the same transaction**:

* ``seq`` — gap-free, in commit order (allocated from ``feed_state`` in the writing transaction: the row
  lock in PostgreSQL, the single writer in SQLite);
* ``entity`` and ``local_id`` — which row (``outage`` / ``17``);
* ``version`` — the seq that produced the snapshot: monotonic per entity, so "newer version wins" at the hub;
* ``schema_version`` — :data:`FEED_SCHEMA_VERSION`, the shape of the snapshot;
* ``site_id`` / ``site_code`` — the office's site and its Kemendagri code (NULL for office-wide entities);
* ``snapshot`` — every column of the row after the change (JSON: times as ``…Z`` ISO strings with
  microseconds), plus ``site`` (the office's site id) and, for rows about a device, ``device`` (its key).

**Nobody has to remember it.** Session events do the work for every writer:

* an ORM change (``session.add``, attribute assignment) is noted after each flush;
* an ORM-enabled Core ``update(Model)`` through the session notes the rows it matches;
* just before the root transaction commits, the noted rows are read back *as they will be committed* and
  their feed rows written (several changes of one row in one transaction give one feed row);
* a Core ``insert``/``delete`` or a textual write of a feed table through a session raises
  :class:`FeedError` (the record is kept for ever, and a Core insert's new ids are not seen here).

Writes that bypass the Session (a raw ``Connection``) are not seen: every writer of the project goes through
:class:`monitor.storage.Database` (``tests/hub/test_feed.py`` drives each of them and proves the feed
reproduces the record by :func:`canonical_dump`).

**Not shipped** (:data:`NOT_SHIPPED`): raw samples and their roll-ups, engine state, events, the outbox and
its attempts, chat state, heartbeats (the shipper's status message carries current state and liveness),
key-values, and the feed's own tables. A test fails when a new table is in neither list.

**Baseline.** :func:`write_baseline` writes a snapshot of every row of every entity as new feed rows (the
shipper does it when it first ships to a hub, or to a new one, or after a resync); the rows before it are
superseded and deleted. Offices that ran before the feed existed send their whole history this way.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import RowMapping, Select, Table, TextClause, delete, event, func, insert, select, update
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction
from sqlalchemy.orm.session import SessionTransaction

from monitor.errors import StorageError
from monitor.storage.models import (
    AcknowledgementRow,
    Base,
    DeviceRow,
    EvidenceRow,
    FeedRow,
    FeedStateRow,
    IncidentRow,
    MaintenanceRow,
    MonitorGapRow,
    OutageRow,
    ReportRunRow,
    SiteRow,
)

FEED_SCHEMA_VERSION = 1
"""The shape of snapshots this code writes. Bump it when a snapshot changes shape; the hub accepts the
current and the previous version (``monitor/hub/protocol.py``)."""

Scope = Literal["site", "office"]


class FeedError(StorageError):
    """A write that would change the record without the feed seeing it (a bug in the writer)."""

    permanent = True


def iso(value: datetime) -> str:
    """The snapshot's time format: UTC, microseconds, ``Z`` (the same on both sides of the link)."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def snapshot_value(value: Any) -> Any:
    """A column value as snapshot JSON. Times as :func:`iso`; NUL characters become U+FFFD and non-finite
    floats null, because PostgreSQL text and jsonb refuse them (the office's snapshot and the hub's copy
    agree exactly because both are this form)."""
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, Mapping):
        return {snapshot_value(str(k)): snapshot_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [snapshot_value(v) for v in value]
    return snapshot_value(str(value))


# ------------------------------------------------------------------------------------------ entities

def table_of(model: type[Any]) -> Table:
    """The Core table of a mapped class (typed)."""
    table = model.__table__
    assert isinstance(table, Table)
    return table


_S = table_of(SiteRow)
_D = table_of(DeviceRow)
_FEED = table_of(FeedRow)
_STATE = table_of(FeedStateRow)


@dataclass(frozen=True, slots=True)
class Entity:
    """A table whose rows travel to the hub. ``scope`` is ``site`` (every row belongs to one site) or
    ``office`` (rows about the whole monitor, e.g. its gaps). ``query`` selects the rows with ``_site``
    (the office's site id), ``_code`` (its Kemendagri code) and ``_device`` (the device key, when the row
    is about a device)."""

    name: str
    model: type[Base]
    scope: Scope
    query: Select[Any]

    @property
    def table(self) -> Table:
        return table_of(self.model)

    @property
    def has_device(self) -> bool:
        return "_device" in self.query.selected_columns


def _entities() -> tuple[Entity, ...]:
    o, i, e = table_of(OutageRow), table_of(IncidentRow), table_of(EvidenceRow)
    a, m, g, r = table_of(AcknowledgementRow), table_of(MaintenanceRow), table_of(MonitorGapRow), table_of(ReportRunRow)
    code = _S.c.code.label("_code")
    return (
        Entity("site", SiteRow, "site", select(_S, _S.c.id.label("_site"), code)),
        Entity("device", DeviceRow, "site",
               select(_D, _D.c.site_id.label("_site"), code).join(_S, _S.c.id == _D.c.site_id)),
        Entity("incident", IncidentRow, "site",
               select(i, i.c.site_id.label("_site"), code).join(_S, _S.c.id == i.c.site_id)),
        Entity("outage", OutageRow, "site",
               select(o, _D.c.site_id.label("_site"), _D.c.key.label("_device"), code)
               .join(_D, _D.c.id == o.c.device_id).join(_S, _S.c.id == _D.c.site_id)),
        Entity("evidence", EvidenceRow, "site",
               select(e, e.c.site_id.label("_site"), _D.c.key.label("_device"), code)
               .outerjoin(_D, _D.c.id == e.c.device_id).outerjoin(_S, _S.c.id == e.c.site_id)),
        Entity("acknowledgement", AcknowledgementRow, "site",
               select(a, i.c.site_id.label("_site"), code)
               .join(i, i.c.id == a.c.incident_id).join(_S, _S.c.id == i.c.site_id)),
        Entity("maintenance", MaintenanceRow, "site",
               select(m, m.c.site_id.label("_site"), _D.c.key.label("_device"), code)
               .outerjoin(_D, _D.c.id == m.c.device_id).join(_S, _S.c.id == m.c.site_id)),
        Entity("monitor_gap", MonitorGapRow, "office", select(g)),
        Entity("report_run", ReportRunRow, "site",
               select(r, r.c.site_id.label("_site"), code).join(_S, _S.c.id == r.c.site_id)),
    )


ENTITIES: tuple[Entity, ...] = _entities()
"""Every feed entity, in the order a baseline writes them (inventory first)."""
BY_NAME: dict[str, Entity] = {e.name: e for e in ENTITIES}
BY_MODEL: dict[type[Base], Entity] = {e.model: e for e in ENTITIES}
BY_TABLE: dict[str, Entity] = {e.table.name: e for e in ENTITIES}

NOT_SHIPPED: dict[str, str] = {
    "check_samples": "raw samples stay at the office (pruned after the retention); outages carry the facts",
    "sample_rollups": "hourly roll-ups of raw samples: office-local detail",
    "device_states": "current state travels in the shipper's status message every minute",
    "events": "the alerting side's work queue at the office",
    "outbox": "messages to the office's chats",
    "delivery_attempts": "attempts to send the office's messages",
    "audience_states": "the office's chat ids and their delivery state",
    "heartbeats": "liveness travels as the shipper's status message",
    "kv": "small settings of running parts (e.g. the Telegram offset)",
    "feed": "the feed itself",
    "feed_state": "the feed's counter",
    "hub_link": "the shipper's state of the link",
    "hub_answers": "the Ministry's answers come from the hub; they are not sent back",
}
"""Tables that deliberately do not travel, and why (a test fails when a table is in neither list)."""


# ------------------------------------------------------------------------------------------ snapshots


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One entity's state as it travels: the feed row's fields without the seq."""

    entity: str
    local_id: str
    site_id: str | None
    site_code: str | None
    data: dict[str, Any]

    @property
    def key(self) -> tuple[str, str | None, str]:
        """The identity both sides compare by: (entity, site code, local id)."""
        return (self.entity, self.site_code, self.local_id)


def _snapshot(entity: Entity, row: RowMapping) -> Snapshot:
    data = {c.name: snapshot_value(row[c.name]) for c in entity.table.columns}
    site = row.get("_site")
    if entity.scope == "site":
        data["site"] = site
    if entity.has_device:
        data["device"] = row.get("_device")
    pk = entity.table.primary_key.columns.values()[0]
    return Snapshot(entity.name, str(row[pk.name]), site, row.get("_code"), data)


def snapshots(session: Session, entity: Entity, ids: Iterable[Any] | None = None, *,
              chunk: int = 500) -> Iterator[Snapshot]:
    """The snapshots of ``entity``'s rows (all of them, or those with primary key in ``ids``), by key."""
    pk = entity.table.primary_key.columns.values()[0]
    if ids is None:
        result = session.execute(entity.query.order_by(pk).execution_options(yield_per=chunk))
        for row in result.mappings():
            yield _snapshot(entity, row)
        return
    wanted = sorted(set(ids))
    for start in range(0, len(wanted), chunk):
        part = wanted[start:start + chunk]
        for row in session.execute(entity.query.where(pk.in_(part)).order_by(pk)).mappings():
            yield _snapshot(entity, row)


def shippable(snap: Snapshot) -> bool:
    """Whether a snapshot can travel: site-scoped rows need their site's code (the hub's key). Rows of a
    site that left the config before it was given a code stay at the office (documented in 0012)."""
    return snap.site_code is not None or BY_NAME[snap.entity].scope == "office"


def canonical_dump(session: Session) -> dict[tuple[str, str | None, str], dict[str, Any]]:
    """The office's record as the hub must hold it: every shippable row of every entity, keyed by
    (entity, site code, local id). The hub's :func:`monitor.hub.dump.canonical_dump` gives the same form."""
    out: dict[tuple[str, str | None, str], dict[str, Any]] = {}
    for entity in ENTITIES:
        for snap in snapshots(session, entity):
            if shippable(snap):
                out[snap.key] = snap.data
    return out


# ------------------------------------------------------------------------------------------ writing


def allocate(session: Session, count: int) -> int:
    """Reserve ``count`` seqs in the current transaction; returns the first. Holds the counter's row lock
    until commit, so seqs are committed in order."""
    conn = session.connection()
    st = _STATE
    last = conn.execute(update(st).where(st.c.id == 1).values(last_seq=st.c.last_seq + count)
                        .returning(st.c.last_seq)).scalar_one_or_none()
    if last is None:  # a database made without the migration's row (never in practice)
        conn.execute(insert(st).values(id=1, last_seq=count))
        last = count
    return int(last) - count + 1


def last_seq(session: Session) -> int:
    value = session.execute(select(FeedStateRow.last_seq).where(FeedStateRow.id == 1)).scalar_one_or_none()
    return int(value or 0)


def raise_seq(session: Session, at_least: int) -> None:
    """Move the counter to ``at_least`` when it is below (the hub has seen seqs this database never wrote:
    it was restored from a backup; new seqs must not reuse those numbers)."""
    st = _STATE
    session.connection().execute(update(st).where(st.c.id == 1, st.c.last_seq < at_least)
                                 .values(last_seq=at_least))


def append(session: Session, snaps: list[Snapshot], now: datetime) -> tuple[int, int]:
    """Write the shippable ones of ``snaps`` (:func:`shippable`) as feed rows with fresh seqs; returns (first
    seq, count). Unshippable rows get no seq at all, so the stream the hub sees has no holes."""
    snaps = [s for s in snaps if shippable(s)]
    if not snaps:
        return 0, 0
    first = allocate(session, len(snaps))
    rows = [{"seq": first + n, "entity": s.entity, "local_id": s.local_id, "version": first + n,
             "schema_version": FEED_SCHEMA_VERSION, "site_id": s.site_id, "site_code": s.site_code,
             "snapshot": s.data, "created_at": now} for n, s in enumerate(snaps)]
    session.connection().execute(insert(_FEED), rows)
    return first, len(snaps)


def write_baseline(session: Session, now: datetime, *, chunk: int = 2000) -> tuple[int, int]:
    """Supersede the feed with a snapshot of every row of every entity; returns (first seq, count).

    The rows already in the feed are deleted (the baseline holds each entity's latest state); the seqs
    continue from the counter, so every baseline version is newer than anything sent before."""
    session.flush()
    session.connection().execute(delete(_FEED))
    first = 0
    count = 0
    batch: list[Snapshot] = []
    for entity in ENTITIES:
        for snap in snapshots(session, entity, chunk=chunk):
            batch.append(snap)
            if len(batch) >= chunk:
                start, n = append(session, batch, now)
                first, count, batch = first or start, count + n, []
    if batch:
        start, n = append(session, batch, now)
        first, count = first or start, count + n
    if not count:
        first = last_seq(session) + 1
    return first, count


def backlog(session: Session, after: int) -> tuple[int, datetime | None]:
    """(rows with seq > ``after``, the oldest one's time) — what is waiting to be shipped."""
    count, oldest = session.execute(select(func.count(), func.min(FeedRow.created_at))
                                    .where(FeedRow.seq > after)).one()
    return int(count or 0), oldest


# ------------------------------------------------------------------------------------------ the hooks

_PENDING = "ektp_feed_pending"
_WRITE_SQL = re.compile(r"\b(?:insert\s+(?:or\s+\w+\s+)?into|update|delete\s+from)\s+[\"`]?(\w+)", re.IGNORECASE)


def _pending(session: Session) -> dict[str, set[Any]]:
    value: dict[str, set[Any]] = session.info.setdefault(_PENDING, {})
    return value


def _note(session: Session, entity: Entity, ids: Iterable[Any]) -> None:
    _pending(session).setdefault(entity.name, set()).update(i for i in ids if i is not None)


@event.listens_for(Session, "before_flush")
def _refuse_deletes(session: Session, _ctx: UOWTransaction, _instances: object) -> None:
    for obj in session.deleted:
        entity = BY_MODEL.get(type(obj))
        if entity is not None:
            raise FeedError(f"{entity.table.name} rows are kept for ever (the record and the hub's copy); "
                            "mark them instead of deleting")


@event.listens_for(Session, "after_flush")
def _noted_by_flush(session: Session, _ctx: UOWTransaction) -> None:
    for obj in [*session.new, *session.dirty]:
        entity = BY_MODEL.get(type(obj))
        if entity is None or (obj not in session.new and not session.is_modified(obj, include_collections=False)):
            continue
        pk = entity.table.primary_key.columns.values()[0].name
        _note(session, entity, [getattr(obj, pk)])


@event.listens_for(Session, "do_orm_execute")
def _noted_by_statement(state: ORMExecuteState) -> None:
    if state.is_select:
        return
    stmt = state.statement
    if isinstance(stmt, TextClause):
        for match in _WRITE_SQL.finditer(stmt.text):
            if match.group(1).lower() in BY_TABLE:
                raise FeedError(f"textual write to {match.group(1)}: use the models so the feed sees it")
        return
    table = getattr(stmt, "table", None)
    entity = BY_TABLE.get(getattr(table, "name", "")) if table is not None else None
    if entity is None:
        return
    if state.is_delete:
        raise FeedError(f"{entity.table.name} rows are kept for ever; a delete is refused")
    if state.is_insert:
        raise FeedError(f"Core insert into {entity.table.name}: use session.add() so the feed sees the new row")
    if state.is_update:
        pk = entity.table.primary_key.columns.values()[0]
        params = state.parameters
        if isinstance(params, list) and params and all(pk.name in p for p in params):
            _note(state.session, entity, [p[pk.name] for p in params])  # ORM bulk update by primary key
            return
        where = getattr(stmt, "whereclause", None)
        query = select(pk) if where is None else select(pk).where(where)
        _note(state.session, entity, state.session.execute(query).scalars())


@event.listens_for(Session, "before_commit")
def _write_noted(session: Session) -> None:
    session.flush()
    pending = session.info.pop(_PENDING, None)
    if not pending:
        return
    snaps: list[Snapshot] = []
    for entity in ENTITIES:
        ids = pending.get(entity.name)
        if ids:
            snaps.extend(snapshots(session, entity, ids))  # rows inserted and rolled back are simply absent
    append(session, snaps, datetime.now(UTC))


@event.listens_for(Session, "after_transaction_end")
def _forget(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:  # the root ended (committed, or rolled back with everything noted)
        session.info.pop(_PENDING, None)
