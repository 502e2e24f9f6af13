"""The shipper: a component of ``run`` (when ``hub:`` is configured) that sends the feed to the hub.

The office's own database is the buffer: feed rows stay until the hub acknowledges them, however long the
link is down (days, a week: nothing is dropped). Each step:

1. reads the oldest unacknowledged feed rows, at most ``batch_records`` and ``batch_bytes`` of JSON;
2. adds the **status** when ``status_interval`` (60 s) has passed: every device's current state, the open
   incidents, the backlog — it is also the office's liveness for the hub;
3. POSTs it gzip-compressed over HTTPS with the office token (``monitor/hub/protocol.py``);
4. on 200 deletes what the hub acknowledged and records the Ministry's answers that came back; on 409
   continues from the seq the hub expects (or starts a new baseline when the hub has lost what the office
   already deleted, or has seen seqs this database never wrote: it was restored from a backup); on 413
   halves the batch; on 401/403/422 keeps everything and tries again slowly (a person must act: token,
   HUB.yaml, versions); on network errors and 5xx backs off exponentially up to ``retry_max``.

While catching up, it sends at most ``drain_rate`` records per second, so a week's backlog does not choke
the office's link or the hub. New records are shipped at once: the daemon wakes the shipper after each
write (``wake``). The first time the office ships to a hub (or to another hub or office id), it writes a
**baseline** — a snapshot of its whole record — so history from before the feed existed travels too.

:func:`link_info` is the one read of the link's state, used by ``ektp-monitor hub status`` and by the
metrics endpoint (issue 17).
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import ssl
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from monitor import __version__
from monitor.clock import Clock, utc
from monitor.errors import MonitorError
from monitor.hub.protocol import INGEST_PATH, IngestReply, encode
from monitor.lifecycle import TaskComponent
from monitor.settings import HubLink, Settings
from monitor.storage import Database, feed
from monitor.storage.models import (
    DeviceRow,
    DeviceStateRow,
    FeedRow,
    HeartbeatRow,
    HubAnswerRow,
    HubLinkRow,
    IncidentRow,
    OutageRow,
    SiteRow,
)

log = logging.getLogger("monitor.daemon.shipper")


# ------------------------------------------------------------------------------------------ link state


@dataclass(frozen=True, slots=True)
class LinkInfo:
    """What ``hub status`` shows and the metrics export: the backlog and the last contact."""

    target: str | None
    backlog_records: int
    oldest_at: datetime | None
    acked_seq: int
    last_seq: int
    baseline_seq: int | None
    last_contact_at: datetime | None
    last_attempt_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None
    answers_unconfirmed: int

    def oldest_age_s(self, now: datetime) -> float | None:
        return None if self.oldest_at is None else max(0.0, (now - self.oldest_at).total_seconds())

    def as_json(self, now: datetime) -> dict[str, Any]:
        def z(t: datetime | None) -> str | None:
            return None if t is None else feed.iso(t)
        return {"target": self.target, "backlog_records": self.backlog_records, "oldest_at": z(self.oldest_at),
                "oldest_age_s": self.oldest_age_s(now), "acked_seq": self.acked_seq, "last_seq": self.last_seq,
                "baseline_seq": self.baseline_seq, "last_contact_at": z(self.last_contact_at),
                "last_attempt_at": z(self.last_attempt_at), "last_error": self.last_error,
                "last_error_at": z(self.last_error_at), "answers_unconfirmed": self.answers_unconfirmed}


def link_info(session: Session) -> LinkInfo:
    """The shipper's state as recorded (read-only)."""
    link = session.get(HubLinkRow, 1)
    acked = link.acked_seq if link is not None else 0
    count, oldest = feed.backlog(session, acked)
    unconfirmed = session.scalar(select(func.count()).select_from(HubAnswerRow)
                                 .where(HubAnswerRow.confirmed.is_(False))) or 0
    return LinkInfo(
        target=link.target if link else None, backlog_records=count, oldest_at=oldest, acked_seq=acked,
        last_seq=feed.last_seq(session), baseline_seq=link.baseline_seq if link else None,
        last_contact_at=link.last_contact_at if link else None, last_attempt_at=link.last_attempt_at if link else None,
        last_error=link.last_error if link else None, last_error_at=link.last_error_at if link else None,
        answers_unconfirmed=int(unconfirmed))


