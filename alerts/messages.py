"""Message formatting: pure functions from views (plain values) to Telegram HTML. No I/O, no clock.

Every text a person reads on Telegram is rendered here, from the Jinja2 templates in
``alerts/templates`` (``StrictUndefined``: a template typo fails a test instead of printing nothing;
autoescape: device names, site names and notes are user input). Bahasa Indonesia (``id``) is the
default; English (``en``) is chosen per site or per audience.

Short and scannable on a phone: status emoji, site, device(s), what happened, since when (site-local
time with WIB/WITA/WIT), the cause and its evidence on one line, UPS battery runtime when on battery,
what to do.

Length: Telegram takes at most 4096 characters per message (1024 per caption). The limit is enforced in
one place, :func:`fit`, which drops whole list lines (never cuts inside a tag: every template keeps each
tag on one line) and says what it left out. The length is counted in UTF-16 code units of the raw HTML,
which is never less than what Telegram counts (visible characters after entity parsing).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache
from typing import Any, Literal

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup, escape

from alerts.reasons import localize_reason
from monitor import vocabulary
from monitor.clock import to_local, utc, zone_label

Lang = Literal["id", "en"]
Mode = Literal["alert", "update", "reminder", "escalation", "recovery", "short"]

MESSAGE_LIMIT = 4096
CAPTION_LIMIT = 1024

STATUS_EMOJI = {"down": "🔴", "unreachable": "🟠", "degraded": "🟡", "unknown": "⚪", "up": "🟢"}
_MONTHS = {"id": ("Jan", "Feb", "Mar", "Apr", "Mei", "Jun", "Jul", "Agu", "Sep", "Okt", "Nov", "Des"),
           "en": ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")}

PHRASES: dict[str, dict[str, str]] = {
    "id": {
        "status.on_battery": "pakai baterai",
        "do.power": "Cek listrik PLN/genset. Simpan pekerjaan dan matikan server dengan aman sebelum baterai UPS "
                    "habis.",
        "do.lightning": "Cek arrester (SPD) dan kerusakan perangkat. Perangkat APBN yang rusak perlu dilaporkan ke "
                        "Kemendagri untuk penggantian.",
        "do.network": "Cek router, switch dan kabel jaringan di kantor.",
        "do.upstream": "Gangguan di jaringan pusat/VPN: hubungi helpdesk Dukcapil pusat. Perangkat kantor normal.",
        "do.hardware": "Cek server di lokasi. Bila rusak, siapkan laporan penggantian ke pusat.",
        "do.service": "Cek aplikasi perekaman di server; jalankan ulang layanannya.",
        "do.maintenance": "Pemeliharaan terencana; tidak perlu tindakan.",
        "do.monitor_offline": "Cek komputer monitor (listrik dan jaringan).",
        "do.environment": "Cek ruang server: pendingin ruangan, kebocoran air, asap. Turunkan beban atau matikan "
                          "perangkat dengan aman sebelum rusak karena panas.",
        "do.unknown": "Cek perangkat di lokasi.",
        "head.alert": "GANGGUAN", "head.update": "PEMBARUAN GANGGUAN", "head.reminder": "MASIH GANGGUAN",
        "head.escalation": "ESKALASI GANGGUAN", "head.recovery": "PULIH", "head.short": "GANGGUAN SINGKAT, SUDAH PULIH",
        "head.planned": "PEMELIHARAAN",
        "since": "sejak", "recovered": "pulih", "cause": "Penyebab", "evidence_more": "bukti lain",
        "todo": "Tindakan", "duration": "Durasi", "open_for": "sudah", "battery": "Baterai",
        "runtime_left": "sisa ±{minutes} menit", "acked_by": "Ditangani", "not_acked": "Belum ada yang menangani.",
        "esc.unacked": "Belum ditangani {duration} sejak {time}.",
        "esc.open": "Masih terbuka {duration} sejak {time}.",
        "esc.cause": "Penyebab {cause}: kemungkinan perlu penggantian perangkat dari pusat.",
        "esc.for": "Untuk: {audience}", "esc.report": "Laporan eskalasi (PDF) dikirim terpisah.",
        "esc.timeline": "Kronologi",
        "still_open": "Masih gangguan", "all_up": "Semua perangkat yang terdampak sudah normal.",
        "more_lines": "… dan {count} baris lain tidak ditampilkan (pesan dipotong: batas {limit} karakter "
                      "Telegram).",
        "btn.ack": "✋ Tangani", "btn.mute": "🔕 Bisukan {duration}", "btn.acked": "✅ Ditangani: {name} ({time})",
        "btn.ack_n": "✋ Tangani #{id}",
        "digest.head": "Selama offline {start}–{end}", "digest.count": "{count} pesan tertunda, urut waktu kejadian:",
        "digest.part": "bagian {part}/{parts}", "digest.open": "Masih terbuka sekarang",
        "audience.it_staff": "staf TI", "audience.head_of_office": "Kepala Dinas",
        "audience.ministry_liaison": "penghubung Kemendagri",
        "planned": "terencana",
        "dur.d": "hari", "dur.h": "jam", "dur.m": "menit", "dur.s": "detik",
        "sum.opened": "gangguan mulai: {devices} ({cause})", "sum.device_down": "{device} {status}",
        "sum.device_changed": "{device} kini {status}", "sum.cause_changed": "penyebab kini {cause}",
        "sum.device_up": "{device} pulih setelah {duration}", "sum.closed": "pulih setelah {duration} ({cause})",
        "sum.reminder": "masih terbuka ({duration})", "sum.escalation": "dieskalasi ke {audience}",
        "sum.flap_start": "{device} naik-turun ({changes}× dalam {window})",
        "sum.flap_stop": "{device} stabil lagi ({status})",
        "sum.gap": "monitor mati {start}–{end} ({duration}); waktu itu tercatat tidak terpantau",
        "sum.report": "laporan: {name}", "sum.broken": "penerima {audience} tidak bisa dikirimi",
        "sum.restored": "penerima {audience} bisa dikirimi lagi",
        "obs.head": "CATATAN", "flap.head": "NAIK-TURUN",
        "flap.start": "{device} berganti status {changes}× dalam {window}; "
                                                                      "pesan untuk perangkat ini diringkas.",
        "flap.stop": "{device} stabil lagi: {status}.",
        "gap.head": "MONITOR SEMPAT MATI", "gap.body": "Monitor tidak berjalan {start}–{end} ({duration}).",
        "gap.reason.process_stopped": "Program monitor berhenti.",
        "gap.reason.host_rebooted": "Komputer monitor menyala ulang.",
        "gap.reason.clock_jump": "Jam komputer monitor melompat.",
        "gap.note": "Waktu itu dicatat <b>tidak terpantau</b> di laporan, bukan normal.",
        "broken.head": "PENERIMA PESAN BERMASALAH",
        "broken.body": "Pesan untuk {audience} ({site}) tidak bisa dikirim: {reason}",
        "broken.todo": "Tambahkan lagi bot ke grup itu atau perbaiki chat_id di konfigurasi.",
        "restored.body": "Pesan untuk {audience} ({site}) bisa dikirim lagi.",
        "alive": "Monitor aktif · {site} · {time}", "alive.devices": "{total} perangkat: {up} normal, {bad} bermasalah",
        "alive.open": "Gangguan terbuka: {count}", "alive.none": "Tidak ada gangguan terbuka.",
        "bot.refused": "⛔ Maaf, {name} (id {user_id}) tidak berwenang memakai bot ini. Minta admin menambahkan id "
                       "Anda ke telegram.allowed_users.",
        "bot.ack_ok": "✅ Dicatat: {name} menangani gangguan #{id}.",
        "bot.ack_already": "ℹ️ Gangguan #{id} sudah ditangani oleh {by} ({time}). Catatan Anda juga disimpan.",
        "bot.ack_closed": "Gangguan ini sudah pulih.",
        "bot.no_incident": "Gangguan #{id} tidak ditemukan. Nomor gangguan ada di /gangguan.",
        "bot.usage_ack": "Cara pakai: /ack NOMOR [catatan], contoh: /ack 12 sedang ke lokasi",
        "bot.usage_mute": "Cara pakai: /mute PERANGKAT DURASI [alasan], contoh: /mute rec-srv-1 2h ganti baterai. "
                          "DURASI: 30m, 2h, 1d (paling lama 7 hari). PERANGKAT: id perangkat, kantor/perangkat, atau "
                          "kantor/* untuk seluruh kantor.",
        "bot.usage_unmute": "Cara pakai: /unmute PERANGKAT, contoh: /unmute rec-srv-1",
        "bot.no_device": "Perangkat {name} tidak ditemukan. Pilihan: {choices}",
        "bot.ambiguous": "{name} ada di beberapa kantor; tulis kantor/perangkat: {choices}",
        "bot.bad_duration": "Durasi {value} tidak dikenali: pakai 30m, 2h atau 1d (paling lama 7 hari).",
        "bot.muted": "🔕 {what} dibisukan sampai {until}: {reason}",
        "bot.unmuted": "🔔 {what}: {count} pembisuan diakhiri.",
        "bot.not_muted": "{what} tidak sedang dibisukan.",
        "bot.mute_button": "🔕 Dibisukan {duration}: {devices}",
        "bot.mute_reason": "dibisukan lewat Telegram oleh {name}",
        "bot.report_unavailable": "Laporan belum tersedia di versi ini.",
        "bot.report_failed": "Laporan {site} gagal dibuat; lihat log monitor.",
        "bot.report_none": "Belum ada laporan untuk {site}.",
        "bot.report_caption": "📄 Laporan minggu ini sejauh ini · {site}",
        "bot.unknown": "Perintah {cmd} tidak dikenal. Ketik /help.",
        "bot.whole_site": "seluruh {site}",
        "bot.no_site": "Kantor {name} tidak ada. Pilihan: {choices}",
        "op.no_window": "Jadwal #{id} tidak ditemukan.",
        "op.window_over": "Jadwal #{id} sudah berakhir atau dibatalkan.",
        "op.console": "dari konsol server",
        "op.mute_reason": "dibisukan dari konsol server oleh {name}",
        "op.muted": "🔕 {what} dibisukan {via} oleh {by} sampai {until}: {reason}",
        "op.unmuted": "🔔 {what}: {count} pembisuan diakhiri {via} oleh {by}.",
        "op.maintenance_added": "🛠 Pemeliharaan {what} dijadwalkan {via} oleh {by}: {start} s.d. {end}: {reason}. "
                                "Gangguan yang mulai di dalamnya dicatat sebagai terencana.",
        "op.maintenance_ended": "🛠 Pemeliharaan #{id} ({what}) diakhiri {via} oleh {by}.",
        "op.acked": "✅ Gangguan #{id} ditangani oleh {by} ({via}).",
        "op.acked_note": "✅ Gangguan #{id} ditangani oleh {by} ({via}): {note}",
        "sum.operator": "{text}",
        "status.head": "STATUS", "status.unchecked": "belum diperiksa", "status.muted": "dibisukan s.d. {until}",
        "status.count": "{up} dari {total} normal",
        "outages.head": "GANGGUAN TERBUKA", "outages.none": "✅ Tidak ada gangguan terbuka.",
        "cmd.status": "status semua perangkat sekarang", "cmd.gangguan": "gangguan yang masih terbuka",
        "cmd.outages": "gangguan terbuka (English alias)", "cmd.ack": "NOMOR [catatan]: saya tangani gangguan ini",
        "cmd.mute": "PERANGKAT DURASI [alasan]: bisukan pesan", "cmd.unmute": "PERANGKAT: akhiri pembisuan",
        "cmd.laporan": "laporan minggu ini sejauh ini", "cmd.report": "laporan minggu ini (English alias)",
        "cmd.help": "bantuan",
        "help.head": "Bot monitor e-KTP. Perintah:", "help.buttons": "Tombol di bawah pesan gangguan: ✋ Tangani "
                     "(saya tangani; eskalasi ke Kepala Dinas berhenti) dan 🔕 Bisukan.",
        "help.who": "Hanya pengguna di telegram.allowed_users yang bisa memakai perintah.",
    },
    "en": {
        "status.on_battery": "on battery",
        "do.power": "Check mains power/generator. Save work and shut the server down cleanly before the UPS battery "
                    "runs out.",
        "do.lightning": "Check the surge arrester (SPD) and equipment damage. Damaged APBN equipment must be reported "
                        "to the Ministry for replacement.",
        "do.network": "Check the office router, switch and network cables.",
        "do.upstream": "Central network/VPN problem: call the central Dukcapil helpdesk. Office equipment is fine.",
        "do.hardware": "Check the server on site. If broken, prepare the replacement report for the Ministry.",
        "do.service": "Check the recording application on the server; restart its service.",
        "do.maintenance": "Planned maintenance; no action needed.",
        "do.monitor_offline": "Check the monitor computer (power and network).",
        "do.environment": "Check the server room: air conditioning, water leaks, smoke. Reduce the load or shut "
                          "equipment down cleanly before heat damages it.",
        "do.unknown": "Check the equipment on site.",
        "head.alert": "OUTAGE", "head.update": "OUTAGE UPDATE", "head.reminder": "STILL DOWN",
        "head.escalation": "ESCALATION", "head.recovery": "RECOVERED", "head.short": "SHORT OUTAGE, RECOVERED",
        "head.planned": "MAINTENANCE",
        "since": "since", "recovered": "recovered", "cause": "Cause", "evidence_more": "more evidence",
        "todo": "Action", "duration": "Duration", "open_for": "open for", "battery": "Battery",
        "runtime_left": "about {minutes} min left", "acked_by": "Handled by", "not_acked": "Nobody has taken it yet.",
        "esc.unacked": "Not acknowledged for {duration} since {time}.",
        "esc.open": "Still open for {duration} since {time}.",
        "esc.cause": "Cause {cause}: replacement equipment from the Ministry is probably needed.",
        "esc.for": "For: {audience}", "esc.report": "The escalation report (PDF) follows separately.",
        "esc.timeline": "Timeline",
        "still_open": "Still down", "all_up": "Every affected device is up again.",
        "more_lines": "… and {count} more lines not shown (message cut: Telegram's {limit}-character limit).",
        "btn.ack": "✋ Acknowledge", "btn.mute": "🔕 Mute {duration}", "btn.acked": "✅ Handled: {name} ({time})",
        "btn.ack_n": "✋ Ack #{id}",
        "digest.head": "While offline {start}–{end}", "digest.count": "{count} delayed messages, in order of events:",
        "digest.part": "part {part}/{parts}", "digest.open": "Open now",
        "audience.it_staff": "IT staff", "audience.head_of_office": "head of office",
        "audience.ministry_liaison": "Ministry liaison",
        "planned": "planned",
        "dur.d": "d", "dur.h": "h", "dur.m": "min", "dur.s": "s",
        "sum.opened": "outage started: {devices} ({cause})", "sum.device_down": "{device} {status}",
        "sum.device_changed": "{device} now {status}", "sum.cause_changed": "cause now {cause}",
        "sum.device_up": "{device} up after {duration}", "sum.closed": "recovered after {duration} ({cause})",
        "sum.reminder": "still open ({duration})", "sum.escalation": "escalated to {audience}",
        "sum.flap_start": "{device} flapping ({changes}× in {window})",
        "sum.flap_stop": "{device} stable again ({status})",
        "sum.gap": "monitor down {start}–{end} ({duration}); recorded as not monitored",
        "sum.report": "report: {name}", "sum.broken": "cannot deliver to {audience}",
        "sum.restored": "delivery to {audience} works again",
        "obs.head": "NOTE", "flap.head": "FLAPPING", "flap.start": "{device} changed status {changes}× in {window}; "
                                                               "its messages are summarised.",
        "flap.stop": "{device} is stable again: {status}.",
        "gap.head": "MONITOR WAS DOWN", "gap.body": "The monitor was not running {start}–{end} ({duration}).",
        "gap.reason.process_stopped": "The monitor program stopped.",
        "gap.reason.host_rebooted": "The monitor computer rebooted.",
        "gap.reason.clock_jump": "The monitor computer's clock jumped.",
        "gap.note": "That time is reported as <b>not monitored</b>, not as up.",
        "broken.head": "RECEIVER BROKEN",
        "broken.body": "Messages for {audience} ({site}) cannot be delivered: {reason}",
        "broken.todo": "Add the bot to that chat again or fix chat_id in the config.",
        "restored.body": "Messages for {audience} ({site}) are delivered again.",
        "alive": "Monitor alive · {site} · {time}", "alive.devices": "{total} devices: {up} up, {bad} with problems",
        "alive.open": "Open outages: {count}", "alive.none": "No open outages.",
        "bot.refused": "⛔ Sorry, {name} (id {user_id}) may not use this bot. Ask the admin to add your id to "
                       "telegram.allowed_users.",
        "bot.ack_ok": "✅ Recorded: {name} is handling outage #{id}.",
        "bot.ack_already": "ℹ️ Outage #{id} is already handled by {by} ({time}). Your note was stored too.",
        "bot.ack_closed": "This outage has already recovered.",
        "bot.no_incident": "Outage #{id} not found. Outage numbers are in /outages.",
        "bot.usage_ack": "Usage: /ack NUMBER [note], e.g. /ack 12 on my way",
        "bot.usage_mute": "Usage: /mute DEVICE DURATION [reason], e.g. /mute rec-srv-1 2h battery swap. "
                          "DURATION: 30m, 2h, 1d (at most 7 days). DEVICE: a device id, site/device, or site/* for a "
                          "whole site.",
        "bot.usage_unmute": "Usage: /unmute DEVICE, e.g. /unmute rec-srv-1",
        "bot.no_device": "No device {name}. Choices: {choices}",
        "bot.ambiguous": "{name} exists at several sites; write site/device: {choices}",
        "bot.bad_duration": "Duration {value} not understood: use 30m, 2h or 1d (at most 7 days).",
        "bot.muted": "🔕 {what} muted until {until}: {reason}",
        "bot.unmuted": "🔔 {what}: {count} mute(s) ended.",
        "bot.not_muted": "{what} is not muted.",
        "bot.mute_button": "🔕 Muted for {duration}: {devices}",
        "bot.mute_reason": "muted from Telegram by {name}",
        "bot.report_unavailable": "Reports are not available in this version yet.",
        "bot.report_failed": "The report for {site} could not be made; see the monitor log.",
        "bot.report_none": "No report for {site} yet.",
        "bot.report_caption": "📄 This week's report so far · {site}",
        "bot.unknown": "Unknown command {cmd}. Type /help.",
        "bot.whole_site": "all of {site}",
        "bot.no_site": "No site {name}. Choices: {choices}",
        "op.no_window": "No window #{id}.",
        "op.window_over": "Window #{id} has already ended or was cancelled.",
        "op.console": "from the server console",
        "op.mute_reason": "muted from the server console by {name}",
        "op.muted": "🔕 {what} muted {via} by {by} until {until}: {reason}",
        "op.unmuted": "🔔 {what}: {count} mute(s) ended {via} by {by}.",
        "op.maintenance_added": "🛠 Maintenance of {what} set {via} by {by}: {start} to {end}: {reason}. "
                                "Outages starting in it are recorded as planned.",
        "op.maintenance_ended": "🛠 Maintenance #{id} ({what}) ended {via} by {by}.",
        "op.acked": "✅ Outage #{id} is being handled by {by} ({via}).",
        "op.acked_note": "✅ Outage #{id} is being handled by {by} ({via}): {note}",
        "sum.operator": "{text}",
        "status.head": "STATUS", "status.unchecked": "not checked yet", "status.muted": "muted until {until}",
        "status.count": "{up} of {total} up",
        "outages.head": "OPEN OUTAGES", "outages.none": "✅ No open outages.",
        "cmd.status": "every device's state now", "cmd.gangguan": "open outages (Indonesian alias)",
        "cmd.outages": "open outages", "cmd.ack": "NUMBER [note]: I am handling this outage",
        "cmd.mute": "DEVICE DURATION [reason]: mute messages", "cmd.unmute": "DEVICE: end a mute",
        "cmd.laporan": "this week's report (Indonesian alias)", "cmd.report": "this week's report so far",
        "cmd.help": "help",
        "help.head": "e-KTP monitor bot. Commands:", "help.buttons": "Buttons under outage messages: ✋ Acknowledge "
                     "(I am on it; escalation to the head of office stops) and 🔕 Mute.",
        "help.who": "Only users in telegram.allowed_users can use the commands.",
    },
}


def phrase(lang: str, key: str, **values: Any) -> str:
    """A phrase in ``lang`` (falling back to Indonesian, then the key), with ``{name}`` values filled in."""
    table = PHRASES.get(lang, PHRASES["id"])
    text = table.get(key) or PHRASES["id"].get(key) or _domain_word(lang, key) or key
    return text.format(**values) if values else text


_DOMAIN_WORDS = {"obs": vocabulary.OBSERVATIONS, "cause": vocabulary.CAUSES, "status": vocabulary.STATUSES}


def _domain_word(lang: str, key: str) -> str | None:
    """``obs.*``, ``cause.*`` and ``status.*`` come from monitor.vocabulary: the same words as the reports."""
    group, _, name = key.partition(".")
    table = _DOMAIN_WORDS.get(group)
    if table is None:
        return None
    return (table.get(lang) or table["id"]).get(name)


def _lang(lang: str) -> str:
    return lang if lang in PHRASES else "id"


# ------------------------------------------------------------------------------------------- time words


def format_duration(seconds: float, lang: str = "id") -> str:
    """``1 jam 12 menit``, ``2 hari 3 jam``, ``45 detik`` (two largest units, whole minutes from 10 minutes
    on; en: ``1 h 12 min``)."""
    secs = max(0, round(seconds))
    if secs >= 600:
        secs -= secs % 60
    units = [("d", 86400), ("h", 3600), ("m", 60), ("s", 1)]
    parts: list[str] = []
    for unit, size in units:
        if secs >= size or (unit == "s" and not parts):
            value = secs // size
            secs -= value * size
            if value or unit == "s":
                parts.append(f"{value} {phrase(lang, 'dur.' + unit)}")
        if len(parts) == 2:
            break
    return " ".join(parts)


def parse_time(value: str) -> datetime:
    """An ISO 8601 time from a payload (``...Z`` or with an offset; naive = UTC) as aware UTC."""
    return utc(datetime.fromisoformat(value.replace("Z", "+00:00")))


def format_time(dt: datetime, zone: str, now: datetime, lang: str = "id") -> str:
    """Site-local time with its zone label: ``10:02 WIB`` today, ``27 Nov 10:02 WIB`` on another day."""
    local = to_local(dt, zone)
    label = zone_label(zone)
    if local.date() == to_local(now, zone).date():
        return f"{local:%H:%M} {label}"
    month = _MONTHS[_lang(lang)][local.month - 1]
    return f"{local.day} {month} {local:%H:%M} {label}"


def format_clock(dt: datetime, zone: str) -> str:
    """``10:02`` in the site's zone (for ranges whose end carries the label)."""
    return f"{to_local(dt, zone):%H:%M}"


