"""The two-way bot: buttons and commands from Telegram, by long polling (no public endpoint needed).

:class:`TelegramBot` calls getUpdates in a loop and acts on each update; the update offset is stored in
the ``kv`` table (``telegram.update_offset``) in the *same transaction* as the action it triggered, so a
restart neither repeats an acknowledgement nor skips a button press.

* Buttons under each alert: ``ack:<incident>`` ("✋ Tangani") acknowledges — an ``acknowledgements`` row,
  ``incidents.acknowledged_at/by``, the unacknowledged escalation steps stop, the buttons under every message
  about the incident are replaced by "✅ Ditangani: <name> (<time>)"; ``mute:<incident>`` ("🔕 Bisukan 2 jam")
  mutes the incident's open devices for ``alerts.mute_default``.
* Commands: ``/status``; ``/gangguan`` = ``/outages``; ``/ack ID [note]``; ``/mute DEVICE DURATION [reason]``
  (DEVICE: ``device``, ``site/device`` or ``site/*``); ``/unmute DEVICE``; ``/laporan`` = ``/report [SITE]``
  (this week's report so far, through the injected ``report_now``; without it the bot says reports are not
  available yet); ``/help``. Malformed arguments get the usage.
* Only ``telegram.allowed_users`` may act. Anyone else — a stranger in the same group — is refused
  (:class:`RefusalGate`): a button press is always answered with the refusal (answerCallbackQuery is no
  chat message and costs the chat's budget nothing); a command gets a refusal message naming their user
  id **at most once per user per chat per** :data:`REFUSAL_EVERY`, and only when the chat's budget has room
  at :attr:`~alerts.outbox.Priority.REFUSAL` (never by waiting). Every attempt is counted
  (:attr:`TelegramBot.counters`) and logged — at WARNING once per user and chat per that interval.
* Every button press is answered, whatever its data (a forged ``ack:²`` gets "not found", unknown data
  "?"), and every command gets its reply — also when handling it failed — or a counted refusal.

Which sites a chat sees: those whose configured chats (after migration) are this chat; in any other chat
(an allowed user's private chat) every site. Replies share the dispatcher's rate limiter at
:attr:`~alerts.outbox.Priority.REPLY`: they wait for room, and never take the alerts' share.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from markupsafe import escape
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from alerts import compose, escalation, messages, mutes
from alerts.compose import ups_reading
from alerts.outbox import Priority, RateLimiter, load_migrations, migrated
from alerts.refusal import RefusalGate
from alerts.telegram import Incoming
from monitor.domain import Button, Delivery, OutgoingMessage
from monitor.errors import NotifyError, StorageError
from monitor.logs import redact
from monitor.storage.models import DeviceRow, DeviceStateRow, IncidentRow, KeyValueRow, OutageRow, OutboxRow

if TYPE_CHECKING:
    from monitor.clock import Clock
    from monitor.settings import Settings
    from monitor.storage import Database

log = logging.getLogger(__name__)

OFFSET_KEY = "telegram.update_offset"
ReportNow = Callable[[str], Awaitable[Path | None]]
"""``report_now(site_id)`` → the PDF of this week's report so far (None when there is nothing to show)."""


def _is_id(text: str) -> bool:
    """A row id as typed (or in a button's data): ASCII digits that fit the database's integer (a 30-digit
    number would make the query itself fail, and ``"²".isdigit()`` is true but ``int("²")`` raises — the
    user would get no answer)."""
    return text.isascii() and text.isdigit() and len(text) <= 18


class BotApi(Protocol):
    """What the bot needs from Telegram (:class:`alerts.telegram.TelegramNotifier` provides it)."""

    async def get_updates(self, offset: int | None, wait: float | None = None) -> list[Incoming]: ...

    async def answer_callback(self, callback_id: str, text: str, *, alert: bool = False) -> None: ...

    async def edit_buttons(self, chat_id: int | str, message_id: int, buttons: Sequence[Sequence[Button]]) -> None: ...

    async def set_commands(self, commands: Sequence[tuple[str, str]], *, language: str | None = None) -> None: ...

    async def delete_webhook(self) -> None: ...

    async def send(self, message: OutgoingMessage) -> Delivery: ...


@dataclass
class _Reply:
    text: str
    document: Path | None = None


