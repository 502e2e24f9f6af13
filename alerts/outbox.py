"""The durable outbox: every message is a row first, sent later, and never lost.

healthchecks' Flip → Notification pattern with Alertmanager's dedup and retry stages:

1. **enqueue** (:func:`enqueue`) writes an ``outbox`` row *in the caller's transaction* — the same one that
   records the state change — with an idempotency key: a second enqueue with the same key is a no-op.
2. the **dispatcher** (:class:`Dispatcher`) finds due rows, checks mutes again (a mute set after the row was
   written still applies), plans the messages, and for each message in turn **claims** its rows with a
   conditional UPDATE (``status IN ('pending','retry')`` → ``sending``, ``claimed_by``/``claimed_at``) so two
   dispatchers on one database never take the same row, commits, and sends;
3. every attempt is **recorded** in ``delivery_attempts`` with its error, and the row becomes ``sent``,
   ``retry`` (with ``next_attempt_at``), ``dead`` or ``suppressed``.

Invariants and decisions:

* **At least once.** A crash between the send and the record leaves rows in ``sending``; the recovery sweep
  returns rows claimed longer than the lease ago to ``retry``. So a crash resends at most the messages that
  were in flight — at most one duplicate each — and loses none.
* **Never dropped.** Transient errors (network, timeout, 5xx, a rejected token) retry with exponential
  backoff up to a cap, for ever unless ``alerts.max_attempts`` says otherwise. ``dead`` is only for
  permanent errors: the receiver is gone (403, chat not found) — then the audience is marked broken in
  ``audience_states`` and the other audiences are told — or Telegram refuses the request itself. Muted and
  planned messages are kept as ``suppressed`` with the reason, never deleted.
* **Telegram's word is obeyed.** 429 ``retry_after`` is waited exactly (the row and the whole chat); a
  migrated group's new id is stored and the message resent there.
* **Rate limits are never exceeded**: at most ``telegram.per_chat_per_minute`` messages per chat in any 60 s
  and ``telegram.overall_per_second`` overall (:class:`RateLimiter`, on the injected clock's *monotonic*
  time — a wall-clock step neither frees nor blocks a chat — seeded from the rows sent in the last minute
  so a restart does not burst).
* **Alerts first** (:class:`Priority`): the limiter is shared with the bot's replies, but a reply may only
  use the chat's budget up to a lower ceiling, and a refusal to an outsider up to a lower one still — so
  alerts and recoveries always find room, replies come before refusals, and nobody outside
  ``allowed_users`` can spend the alerts' budget.
* **Grouping.** Rows with the same ``group_key`` go out as one message: once any of them is due, the whole
  pending group is flushed (Alertmanager's ``group_wait``).
* **Digest.** When messages for a chat have waited longer than ``alerts.digest_after`` (the link was down),
  everything due for that chat is merged into one digest ("Selama offline 10:02–13:47 WIB: …") listing every
  delayed message once with its original time. Merged rows are marked ``sent`` with ``digest_id`` pointing at
  the row of the message that carried them (kind ``digest``, or ``group`` for a group merge).

Payload (JSON) of a row: ``{"text": str, "parse_mode": "HTML" | null, "buttons": [[{"text", "data"}]],
"document": path | null, "photo": path | null, "filename": str | null, "silent": bool}`` plus optional
``summary`` (one HTML line for digests), ``refresh`` (re-render from the database at send time, see
:mod:`alerts.compose`), ``devices`` and ``planned`` (for mutes).
"""

from __future__ import annotations

import asyncio
import functools
import html
import logging
import os
import re
import socket
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import IntEnum
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from alerts import messages
from alerts.telegram import error_kind
from monitor.clock import Clock
from monitor.domain import Audience, Button, Delivery, OutgoingMessage
from monitor.errors import ChatMigrated, NotifyError, RateLimited, ReceiverGone, StorageError
from monitor.logs import redact
from monitor.storage.models import AudienceStateRow, DeliveryAttemptRow, KeyValueRow, OutboxRow

if TYPE_CHECKING:
    from monitor.domain import Notifier
    from monitor.settings import AudienceTarget, Settings
    from monitor.storage import Database

log = logging.getLogger(__name__)

PENDING, SENDING, SENT, RETRY, SUPPRESSED, DEAD = "pending", "sending", "sent", "retry", "suppressed", "dead"
WAITING = (PENDING, RETRY)
MIGRATIONS_KEY = "telegram.chat_migrations"
#: kinds that are never merged into a digest or muted (they are about the delivery itself, or files)
UNMERGED_KINDS = frozenset({"report"})


# ------------------------------------------------------------------------------------------------ enqueue


def normalize_payload(payload: dict[str, Any]) -> dict[str, Any]:
    """Check and complete a payload (see the module docstring). Raises ValueError for a malformed one —
    a bug in the caller, reported at enqueue time rather than as a message that can never be sent."""
    out = dict(payload)
    text = out.get("text")
    has_file = bool(out.get("document") or out.get("photo"))
    if text is None and not has_file:
        raise ValueError("outbox payload needs text (or a document/photo)")
    if text is not None and not isinstance(text, str):
        raise ValueError("outbox payload text must be a string")
    if out.get("document") and out.get("photo"):
        raise ValueError("outbox payload has both document and photo")
    out.setdefault("text", "")
    out.setdefault("parse_mode", "HTML")
    if out["parse_mode"] not in ("HTML", None):
        raise ValueError("outbox payload parse_mode must be 'HTML' or null")
    buttons = out.setdefault("buttons", [])
    if not isinstance(buttons, list) or not all(
            isinstance(row, list) and all(isinstance(b, dict) and isinstance(b.get("text"), str)
                                          and isinstance(b.get("data"), str) and len(b["data"].encode()) <= 64
                                          for b in row) for row in buttons):
        raise ValueError("outbox payload buttons must be rows of {text, data} with data of at most 64 bytes")
    for key in ("document", "photo", "filename"):
        value = out.setdefault(key, None)
        if value is not None and not isinstance(value, str):
            raise ValueError(f"outbox payload {key} must be a string (a file path) or null")
    out["silent"] = bool(out.get("silent", False))
    return out