# ------------------------------------------------------------------------------------------------ views


@dataclass(frozen=True, slots=True)
class DeviceLine:
    """One affected device in an incident message."""

    name: str
    status: str                     # monitor.domain.Status value (worst while open)
    since: datetime
    ended_at: datetime | None = None
    reason: str | None = None       # the check's reason (English machine text), shown in brackets
    on_battery: bool = False        # a UPS running on battery: says so instead of "degraded"


@dataclass(frozen=True, slots=True)
class EvidenceLine:
    """One fact behind the cause: when, which device, what (ObservationKind) and its values."""

    time: datetime
    device_name: str | None
    kind: str
    text: str = ""
    values: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class UpsLine:
    """A UPS on battery: charge (%) and runtime left (seconds), either may be unknown."""

    name: str
    charge_pct: float | None
    runtime_s: float | None


@dataclass(frozen=True, slots=True)
class IncidentView:
    """What an incident message shows. ``id`` None for an outage outside any incident."""

    id: int | None
    site_name: str
    timezone: str
    cause: str
    started_at: datetime
    devices: tuple[DeviceLine, ...]
    ended_at: datetime | None = None
    planned: bool = False
    evidence: tuple[EvidenceLine, ...] = ()
    ups: tuple[UpsLine, ...] = ()
    acknowledged_by: str | None = None
    acknowledged_at: datetime | None = None
    ack_note: str | None = None

    @property
    def worst(self) -> str:
        order = {"up": 0, "unknown": 1, "degraded": 2, "unreachable": 3, "down": 4}
        open_devices = [d for d in self.devices if d.ended_at is None] or list(self.devices)
        return max((d.status for d in open_devices), key=lambda s: order.get(s, 0), default="unknown")