def target_of(settings: Settings) -> str:
    """What a stream is made for: the hub, the office id and the site codes. When any of them changes (another
    hub, a site's code corrected), the next start sends a new baseline, and the hub drops what it no longer
    matches."""
    assert settings.hub is not None
    codes = ",".join(sorted(s.code for s in settings.sites if s.code))
    return f"{settings.hub.url}#{settings.hub.office_id}#{codes}"


def _link(session: Session, now: datetime) -> HubLinkRow:
    link = session.get(HubLinkRow, 1)
    if link is None:
        link = HubLinkRow(id=1, acked_seq=0, updated_at=now)
        session.add(link)
        session.flush()
    return link


def start_stream(session: Session, target: str, now: datetime) -> tuple[int, int]:
    """Write a baseline (the whole record) and make it the start of the stream to ``target``; returns
    (first seq, count)."""
    link = _link(session, now)
    first, count = feed.write_baseline(session, now)
    link.target, link.baseline_seq, link.baseline_last = target, first, first + count - 1
    link.acked_seq, link.updated_at = first - 1, now
    return first, count


def ensure_stream(session: Session, target: str, now: datetime) -> tuple[int, int] | None:
    """Start a stream (a baseline) when there is none yet for ``target``; None when one exists."""
    link = session.get(HubLinkRow, 1)
    if link is not None and link.target == target and link.baseline_seq is not None:
        return None
    return start_stream(session, target, now)


def resync(session: Session, now: datetime) -> None:
    """``hub resync``: the next start of the shipper writes a fresh baseline (e.g. after the hub lost data)."""
    link = _link(session, now)
    link.baseline_seq, link.baseline_last, link.updated_at = None, None, now


def prune_unshipped(session: Session) -> int:
    """Without ``hub:`` nobody reads the feed: drop it, and forget the stream (a hub configured later gets a
    baseline of the whole record). Returns rows deleted."""
    res = session.execute(delete(FeedRow))
    link = session.get(HubLinkRow, 1)
    if link is not None and link.baseline_seq is not None:
        link.baseline_seq = link.baseline_last = None
    return int(getattr(res, "rowcount", 0) or 0)


# ------------------------------------------------------------------------------------------ reading


@dataclass(frozen=True, slots=True)
class Batch:
    records: list[dict[str, Any]]
    size: int
    baseline: dict[str, int] | None
    acked_seq: int
    answers_received: list[int]


def read_batch(session: Session, *, max_records: int, max_bytes: int) -> Batch:
    """The oldest unacknowledged feed rows (at least one when any), bounded in count and JSON bytes."""
    link = session.get(HubLinkRow, 1)
    acked = link.acked_seq if link is not None else 0
    records: list[dict[str, Any]] = []
    size = 0
    for row in session.scalars(select(FeedRow).where(FeedRow.seq > acked).order_by(FeedRow.seq).limit(max_records)):
        rec = {"seq": row.seq, "entity": row.entity, "local_id": row.local_id, "version": row.version,
               "schema_version": row.schema_version, "site_code": row.site_code, "snapshot": row.snapshot}
        n = len(json.dumps(rec, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))
        if records and size + n > max_bytes:
            break
        records.append(rec)
        size += n
    baseline = None
    if link is not None and link.baseline_seq is not None:
        baseline = {"first": link.baseline_seq, "last": link.baseline_last or link.baseline_seq - 1}
    answers = list(session.scalars(select(HubAnswerRow.hub_id).where(HubAnswerRow.confirmed.is_(False))
                                   .order_by(HubAnswerRow.hub_id).limit(1000)))
    return Batch(records, size, baseline, acked, answers)