def enqueue(session: Session, *, key: str, audience: Audience | str, site_id: str | None, kind: str,
            payload: dict[str, Any], now: datetime, incident_id: int | None = None, group_key: str | None = None,
            due: datetime | None = None, event_time: datetime | None = None,
            suppressed: str | None = None) -> OutboxRow | None:
    """Write one message to the outbox inside the caller's transaction; ``None`` when ``key`` exists.

    ``audience`` names who is told; the chat is resolved when the row is sent (``settings.audience_target``
    plus migrated chat ids in ``audience_states``). ``due`` delays the first attempt (group wait);
    ``event_time`` is when the thing happened (digests show it; defaults to ``now``). ``suppressed`` stores
    the row already suppressed with that reason (planned maintenance): recorded, never sent.
    """
    body = normalize_payload(payload)
    values = {
        "idempotency_key": key, "site_id": site_id, "incident_id": incident_id,
        "audience": audience.value if isinstance(audience, Audience) else str(audience), "kind": kind,
        "group_key": group_key, "payload": body, "status": SUPPRESSED if suppressed else PENDING, "attempts": 0,
        "created_at": now, "event_time": event_time or now, "next_attempt_at": due or now,
        "last_error": suppressed,
    }
    dialect = session.get_bind().dialect.name
    insert_fn = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert_fn(OutboxRow).values(**values).on_conflict_do_nothing(index_elements=["idempotency_key"])
    new_id = session.execute(stmt.returning(OutboxRow.id)).scalar_one_or_none()
    if new_id is None:
        return None
    return session.get(OutboxRow, new_id)


# ------------------------------------------------------------------------------------------ chat targets


@dataclass(frozen=True, slots=True)
class Target:
    """Where a (site, audience) row goes right now."""

    scope: str              # the site id when the site has its own chat for the audience, else "*"
    audience: str
    chat_id: str
    thread_id: int | None
    language: str
    silent: bool

    @property
    def chat_key(self) -> str:
        return f"{self.chat_id}#{self.thread_id}" if self.thread_id is not None else self.chat_id

    def chat_value(self) -> int | str:
        return int(self.chat_id) if self.chat_id.lstrip("-").isdigit() else self.chat_id


def load_migrations(session: Session) -> dict[str, str]:
    row = session.get(KeyValueRow, MIGRATIONS_KEY)
    return {str(k): str(v) for k, v in (row.value if row else {}).items()}


def migrated(chat_id: str, migrations: dict[str, str]) -> str:
    seen: set[str] = set()
    while chat_id in migrations and chat_id not in seen:  # a chain (group -> supergroup) at most a few long
        seen.add(chat_id)
        chat_id = migrations[chat_id]
    return chat_id


def configured_target(settings: Settings, site_id: str | None, audience: str) -> tuple[str, AudienceTarget] | None:
    """(scope, configured chat) for a site's audience: the site's own chat, else the global one."""
    aud = Audience(audience)
    if site_id is not None:
        try:
            site = settings.site(site_id)
        except KeyError:
            site = None
        if site is not None and aud in site.audiences:
            return site_id, site.audiences[aud]
    target = settings.telegram.audiences.get(aud)
    return ("*", target) if target is not None else None


def site_language(settings: Settings, site_id: str | None) -> str:
    if site_id is None:
        return "id"
    try:
        return settings.site(site_id).language
    except KeyError:
        return "id"


def resolve_target(settings: Settings, site_id: str | None, audience: str,
                   migrations: dict[str, str]) -> Target | None:
    found = configured_target(settings, site_id, audience)
    if found is None:
        return None
    scope, conf = found
    chat = migrated(str(conf.chat_id), migrations)
    return Target(scope, audience, chat, conf.thread_id, conf.language or site_language(settings, site_id),
                  conf.silent)


# -------------------------------------------------------------------------------------------- rate limits


class Priority(IntEnum):
    """Who may use a chat's rate budget, most important first (see :class:`RateLimiter`)."""

    ALERT = 0      # outbox rows: alerts, recoveries, escalations, reports
    REPLY = 1      # the bot's answers to allowed users' commands
    REFUSAL = 2    # "you may not use this bot" to someone outside allowed_users