@dataclass(frozen=True, slots=True)
class EscalationInfo:
    """Why an escalation message is sent to ``audience`` (``reason``: ``unacked`` / ``open`` / ``cause``)."""

    audience: str
    reason: str
    attach_report: bool = False


# ---------------------------------------------------------------------------------------------- fitting


def tg_length(text: str) -> int:
    """Length as Telegram limits it, over-estimated safely: UTF-16 code units of the raw HTML."""
    return len(text.encode("utf-16-le")) // 2


def fit(render: Callable[[int | None], str], count: int, limit: int = MESSAGE_LIMIT) -> str:
    """The longest rendering within ``limit``: ``render(None)`` shows all ``count`` list lines;
    ``render(k)`` shows the first ``k`` and a note saying how many were left out. The one place where
    messages are truncated."""
    full = render(None)
    if tg_length(full) <= limit:
        return full
    lo, hi = 0, max(0, count - 1)
    best = render(0)
    while lo <= hi:
        mid = (lo + hi) // 2
        text = render(mid)
        if tg_length(text) <= limit:
            best, lo = text, mid + 1
        else:
            hi = mid - 1
    if tg_length(best) > limit:  # even without list lines (an absurdly long name): cut whole lines
        best = clip(best, limit)
    return best


def clip(text: str, limit: int = MESSAGE_LIMIT, lang: str = "id") -> str:
    """Last resort for free text: keep whole lines up to ``limit`` and say the rest was cut."""
    if tg_length(text) <= limit:
        return text
    lines = text.split("\n")
    note = "\n" + phrase(lang, "more_lines", count=len(lines), limit=limit)  # the widest the count can be
    kept: list[str] = []
    used = tg_length(note)
    for line in lines:
        if used + tg_length(line) + 1 > limit:
            break
        kept.append(line)
        used += tg_length(line) + 1
    return "\n".join(kept) + "\n" + phrase(lang, "more_lines", count=len(lines) - len(kept), limit=limit)


