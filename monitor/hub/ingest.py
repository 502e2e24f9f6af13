"""The stateless ingest: authenticate, check, apply one office's batch in one transaction.

Stateless: everything it knows between requests is in PostgreSQL (the cursor row of each office, locked
``FOR UPDATE`` by the transaction that applies a batch of that office), so any number of replicas may run
behind a load balancer, and an office's batches may land on any of them in any order. The protocol and
its status codes are described in :mod:`monitor.hub.protocol`; the order of the checks is the order of
the codes: 401 (who), 413 (how much), 422 (what shape, which schema), 403 (whose sites), 409 (which seq).

Every write runs as the ingest role with the office named in the transaction (:func:`monitor.hub.db.
ingest_transaction`): row-level security refuses a row of a site the office does not own even if the
check here were missing (``check_ownership=False`` exists for the test that proves it).
"""

from __future__ import annotations

import json
import logging
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import pairwise
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Connection, Engine, delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from monitor.clock import Clock, SystemClock
from monitor.hub import entities
from monitor.hub.config import HubConfig, HubOfficeConfig
from monitor.hub.db import ingest_transaction
from monitor.hub.models import HubAnswer, HubDeviceState, HubFeed, HubOfficeStatus, table_of
from monitor.hub.protocol import (
    Answer,
    IngestReply,
    IngestRequest,
    Record,
    Refusal,
    StatusMessage,
    accepted_schema_versions,
    current_shape,
)
from monitor.hub.tokens import hash_token
from monitor.storage.feed import iso

log = logging.getLogger("monitor.hub.ingest")

RLS_VIOLATION = "42501"  # insufficient_privilege: what PostgreSQL raises when a policy refuses a row


@dataclass(frozen=True, slots=True)
class _Prepared:
    """A batch checked and turned into central rows, before the transaction."""

    records: list[Record]
    rows: list[tuple[entities.CentralEntity, dict[str, Any]]]  # aligned with records