class RateLimiter:
    """Sliding-window limits: ``per_chat`` messages per ``chat_window`` seconds in one chat, ``overall`` per
    ``overall_window`` seconds in total, plus a chat blocked until a time (429).

    Times are points on one timeline that never jumps: the dispatcher and the bot pass the clock's
    ``monotonic()`` (a ``datetime`` is taken as its timestamp — tests of the pure logic). A slot is
    *reserved* when a message is planned and *committed* with the time the API answered, which is never
    earlier than when Telegram counted it; so the next message is spaced by a full window from Telegram's
    point of view too.

    **Priorities.** Every class counts every message sent, but may only send while the window holds fewer
    than its ceiling: :attr:`Priority.ALERT` the whole budget, :attr:`Priority.REPLY` all but
    :attr:`alert_reserve` (half of it), :attr:`Priority.REFUSAL` a fifth. So however many replies and refusals
    go out, the alerts' share is always free, and replies get room before refusals do.
    """

    def __init__(self, per_chat: int, overall: int, *, chat_window: float = 60.0,
                 overall_window: float = 1.0) -> None:
        self.per_chat, self.overall = per_chat, overall
        self.chat_window, self.overall_window = chat_window, overall_window
        self.alert_reserve = max(1, per_chat // 2) if per_chat > 1 else 0
        self._chats: dict[str, deque[float]] = {}
        self._all: deque[float] = deque()
        self._blocked: dict[str, float] = {}

    def ceilings(self, priority: Priority) -> tuple[int, int]:
        """(per chat, overall) messages the window may hold for ``priority`` to send one more."""
        if priority is Priority.ALERT:
            return self.per_chat, self.overall
        if priority is Priority.REPLY:
            return (max(1, self.per_chat - self.alert_reserve) if self.per_chat > 1 else 1,
                    max(1, self.overall - max(1, self.overall // 3)) if self.overall > 1 else 1)
        return max(1, self.per_chat // 5), max(1, self.overall // 5)

    @staticmethod
    def _t(when: datetime | float) -> float:
        return when.timestamp() if isinstance(when, datetime) else float(when)

    def _prune(self, chat: str, now: float) -> deque[float]:
        sent = self._chats.setdefault(chat, deque())
        while sent and sent[0] <= now - self.chat_window:
            sent.popleft()
        while self._all and self._all[0] <= now - self.overall_window:
            self._all.popleft()
        return sent

    def seed(self, sends: Iterable[tuple[str, datetime | float]]) -> None:
        """Count messages already sent (from the database) so a restart does not burst."""
        for chat, when in sorted(((c, self._t(w)) for c, w in sends), key=lambda s: s[1]):
            self._chats.setdefault(chat, deque()).append(when)
            self._all.append(when)

    def block(self, chat: str, until: datetime | float) -> None:
        self._blocked[chat] = max(self._blocked.get(chat, 0.0), self._t(until))

    def wait(self, chat: str, now: datetime | float, priority: Priority = Priority.ALERT) -> float:
        """Seconds until one more message of ``priority`` may go to ``chat`` (0 = now)."""
        t = self._t(now)
        sent = self._prune(chat, t)
        per_chat, overall = self.ceilings(priority)
        waits = [self._blocked.get(chat, 0.0) - t]
        if len(sent) >= per_chat:
            waits.append(sorted(sent)[len(sent) - per_chat] + self.chat_window - t)
        if len(self._all) >= overall:
            waits.append(sorted(self._all)[len(self._all) - overall] + self.overall_window - t)
        return max(0.0, *waits)

    def free(self, chat: str, now: datetime | float, priority: Priority = Priority.ALERT) -> int:
        """How many messages of ``priority`` may go to ``chat`` now."""
        if self.wait(chat, now, priority) > 0:
            return 0
        t = self._t(now)
        sent = self._prune(chat, t)
        per_chat, overall = self.ceilings(priority)
        return max(0, min(per_chat - len(sent), overall - len(self._all)))

    def reserve(self, chat: str, now: datetime | float) -> float:
        t = self._t(now)
        self._prune(chat, t)
        self._chats[chat].append(t)
        self._all.append(t)
        return t

    def commit(self, chat: str, reserved: float, done: datetime | float) -> None:
        """Replace a reservation by the time the API answered (later = more conservative)."""
        self._replace(chat, reserved, self._t(done))

    def cancel(self, chat: str, reserved: float) -> None:
        self._replace(chat, reserved, None)

    def _replace(self, chat: str, old: float, new: float | None) -> None:
        for queue in (self._chats.get(chat), self._all):
            if queue is None:
                continue
            items = list(queue)
            if old in items:
                items.remove(old)
                if new is not None:
                    items.append(new)
                queue.clear()
                queue.extend(sorted(items))


# ----------------------------------------------------------------------------------------------- backoff


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff with a cap: ``base``, ``base*factor``, … up to ``cap`` seconds."""

    base: float = 5.0
    factor: float = 2.0
    cap: float = 600.0

    def delay(self, attempts: int) -> float:
        return float(min(self.cap, self.base * self.factor ** max(0, attempts - 1)))


# ------------------------------------------------------------------------------------- composing messages


class Composer(Protocol):
    """Turns claimed rows into the payloads actually sent (one per Telegram message).

    ``compose`` gets the rows of one group (or a single row); ``digest`` gets every row of a backlog for
    one chat and may return several parts when they do not fit one message."""

    def compose(self, session: Session, rows: Sequence[OutboxRow], target: Target,
                now: datetime) -> dict[str, Any]: ...

    def digest(self, session: Session, rows: Sequence[OutboxRow], target: Target,
               now: datetime) -> list[dict[str, Any]]: ...


class PlainComposer:
    """Composition from the stored payloads alone: a single row as written; a group's texts joined; a
    digest from each row's ``summary`` (or the first line of its text)."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings

    def compose(self, session: Session, rows: Sequence[OutboxRow], target: Target,
                now: datetime) -> dict[str, Any]:
        if len(rows) == 1:
            return dict(rows[0].payload)
        first = dict(rows[0].payload)
        first["text"] = messages.clip("\n\n".join(r.payload.get("text", "") for r in rows), lang=target.language)
        first["buttons"] = next((r.payload["buttons"] for r in reversed(rows) if r.payload.get("buttons")), [])
        return first

    def digest(self, session: Session, rows: Sequence[OutboxRow], target: Target,
               now: datetime) -> list[dict[str, Any]]:
        items = [messages.DigestItem(r.event_time, summary_of(r)) for r in rows]
        zone = "Asia/Jakarta"
        site_id = rows[0].site_id if rows else None
        if self.settings is not None and site_id is not None:
            try:
                zone = self.settings.site(site_id).timezone
            except KeyError:
                pass
        parts = messages.render_digest(items, zone=zone, now=now, lang=target.language)
        return [{"text": p, "parse_mode": "HTML", "buttons": [], "silent": False} for p in parts]


def summary_of(row: OutboxRow) -> str:
    """The one-line HTML summary of a row for a digest."""
    summary = row.payload.get("summary")
    if isinstance(summary, str) and summary:
        return summary
    text = str(row.payload.get("text") or row.payload.get("filename") or row.kind)
    first = text.strip().split("\n", 1)[0]
    return str(html.escape(_strip_tags(first)))


def _strip_tags(text: str) -> str:
    return html.unescape(re.sub(r"<[^<>]+>", "", text))


MuteCheck = Callable[[Session, OutboxRow, datetime], "str | None"]
"""``(session, row, now) -> reason`` when the row must not be sent now (a mute, maintenance, inhibition)."""


# ------------------------------------------------------------------------------------------- dispatcher


@dataclass
class _Work:
    """One Telegram message (or a digest in parts) to send, with the rows it carries."""

    target: Target
    rows: list[OutboxRow]
    payloads: list[dict[str, Any]]
    combined_kind: str | None            # "group" / "digest" when rows were merged, else None
    reservations: list[float] = field(default_factory=list)


@dataclass
class _Plan:
    """One message to send: its rows (ids), where, and how they are merged (``group`` / ``digest``)."""

    rows: list[int]
    target: Target
    kind: str
    held: bool = False


@dataclass(frozen=True, slots=True)
class DispatchResult:
    """What one :meth:`Dispatcher.run_once` did."""

    sent: int = 0            # Telegram messages delivered
    rows_sent: int = 0       # outbox rows marked sent (merged rows count each)
    failed: int = 0
    suppressed: int = 0
    recovered: int = 0       # rows returned from a stale `sending` claim
    waiting: int = 0         # rows due but held back (rate limit, circuit open)


class Dispatcher:
    """Sends due outbox rows through a :class:`monitor.domain.Notifier` (see the module docstring)."""

    def __init__(self, settings: Settings, db: Database, clock: Clock, notifier: Notifier, *,
                 composer: Composer | None = None, mute_check: MuteCheck | None = None, name: str | None = None,
                 lease: timedelta = timedelta(minutes=5), backoff: Backoff = Backoff(), batch: int = 200,
                 limiter: RateLimiter | None = None) -> None:
        self.settings = settings
        self.db = db
        self.clock = clock
        self.notifier = notifier
        self.composer: Composer = composer or PlainComposer(settings)
        self.mute_check = mute_check
        self.name = name or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.lease = lease
        self.backoff = backoff
        self.batch = batch
        tg = settings.telegram
        self.limiter = limiter or RateLimiter(tg.per_chat_per_minute, tg.overall_per_second)
        self._seeded = False
        self._circuit_until: float | None = None     # monotonic
        self._network_failures = 0
        self._secrets = tuple(settings.secrets)

    # ------------------------------------------------------------------------------------------- cycle

    async def run_once(self) -> DispatchResult:
        """One cycle: recover stale claims, claim due rows, send, record. Never raises for a delivery
        failure (that is recorded on the rows); raises StorageError when the database is unavailable."""
        now = self.clock.now()
        if not self._seeded:
            await self.db.run(lambda s: self._seed(s, now), "seeding rate limits")
            self._seeded = True
        recovered = await self.db.run(lambda s: self._sweep(s, now), "outbox recovery sweep")
        if self._circuit_until is not None and self.clock.monotonic() < self._circuit_until:
            return DispatchResult(recovered=recovered)
        plans, suppressed, waiting = await self.db.run(lambda s: self._plan_due(s, now), "planning outbox rows")
        sent = rows_sent = failed = 0
        # Each message's rows are claimed just before it is sent, so a crash leaves only the message in
        # flight claimed (resent after the lease: at most one duplicate), never the whole batch.
        for plan in plans:
            claim_time = self.clock.now()
            work = await self.db.run(functools.partial(self._claim_plan, plan=plan, now=claim_time),
                                     "claiming outbox rows")
            if work is None:
                waiting += len(plan.rows) if plan.held else 0
                continue
            ok, broke = await self._deliver(work)
            if ok:
                sent += len(work.payloads)
                rows_sent += len(work.rows)
            else:
                failed += 1
            if broke:  # the link is down: the rest waits, unclaimed and without burning attempts
                break
        return DispatchResult(sent, rows_sent, failed, suppressed, recovered, waiting)

    def next_wake(self) -> datetime | None:
        """When the circuit breaker lets the next attempt go (None = not open)."""
        if self._circuit_until is None:
            return None
        return self.clock.now() + timedelta(seconds=max(0.0, self._circuit_until - self.clock.monotonic()))

    def _mono_of(self, when: datetime, now: datetime) -> float:
        """A stored wall-clock time on the limiter's monotonic timeline (relative to ``now``)."""
        return self.clock.monotonic() - (now - when).total_seconds()

    # ------------------------------------------------------------------------------------------- phases

    def _seed(self, session: Session, now: datetime) -> None:
        since = now - timedelta(seconds=self.limiter.chat_window)
        sends: list[tuple[str, datetime]] = []
        for chat, sent_at, payload in session.execute(
                select(OutboxRow.chat_id, OutboxRow.sent_at, OutboxRow.payload)
                .where(OutboxRow.status == SENT, OutboxRow.sent_at > since, OutboxRow.digest_id.is_(None),
                       OutboxRow.chat_id.is_not(None))):
            parts = int(payload.get("_parts", 1)) if isinstance(payload, dict) else 1
            sends.extend([(str(chat), sent_at)] * max(1, parts))
        self.limiter.seed((chat, self._mono_of(when, now)) for chat, when in sends)
        # a 429 answered shortly before a restart still binds the chat
        rows = session.execute(
            select(OutboxRow.chat_id, DeliveryAttemptRow.time, DeliveryAttemptRow.retry_after)
            .join(OutboxRow, OutboxRow.id == DeliveryAttemptRow.outbox_id)
            .where(DeliveryAttemptRow.error_kind == "rate_limited", DeliveryAttemptRow.time > now - timedelta(hours=1),
                   OutboxRow.chat_id.is_not(None)))
        for chat, when, retry_after in rows:
            if retry_after:
                self.limiter.block(str(chat), self._mono_of(when, now) + retry_after)

    def _sweep(self, session: Session, now: datetime) -> int:
        """Rows stuck in ``sending`` past the lease (the dispatcher died between claim and record) go back
        to ``retry``. The message may have been delivered: this is the "at most one duplicate" case.

        A claim by a dispatcher process of this host that no longer exists (killed, crashed; see
        :func:`claimant_gone`) is stale at once: waiting out the lease would delay the alert that was being
        sent when the monitor died by minutes after its restart."""
        claims = session.execute(
            select(OutboxRow.id, OutboxRow.claimed_by, OutboxRow.claimed_at)
            .where(OutboxRow.status == SENDING)).all()
        stale = [(row_id, who, when) for row_id, who, when in claims
                 if when is not None and (when < now - self.lease or (who != self.name and claimant_gone(who)))]
        count = 0
        for row_id, who, when in stale:
            res = session.execute(
                update(OutboxRow).where(OutboxRow.id == row_id, OutboxRow.status == SENDING,
                                        OutboxRow.claimed_by == who)
                .values(status=RETRY, next_attempt_at=now, claimed_by=None,
                        last_error=f"claim by {who} at {when:%Y-%m-%d %H:%M:%S}Z expired; resending")
                .execution_options(synchronize_session=False))
            if res.rowcount:  # type: ignore[attr-defined]
                count += 1
                session.add(DeliveryAttemptRow(
                    outbox_id=row_id, time=now, ok=False, error_kind="lease_expired",
                    error=f"claimed by {who} at {when:%Y-%m-%d %H:%M:%S}Z and never recorded (stopped while "
                          "sending?); sent again, the chat may see it twice", duration_ms=0.0))
        if count:
            log.warning("outbox: %d message(s) were being sent when a dispatcher stopped; resending them", count)
        return count

    def _plan_due(self, session: Session, now: datetime) -> tuple[list[_Plan], int, int]:
        """Find due rows, suppress the muted ones, and split the rest into messages (nothing claimed yet)."""
        due = list(session.scalars(
            select(OutboxRow).where(OutboxRow.status.in_(WAITING), OutboxRow.next_attempt_at <= now)
            .order_by(OutboxRow.next_attempt_at, OutboxRow.id).limit(self.batch)))
        if not due:
            return [], 0, 0
        groups = {r.group_key for r in due if r.group_key}
        seen = {r.id for r in due}
        if groups:
            # the whole group flushes once any member is due (group_wait), except rows waiting out a retry
            for extra in session.scalars(select(OutboxRow).where(OutboxRow.group_key.in_(groups),
                                                                 OutboxRow.status == PENDING)):
                if extra.id not in seen:
                    due.append(extra)
                    seen.add(extra.id)
        migrations = load_migrations(session)
        suppressed = 0
        per_chat: dict[str, list[tuple[OutboxRow, Target]]] = {}
        for row in due:
            target = resolve_target(self.settings, row.site_id, row.audience, migrations)
            if target is None:
                missing = f"no chat configured for audience {row.audience} of site {row.site_id or '*'}"
                suppressed += self._suppress(session, row, now, missing)
                continue
            if self.mute_check is not None and row.kind not in UNMERGED_KINDS:
                reason = self.mute_check(session, row, now)
                if reason:
                    suppressed += self._suppress(session, row, now, reason)
                    continue
            per_chat.setdefault(target.chat_key, []).append((row, target))
        plans: list[_Plan] = []
        waiting = 0
        for _dest, items in sorted(per_chat.items(), key=lambda kv: min(r.event_time for r, _ in kv[1])):
            for plan_rows, target, kind in self._plan(items, now):
                if self.limiter.free(target.chat_id, self.clock.monotonic()) <= 0:
                    waiting += len(plan_rows)
                    continue
                plans.append(_Plan([r.id for r in plan_rows], target, kind))
        return plans, suppressed, waiting

    def _claim_plan(self, session: Session, *, plan: _Plan, now: datetime) -> _Work | None:
        """Claim the rows of one planned message (those still waiting) and compose it. None when the rate
        limit holds it back (``plan.held``) or another dispatcher took every row."""
        # Destinations are (chat, topic); Telegram's limits are per chat, so the limiter is keyed by chat.
        target, kind = plan.target, plan.kind
        free = self.limiter.free(target.chat_id, self.clock.monotonic())
        if free <= 0:
            plan.held = True
            return None
        rows = list(session.scalars(select(OutboxRow).where(OutboxRow.id.in_(plan.rows))
                                    .order_by(OutboxRow.event_time, OutboxRow.id)))
        claimed = [r for r in rows if self._claim_row(session, r, now)]
        if not claimed:
            return None
        payloads = self._payloads(session, claimed, target, kind, now)
        if kind == "digest" and len(payloads) > free:
            claimed, payloads = self._shrink_digest(session, claimed, target, now, free)
        for payload in payloads:
            payload["_thread_id"] = target.thread_id
        work = _Work(target, claimed, payloads, kind if (kind == "digest" or len(claimed) > 1) else None)
        for _ in payloads:
            work.reservations.append(self.limiter.reserve(target.chat_id, self.clock.monotonic()))
        return work

    def _plan(self, items: list[tuple[OutboxRow, Target]], now: datetime) -> list[tuple[list[OutboxRow], Target, str]]:
        """Split one chat's rows into messages: files alone; rows of one group together; the rest alone —
        or, when some have waited past ``digest_after``, every text row in one digest."""
        file_ids = {r.id for r, _ in items if r.payload.get("document") or r.payload.get("photo")
                    or r.kind in UNMERGED_KINDS}
        files = [(r, t) for r, t in items if r.id in file_ids]
        texts = [(r, t) for r, t in items if r.id not in file_ids]
        plans: list[tuple[list[OutboxRow], Target, str]] = []
        grouped: dict[str, list[OutboxRow]] = {}
        order: list[str] = []
        for r, _t in sorted(texts, key=lambda rt: (rt[0].event_time, rt[0].id)):
            key = r.group_key or f"row:{r.id}"
            if key not in grouped:
                grouped[key] = []
                order.append(key)
            grouped[key].append(r)
        target_of = {r.id: t for r, t in items}
        backlog = any(r.event_time < now - self.settings.alerts.digest_after for r, _ in texts)
        if backlog and len(texts) >= 2:
            rows = sorted((r for r, _ in texts), key=lambda r: (r.event_time, r.id))
            plans.append((rows, target_of[rows[0].id], "digest"))
        else:
            for key in order:
                rows = grouped[key]
                plans.append((rows, target_of[rows[0].id], "group"))
        for r, t in sorted(files, key=lambda rt: (rt[0].event_time, rt[0].id)):
            plans.append(([r], t, "group"))
        plans.sort(key=lambda p: min(r.event_time for r in p[0]))
        return plans

    def _claim_row(self, session: Session, row: OutboxRow, now: datetime) -> bool:
        res = session.execute(
            update(OutboxRow).where(OutboxRow.id == row.id, OutboxRow.status.in_(WAITING))
            .values(status=SENDING, claimed_by=self.name, claimed_at=now)
            .execution_options(synchronize_session=False))
        return bool(res.rowcount)  # type: ignore[attr-defined]

    def _payloads(self, session: Session, rows: list[OutboxRow], target: Target, kind: str,
                  now: datetime) -> list[dict[str, Any]]:
        try:
            if kind == "digest":
                payloads = self.composer.digest(session, rows, target, now)
            else:
                payloads = [self.composer.compose(session, rows, target, now)]
        except Exception:  # a formatting bug must not stop delivery: fall back to the stored texts
            log.exception("outbox: composing %s for rows %s failed; sending the stored text",
                          kind, [r.id for r in rows])
            fallback = PlainComposer(self.settings)
            payloads = (fallback.digest(session, rows, target, now) if kind == "digest"
                        else [fallback.compose(session, rows, target, now)])
        if any(r.payload.get("plain") for r in rows):  # Telegram refused our HTML once: plain text
            for p in payloads:
                p["text"], p["parse_mode"] = _strip_tags(p.get("text") or ""), None
        return [normalize_payload(p) for p in payloads]

    def _shrink_digest(self, session: Session, rows: list[OutboxRow], target: Target, now: datetime,
                       free: int) -> tuple[list[OutboxRow], list[dict[str, Any]]]:
        """Keep the oldest rows whose digest fits in ``free`` messages; release the others for the next one."""
        lo, hi, best = 1, len(rows), 1
        while lo <= hi:
            mid = (lo + hi) // 2
            if len(self.composer.digest(session, rows[:mid], target, now)) <= free:
                best, lo = mid, mid + 1
            else:
                hi = mid - 1
        keep, rest = rows[:best], rows[best:]
        self._release_rows(session, rest)
        return keep, self._payloads(session, keep, target, "digest", now)

    def _suppress(self, session: Session, row: OutboxRow, now: datetime, reason: str) -> int:
        res = session.execute(
            update(OutboxRow).where(OutboxRow.id == row.id, OutboxRow.status.in_(WAITING))
            .values(status=SUPPRESSED, last_error=reason[:2000], claimed_by=self.name, claimed_at=now)
            .execution_options(synchronize_session=False))
        if res.rowcount:  # type: ignore[attr-defined]
            log.info("outbox: row %s (%s to %s) suppressed: %s", row.id, row.kind, row.audience, reason)
        return int(res.rowcount)  # type: ignore[attr-defined]

    def _release_rows(self, session: Session, rows: Iterable[OutboxRow]) -> None:
        for r in rows:
            session.execute(
                update(OutboxRow).where(OutboxRow.id == r.id, OutboxRow.status == SENDING,
                                        OutboxRow.claimed_by == self.name)
                .values(status=RETRY if r.attempts else PENDING, claimed_by=None, claimed_at=None)
                .execution_options(synchronize_session=False))

    # ------------------------------------------------------------------------------------------ delivery

    async def _deliver(self, work: _Work) -> tuple[bool, bool]:
        """Send one work item and record the outcome. Returns (delivered, circuit_opened)."""
        started = self.clock.monotonic()
        deliveries: list[Delivery] = []
        error: NotifyError | None = None
        for payload in work.payloads:
            message = self._message(work.target, payload)
            try:
                deliveries.append(await self.notifier.send(message))
            except NotifyError as exc:
                error = exc
                break
            except Exception as exc:  # a bug in a notifier: recorded and retried, never lost
                error = NotifyError(redact(f"{type(exc).__name__}: {exc}", self._secrets))
                log.exception("outbox: notifier raised an unexpected error")
                break
        done = self.clock.now()
        done_mono = self.clock.monotonic()
        elapsed_ms = (done_mono - started) * 1000.0
        chat_key = work.target.chat_id
        for i, r in enumerate(work.reservations):
            if i < len(deliveries):
                self.limiter.commit(chat_key, r, done_mono)
            else:
                self.limiter.cancel(chat_key, r)
        if error is None:
            await self.db.run(lambda s: self._record_sent(s, work, deliveries, done, elapsed_ms),
                              "recording a delivery")
            self._network_failures = 0
            self._circuit_until = None
            return True, False
        kind = error_kind(error)
        await self.db.run(lambda s: self._record_failure(s, work, error, kind, done, elapsed_ms),
                          "recording a failed delivery")
        if isinstance(error, RateLimited) and error.retry_after is not None:
            self.limiter.block(chat_key, done_mono + error.retry_after)
        network = kind in ("network", "timeout", "unauthorized") and not isinstance(error, RateLimited)
        if network:
            self._network_failures += 1
            hold = self.backoff.delay(self._network_failures)
            self._circuit_until = done_mono + hold
            log.warning("outbox: %s; holding all sends for %.0f s", redact(str(error), self._secrets), hold)
        return False, network

    def _message(self, target: Target, payload: dict[str, Any]) -> OutgoingMessage:
        buttons = tuple(tuple(Button(b["text"], b["data"]) for b in row) for row in payload.get("buttons") or [])
        return OutgoingMessage(chat_id=target.chat_value(), text=payload.get("text") or "", thread_id=target.thread_id,
                               parse_mode=payload.get("parse_mode"), buttons=buttons,
                               document=payload.get("document"), photo=payload.get("photo"),
                               filename=payload.get("filename"), silent=bool(payload.get("silent")) or target.silent)

    def _record_sent(self, session: Session, work: _Work, deliveries: list[Delivery], done: datetime,
                     elapsed_ms: float) -> None:
        last = deliveries[-1]
        chat = str(last.chat_id)
        combined_id: int | None = None
        if work.combined_kind is not None:
            payload = dict(work.payloads[-1])
            payload["_parts"] = len(work.payloads)
            payload["members"] = [r.id for r in work.rows]
            payload["incident_ids"] = sorted({r.incident_id for r in work.rows if r.incident_id is not None})
            if len(work.payloads) > 1:
                payload["parts_text"] = [p.get("text", "") for p in work.payloads]
            sites = {r.site_id for r in work.rows}
            incidents = {r.incident_id for r in work.rows}
            combined = OutboxRow(
                idempotency_key=f"{work.combined_kind}:{work.rows[0].id}:{uuid.uuid4().hex[:10]}",
                site_id=sites.pop() if len(sites) == 1 else None,
                incident_id=incidents.pop() if len(incidents) == 1 else None,
                audience=work.target.audience, kind=work.combined_kind,
                group_key=work.rows[0].group_key if work.combined_kind == "group" else None,
                payload=payload, status=SENT, attempts=1, created_at=done,
                event_time=min(r.event_time for r in work.rows), next_attempt_at=done, claimed_at=done,
                claimed_by=self.name, sent_at=done, chat_id=chat, message_id=last.message_id)
            session.add(combined)
            session.flush()
            combined_id = combined.id
            session.add(DeliveryAttemptRow(outbox_id=combined.id, time=done, ok=True, duration_ms=elapsed_ms))
        for r in work.rows:
            values: dict[str, Any] = {"status": SENT, "sent_at": done, "attempts": r.attempts + 1, "last_error": None,
                                      "chat_id": chat, "message_id": last.message_id, "digest_id": combined_id}
            if combined_id is None:
                values["payload"] = {**r.payload, "_sent": work.payloads[-1].get("text"),
                                     "_sent_buttons": work.payloads[-1].get("buttons") or [],
                                     "_thread_id": work.target.thread_id, "_parts": len(work.payloads)}
            session.execute(update(OutboxRow).where(OutboxRow.id == r.id, OutboxRow.claimed_by == self.name)
                            .values(**values).execution_options(synchronize_session=False))
            session.add(DeliveryAttemptRow(outbox_id=r.id, time=done, ok=True, duration_ms=elapsed_ms))
        self._clear_broken(session, work, done)

    def _record_failure(self, session: Session, work: _Work, error: NotifyError, kind: str, done: datetime,
                        elapsed_ms: float) -> None:
        text = redact(str(error), self._secrets)[:2000]
        max_attempts = self.settings.alerts.max_attempts
        migrated_to: str | None = None
        if isinstance(error, ChatMigrated):
            migrated_to = str(error.new_chat_id)
            self._store_migration(session, work.target, migrated_to, done)
        for r in work.rows:
            attempts = r.attempts + 1
            payload = r.payload
            if isinstance(error, RateLimited):
                status, nxt = RETRY, done + timedelta(seconds=error.retry_after or 1.0)
            elif isinstance(error, ChatMigrated):
                status, nxt = RETRY, done
            elif isinstance(error, ReceiverGone):
                status, nxt = DEAD, done
            elif kind == "bad_markup" and not payload.get("plain"):
                status, nxt, payload = RETRY, done, {**payload, "plain": True}
            elif error.permanent:
                status, nxt = DEAD, done
            elif max_attempts and attempts >= max_attempts:
                status, nxt = DEAD, done
                text = f"gave up after {attempts} attempts: {text}"
            else:
                status, nxt = RETRY, done + timedelta(seconds=self.backoff.delay(attempts))
            session.execute(update(OutboxRow).where(OutboxRow.id == r.id, OutboxRow.claimed_by == self.name)
                            .values(status=status, attempts=attempts, next_attempt_at=nxt, last_error=text,
                                    chat_id=work.target.chat_id, claimed_by=None, payload=payload)
                            .execution_options(synchronize_session=False))
            session.add(DeliveryAttemptRow(outbox_id=r.id, time=done, ok=False, error_kind=kind, error=text,
                                           retry_after=error.retry_after if isinstance(error, RateLimited) else None,
                                           duration_ms=elapsed_ms))
        if isinstance(error, ReceiverGone):
            self._mark_broken(session, work, text, done)
        elif error.permanent:
            log.error("outbox: Telegram refused %d row(s) for good: %s", len(work.rows), text)
        if migrated_to is not None:
            log.warning("outbox: chat %s became %s; resending there", work.target.chat_id, migrated_to)

    # ------------------------------------------------------------------------------------ audience state

    def _audience_state(self, session: Session, scope: str, audience: str, now: datetime) -> AudienceStateRow:
        row = session.scalars(select(AudienceStateRow).where(AudienceStateRow.scope == scope,
                                                             AudienceStateRow.audience == audience)).first()
        if row is None:
            row = AudienceStateRow(scope=scope, audience=audience, broken=False, updated_at=now)
            session.add(row)
        return row

    def _store_migration(self, session: Session, target: Target, new_chat: str, now: datetime) -> None:
        kv = session.get(KeyValueRow, MIGRATIONS_KEY)
        if kv is None:
            kv = KeyValueRow(key=MIGRATIONS_KEY, value={}, updated_at=now)
            session.add(kv)
        kv.value = {**kv.value, target.chat_id: new_chat}
        kv.updated_at = now
        # every (scope, audience) that used the old chat now uses the new one
        for scope_aud in self._audiences_on_chat(session, target.chat_id):
            state = self._audience_state(session, *scope_aud, now)
            state.chat_id, state.updated_at = new_chat, now

    def _audiences_on_chat(self, session: Session, chat: str) -> list[tuple[str, str]]:
        migrations = load_migrations(session)
        found: list[tuple[str, str]] = []
        for aud, conf in self.settings.telegram.audiences.items():
            if migrated(str(conf.chat_id), migrations) == chat or str(conf.chat_id) == chat:
                found.append(("*", aud.value))
        for site in self.settings.sites:
            for aud, conf in site.audiences.items():
                if migrated(str(conf.chat_id), migrations) == chat or str(conf.chat_id) == chat:
                    found.append((site.id, aud.value))
        return found

    def _mark_broken(self, session: Session, work: _Work, reason: str, now: datetime) -> None:
        target = work.target
        state = self._audience_state(session, target.scope, target.audience, now)
        was_broken = state.broken
        state.broken, state.broken_reason, state.updated_at = True, reason, now
        log.error("outbox: %s chat %s (%s) cannot receive messages: %s", target.audience, target.chat_id,
                  target.scope, reason)
        if not was_broken:
            self._tell_others(session, work, reason, now, restored=False)

    def _clear_broken(self, session: Session, work: _Work, now: datetime) -> None:
        target = work.target
        state = session.scalars(select(AudienceStateRow).where(
            AudienceStateRow.scope == target.scope, AudienceStateRow.audience == target.audience)).first()
        if state is not None and state.broken:
            state.broken, state.broken_reason, state.updated_at = False, None, now
            log.warning("outbox: %s chat %s receives messages again", target.audience, target.chat_id)
            self._tell_others(session, work, "", now, restored=True)

    def _tell_others(self, session: Session, work: _Work, reason: str, now: datetime, *, restored: bool) -> None:
        """Report a broken (or restored) receiver to every other audience that has a different chat."""
        target = work.target
        named = sorted({r.site_id for r in work.rows if r.site_id is not None})
        sites: list[str | None] = [*named] if named else [None]
        migrations = load_migrations(session)
        for site_id in sites:
            site_name = self.settings.site(site_id).name if site_id else "*"
            zone = self.settings.site(site_id).timezone if site_id else "Asia/Jakarta"
            for aud in Audience:
                if aud.value == target.audience:
                    continue
                other = resolve_target(self.settings, site_id, aud.value, migrations)
                if other is None or other.chat_key == target.chat_key:
                    continue
                text = messages.render_receiver_broken(audience=target.audience, site_name=site_name,
                                                       reason=_short_reason(reason), lang=other.language,
                                                       zone=zone, now=now, restored=restored)
                key_kind = "restored" if restored else "broken"
                summary = messages.summary_line("sum.restored" if restored else "sum.broken", lang=other.language,
                                                emoji="✅" if restored else "🚫",
                                                audience=messages.phrase(other.language, f"audience.{target.audience}"))
                enqueue(session, key=f"{key_kind}:{target.scope}:{target.audience}:{site_id}:{aud.value}:"
                                     f"{now.isoformat()}",
                        audience=aud, site_id=site_id, kind=f"receiver_{key_kind}", now=now, event_time=now,
                        payload={"text": text, "summary": summary, "parse_mode": "HTML"})


def claimant_gone(name: str | None) -> bool:
    """True when ``name`` is a default dispatcher name (``host:pid:tag``) of a process on this host that no
    longer runs. Unknown formats, other hosts and live (or foreign) processes are False: only the lease
    frees those. A reused pid also reads as alive — the safe side (the lease still applies)."""
    if not name:
        return False
    host, sep, rest = name.partition(":")
    pid_text, sep2, _tag = rest.partition(":")
    if not sep or not sep2 or host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid <= 0 or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except (PermissionError, OSError):
        return False
    return False


def _short_reason(reason: str) -> str:
    """The API's words without our "sendMessage to -100…:" prefix."""
    return reason.split(": ", 1)[1] if ": " in reason else reason


# ------------------------------------------------------------------------------------------------ queries


def counts(session: Session) -> dict[str, int]:
    """Rows per status (for tests, the CLI and the daily line)."""
    return {status: int(n) for status, n in session.execute(
        select(OutboxRow.status, func.count()).group_by(OutboxRow.status))}


async def wait_idle(db: Database, within: float = 10.0) -> bool:
    """Wait (bounded by ``within`` seconds of real time) until no row is pending, retrying or sending."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        busy = await db.run(lambda s: s.scalar(select(func.count()).select_from(OutboxRow)
                                               .where(OutboxRow.status.in_((*WAITING, SENDING)))))
        if not busy:
            return True
        await asyncio.sleep(0.05)
    return False


__all__ = ["DEAD", "PENDING", "RETRY", "SENDING", "SENT", "SUPPRESSED", "Backoff", "Composer", "DispatchResult",
           "Dispatcher", "PlainComposer", "Priority", "RateLimiter", "StorageError", "Target", "counts", "enqueue",
           "normalize_payload", "resolve_target", "summary_of"]