# ------------------------------------------------------------------------------------------- templates


@cache
@cache
def environment() -> Environment:
    """The Jinja2 environment: templates from ``alerts/templates``, HTML autoescape, StrictUndefined.
    One per process, so each template is compiled once."""
    env = Environment(loader=PackageLoader("alerts", "templates"), autoescape=True, undefined=StrictUndefined,
                      trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=False)
    return env


def _helpers(lang: str, zone: str, now: datetime) -> dict[str, Any]:
    lang = _lang(lang)

    def t(key: str, **values: Any) -> Markup:
        # Values are escaped here; the phrase itself is our own trusted text (may hold <b>).
        return Markup(phrase(lang, key, **{k: escape(v) for k, v in values.items()}))

    return {
        "t": t, "lang": lang,
        "when": lambda dt: format_time(dt, zone, now, lang),
        "clock": lambda dt: format_clock(dt, zone),
        "zone": zone_label(zone),
        "dur": lambda seconds: format_duration(seconds, lang),
        "emoji": lambda status: STATUS_EMOJI.get(status, "⚪"),
        "status_word": lambda status: phrase(lang, f"status.{status}"),
        "cause_word": lambda cause: phrase(lang, f"cause.{cause}"),
        "obs_word": lambda kind: phrase(lang, f"obs.{kind}"),
        "ev": lambda e: evidence_phrase(e, lang),
        "why": lambda reason: localize_reason(reason, lang),
        "chronology": lambda evidence, most: chronology(evidence, zone, now, lang, most),
        "now": now,
    }