@dataclass
class _AckResult:
    found: bool
    first: bool = False
    closed: bool = False
    by: str = ""
    at: datetime | None = None
    edits: list[tuple[str, int, list[list[dict[str, str]]]]] | None = None
    zone: str = "Asia/Jakarta"


def load_offset(session: Session) -> int | None:
    row = session.get(KeyValueRow, OFFSET_KEY)
    value = row.value.get("offset") if row else None
    return int(value) if value is not None else None


def store_offset(session: Session, offset: int, now: datetime) -> None:
    row = session.get(KeyValueRow, OFFSET_KEY)
    if row is None:
        session.add(KeyValueRow(key=OFFSET_KEY, value={"offset": offset}, updated_at=now))
    elif int(row.value.get("offset") or 0) < offset:
        row.value, row.updated_at = {"offset": offset}, now


class TelegramBot:
    """Long-polls Telegram and acts on buttons and commands (see the module docstring)."""

    def __init__(self, settings: Settings, db: Database, clock: Clock, api: BotApi, *,
                 report_now: ReportNow | None = None, limiter: RateLimiter | None = None,
                 poll_timeout: float = 25.0) -> None:
        self.settings = settings
        self.db = db
        self.clock = clock
        self.api = api
        self.report_now = report_now
        self.limiter = limiter
        self.poll_timeout = poll_timeout
        self._offset: int | None = None
        self._offset_loaded = False
        self._secrets = tuple(settings.secrets)
        self.refusals = RefusalGate()          # refusal messages (they cost the chat's budget)
        self._refusal_logs = RefusalGate()     # WARNING lines
        self.counters = {"refused": 0, "refusals_sent": 0, "refusals_held": 0, "callbacks_answered": 0,
                         "failed": 0}

    # -------------------------------------------------------------------------------------------- loop

    async def setup(self) -> None:
        """deleteWebhook (long polling needs none) and setMyCommands in Indonesian and English."""
        await self.api.delete_webhook()
        await self.api.set_commands(messages.bot_commands("id"))
        await self.api.set_commands(messages.bot_commands("en"), language="en")

    async def poll_once(self, wait: float | None = None) -> int:
        """One getUpdates call and the handling of what it returned; the number of updates."""
        if not self._offset_loaded:
            self._offset = await self.db.run(load_offset, "reading the Telegram update offset")
            self._offset_loaded = True
        updates = await self.api.get_updates(self._offset, self.poll_timeout if wait is None else wait)
        for update in sorted(updates, key=lambda u: u.update_id):
            if self._offset is not None and update.update_id < self._offset:
                continue
            try:
                await self.handle(update)
            except StorageError:
                raise  # the offset was not stored: the update comes again
            except Exception:
                self.counters["failed"] += 1
                log.exception("telegram bot: handling update %s failed; skipped", update.update_id)
                await self._advance(update)
                await self._answer_anyway(update)
            self._offset = update.update_id + 1
        return len(updates)

    async def run(self, stop: asyncio.Event) -> None:
        """Set up, then poll until ``stop`` is set; errors back off (1 s doubling to 60 s)."""
        ready = False
        delay = 1.0
        while not stop.is_set():
            try:
                if not ready:
                    await self.setup()
                    ready = True
                await self.poll_once()
                delay = 1.0
            except (NotifyError, StorageError) as exc:
                wait = exc.retry_after if exc.retry_after else delay
                log.warning("telegram bot: %s; retrying in %.0f s", redact(str(exc), self._secrets), wait)
                delay = min(60.0, delay * 2)
                try:
                    await asyncio.wait_for(stop.wait(), wait)
                except TimeoutError:
                    pass

    # ------------------------------------------------------------------------------------------ handling

    async def handle(self, u: Incoming) -> None:
        if u.kind == "text" or u.chat_id is None or u.user_id is None:
            await self._advance(u)
            return
        chat_id = u.chat_id
        lang = await self.db.run(lambda s: self._chat_lang(s, chat_id), "reading chat settings")
        if u.user_id not in self.settings.telegram.allowed_users:
            await self._refuse(u, lang)
            return
        if u.kind == "callback":
            await self._callback(u, lang)
        else:
            await self._command(u, lang)

    async def _refuse(self, u: Incoming, lang: str) -> None:
        """Someone outside ``allowed_users`` (see the module docstring): nothing changes, the attempt is
        counted, and the answer never costs the alerts' budget or waits."""
        assert u.chat_id is not None and u.user_id is not None
        self.counters["refused"] += 1
        await self._advance(u)
        refusal = messages.phrase(lang, "bot.refused", name=u.user_name, user_id=u.user_id)
        what = u.text.split()[0][:40] if u.text.split() else u.kind
        now = self.clock.monotonic()
        chat = str(u.chat_id)
        if self._refusal_logs.due(u.chat_id, u.user_id, now):
            self._refusal_logs.told(u.chat_id, u.user_id, now)
            log.warning("telegram bot: refused %s %r from user %s (%s) in chat %s: not in telegram.allowed_users",
                        u.kind, what, u.user_id, u.user_name, u.chat_id)
        else:
            count = self._refusal_logs.quiet(u.chat_id, u.user_id)
            log.debug("telegram bot: refused %s %r from user %s in chat %s again (%d since the last warning)",
                      u.kind, what, u.user_id, u.chat_id, count)
        if u.kind == "callback":
            if u.callback_id:      # no chat message: the button stops spinning, the budget is untouched
                self.counters["callbacks_answered"] += 1
                await self._quietly(self.api.answer_callback(u.callback_id, refusal, alert=True))
            return
        if not self.refusals.due(u.chat_id, u.user_id, now):
            self.refusals.quiet(u.chat_id, u.user_id)
            return
        if self.limiter is not None and self.limiter.free(chat, now, Priority.REFUSAL) <= 0:
            self.counters["refusals_held"] += 1   # the chat is busy: an outsider is not worth a slot
            return
        self.refusals.told(u.chat_id, u.user_id, now)
        if await self._reply(u, refusal, html=False, priority=Priority.REFUSAL):
            self.counters["refusals_sent"] += 1

    async def _answer_anyway(self, u: Incoming) -> None:
        """Handling failed (a bug): still stop the button's spinner, or say the command was not understood."""
        if u.kind == "callback" and u.callback_id:
            self.counters["callbacks_answered"] += 1
            await self._quietly(self.api.answer_callback(u.callback_id, "?"))
        elif u.kind == "command" and u.chat_id is not None and u.user_id in self.settings.telegram.allowed_users:
            lang = await self.db.run(lambda s: self._chat_lang(s, u.chat_id or 0), "reading chat settings")
            command = u.text.split()[0][:40] if u.text.split() else "/"
            await self._reply(u, messages.phrase(lang, "bot.unknown", cmd=command), html=False)

    async def _advance(self, u: Incoming) -> None:
        now = self.clock.now()
        await self.db.run(lambda s: store_offset(s, u.update_id + 1, now), "storing the Telegram update offset")

    async def _quietly(self, call: Awaitable[Any]) -> None:
        try:
            await call
        except NotifyError as exc:
            log.warning("telegram bot: %s", redact(str(exc), self._secrets))

    async def _reply(self, u: Incoming, text: str, *, html: bool = True, document: Path | None = None,
                     priority: Priority = Priority.REPLY) -> bool:
        """Send ``text`` to the chat of ``u`` within the shared rate limit at ``priority`` (a reply waits for
        room, at most a minute). True when it was delivered."""
        if u.chat_id is None:
            return False
        chat = str(u.chat_id)
        if self.limiter is not None:
            wait = min(60.0, self.limiter.wait(chat, self.clock.monotonic(), priority))
            if wait > 0:
                await self.clock.sleep(wait)
            reserved = self.limiter.reserve(chat, self.clock.monotonic())
        message = OutgoingMessage(chat_id=u.chat_id, text=text, thread_id=u.thread_id,
                                  parse_mode="HTML" if html else None,
                                  document=str(document) if document else None)
        try:
            await self.api.send(message)
        except NotifyError as exc:
            log.warning("telegram bot: reply to chat %s failed: %s", u.chat_id, redact(str(exc), self._secrets))
            if self.limiter is not None:
                self.limiter.cancel(chat, reserved)
            return False
        if self.limiter is not None:
            self.limiter.commit(chat, reserved, self.clock.monotonic())
        return True

    # ------------------------------------------------------------------------------------- chats & sites

    def _chat_sites(self, session: Session, chat_id: int) -> list[str]:
        migrations = load_migrations(session)
        chat = str(chat_id)
        found: list[str] = []
        for site in self.settings.sites:
            targets = [*site.audiences.values(),
                       *(t for a, t in self.settings.telegram.audiences.items() if a not in site.audiences)]
            if any(migrated(str(t.chat_id), migrations) == chat or str(t.chat_id) == chat for t in targets):
                found.append(site.id)
        return found or [s.id for s in self.settings.sites]

    def _chat_lang(self, session: Session, chat_id: int) -> str:
        migrations = load_migrations(session)
        chat = str(chat_id)
        for site in self.settings.sites:
            for aud, target in site.audiences.items():
                if migrated(str(target.chat_id), migrations) == chat:
                    return escalation.audience_language(self.settings, site.id, aud.value)
        for target in self.settings.telegram.audiences.values():
            if migrated(str(target.chat_id), migrations) == chat:
                return target.language or "id"
        return self.settings.sites[0].language if self.settings.sites else "id"

    def _zone(self, site_id: str) -> str:
        try:
            return self.settings.site(site_id).timezone
        except KeyError:
            return "Asia/Jakarta"

    # ------------------------------------------------------------------------------------------ buttons

    async def _callback(self, u: Incoming, lang: str) -> None:
        action, _, arg = u.text.partition(":")
        now = self.clock.now()
        if action == "acked" and _is_id(arg):
            by = await self.db.run(lambda s: self._acked_by(s, u, int(arg), now, lang), "reading an incident")
            if u.callback_id:
                await self._quietly(self.api.answer_callback(u.callback_id, by))
            return
        if action == "ack" and _is_id(arg):
            result = await self.db.run(lambda s: self._ack(s, u, int(arg), None, "button", now),
                                       "recording an acknowledgement")
            await self._after_ack(u, int(arg), result, lang, via_button=True)
            return
        if action == "mute" and _is_id(arg):
            text = await self.db.run(lambda s: self._mute_incident(s, u, int(arg), now, lang), "muting")
            if u.callback_id:
                await self._quietly(self.api.answer_callback(u.callback_id, text))
            return
        await self._advance(u)
        if u.callback_id:
            self.counters["callbacks_answered"] += 1
            # a known action with a forged argument ("ack:²") is "not found"; anything else "?"
            text = messages.phrase(lang, "bot.no_incident", id=arg[:20]) if action in ("ack", "mute", "acked") else "?"
            await self._quietly(self.api.answer_callback(u.callback_id, text))

    def _acked_by(self, session: Session, u: Incoming, incident_id: int, now: datetime, lang: str) -> str:
        store_offset(session, u.update_id + 1, now)
        inc = session.get(IncidentRow, incident_id)
        if inc is None or inc.acknowledged_at is None:
            return messages.phrase(lang, "bot.no_incident", id=incident_id)
        when = messages.format_time(inc.acknowledged_at, self._zone(inc.site_id), now, lang)
        return messages.phrase(lang, "bot.ack_already", id=incident_id, by=inc.acknowledged_by or "?", time=when)

    def _ack(self, session: Session, u: Incoming, incident_id: int, note: str | None, source: str,
             now: datetime) -> _AckResult:
        store_offset(session, u.update_id + 1, now)
        inc = session.get(IncidentRow, incident_id)
        if inc is None:
            return _AckResult(found=False)
        first = escalation.acknowledge(session, inc, user_id=u.user_id, user_name=u.user_name, note=note,
                                       source=source, now=now)
        session.flush()
        by, at = inc.acknowledged_by or u.user_name, inc.acknowledged_at or now
        edits = self._ack_edits(session, inc, u, by, at) if first else []
        return _AckResult(True, first, inc.ended_at is not None, by, at, edits, self._zone(inc.site_id))

    def _ack_edits(self, session: Session, inc: IncidentRow, u: Incoming, by: str,
                   at: datetime) -> list[tuple[str, int, list[list[dict[str, str]]]]]:
        """Every message with buttons for this incident, and the keyboard it gets now."""
        ids = {f"ack:{inc.id}", f"mute:{inc.id}"}
        rows = session.scalars(select(OutboxRow).where(
            OutboxRow.status == "sent", OutboxRow.message_id.is_not(None), OutboxRow.digest_id.is_(None),
            OutboxRow.sent_at >= inc.started_at,
            or_(OutboxRow.incident_id == inc.id, OutboxRow.kind.in_(("digest", "group")))))
        lang_cache: dict[str, str] = {}
        edits: list[tuple[str, int, list[list[dict[str, str]]]]] = []
        seen: set[tuple[str, int]] = set()
        for row in rows:
            buttons = row.payload.get("_sent_buttons") if "_sent_buttons" in row.payload else row.payload.get("buttons")
            if not buttons or row.chat_id is None or row.message_id is None:
                continue
            if not any(b.get("data") in ids for line in buttons for b in line):
                continue
            key = (row.chat_id, row.message_id)
            if key in seen:
                continue
            seen.add(key)
            lang = lang_cache.setdefault(row.chat_id, self._chat_lang(session, int(row.chat_id))
                                         if row.chat_id.lstrip("-").isdigit() else "id")
            label = messages.acked_buttons(by, messages.format_time(at, self._zone(inc.site_id), at, lang),
                                           lang=lang, incident_id=inc.id)
            new: list[list[dict[str, str]]] = []
            replaced = False
            for line in buttons:
                if any(b.get("data") in ids for b in line):
                    if not replaced:
                        new.extend(label)
                        replaced = True
                else:
                    new.append(line)
            edits.append((row.chat_id, row.message_id, new))
        if u.kind == "callback" and u.chat_id is not None and u.message_id is not None \
                and (str(u.chat_id), u.message_id) not in seen:
            lang = self._chat_lang(session, u.chat_id)
            edits.append((str(u.chat_id), u.message_id, messages.acked_buttons(
                by, messages.format_time(at, self._zone(inc.site_id), at, lang), lang=lang, incident_id=inc.id)))
        return edits

    async def _after_ack(self, u: Incoming, incident_id: int, result: _AckResult, lang: str, *,
                         via_button: bool) -> None:
        if not result.found:
            text = messages.phrase(lang, "bot.no_incident", id=incident_id)
        elif result.first:
            text = messages.phrase(lang, "bot.ack_ok", name=u.user_name, id=incident_id)
        else:
            when = messages.format_time(result.at, result.zone, self.clock.now(), lang) if result.at else ""
            text = messages.phrase(lang, "bot.ack_already", id=incident_id, by=result.by, time=when)
        if result.found and result.closed:
            text = f"{text} {messages.phrase(lang, 'bot.ack_closed')}"
        if via_button and u.callback_id:
            await self._quietly(self.api.answer_callback(u.callback_id, text))
        else:
            await self._reply(u, text, html=False)
        for chat, message_id, buttons in result.edits or []:
            markup = [[Button(b["text"], b["data"]) for b in line] for line in buttons]
            chat_value: int | str = int(chat) if chat.lstrip("-").isdigit() else chat
            await self._quietly(self.api.edit_buttons(chat_value, message_id, markup))

    def _mute_incident(self, session: Session, u: Incoming, incident_id: int, now: datetime, lang: str) -> str:
        store_offset(session, u.update_id + 1, now)
        inc = session.get(IncidentRow, incident_id)
        if inc is None:
            return messages.phrase(lang, "bot.no_incident", id=incident_id)
        until = now + self.settings.alerts.mute_default
        reason = messages.phrase(lang, "bot.mute_reason", name=u.user_name)
        names: list[str] = []
        for device_id in compose.incident_devices(session, inc.id):
            mutes.add_mute(session, site_id=inc.site_id, device_id=device_id, until=until, reason=reason,
                           by=u.user_name, now=now)
            dev = session.get(DeviceRow, device_id)
            names.append(dev.name if dev else str(device_id))
        log.info("telegram bot: %s muted incident #%s devices %s until %s", u.user_name, inc.id, names,
                 until.isoformat())
        return messages.phrase(lang, "bot.mute_button", devices=", ".join(names) or "—",
                               duration=messages.format_duration(self.settings.alerts.mute_default.total_seconds(),
                                                                 lang))

    # ----------------------------------------------------------------------------------------- commands

    async def _command(self, u: Incoming, lang: str) -> None:
        parts = u.text.strip().split(maxsplit=1)
        command = parts[0][1:].split("@", 1)[0].lower() if parts else ""
        rest = parts[1].strip() if len(parts) > 1 else ""
        now = self.clock.now()
        if command in ("ack",):
            await self._cmd_ack(u, rest, lang, now)
            return
        if command in ("laporan", "report"):
            await self._advance(u)
            await self._cmd_report(u, rest, lang)
            return
        handlers: dict[str, Callable[[Session], _Reply]] = {
            "status": lambda s: self._cmd_status(s, u, now, lang),
            "gangguan": lambda s: self._cmd_outages(s, u, now, lang),
            "outages": lambda s: self._cmd_outages(s, u, now, lang),
            "mute": lambda s: self._cmd_mute(s, u, rest, now, lang),
            "unmute": lambda s: self._cmd_unmute(s, u, rest, now, lang),
            "help": lambda s: _Reply(messages.render_help(lang=lang, now=now)),
            "start": lambda s: _Reply(messages.render_help(lang=lang, now=now)),
        }
        handler = handlers.get(command)

        def act(session: Session) -> _Reply:
            store_offset(session, u.update_id + 1, now)
            if handler is None:
                return _Reply(str(escape(messages.phrase(lang, "bot.unknown", cmd="/" + command))))
            return handler(session)

        reply = await self.db.run(act, f"/{command}")
        await self._reply(u, reply.text)

    async def _cmd_ack(self, u: Incoming, rest: str, lang: str, now: datetime) -> None:
        number, _, note = rest.partition(" ")
        number = number.lstrip("#")
        if not _is_id(number):
            await self._advance(u)
            await self._reply(u, messages.phrase(lang, "bot.usage_ack"), html=False)
            return
        result = await self.db.run(lambda s: self._ack(s, u, int(number), note.strip() or None, "command", now),
                                   "recording an acknowledgement")
        await self._after_ack(u, int(number), result, lang, via_button=False)

    def _cmd_status(self, session: Session, u: Incoming, now: datetime, lang: str) -> _Reply:
        views: list[messages.SiteStatus] = []
        for site_id in self._chat_sites(session, u.chat_id or 0):
            try:
                site = self.settings.site(site_id)
            except KeyError:
                continue
            rows = session.execute(select(DeviceRow, DeviceStateRow).outerjoin(
                DeviceStateRow, DeviceStateRow.device_id == DeviceRow.id).where(
                DeviceRow.site_id == site_id, DeviceRow.active.is_(True))).all()
            order = {d.id: i for i, d in enumerate(site.devices)}
            muted = mutes.muted_devices(session, site_id, now)
            devices: list[messages.DeviceStatus] = []
            for dev, state in sorted(rows, key=lambda r: order.get(r[0].key, 999)):
                on_battery, ups = False, None
                if dev.kind == "ups" and state is not None:
                    flag, charge, runtime = ups_reading(state.metrics)
                    on_battery = bool(flag)
                    if on_battery:
                        ups = messages.UpsLine(dev.name, charge, runtime)
                mute = muted.get(dev.id)
                devices.append(messages.DeviceStatus(
                    dev.name, dev.key, state.status if state else None, state.since if state else None,
                    state.reason if state else None, mute.ends_at if mute else None, on_battery, ups))
            site_mute = muted.get(None)
            views.append(messages.SiteStatus(site.name, site.timezone, tuple(devices),
                                             site_mute.ends_at if site_mute else None))
        return _Reply(messages.render_status(views, now=now, lang=lang))

    def _cmd_outages(self, session: Session, u: Incoming, now: datetime, lang: str) -> _Reply:
        sites = self._chat_sites(session, u.chat_id or 0)
        items: list[messages.OutageItem] = []
        rows = session.execute(select(OutageRow, DeviceRow, IncidentRow).join(
            DeviceRow, DeviceRow.id == OutageRow.device_id).outerjoin(
            IncidentRow, IncidentRow.id == OutageRow.incident_id).where(
            OutageRow.ended_at.is_(None), DeviceRow.site_id.in_(sites)).order_by(OutageRow.started_at)).all()
        for outage, dev, inc in rows:
            try:
                site = self.settings.site(dev.site_id)
                site_name, zone = site.name, site.timezone
            except KeyError:
                site_name, zone = dev.site_id, "Asia/Jakarta"
            items.append(messages.OutageItem(outage.incident_id, site_name, zone, dev.name, outage.status,
                                             outage.started_at, inc.cause if inc else outage.cause,
                                             inc.acknowledged_by if inc else None))
        return _Reply(messages.render_outages(items, now=now, lang=lang))

    def _resolve_target(self, session: Session, u: Incoming, name: str,
                        lang: str) -> tuple[str, int | None, str] | str:
        """(site, device id or None for the whole site, label) — or the reply explaining the problem."""
        try:
            t = mutes.resolve_target(session, self.settings, self._chat_sites(session, u.chat_id or 0), name)
        except mutes.TargetError as exc:
            return messages.phrase(lang, exc.key, **exc.values)
        label = t.device_name or messages.phrase(lang, "bot.whole_site", site=self.settings.site(t.site_id).name)
        return t.site_id, t.device_id, label

    def _cmd_mute(self, session: Session, u: Incoming, rest: str, now: datetime, lang: str) -> _Reply:
        parts = rest.split(maxsplit=2)
        if len(parts) < 2:
            return _Reply(str(escape(messages.phrase(lang, "bot.usage_mute"))))
        name, duration_text = parts[0], parts[1]
        reason = parts[2].strip() if len(parts) > 2 else messages.phrase(lang, "bot.mute_reason", name=u.user_name)
        try:
            duration = mutes.window_duration(duration_text)
        except mutes.TargetError as exc:
            return _Reply(str(escape(messages.phrase(lang, exc.key, **exc.values))))
        target = self._resolve_target(session, u, name, lang)
        if isinstance(target, str):
            return _Reply(str(escape(target)))
        site_id, device_id, label = target
        until = now + duration
        mutes.add_mute(session, site_id=site_id, device_id=device_id, until=until, reason=reason, by=u.user_name,
                       now=now)
        log.info("telegram bot: %s muted %s/%s until %s: %s", u.user_name, site_id, device_id, until.isoformat(),
                 reason)
        return _Reply(str(escape(messages.phrase(
            lang, "bot.muted", what=label, until=messages.format_time(until, self._zone(site_id), now, lang),
            reason=reason))))

    def _cmd_unmute(self, session: Session, u: Incoming, rest: str, now: datetime, lang: str) -> _Reply:
        name = rest.split()[0] if rest.split() else ""
        if not name:
            return _Reply(str(escape(messages.phrase(lang, "bot.usage_unmute"))))
        target = self._resolve_target(session, u, name, lang)
        if isinstance(target, str):
            return _Reply(str(escape(target)))
        site_id, device_id, label = target
        count = mutes.cancel_mutes(session, site_id=site_id, device_id=device_id, now=now)
        log.info("telegram bot: %s ended %d mute(s) of %s/%s", u.user_name, count, site_id, device_id)
        key = "bot.unmuted" if count else "bot.not_muted"
        return _Reply(str(escape(messages.phrase(lang, key, what=label, count=count))))

    async def _cmd_report(self, u: Incoming, rest: str, lang: str) -> None:
        if self.report_now is None:
            await self._reply(u, messages.phrase(lang, "bot.report_unavailable"), html=False)
            return
        sites = await self.db.run(lambda s: self._chat_sites(s, u.chat_id or 0), "reading chat settings")
        wanted = rest.split()[0] if rest.split() else None
        if wanted is not None:
            if wanted not in [s.id for s in self.settings.sites]:
                await self._reply(u, messages.phrase(lang, "bot.no_site", name=wanted,
                                                     choices=", ".join(s.id for s in self.settings.sites)), html=False)
                return
            sites = [wanted]
        for site_id in sites[:5]:
            name = self.settings.site(site_id).name
            try:
                path = await self.report_now(site_id)
            except Exception as exc:
                log.error("telegram bot: /laporan for %s failed: %s", site_id, redact(str(exc), self._secrets))
                await self._reply(u, messages.phrase(lang, "bot.report_failed", site=name), html=False)
                continue
            if path is None:
                await self._reply(u, messages.phrase(lang, "bot.report_none", site=name), html=False)
                continue
            caption = str(escape(messages.phrase(lang, "bot.report_caption", site=name)))
            await self._reply(u, caption, document=path)
