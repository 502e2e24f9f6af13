"""The words of the domain in Bahasa Indonesia and English — one source for Telegram and reports.

DESIGN.md gives each word one meaning; this module gives each meaning one wording, so the head of office
reads the same term in the chat and in the weekly report ("arrester petir (SPD)", not a different name in
each). Lookups fall back to the key itself, so a new enum member shows up as its code, never blank.

Causes have two registers: ``short`` for table cells and chart legends ("listrik"), and the sentence form
for messages ("listrik padam").
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

Lang = Literal["id", "en"]

STATUSES: Mapping[str, Mapping[str, str]] = {
    "id": {"up": "normal", "degraded": "terganggu", "down": "mati", "unreachable": "tidak terjangkau",
           "unknown": "tidak diketahui", "maintenance": "pemeliharaan", "unmonitored": "tidak dipantau"},
    "en": {"up": "up", "degraded": "degraded", "down": "down", "unreachable": "unreachable", "unknown": "unknown",
           "maintenance": "maintenance", "unmonitored": "not monitored"},
}

CAUSES: Mapping[str, Mapping[str, str]] = {
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

CAUSES_SHORT: Mapping[str, Mapping[str, str]] = {
    "id": {"power": "listrik", "lightning": "petir", "network": "jaringan kantor",
           "upstream": "pusat (Data Center/VPN)", "hardware": "kerusakan perangkat", "service": "layanan/aplikasi",
           "maintenance": "pemeliharaan", "monitor_offline": "monitor tidak aktif", "environment": "ruang server",
           "unknown": "belum diketahui"},
    "en": {"power": "power", "lightning": "lightning", "network": "office network",
           "upstream": "central (data center/VPN)", "hardware": "hardware failure", "service": "service/application",
           "maintenance": "maintenance", "monitor_offline": "monitor offline", "environment": "server room",
           "unknown": "unknown"},
}

DEVICE_KINDS: Mapping[str, Mapping[str, str]] = {
    "id": {"recording_server": "server perekaman", "workstation": "komputer perekaman", "ups": "UPS",
           "spd": "arrester petir (SPD)", "router": "router", "switch": "switch", "upstream": "koneksi pusat",
           "monitor_host": "komputer monitor", "pdu": "PDU (stop kontak rak)", "room_sensor": "sensor ruang server"},
    "en": {"recording_server": "recording server", "workstation": "workstation", "ups": "UPS",
           "spd": "surge arrester (SPD)", "router": "router", "switch": "switch", "upstream": "central link",
           "monitor_host": "monitor host", "pdu": "PDU (rack power strip)", "room_sensor": "server room sensor"},
}

# Evidence in words, from the observation kind (the checks' own ``text`` is English, for logs).
OBSERVATIONS: Mapping[str, Mapping[str, str]] = {
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
           "contact_alarm": "kontak alarm aktif"},
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
           "contact_alarm": "alarm contact active"},
}

GAP_REASONS: Mapping[str, Mapping[str, str]] = {
    "id": {"process_stopped": "program monitor berhenti", "host_rebooted": "komputer monitor mati/dinyalakan ulang",
           "clock_jump": "jam komputer monitor melompat"},
    "en": {"process_stopped": "monitor process stopped", "host_rebooted": "monitor computer was off/rebooted",
           "clock_jump": "monitor computer's clock jumped"},
}


def _word(table: Mapping[str, Mapping[str, str]], lang: str, key: str | None) -> str:
    words = table.get(lang) or table["id"]
    return words.get(str(key), str(key))


def status_name(lang: str, status: str) -> str:
    return _word(STATUSES, lang, status)


def cause_name(lang: str, cause: str | None, *, short: bool = False) -> str:
    return _word(CAUSES_SHORT if short else CAUSES, lang, cause or "unknown")


def kind_name(lang: str, kind: str) -> str:
    return _word(DEVICE_KINDS, lang, kind)


def observation_name(lang: str, kind: str) -> str:
    return _word(OBSERVATIONS, lang, kind)


def gap_reason_name(lang: str, reason: str) -> str:
    return _word(GAP_REASONS, lang, reason)