def chronology(evidence: Sequence[EvidenceLine], zone: str, now: datetime, lang: str, most: int) -> list[str]:
    """Up to ``most`` lines ``04:27 WIB <device>: <fact>``, oldest first. The same fact seen by a trap and by the
    next poll in the same minute is one line: a reader must not take it for two events."""
    lines: list[str] = []
    for item in sorted(evidence, key=lambda e: e.time):
        line = f"{format_time(item.time, zone, now, lang)} {evidence_phrase(item, lang)}"
        if line not in lines:
            lines.append(line)
    return lines[:most]


_VALUE_UNITS = (("input.voltage", " V"), ("input_voltage", " V"), ("battery.charge", " %"), ("charge", " %"),
                ("load", " %"), ("count", "×"), ("strikes", "×"), ("interface", ""))


def evidence_phrase(item: EvidenceLine, lang: str = "id") -> str:
    """``UPS Ruang Server: tegangan listrik tidak normal (251 V)`` — device, localized fact, key value."""
    words = phrase(lang, f"obs.{item.kind}")
    if words == f"obs.{item.kind}":
        words = item.text or item.kind
    extra = next((f"{item.values[k]}{unit}" for k, unit in _VALUE_UNITS if k in item.values), None)
    if extra is not None:
        words = f"{words} ({extra})"
    return f"{item.device_name}: {words}" if item.device_name else words