def status_message(session: Session, now: datetime) -> dict[str, Any]:
    """The office's current state: every active device of every site with a code, open incidents, the
    monitor's start and the backlog."""
    sites: dict[str, list[dict[str, Any]]] = {}
    stmt = (select(SiteRow.code, DeviceRow.key, DeviceStateRow)
            .join(DeviceRow, DeviceRow.site_id == SiteRow.id)
            .outerjoin(DeviceStateRow, DeviceStateRow.device_id == DeviceRow.id)
            .where(SiteRow.code.is_not(None), SiteRow.active.is_(True), DeviceRow.active.is_(True))
            .order_by(SiteRow.code, DeviceRow.key))
    for code, key, state in session.execute(stmt):
        sites.setdefault(str(code), []).append({
            "device": key, "status": state.status if state else "unknown",
            "since": feed.iso(state.since) if state and state.since else None,
            "reason": state.reason[:2000] if state and state.reason else None,
            "flapping": bool(state.flapping) if state else False,
            "last_check_at": feed.iso(state.last_check_at) if state and state.last_check_at else None})
    for code in session.scalars(select(SiteRow.code).where(SiteRow.code.is_not(None), SiteRow.active.is_(True))):
        sites.setdefault(str(code), [])
    incidents = []
    for inc, code in session.execute(select(IncidentRow, SiteRow.code).join(SiteRow, SiteRow.id == IncidentRow.site_id)
                                     .where(IncidentRow.ended_at.is_(None), SiteRow.code.is_not(None))
                                     .order_by(IncidentRow.id)):
        devices = session.scalars(select(DeviceRow.key).join(OutageRow, OutageRow.device_id == DeviceRow.id)
                                  .where(OutageRow.incident_id == inc.id, OutageRow.ended_at.is_(None)))
        incidents.append({"site_code": code, "incident_id": inc.id, "started_at": feed.iso(inc.started_at),
                          "cause": inc.cause, "status": inc.worst_status, "planned": inc.planned,
                          "devices": sorted(set(devices)),
                          "acknowledged": inc.acknowledged_at is not None})
    link = session.get(HubLinkRow, 1)
    count, oldest = feed.backlog(session, link.acked_seq if link else 0)
    started = session.scalar(select(func.max(HeartbeatRow.started_at)))
    return {"at": feed.iso(now), "software": __version__[:32],
            "monitor_started_at": feed.iso(started) if started else None,
            "backlog_records": count, "backlog_oldest_at": feed.iso(oldest) if oldest else None,
            "open_incidents": incidents[:10_000],
            "sites": [{"code": code, "devices": devices} for code, devices in sorted(sites.items())]}


# ------------------------------------------------------------------------------------------ writing


def record_reply(session: Session, reply: IngestReply, sent: Batch, now: datetime, target: str) -> str | None:
    """After a 200: acknowledge, delete what the hub holds, record the answers. Returns a note when the
    stream had to restart (a new baseline)."""
    link = _link(session, now)
    link.last_contact_at, link.last_error, link.updated_at = now, None, now
    note = None
    ack = reply.acknowledged_seq
    if ack > feed.last_seq(session):
        note = (f"the hub has seen seq {ack} but this database only reached {feed.last_seq(session)}: it was "
                "restored from a backup; sending the whole record again")
        feed.raise_seq(session, ack)
        start_stream(session, target, now)
    elif ack >= link.acked_seq:
        link.acked_seq = ack
        session.execute(delete(FeedRow).where(FeedRow.seq <= ack))
    else:
        note = f"the hub went back from seq {link.acked_seq} to {ack} (its database was restored?); sending the " \
               "whole record again"
        start_stream(session, target, now)
    if sent.answers_received:
        session.execute(update(HubAnswerRow).where(HubAnswerRow.hub_id.in_(sent.answers_received))
                        .values(confirmed=True))
    for a in reply.answers:
        if session.scalar(select(HubAnswerRow.id).where(HubAnswerRow.hub_id == a.id)) is not None:
            continue
        site_id = session.scalar(select(SiteRow.id).where(SiteRow.code == a.site_code))
        session.add(HubAnswerRow(hub_id=a.id, site_id=site_id, site_code=a.site_code, incident_id=a.incident_id,
                                 status=a.status, note=a.note, answered_by=a.answered_by,
                                 answered_at=utc(datetime.fromisoformat(a.answered_at.replace("Z", "+00:00"))),
                                 received_at=now, confirmed=False, payload=a.model_dump(mode="json")))
    return note


