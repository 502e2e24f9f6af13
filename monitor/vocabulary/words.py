"""The words of the domain in Bahasa Indonesia and English — one source for Telegram, reports and pages.

DESIGN.md gives each word one meaning; this module gives each meaning one wording, so the head of office
reads the same term in the chat and in the weekly report ("arrester petir (SPD)", not a different name in
each). Every table is ``{"id": {code: words}, "en": {code: words}}`` with the same codes in both languages
(tested). Lookups fall back to the code itself, so a new enum member shows up as its code, never blank — and
the language test (tests/test_language.py) fails on it until someone adds its words.

To add a word (a new device kind, a new observation, a cause): add the code to both languages of its table.
Every table listed in :data:`TABLES` is part of the catalogue the language test derives its word lists from.

Causes have two registers: ``short`` for table cells and chart legends ("listrik"), and the sentence form
for messages ("listrik padam").
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

Lang = Literal["id", "en"]
LANGS: tuple[Lang, ...] = ("id", "en")
Table = Mapping[str, Mapping[str, str]]

STATUSES: Table = {
    "id": {"up": "normal", "degraded": "terganggu", "down": "mati", "unreachable": "tidak terjangkau",
           "unknown": "tidak diketahui", "maintenance": "pemeliharaan", "unmonitored": "tidak dipantau",
           "not_running": "monitor tidak berjalan", "not_yet_monitored": "belum dipantau",
           "future": "belum terjadi"},
    "en": {"up": "up", "degraded": "degraded", "down": "down", "unreachable": "unreachable", "unknown": "unknown",
           "maintenance": "maintenance", "unmonitored": "not monitored", "not_running": "monitor not running",
           "not_yet_monitored": "not yet monitored", "future": "not yet happened"},
}

CAUSES: Table = {
    "id": {"power": "listrik padam", "lightning": "petir / lonjakan tegangan", "network": "jaringan kantor",
           "upstream": "jaringan pusat (SIAK Terpusat / VPN)", "hardware": "kerusakan perangkat keras",
           "service": "layanan aplikasi berhenti", "maintenance": "pemeliharaan terencana",
           "monitor_offline": "monitor tidak berjalan", "environment": "suhu atau kondisi ruang server",
           "unknown": "belum diketahui"},
    "en": {"power": "power cut", "lightning": "lightning / surge", "network": "office network",
           "upstream": "central network (SIAK / VPN)", "hardware": "hardware failure",
           "service": "application service stopped", "maintenance": "planned maintenance",
           "monitor_offline": "monitor not running", "environment": "server room conditions (heat, water, smoke)",
           "unknown": "not known yet"},
}

CAUSES_SHORT: Table = {
    "id": {"power": "listrik", "lightning": "petir", "network": "jaringan kantor",
           "upstream": "pusat (Data Center/VPN)", "hardware": "kerusakan perangkat", "service": "layanan/aplikasi",
           "maintenance": "pemeliharaan", "monitor_offline": "monitor tidak aktif", "environment": "ruang server",
           "unknown": "belum diketahui"},
    "en": {"power": "power", "lightning": "lightning", "network": "office network",
           "upstream": "central (data center/VPN)", "hardware": "hardware failure", "service": "service/application",
           "maintenance": "maintenance", "monitor_offline": "monitor offline", "environment": "server room",
           "unknown": "unknown"},
}

DEVICE_KINDS: Table = {
    "id": {"recording_server": "server perekaman", "workstation": "komputer perekaman", "ups": "UPS",
           "spd": "arrester petir (SPD)", "router": "router", "switch": "switch", "upstream": "koneksi pusat",
           "monitor_host": "komputer monitor", "pdu": "PDU (stop kontak rak)", "room_sensor": "sensor ruang server"},
    "en": {"recording_server": "recording server", "workstation": "workstation", "ups": "UPS",
           "spd": "surge arrester (SPD)", "router": "router", "switch": "switch", "upstream": "central link",
           "monitor_host": "monitor host", "pdu": "PDU (rack power strip)", "room_sensor": "server room sensor"},
}

# Evidence in words, from the observation kind (the checks' own ``text`` is English, for logs). The engine's
# own facts (``outage``, ``status``, ``maintenance``) are here too: every fact a chronology lists has words.
OBSERVATIONS: Table = {
    "id": {"on_battery": "UPS pakai baterai", "on_mains": "listrik PLN kembali", "low_battery": "baterai UPS lemah",
           "replace_battery": "baterai UPS perlu diganti", "low_runtime": "sisa waktu baterai UPS rendah",
           "overload": "UPS kelebihan beban", "bypass": "UPS dalam mode bypass",
           "voltage_abnormal": "tegangan listrik tidak normal", "line_bad": "kualitas listrik PLN buruk",
           "transfer": "UPS pindah ke baterai", "temperature_high": "suhu tinggi",
           "spd_tripped": "arrester petir (SPD) terpicu", "spd_ok": "arrester petir (SPD) normal kembali",
           "strike": "sambaran petir tercatat", "reboot": "perangkat menyala ulang",
           "link_down": "jalur jaringan putus", "link_up": "jalur jaringan tersambung",
           "disk_full": "disk hampir penuh", "host_boot": "komputer monitor menyala ulang",
           "monitor_gap": "monitor tidak berjalan", "trap": "trap SNMP diterima",
           "humidity_abnormal": "kelembapan ruang tidak normal", "water_leak": "air terdeteksi di ruang server",
           "smoke": "asap terdeteksi di ruang server", "door_open": "pintu ruang server terbuka",
           "contact_alarm": "kontak alarm aktif",
           "outage": "gangguan perangkat", "status": "status perangkat", "maintenance": "pemeliharaan terencana"},
    "en": {"on_battery": "UPS on battery", "on_mains": "mains power back", "low_battery": "UPS battery low",
           "replace_battery": "UPS battery needs replacing", "low_runtime": "UPS battery runtime low",
           "overload": "UPS overloaded", "bypass": "UPS on bypass", "voltage_abnormal": "abnormal mains voltage",
           "line_bad": "poor mains quality", "transfer": "UPS transferred to battery",
           "temperature_high": "high temperature", "spd_tripped": "surge arrester (SPD) tripped",
           "spd_ok": "surge arrester (SPD) back to normal", "strike": "lightning strike counted",
           "reboot": "device rebooted", "link_down": "network link down", "link_up": "network link up",
           "disk_full": "disk nearly full", "host_boot": "monitor computer rebooted",
           "monitor_gap": "monitor not running", "trap": "SNMP trap received",
           "humidity_abnormal": "abnormal room humidity", "water_leak": "water detected in the server room",
           "smoke": "smoke detected in the server room", "door_open": "server room door open",
           "contact_alarm": "alarm contact active",
           "outage": "device outage", "status": "device status", "maintenance": "planned maintenance"},
}

GAP_REASONS: Table = {
    "id": {"process_stopped": "program monitor berhenti", "host_rebooted": "komputer monitor mati/dinyalakan ulang",
           "clock_jump": "jam komputer monitor melompat",
           "not_running_now": "monitor tidak berjalan sejak tanda hidup terakhirnya"},
    "en": {"process_stopped": "monitor process stopped", "host_rebooted": "monitor computer was off/rebooted",
           "clock_jump": "monitor computer's clock jumped",
           "not_running_now": "the monitor has not been running since its last sign of life"},
}

SOURCES: Table = {
    "id": {"trap": "trap SNMP", "poll": "pemeriksaan", "engine": "monitor", "selfwatch": "monitor",
           "config": "konfigurasi", "adhoc": "Telegram"},
    "en": {"trap": "SNMP trap", "poll": "poll", "engine": "monitor", "selfwatch": "monitor",
           "config": "configuration", "adhoc": "Telegram"},
}

# Why a UPS moved to battery, as the UPS reports it (APC PowerNet upsAdvInputLineFailCause and kin). An
# unknown code is left out of the sentence rather than shown in the UPS's English.
TRANSFER_CAUSES: Table = {
    "id": {"blackout": "listrik padam", "largeMomentarySpike": "lonjakan tegangan sesaat",
           "smallMomentarySpike": "lonjakan tegangan kecil", "highLineVoltage": "tegangan terlalu tinggi",
           "lowLineVoltage": "tegangan terlalu rendah", "brownout": "tegangan turun",
           "frequencyOutOfRange": "frekuensi listrik tidak normal", "selfTest": "uji mandiri UPS",
           "rateOfVoltageChange": "perubahan tegangan terlalu cepat", "deepMomentarySag": "tegangan anjlok sesaat",
           "smallMomentarySag": "tegangan turun sesaat", "noTransfer": "tidak ada perpindahan",
           "emergencyPowerOff": "tombol darurat UPS ditekan"},
    "en": {"blackout": "blackout", "largeMomentarySpike": "large momentary spike",
           "smallMomentarySpike": "small momentary spike", "highLineVoltage": "high line voltage",
           "lowLineVoltage": "low line voltage", "brownout": "brownout",
           "frequencyOutOfRange": "frequency out of range", "selfTest": "UPS self-test",
           "rateOfVoltageChange": "voltage changing too fast", "deepMomentarySag": "deep momentary sag",
           "smallMomentarySag": "small momentary sag", "noTransfer": "no transfer",
           "emergencyPowerOff": "emergency power off pressed"},
}

# How someone acknowledged (acknowledgements.source): "07.25 WIB — Budi menangani gangguan (tombol ...)".
ACK_SOURCES: Table = {
    "id": {"button": "tombol \u201cTangani\u201d di Telegram", "command": "perintah /ack di Telegram",
           "cli": "perintah ektp-monitor"},
    "en": {"button": "the \u201cAcknowledge\u201d button in Telegram", "command": "the /ack command in Telegram",
           "cli": "the ektp-monitor command"},
}

AUDIENCES: Table = {
    "id": {"it_staff": "staf TI", "head_of_office": "Kepala Dinas", "ministry_liaison": "penghubung Kemendagri"},
    "en": {"it_staff": "IT staff", "head_of_office": "head of office", "ministry_liaison": "Ministry liaison"},
}

UNITS: Table = {
    "id": {"d": "hari", "h": "jam", "min": "menit", "s": "detik"},
    "en": {"d": "d", "h": "h", "min": "min", "s": "s"},
}
UNITS_SHORT: Table = {
    "id": {"d": "hr", "h": "j", "min": "mnt", "s": "dtk"},
    "en": {"d": "d", "h": "h", "min": "min", "s": "s"},
}
UNITS_LONG: Table = {
    "id": {"d": "hari", "h": "jam", "min": "menit", "s": "detik"},
    "en": {"d": "days", "h": "hours", "min": "minutes", "s": "seconds"},
}

MONTHS_SHORT: Mapping[Lang, tuple[str, ...]] = {
    "id": ("Jan", "Feb", "Mar", "Apr", "Mei", "Jun", "Jul", "Agu", "Sep", "Okt", "Nov", "Des"),
    "en": ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"),
}

# Phrases the facts, charts and sentences are made of ({name} values are filled in).
WORDS: Table = {
    "id": {"local_time": "Waktu setempat", "no_downtime": "Tidak ada waktu gangguan",
           "downtime_axis": "{unit} gangguan, dijumlah untuk semua perangkat",
           "since": "sejak", "for": "selama", "limit": "batas", "range": "{low}–{high}", "counter": "penghitung",
           "charge": "muatan", "runtime_left": "sisa ±{duration}", "input_voltage": "tegangan masuk",
           "voltage": "tegangan", "load": "beban", "current": "arus", "temperature": "suhu", "disk": "disk",
           "uptime": "menyala",
           "interface": "antarmuka", "contact": "kontak", "because": "sebab", "line_problems": "{count} gangguan jalur",
           "strikes_counted": "{count} sambaran petir tercatat",
           "cause": "penyebab", "sources": "dilihat oleh {sources}", "and": "dan",
           "status_since": "{status} sejak {time}", "answers": "menjawab normal",
           "down_without_evidence": "mati {duration} dengan listrik normal dan tanpa bukti lain",
           "host_power_loss": "komputer monitor mati dan menyala ulang (kemungkinan listrik kantor padam)",
           "check_failed": "pemeriksaan tidak berhasil (rincian di log monitor)",
           "still_answering": "yang masih menjawab: {checks}", "planned": "pemeliharaan terencana: {reason}",
           "acknowledged": "{name} menangani gangguan ({how})", "escalated": "eskalasi ke {audience}"},
    "en": {"local_time": "Local time", "no_downtime": "No downtime",
           "downtime_axis": "{unit} of downtime, summed over all devices",
           "since": "since", "for": "for", "limit": "limit", "range": "{low}–{high}", "counter": "counter",
           "charge": "charge", "runtime_left": "about {duration} left", "input_voltage": "input voltage",
           "voltage": "voltage", "load": "load", "current": "current", "temperature": "temperature",
           "disk": "disk", "uptime": "up",
           "interface": "interface", "contact": "contact", "because": "because of",
           "line_problems": "{count} line problems", "strikes_counted": "{count} lightning strikes counted",
           "cause": "cause",
           "sources": "seen by {sources}", "and": "and", "status_since": "{status} since {time}",
           "answers": "answers normally",
           "down_without_evidence": "down for {duration} with power normal and no other evidence",
           "host_power_loss": "the monitor's computer lost power and rebooted (probably a site power cut)",
           "check_failed": "the check did not succeed (details in the monitor log)",
           "still_answering": "still answering: {checks}", "planned": "planned maintenance: {reason}",
           "acknowledged": "{name} took the outage on ({how})", "escalated": "escalated to {audience}"},
}

TABLES: Mapping[str, Table] = {
    "statuses": STATUSES, "causes": CAUSES, "causes_short": CAUSES_SHORT, "device_kinds": DEVICE_KINDS,
    "observations": OBSERVATIONS, "gap_reasons": GAP_REASONS, "sources": SOURCES,
    "transfer_causes": TRANSFER_CAUSES, "ack_sources": ACK_SOURCES, "audiences": AUDIENCES, "units": UNITS,
    "units_short": UNITS_SHORT,
    "units_long": UNITS_LONG, "words": WORDS,
}
"""Every code table of the vocabulary (the language test reads its words from here)."""


def lang_of(value: str | None) -> Lang:
    return "en" if value is not None and value.lower().startswith("en") else "id"


def lookup(table: Table, lang: str, key: str | None) -> str:
    words = table.get(lang) or table["id"]
    return words.get(str(key), str(key))


def word(lang: str, key: str, **values: Any) -> str:
    """A phrase of :data:`WORDS` with its ``{name}`` values filled in."""
    text = lookup(WORDS, lang, key)
    return text.format(**values) if values else text


def status_name(lang: str, status: str) -> str:
    return lookup(STATUSES, lang, status)


def cause_name(lang: str, cause: str | None, *, short: bool = False) -> str:
    return lookup(CAUSES_SHORT if short else CAUSES, lang, cause or "unknown")


def kind_name(lang: str, kind: str) -> str:
    return lookup(DEVICE_KINDS, lang, kind)


def observation_name(lang: str, kind: str) -> str:
    return lookup(OBSERVATIONS, lang, kind)


def gap_reason_name(lang: str, reason: str) -> str:
    return lookup(GAP_REASONS, lang, reason)


def audience_name(lang: str, audience: str) -> str:
    return lookup(AUDIENCES, lang, audience)


def unit_name(lang: str, unit: str, *, long: bool = True) -> str:
    return lookup(UNITS_LONG if long else UNITS, lang, unit)


def source_name(lang: str, source: str) -> str:
    """``trap+poll`` → ``trap SNMP dan pemeriksaan``."""
    parts = [lookup(SOURCES, lang, s) for s in source.split("+") if s]
    return f" {word(lang, 'and')} ".join(dict.fromkeys(parts))