def _render(name: str, lang: str, zone: str, now: datetime, **context: Any) -> str:
    template = environment().get_template(name)
    return template.render(**_helpers(lang, zone, now), **context).strip()


# ---------------------------------------------------------------------------------------- incident text

_CAUSE_EVIDENCE = {
    "power": ("on_battery", "transfer", "line_bad", "low_battery", "low_runtime", "voltage_abnormal"),
    "lightning": ("spd_tripped", "strike", "voltage_abnormal"),
    "network": ("link_down",),
    "maintenance": (),
}


def key_evidence(view: IncidentView) -> tuple[EvidenceLine | None, int]:
    """The evidence item that best explains the cause (earliest of the kinds that point to it), and how
    many other items there are."""
    if not view.evidence:
        return None, 0
    preferred = _CAUSE_EVIDENCE.get(view.cause, ())
    matching = [e for e in view.evidence if e.kind in preferred]
    chosen = min(matching or list(view.evidence), key=lambda e: e.time)
    return chosen, len(view.evidence) - 1


def render_incident(view: IncidentView, mode: Mode, *, lang: str, now: datetime,
                    escalation: EscalationInfo | None = None, limit: int = MESSAGE_LIMIT) -> str:
    """The message for one incident: new alert, update, reminder, escalation, recovery, or "short"
    (opened and closed before the first message could go out)."""
    evidence, more_evidence = key_evidence(view)
    planned_head = view.planned and mode in ("alert", "update")
    head_emoji = ("🛠" if planned_head else "✅" if mode in ("recovery", "short")
                  else "⚠️" if mode == "escalation" else "🔁" if mode == "reminder"
                  else STATUS_EMOJI.get(view.worst, "🔴"))
    end = view.ended_at or now
    open_s = (end - view.started_at).total_seconds()

    def render(shown: int | None) -> str:
        devices = view.devices if shown is None else view.devices[:shown]
        hidden = 0 if shown is None else len(view.devices) - shown
        return _render("incident.html.j2", lang, view.timezone, now,
                       v=view, mode=mode, head_emoji=head_emoji, planned_head=planned_head, devices=devices,
                       hidden=hidden, limit=limit, evidence=evidence, more_evidence=more_evidence,
                       open_s=open_s, esc=escalation)

    return fit(render, len(view.devices), limit)