def record_gap(session: Session, expected: int, target: str, now: datetime) -> str:
    """After a 409: continue from the hub's ``expected`` seq, or restart the stream when that is impossible."""
    link = _link(session, now)
    link.last_contact_at, link.updated_at = now, now
    want = expected - 1
    last = feed.last_seq(session)
    if want > last:
        feed.raise_seq(session, want)
        start_stream(session, target, now)
        return f"the hub expects seq {expected}, beyond this database's {last} (restored from a backup?): new baseline"
    first_kept = session.scalar(select(func.min(FeedRow.seq)))
    if want >= link.acked_seq and (first_kept is None or first_kept <= want + 1):
        link.acked_seq = want
        session.execute(delete(FeedRow).where(FeedRow.seq <= want))
        return f"continuing from seq {expected}"
    start_stream(session, target, now)
    return f"the hub expects seq {expected}, which this office no longer holds: new baseline"


def record_error(session: Session, error: str, now: datetime, *, attempted: bool = True) -> None:
    link = _link(session, now)
    link.last_error, link.last_error_at, link.updated_at = error[:1000], now, now
    if attempted:
        link.last_attempt_at = now


# ------------------------------------------------------------------------------------------ the component


class LinkRefused(MonitorError):
    """The hub refused in a way only a person can fix (token, ownership, schema)."""

    permanent = True


