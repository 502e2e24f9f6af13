"""The monitor's warnings about itself, told to the IT staff on Telegram.

Most of what can go wrong with the monitor's own machine already reaches the IT staff through the normal
path: a ``monitor_host`` device with a ``host`` check turns a disk at 90 % into a degraded outage and an
alert; a forward clock jump is a monitor gap and gets its message. This component fills what that path
cannot carry (:class:`SelfWarnings`, a daemon component):

* **the database cannot be written** (disk full, locked by another program, read-only). The normal path
  needs the database — an event row, an outbox row — so this warning is sent *directly* through the
  notifier when the outbox cannot be written ("warns through Telegram if it can"). A probe write every
  ``interval`` finds the condition; it is reported after two failed probes in a row (a lock held for a
  moment is not news) and its end is reported too;
* **the clock is off**: a :class:`~monitor.daemon.deadman.ClockReading` (from the Telegram Bot API's or the dead
  man's switch's ``Date`` header) shows the wall clock more than ``monitor.clock_skew_warn`` away from the
  reference; reported once, and again when it is right (below half the limit, so a clock near the limit
  does not chatter);
* **the clock was stepped** forward or back by at least ``monitor.clock_skew_warn`` (the daemon saw the wall
  clock move apart from the monotonic clock; ``jumps`` gives the sizes): one note per step — outage
  durations stay correct (open outages are re-expressed on the new clock), but the operator should know;
* **the database's disk is nearly full** (≥ ``DISK_WARN_PCT``), only when no configured ``host`` check
  watches that filesystem already (it would say so itself); reported again when below ``DISK_CLEAR_PCT``.

Every warning goes to each distinct IT-staff chat once (sites sharing a chat get one message), in the
chat's language, through the outbox when it can be written (durable, rate-limited, idempotency key per
episode) and straight through the notifier otherwise. Every warning is also logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import make_url

from alerts.messages import format_duration, format_time
from alerts.outbox import enqueue, load_migrations, resolve_target
from monitor.daemon.deadman import ClockReading
from monitor.domain import Audience, HostSpec, OutgoingMessage
from monitor.errors import NotifyError, StorageError
from monitor.logs import redact
from monitor.storage.models import KeyValueRow

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from monitor.clock import Clock
    from monitor.domain import Notifier
    from monitor.settings import Settings
    from monitor.storage import Database

log = logging.getLogger(__name__)

__all__ = ["DISK_CLEAR_PCT", "DISK_WARN_PCT", "SelfWarning", "SelfWarnings", "storage_reason"]

PROBE_KEY = "monitor.write_probe"
DISK_WARN_PCT = 90.0
DISK_CLEAR_PCT = 88.0
FAILED_PROBES = 2
READING_MAX_AGE = timedelta(hours=3)

_TEXT: dict[str, dict[str, str]] = {
    "id": {
        "db.on": "⚠️ <b>Monitor tidak bisa menulis databasenya</b> ({reason}).\nPemeriksaan tetap berjalan dan "
                 "hasilnya disimpan di memori; semuanya dicatat begitu database bisa ditulis lagi. Periksa ruang "
                 "disk komputer monitor.",
        "db.off": "✅ <b>Database monitor bisa ditulis lagi</b> (tidak bisa ditulis sejak {since}). Hasil yang "
                  "tertunda sudah dicatat.",
        "disk.on": "⚠️ <b>Disk komputer monitor hampir penuh</b>: {pct:.0f}% terpakai, sisa {free}. Kosongkan "
                   "ruang sebelum database tidak bisa ditulis.",
        "disk.off": "✅ Disk komputer monitor kembali lega: {pct:.0f}% terpakai, sisa {free}.",
        "clock.on": "⚠️ <b>Jam komputer monitor salah</b>: {direction} {amount} dibanding {source}. Waktu "
                    "gangguan yang tercatat bisa keliru; periksa pengaturan jam dan NTP.",
        "clock.off": "✅ Jam komputer monitor sudah benar lagi (selisih {amount} dibanding {source}).",
        "clock.back": "⚠️ Jam komputer monitor <b>dimundurkan {amount}</b>. Durasi gangguan tetap dihitung dengan "
                      "benar; periksa NTP bila ini berulang.",
        "clock.forward": "⚠️ Jam komputer monitor <b>dimajukan {amount}</b>. Durasi gangguan tetap dihitung dengan "
                         "benar; periksa NTP bila ini berulang.",
        "ahead": "lebih cepat", "behind": "lebih lambat",
        "src.telegram": "server Telegram", "src.heartbeat_url": "layanan heartbeat",
        "reason.disk": "disk penuh", "reason.locked": "database dikunci program lain",
        "reason.other": "kesalahan database",
    },
    "en": {
        "db.on": "⚠️ <b>The monitor cannot write its database</b> ({reason}).\nChecks keep running and their "
                 "results are kept in memory; everything is recorded as soon as the database can be written again. "
                 "Check the monitor computer's disk space.",
        "db.off": "✅ <b>The monitor's database can be written again</b> (it could not since {since}). The delayed "
                  "results are recorded.",
        "disk.on": "⚠️ <b>The monitor computer's disk is nearly full</b>: {pct:.0f}% used, {free} free. Free some "
                   "space before the database cannot be written.",
        "disk.off": "✅ The monitor computer's disk has room again: {pct:.0f}% used, {free} free.",
        "clock.on": "⚠️ <b>The monitor computer's clock is wrong</b>: {direction} by {amount} compared with {source}. "
                    "Recorded outage times may be wrong; check the clock and NTP settings.",
        "clock.off": "✅ The monitor computer's clock is right again ({amount} off {source}).",
        "clock.back": "⚠️ The monitor computer's clock was <b>set back by {amount}</b>. Outage durations are still "
                      "right; check NTP if this happens again.",
        "clock.forward": "⚠️ The monitor computer's clock was <b>set forward by {amount}</b>. Outage durations are "
                         "still right; check NTP if this happens again.",
        "ahead": "ahead", "behind": "behind",
        "src.telegram": "the Telegram servers", "src.heartbeat_url": "the heartbeat service",
        "reason.disk": "disk full", "reason.locked": "the database is locked by another program",
        "reason.other": "database error",
    },
}


def _t(lang: str, key: str, **values: Any) -> str:
    table = _TEXT.get(lang, _TEXT["id"])
    return table.get(key, _TEXT["id"][key]).format(**values)


def _bytes(n: float) -> str:
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n:.0f} B"


def storage_reason(exc: StorageError) -> str:
    """``disk``, ``locked`` or ``other`` for a failed write (pure)."""
    text = str(exc).lower()
    if "disk full" in text or "disk is full" in text or "no space" in text:
        return "disk"
    if "locked" in text or "busy" in text:
        return "locked"
    return "other"


@dataclass(frozen=True, slots=True)
class SelfWarning:
    """One message about the monitor itself: ``condition`` (db, disk, clock) turning ``on``/``off``, or a
    one-off note; ``texts`` by language."""

    condition: str
    state: str
    key: str
    texts: dict[str, str]


class SelfWarnings:
    """See the module docstring. ``notifier`` None: warnings are only logged (Telegram disabled)."""

    name = "alerts.selfwarn"

    def __init__(self, settings: Settings, db: Database, clock: Clock, notifier: Notifier | None, *,
                 interval: float | None = None, jumps: Callable[[], Sequence[float]] = lambda: (),
                 disk_usage: Callable[[str], Any] | None = None) -> None:
        self.settings = settings
        self.db = db
        self.clock = clock
        self.notifier = notifier
        self.interval = interval if interval is not None else settings.monitor.heartbeat_interval.total_seconds()
        self.jumps = jumps
        self._disk_usage = disk_usage
        self.sent: list[SelfWarning] = []
        self.active: dict[str, datetime] = {}
        self._failed_probes = 0
        self._db_reason = "other"
        self._readings: dict[str, ClockReading] = {}
        self._jumps_seen = 0
        self._episode = int(clock.now().timestamp())
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()

    # -------------------------------------------------------------------------------- inputs

    def clock_reading(self, reading: ClockReading) -> None:
        """A reference time was read (the callback of the dead man's switch and the time reference)."""
        self._readings[reading.source] = reading

    @property
    def database_writable(self) -> bool:
        """False while the write probe fails (the dead man's switch stops pinging then)."""
        return self._failed_probes == 0

    async def reload(self, settings: Settings) -> None:
        self.settings = settings

    # -------------------------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        if self._task is None:
            self._stop.clear()
            self._jumps_seen = len(self.jumps())
            self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is None:
            return
        self._stop.set()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def _run(self) -> None:
        while not self._stop.is_set():
            try:
                await self.check_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("self-warnings: check failed")
            await self.clock.sleep(max(0.05, self.interval))

    # -------------------------------------------------------------------------------- one round

    async def check_once(self) -> list[SelfWarning]:
        """Evaluate every condition once; send what changed. Returns the warnings sent now."""
        now = self.clock.now()
        out: list[SelfWarning] = []
        out += await self._database(now)
        out += self._clock(now)
        out += self._clock_steps()
        out += self._disk(now)
        for w in out:
            await self._tell(w, now)
        return out

    async def _database(self, now: datetime) -> list[SelfWarning]:
        try:
            await self.db.run(lambda s: _probe_write(s, now), "self-check write")
        except StorageError as exc:
            self._failed_probes += 1
            self._db_reason = storage_reason(exc)
            if self._failed_probes == FAILED_PROBES and "db" not in self.active:
                self.active["db"] = now
                log.error("the monitor cannot write its database (%s): checks continue, results wait in memory",
                          redact(str(exc), self.settings.secrets))
                return [self._warning("db", "on", reason=lambda lang: _t(lang, "reason." + self._db_reason))]
            return []
        self._failed_probes = 0
        since = self.active.pop("db", None)
        if since is None:
            return []
        log.warning("the monitor's database can be written again (it could not since %s)", since.isoformat())
        return [self._warning("db", "off", since=lambda lang: format_time(since, self._zone(), now, lang))]

    def _clock(self, now: datetime) -> list[SelfWarning]:
        fresh = [r for r in self._readings.values() if now - r.at < READING_MAX_AGE]
        if not fresh:
            return []
        reading = max(fresh, key=lambda r: r.at)
        limit = self.settings.monitor.clock_skew_warn.total_seconds()
        off = abs(reading.skew_s) - reading.uncertainty_s
        if "clock" not in self.active and off >= limit:
            self.active["clock"] = now
            log.warning("the monitor's clock is %.0f s %s %s", abs(reading.skew_s),
                        "ahead of" if reading.skew_s > 0 else "behind", reading.source)
            return [self._warning("clock", "on", amount=lambda lang: format_duration(abs(reading.skew_s), lang),
                                  direction=lambda lang: _t(lang, "ahead" if reading.skew_s > 0 else "behind"),
                                  source=lambda lang: _t(lang, "src." + reading.source))]
        if "clock" in self.active and abs(reading.skew_s) < limit / 2:
            del self.active["clock"]
            log.info("the monitor's clock is right again (%.0f s off %s)", reading.skew_s, reading.source)
            return [self._warning("clock", "off", amount=lambda lang: format_duration(abs(reading.skew_s), lang),
                                  source=lambda lang: _t(lang, "src." + reading.source))]
        return []

    def _clock_steps(self) -> list[SelfWarning]:
        jumps = list(self.jumps())
        new, self._jumps_seen = jumps[self._jumps_seen:], len(jumps)
        out = []
        limit = self.settings.monitor.clock_skew_warn.total_seconds()
        for step in new:
            if abs(step) >= limit:   # smaller steps are corrected just the same, and not worth a message
                out.append(self._warning("clock", "forward" if step > 0 else "back",
                                         amount=lambda lang, s=step: format_duration(abs(s), lang)))
        return out

    def _disk(self, now: datetime) -> list[SelfWarning]:
        directory = self._database_dir()
        if directory is None or self._watched_by_host_check(directory):
            return []
        try:
            usage = (self._disk_usage or _disk_usage)(str(directory))
        except OSError:
            return []
        pct, free = float(usage.percent), float(usage.free)
        if "disk" not in self.active and pct >= DISK_WARN_PCT:
            self.active["disk"] = now
            log.warning("the monitor's database disk is %.0f%% full (%s free)", pct, _bytes(free))
            return [self._warning("disk", "on", pct=lambda _l: pct, free=lambda _l: _bytes(free))]
        if "disk" in self.active and pct < DISK_CLEAR_PCT:
            del self.active["disk"]
            return [self._warning("disk", "off", pct=lambda _l: pct, free=lambda _l: _bytes(free))]
        return []

    # -------------------------------------------------------------------------------- helpers

    def _warning(self, condition: str, state: str, **values: Callable[..., Any]) -> SelfWarning:
        self._episode += 1
        key = f"self:{condition}:{state}:{self._episode}"
        texts = {}
        for lang in _TEXT:
            filled = {k: fn(lang) for k, fn in values.items()}
            safe = {k: html.escape(v) if isinstance(v, str) else v for k, v in filled.items()}
            texts[lang] = _t(lang, f"{condition}.{state}", **safe)
        return SelfWarning(condition, state, key, texts)

    def _zone(self) -> str:
        return self.settings.sites[0].timezone if self.settings.sites else "Asia/Jakarta"

    def _database_dir(self) -> Path | None:
        url = make_url(self.settings.database_url)
        if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
            return None
        return Path(url.database).resolve().parent

    def _watched_by_host_check(self, directory: Path) -> bool:
        try:
            dev = directory.stat().st_dev
        except OSError:
            return False
        for _site, device in self.settings.iter_devices():
            for spec in device.checks:
                if isinstance(spec, HostSpec) and spec.enabled:
                    for p in spec.paths:
                        with contextlib.suppress(OSError):
                            if self.settings.resolve_path(p).stat().st_dev == dev:
                                return True
        return False

    def _chats(self, session: Session | None) -> list[tuple[str, str, Any]]:
        """(site id, language, target) for each distinct IT-staff chat."""
        migrations = load_migrations(session) if session is not None else {}
        seen: set[str] = set()
        out = []
        for site in self.settings.sites:
            target = resolve_target(self.settings, site.id, Audience.IT_STAFF.value, migrations)
            if target is None or target.chat_key in seen:
                continue
            seen.add(target.chat_key)
            out.append((site.id, target.language, target))
        return out

    async def _tell(self, w: SelfWarning, now: datetime) -> None:
        self.sent.append(w)
        if self.notifier is None or not self.settings.telegram.enabled:
            return

        def write(session: Session) -> int:
            count = 0
            for site_id, lang, _target in self._chats(session):
                text = w.texts.get(lang, w.texts["id"])
                row = enqueue(session, key=f"{w.key}:{site_id}", audience=Audience.IT_STAFF, site_id=site_id,
                              kind="monitor_self", payload={"text": text, "summary": text.split("\n", 1)[0]},
                              now=now)
                count += row is not None
            return count

        try:
            await self.db.run(write, "queueing a self-warning")
            return
        except StorageError as exc:
            log.warning("self-warning %s/%s sent directly (the outbox cannot be written: %s)", w.condition, w.state,
                        redact(str(exc), self.settings.secrets))
        chats = []
        with contextlib.suppress(StorageError):
            chats = await self.db.run(lambda s: self._chats(s), "reading chat migrations")
        if not chats:
            chats = self._chats(None)
        for _site_id, lang, target in chats:
            message = OutgoingMessage(chat_id=target.chat_value(), text=w.texts.get(lang, w.texts["id"]),
                                      thread_id=target.thread_id, parse_mode="HTML")
            try:
                await self.notifier.send(message)
            except NotifyError as exc:
                log.warning("self-warning to chat %s not delivered: %s", target.chat_id,
                            redact(str(exc), self.settings.secrets))


def _probe_write(session: Session, now: datetime) -> None:
    row = session.get(KeyValueRow, PROBE_KEY)
    if row is None:
        session.add(KeyValueRow(key=PROBE_KEY, value={"at": now.isoformat()}, updated_at=now))
    else:
        row.value, row.updated_at = {"at": now.isoformat()}, now


def _disk_usage(path: str) -> Any:
    import psutil

    return psutil.disk_usage(path)