def incident_buttons(incident_id: int, *, lang: str, mute_for: timedelta) -> list[list[dict[str, str]]]:
    """The inline buttons under an alert: acknowledge, mute the incident's devices."""
    return [[{"text": phrase(lang, "btn.ack"), "data": f"ack:{incident_id}"},
             {"text": phrase(lang, "btn.mute", duration=format_duration(mute_for.total_seconds(), lang)),
              "data": f"mute:{incident_id}"}]]


def acked_buttons(name: str, when: str, *, lang: str, incident_id: int) -> list[list[dict[str, str]]]:
    """What replaces the buttons once someone acknowledged (64-byte callback data: ``acked:<id>``)."""
    label = phrase(lang, "btn.acked", name=name, time=when)
    return [[{"text": label[:60], "data": f"acked:{incident_id}"}]]


# ------------------------------------------------------------------------------------------ other texts


def summary_line(key: str, *, lang: str, emoji: str, incident_id: int | None = None, site: str | None = None,
                 **values: Any) -> str:
    """One HTML line for digests and logs, e.g. ``🔴 #12 Server mati``; values are escaped."""
    body = phrase(lang, key, **{k: escape(v) for k, v in values.items()})
    ref = f"#{incident_id} " if incident_id is not None else ""
    where = f"{escape(site)}: " if site else ""
    return f"{emoji} {ref}{where}{body}"


def render_observation(*, site_name: str, zone: str, now: datetime, lang: str,
                       items: Sequence[EvidenceLine]) -> str:
    """Notable facts that are not outages (strike counted, SPD tripped, abnormal voltage, reboot...)."""
    def render(shown: int | None) -> str:
        rows = items if shown is None else items[:shown]
        return _render("observation.html.j2", lang, zone, now, site_name=site_name, items=rows,
                       hidden=len(items) - len(rows), limit=MESSAGE_LIMIT)
    return fit(render, len(items))


def render_flapping(*, site_name: str, device_name: str, zone: str, now: datetime, lang: str, started: bool,
                    changes: int = 0, window_s: float = 0.0, status: str = "unknown") -> str:
    return _render("flapping.html.j2", lang, zone, now, site_name=site_name, device_name=device_name,
                   started=started, changes=changes, window_s=window_s, status=status)


def render_gap(*, site_name: str | None, zone: str, now: datetime, lang: str, started_at: datetime,
               ended_at: datetime, reason: str) -> str:
    return _render("monitor_gap.html.j2", lang, zone, now, site_name=site_name, started_at=started_at,
                   ended_at=ended_at, reason=reason)


def render_receiver_broken(*, audience: str, site_name: str, reason: str, lang: str, zone: str, now: datetime,
                           restored: bool = False) -> str:
    return _render("receiver_broken.html.j2", lang, zone, now, audience=audience, site_name=site_name,
                   reason=reason, restored=restored)


def render_alive(*, site_name: str, zone: str, now: datetime, lang: str, total: int, up: int,
                 open_incidents: int) -> str:
    return _render("alive.html.j2", lang, zone, now, site_name=site_name, total=total, up=up,
                   bad=total - up, open_incidents=open_incidents)


@dataclass(frozen=True, slots=True)
class DigestItem:
    """One delayed message in a digest: when its event happened and its one-line summary (HTML)."""

    time: datetime
    summary: str