class Ingest:
    """Applies ingest requests to the central database (see the module docstring)."""

    def __init__(self, config: HubConfig, engine: Engine, *, clock: Clock | None = None,
                 check_ownership: bool = True) -> None:
        self.engine = engine
        self.clock: Clock = clock or SystemClock()
        self.check_ownership = check_ownership
        self.reload(config)

    def reload(self, config: HubConfig) -> None:
        """Take new access rules (offices, tokens, sites) from a re-read HUB.yaml."""
        self.config = config
        self.role = config.database.ingest_role
        self.limits = config.limits
        self._tokens = config.tokens()

    # ------------------------------------------------------------------------------------------ who

    def authenticate(self, authorization: str | None) -> HubOfficeConfig:
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Refusal(401, "unauthorized", "send Authorization: Bearer <office token>")
        found = self._tokens.get(hash_token(token.strip()))
        if found is None:
            raise Refusal(401, "unauthorized", "unknown or revoked token")
        office, revoked = found
        if revoked:
            log.warning("refused a revoked token of office %s", office.id)
            raise Refusal(401, "unauthorized", "unknown or revoked token")
        return office

    # ------------------------------------------------------------------------------------------ what

    def parse(self, body: bytes, encoding: str | None) -> IngestRequest:
        """Decompress (bounded) and validate the body."""
        if (encoding or "").strip().lower() == "gzip":
            body = self._gunzip(body)
        elif encoding and encoding.strip().lower() not in ("identity", ""):
            raise Refusal(422, "malformed", f"unsupported Content-Encoding {encoding!r}: use gzip")
        if len(body) > self.limits.max_decompressed_bytes:
            raise Refusal(413, "too_large", "the request is larger than the hub accepts",
                          limit_bytes=self.limits.max_decompressed_bytes, limit_records=self.limits.max_records)
        try:
            data = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise Refusal(422, "malformed", f"not JSON: {exc}") from None
        if isinstance(data, dict) and isinstance(data.get("records"), list) \
                and len(data["records"]) > self.limits.max_records:
            raise Refusal(413, "too_large", f"{len(data['records'])} records in one request",
                          limit_bytes=self.limits.max_decompressed_bytes, limit_records=self.limits.max_records)
        try:
            return IngestRequest.model_validate(data)
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            where = ".".join(str(p) for p in first["loc"])
            raise Refusal(422, "malformed", f"{where}: {first['msg']} ({exc.error_count()} problem(s))") from None

    def _gunzip(self, body: bytes) -> bytes:
        limit = self.limits.max_decompressed_bytes
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            out = d.decompress(body, limit + 1)
        except zlib.error as exc:
            raise Refusal(422, "malformed", f"not gzip: {exc}") from None
        if len(out) > limit or d.unconsumed_tail:
            raise Refusal(413, "too_large", "the request decompresses to more than the hub accepts",
                          limit_bytes=limit, limit_records=self.limits.max_records)
        if not d.eof:
            raise Refusal(422, "malformed", "truncated gzip body")
        return out

    def _prepare(self, office: HubOfficeConfig, req: IngestRequest, now: datetime) -> _Prepared:
        if req.office != office.id:
            raise Refusal(403, "forbidden", f"this token belongs to office {office.id!r}, not {req.office!r}")
        records = req.records
        accepted = accepted_schema_versions()
        for a, b in pairwise(records):
            if b.seq != a.seq + 1:
                raise Refusal(422, "malformed", f"records must have contiguous seqs (…{a.seq}, {b.seq}…)")
        rows: list[tuple[entities.CentralEntity, dict[str, Any]]] = []
        owned = frozenset(office.sites)
        for r in records:
            if r.schema_version not in accepted:
                raise Refusal(422, "unsupported_schema",
                              f"record {r.seq} has schema_version {r.schema_version}; this hub accepts "
                              f"{', '.join(map(str, accepted))}: upgrade "
                              f"{'the office' if r.schema_version < min(accepted) else 'the hub'}",
                              accepted_schema_versions=list(accepted))
            entity = entities.BY_NAME.get(r.entity)
            if entity is None:
                raise Refusal(422, "malformed", f"record {r.seq}: unknown entity {r.entity!r}")
            if entity.scope == "office" and r.site_code is not None:
                raise Refusal(422, "malformed", f"record {r.seq}: {r.entity} is office-wide, without a site code")
            if entity.scope == "site" and self.check_ownership and r.site_code not in owned:
                raise Refusal(403, "forbidden_site", f"record {r.seq}: site {r.site_code} is not office "
                              f"{office.id!r}'s", site_code=r.site_code)
            try:
                snapshot = current_shape(r.schema_version, r.entity, r.snapshot)
                row = entities.to_row(entity, snapshot, office_id=office.id, site_code=r.site_code,
                                      version=r.version, received_at=now)
            except (entities.ShapeError, KeyError, TypeError, ValueError) as exc:
                raise Refusal(422, "malformed", f"record {r.seq} ({r.entity} {r.local_id}): {exc}") from None
            if str(row["local_id"]) != r.local_id:
                raise Refusal(422, "malformed", f"record {r.seq}: local_id {r.local_id!r} is not the snapshot's id")
            rows.append((entity, row))
        if req.status is not None and self.check_ownership:
            for site in req.status.sites:
                if site.code not in owned:
                    raise Refusal(403, "forbidden_site", f"status: site {site.code} is not office {office.id!r}'s",
                                  site_code=site.code)
        return _Prepared(records, rows)

    # ------------------------------------------------------------------------------------------ apply

    def handle(self, office: HubOfficeConfig, req: IngestRequest) -> IngestReply:
        """Apply ``req`` of ``office`` (authenticated) in one transaction; raise :class:`Refusal` otherwise."""
        now = self.clock.now()
        prepared = self._prepare(office, req, now)
        try:
            with ingest_transaction(self.engine, self.role, office.id) as conn:
                return self._apply(conn, office, req, prepared, now)
        except PoolTimeout:  # every connection busy (a burst of offices back after a cut): they come back later
            log.warning("office %s: no database connection free; asked to retry", office.id)
            raise Refusal(503, "busy", "the hub is busy; try again", retry_after=5) from None
        except DBAPIError as exc:
            code = getattr(exc.orig, "sqlstate", None)
            if code == RLS_VIOLATION:
                log.error("office %s: row-level security refused a write (the ingest's own check did not): %s",
                          office.id, str(exc.orig).splitlines()[0])
                raise Refusal(403, "forbidden_site", "a record is about a site this office does not own") from None
            if isinstance(exc, OperationalError) or exc.connection_invalidated:
                log.warning("office %s: database unavailable: %s", office.id, str(exc.orig).splitlines()[0])
                raise Refusal(503, "unavailable", "the hub's database is unavailable; try again",
                              retry_after=5) from None
            raise

    def _cursor(self, conn: Connection, office_id: str) -> int:
        """The office's acknowledged seq, its row locked until the transaction ends (replicas wait here)."""
        table = table_of(HubFeed)
        conn.execute(pg_insert(table).values(office_id=office_id, acked_seq=0, records_applied=0)
                     .on_conflict_do_nothing(index_elements=["office_id"]))
        return int(conn.execute(select(table.c.acked_seq).where(table.c.office_id == office_id)
                                .with_for_update()).scalar_one())

    def _apply(self, conn: Connection, office: HubOfficeConfig, req: IngestRequest, prepared: _Prepared,
               now: datetime) -> IngestReply:
        acked = self._cursor(conn, office.id)
        fresh = [(r, row) for r, row in zip(prepared.records, prepared.rows, strict=True) if r.seq > acked]
        duplicates = len(prepared.records) - len(fresh)
        if prepared.records and not fresh:
            # nothing new: a replay (a lost acknowledgement, or a forgery). Refused like a gap, so the office
            # moves on from the cursor; nothing was written.
            raise Refusal(409, "already_stored", f"every record is at or below seq {acked}, already stored",
                          expected_seq=acked + 1, acknowledged_seq=acked)
        if fresh:
            first = fresh[0][0].seq
            baseline_start = req.baseline is not None and req.baseline.first == first and first > acked
            if first != acked + 1 and not baseline_start:
                raise Refusal(409, "seq_gap", f"expected seq {acked + 1}, the batch starts at {first}",
                              expected_seq=acked + 1, acknowledged_seq=acked)
            self._upsert(conn, [row for _r, row in fresh])
            new_acked = fresh[-1][0].seq
            feeds = table_of(HubFeed)
            values: dict[str, Any] = {"acked_seq": new_acked, "last_batch_at": now,
                                      "records_applied": feeds.c.records_applied + len(fresh),
                                      "schema_version": max(r.schema_version for r, _row in fresh)}
            if req.baseline is not None:
                values["baseline_seq"] = req.baseline.first
                if acked < req.baseline.last <= new_acked:
                    self._purge_older(conn, office.id, req.baseline.first)
            conn.execute(update(feeds).where(feeds.c.office_id == office.id).values(**values))
            acked = new_acked
        self._status(conn, office.id, req.status, now)
        answers = self._answers(conn, office.id, req.answers_received, now)
        return IngestReply(acknowledged_seq=acked, expected_seq=acked + 1, applied=len(fresh), duplicates=duplicates,
                           answers=answers, server_time=iso(now))

    def _upsert(self, conn: Connection, rows: Sequence[tuple[entities.CentralEntity, dict[str, Any]]]) -> None:
        """Newer version wins; within the batch only the newest version of each row is written."""
        newest: dict[tuple[str, tuple[Any, ...]], tuple[entities.CentralEntity, dict[str, Any]]] = {}
        for entity, row in rows:
            key = (entity.name, tuple(row[c] for c in entity.key))
            if key not in newest or newest[key][1]["version"] < row["version"]:
                newest[key] = (entity, row)
        for entity in entities.ENTITIES:
            batch = [row for e, row in newest.values() if e is entity]
            if not batch:
                continue
            table = entity.table
            stmt = pg_insert(table)
            stmt = stmt.on_conflict_do_update(
                index_elements=list(entity.key),
                set_={c.name: stmt.excluded[c.name] for c in table.columns if c.name not in entity.key},
                where=table.c.version < stmt.excluded.version)
            conn.execute(stmt, batch)

    def _purge_older(self, conn: Connection, office_id: str, first: int) -> None:
        """After a complete baseline: the office's rows it did not resend no longer exist at the office."""
        purged = 0
        for entity in entities.ENTITIES:
            table = entity.table
            res = conn.execute(delete(table).where(table.c.office_id == office_id, table.c.version < first))
            purged += res.rowcount or 0
        if purged:
            log.warning("office %s: a new baseline from seq %d; %d central row(s) the office no longer has were "
                        "removed", office_id, first, purged)

    def _status(self, conn: Connection, office_id: str, status: StatusMessage | None, now: datetime) -> None:
        """Liveness on every accepted request; current state when the status is newer than the one kept."""
        table = table_of(HubOfficeStatus)
        values: dict[str, Any] = {"office_id": office_id, "last_seen": now}
        newer = False
        if status is not None:
            at = entities.parse_time(status.at)
            kept = conn.execute(select(HubOfficeStatus.status_at).where(HubOfficeStatus.office_id == office_id)
                                ).scalar_one_or_none()
            newer = kept is None or (at is not None and at > kept)
            if newer:
                values.update(status_at=at, software=status.software,
                              monitor_started_at=entities.parse_time(status.monitor_started_at),
                              backlog_records=status.backlog_records,
                              backlog_oldest_at=entities.parse_time(status.backlog_oldest_at),
                              open_incidents=status.open_incidents)
        stmt = pg_insert(table).values(**{"backlog_records": 0, "open_incidents": [], **values})
        conn.execute(stmt.on_conflict_do_update(index_elements=["office_id"],
                                                set_={k: stmt.excluded[k] for k in values if k != "office_id"}))
        if status is None or not newer:
            return
        states = table_of(HubDeviceState)
        conn.execute(delete(states).where(states.c.office_id == office_id))
        reported = entities.parse_time(status.at)
        rows = [{"site_code": site.code, "device_key": d.device, "office_id": office_id, "status": d.status,
                 "since": entities.parse_time(d.since), "reason": d.reason, "flapping": d.flapping,
                 "last_check_at": entities.parse_time(d.last_check_at), "reported_at": reported, "received_at": now}
                for site in status.sites for d in site.devices]
        if rows:
            conn.execute(pg_insert(states), rows)

    def _answers(self, conn: Connection, office_id: str, received: Sequence[int], now: datetime) -> list[Answer]:
        table = table_of(HubAnswer)
        if received:
            conn.execute(update(table).where(table.c.office_id == office_id, table.c.id.in_(list(received)),
                                             table.c.delivered_at.is_(None)).values(delivered_at=now))
        rows = conn.execute(select(table).where(table.c.office_id == office_id, table.c.delivered_at.is_(None))
                            .order_by(table.c.id).limit(self.limits.max_answers)).mappings()
        return [Answer(id=r["id"], site_code=r["site_code"], incident_id=r["incident_local_id"], status=r["status"],
                       note=r["note"], answered_by=r["answered_by"], answered_at=iso(r["answered_at"])) for r in rows]