class Shipper(TaskComponent):
    """See the module docstring."""

    name = "hub.shipper"

    def __init__(self, settings: Settings, db: Database, clock: Clock, *, poll_interval: float = 2.0,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        assert settings.hub is not None
        self.settings = settings
        self.hub: HubLink = settings.hub
        self.db = db
        self.clock = clock
        self.poll_interval = poll_interval
        self.transport = transport
        self._wake = asyncio.Event()
        self._client: httpx.AsyncClient | None = None
        self._delay = 0.0
        self._max_records = self.hub.batch_records
        self._last_status: datetime | None = None
        self.sent_batches = 0
        self._target = target_of(settings)  # fixed for this run: a changed hub or code restarts the stream

    # --- lifecycle
    def wake(self) -> None:
        """New feed rows were written: ship them now rather than at the next poll."""
        self._wake.set()

    async def reload(self, settings: Settings) -> None:
        if settings.hub is None or target_of(settings) != self._target:
            log.warning("the hub link or a site code changed in the config; it takes effect at the next restart")
        self.settings = settings

    def _make_client(self) -> httpx.AsyncClient:
        verify: ssl.SSLContext | bool = True
        if self.hub.ca_file:
            verify = ssl.create_default_context(cafile=str(self.settings.resolve_path(self.hub.ca_file)))
        return httpx.AsyncClient(base_url=self.hub.url, verify=verify, transport=self.transport,
                                 timeout=self.hub.timeout.total_seconds(),
                                 headers={"Authorization": f"Bearer {self.hub.token.get_secret_value()}",
                                          "Content-Type": "application/json", "Content-Encoding": "gzip",
                                          "User-Agent": f"ektp-monitor/{__version__}"})

    async def stop(self) -> None:
        await super().stop()
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def _loop(self) -> None:
        target = self._target
        while True:
            try:
                made = await self.db.run(lambda s: ensure_stream(s, target, self.clock.now()), "starting the feed")
                if made is not None:
                    log.info("hub: a baseline of the whole record (%d records from seq %d) starts the stream to %s",
                             made[1], made[0], self.hub.url)
                break
            except MonitorError as exc:
                log.error("hub: cannot prepare the feed (retried): %s", exc)
                await self.clock.sleep(exc.retry_after or 5.0)
        self._client = self._make_client()
        while True:
            try:
                pace = await self.step()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the loop never dies: the record waits in the database
                log.error("hub: shipping failed (retried): %s", exc)
                pace = self._backoff()
            if pace is None:
                await self._idle()
            elif pace > 0:
                await self.clock.sleep(pace)

    async def _idle(self) -> None:
        self._wake.clear()
        wait = self.poll_interval
        if self._last_status is not None:
            due = (self._last_status + self.hub.status_interval - self.clock.now()).total_seconds()
            wait = min(wait, max(0.05, due))
        try:
            await asyncio.wait_for(self._wake.wait(), timeout=wait)
        except TimeoutError:
            pass

    def _backoff(self, *, slow: bool = False) -> float:
        cap = self.hub.retry_max.total_seconds()
        self._delay = cap if slow else min(cap, max(1.0, self._delay * 2))
        return self._delay * random.uniform(0.8, 1.2)

    def _status_due(self, now: datetime) -> bool:
        return self._last_status is None or now - self._last_status >= self.hub.status_interval

    async def step(self) -> float | None:
        """One exchange with the hub. Returns seconds to wait before the next (0: at once), or None when
        there is nothing to send (wait for new rows or the next status)."""
        now = self.clock.now()
        batch = await self.db.run(lambda s: read_batch(s, max_records=self._max_records,
                                                       max_bytes=self.hub.batch_bytes), "reading the feed")
        with_status = self._status_due(now)
        if not batch.records and not with_status and not batch.answers_received:
            return None
        status = await self.db.run(lambda s: status_message(s, now), "reading the state") if with_status else None
        body = encode({"office": self.hub.office_id, "sent_at": feed.iso(now), "baseline": batch.baseline,
                       "records": batch.records, "status": status, "answers_received": batch.answers_received})
        started = self.clock.monotonic()
        assert self._client is not None
        try:
            resp = await self._client.post(INGEST_PATH, content=body)
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"[:500] or type(exc).__name__
            await self.db.run(lambda s: record_error(s, f"link: {error}", self.clock.now()), "recording a link error")
            log.info("hub unreachable (%s); %d records wait", error, len(batch.records))
            return self._backoff()
        return await self._answer(resp, batch, with_status, now, started)

    async def _answer(self, resp: httpx.Response, batch: Batch, with_status: bool, now: datetime,
                      started: float) -> float | None:
        target = self._target
        code = resp.status_code
        try:
            body: dict[str, Any] = resp.json()
        except ValueError:
            body = {}
        if code == 200:
            reply = IngestReply.model_validate(body)
            note = await self.db.run(lambda s: record_reply(s, reply, batch, self.clock.now(), target),
                                     "recording the hub's acknowledgement")
            if note:
                log.warning("hub: %s", note)
            self._delay = 0.0
            if with_status:
                self._last_status = now
            self.sent_batches += 1
            if reply.answers:
                log.info("hub: %d answer(s) of the Ministry received", len(reply.answers))
            n = len(batch.records)
            if n == 0:
                return None
            elapsed = self.clock.monotonic() - started
            return max(0.0, n / self.hub.drain_rate - elapsed)  # the drain-rate cap while catching up
        detail = str(body.get("detail") or resp.text[:200])
        if code == 409 and isinstance(body.get("expected_seq"), int):
            expected = int(body["expected_seq"])
            note = await self.db.run(lambda s: record_gap(s, expected, target, self.clock.now()),
                                     "following the hub's cursor")
            log.info("hub: %s", note)
            return 0.0
        if code == 413 and self._max_records > 1:
            # the hub says its limit; else halve. Kept until the next start (the hub's limits rarely change)
            limit = body.get("limit_records")
            smaller = self._max_records // 2
            if isinstance(limit, int) and 0 < limit < len(batch.records):
                smaller = limit
            self._max_records = max(1, min(smaller, self._max_records - 1))
            log.info("hub: batch too large; sending %d records at a time", self._max_records)
            return 0.0
        error = f"HTTP {code}: {detail}"[:1000]
        await self.db.run(lambda s: record_error(s, error, self.clock.now()), "recording a hub refusal")
        if code in (401, 403, 413, 422):
            log.error("hub refused the office's records (%s); they are kept and tried again in %s", error,
                      self.hub.retry_max)
            return self._backoff(slow=True)
        retry_after = resp.headers.get("retry-after", "")
        wait = self._backoff()
        if retry_after.isdigit():
            wait = max(wait, float(retry_after))
        log.info("hub: %s; retrying in %.0f s", error, wait)
        return wait


def shipper_for(settings: Settings, db: Database, clock: Clock) -> Shipper | None:
    """The shipper when ``hub:`` is configured (composition root helper)."""
    return Shipper(settings, db, clock) if settings.hub is not None else None


__all__ = ["LinkInfo", "Shipper", "ensure_stream", "link_info", "prune_unshipped", "read_batch", "record_gap",
           "record_reply", "resync", "shipper_for", "start_stream", "status_message", "target_of"]