@dataclass(frozen=True, slots=True)
class OpenIncident:
    """An incident still open when a digest or a /gangguan answer is written."""

    id: int
    site_name: str
    started_at: datetime
    cause: str
    devices: tuple[str, ...]
    acknowledged_by: str | None = None


def render_digest(items: Sequence[DigestItem], *, zone: str, now: datetime, lang: str,
                  open_incidents: Sequence[OpenIncident] = (), limit: int = MESSAGE_LIMIT) -> list[str]:
    """The backlog after an offline period as one digest: "Selama offline 10:02–13:47 WIB", then every
    delayed message on one line with its original time, oldest first, then what is still open.

    Every item appears exactly once. When the lines do not fit one message they continue in numbered
    parts ("bagian 2/3"), so nothing is cut from a digest.
    """
    ordered = sorted(items, key=lambda i: i.time)
    start = ordered[0].time if ordered else now
    lines = [f"• {escape(format_time(i.time, zone, now, lang))} {Markup(i.summary)}" for i in ordered]

    def page(chunk: Sequence[str], part: int, parts: int, with_open: bool) -> str:
        return _render("digest.html.j2", lang, zone, now, start=start, lines=[Markup(x) for x in chunk],
                       same_day=to_local(start, zone).date() == to_local(now, zone).date(),
                       count=len(ordered), part=part, parts=parts,
                       open_incidents=open_incidents if with_open else ())

    # Greedy packing: lines in order; the open-incident block goes on the last page.
    pages: list[list[str]] = [[]]
    for line in lines:
        trial = [*pages[-1], line]
        # measured with the real page number (page 1 carries the count line) and a wide "NN/NN"
        if pages[-1] and tg_length(page(trial, len(pages), 99, False)) > limit:
            pages.append([line])
        else:
            pages[-1] = trial
    if tg_length(page(pages[-1], len(pages), 99, True)) > limit and pages[-1]:
        pages.append([])
    total = len(pages)
    out = [page(chunk, n + 1, total, n + 1 == total) for n, chunk in enumerate(pages)]
    return [o if tg_length(o) <= limit else clip(o, limit, lang) for o in out]


def render_escalation_caption(view: IncidentView, *, lang: str, now: datetime, audience: str) -> str:
    """Caption of the escalation report PDF (short: captions are limited to 1024 characters)."""
    return fit(lambda shown: _render("report_caption.html.j2", lang, view.timezone, now, v=view,
                                     audience=audience), 0, CAPTION_LIMIT)


# ------------------------------------------------------------------------------------------- bot replies

BOT_COMMANDS = ("status", "gangguan", "outages", "ack", "mute", "unmute", "laporan", "report", "help")


def bot_commands(lang: str) -> list[tuple[str, str]]:
    """(command, description) for setMyCommands in ``lang``."""
    return [(c, phrase(lang, f"cmd.{c}")) for c in BOT_COMMANDS]


@dataclass(frozen=True, slots=True)
class DeviceStatus:
    """One device in /status: its state now (``status`` None = never checked)."""

    name: str
    key: str
    status: str | None
    since: datetime | None = None
    reason: str | None = None
    muted_until: datetime | None = None
    on_battery: bool = False
    ups: UpsLine | None = None


@dataclass(frozen=True, slots=True)
class SiteStatus:
    name: str
    timezone: str
    devices: tuple[DeviceStatus, ...]
    muted_until: datetime | None = None


@dataclass(frozen=True, slots=True)
class OutageItem:
    """One open outage in /gangguan."""

    incident_id: int | None
    site_name: str
    timezone: str
    device_name: str
    status: str
    since: datetime
    cause: str
    acknowledged_by: str | None = None


def render_status(sites: Sequence[SiteStatus], *, now: datetime, lang: str) -> str:
    """/status: every device of the visible sites with its state now."""
    zone = sites[0].timezone if sites else "Asia/Jakarta"
    total = sum(len(s.devices) for s in sites)

    def render(shown: int | None) -> str:
        budget = total if shown is None else shown
        trimmed: list[SiteStatus] = []
        for site in sites:
            take = site.devices[:max(0, budget)]
            budget -= len(take)
            trimmed.append(SiteStatus(site.name, site.timezone, take, site.muted_until))
        return _render("status.html.j2", lang, zone, now, sites=trimmed, all_sites=sites,
                       hidden=0 if shown is None else total - shown, limit=MESSAGE_LIMIT)

    return fit(render, total)


def render_outages(items: Sequence[OutageItem], *, now: datetime, lang: str) -> str:
    """/gangguan: open outages, oldest first, grouped by incident number."""
    zone = items[0].timezone if items else "Asia/Jakarta"

    def render(shown: int | None) -> str:
        rows = items if shown is None else items[:shown]
        return _render("outages.html.j2", lang, zone, now, items=rows, hidden=len(items) - len(rows),
                       limit=MESSAGE_LIMIT)

    return fit(render, len(items))


def render_help(*, lang: str, now: datetime) -> str:
    return _render("help.html.j2", lang, "Asia/Jakarta", now, commands=bot_commands(lang))
