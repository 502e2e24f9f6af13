"""Words and number formats of the reports: formal Bahasa Indonesia (default) and English.

Conventions (Indonesian): decimal comma and thousands dot (``99,5 %``, ``1.250``), times with a dot
(``08.15 WIB``, PUEBI), dates ``Senin, 16 November 2026``. A percentage never rounds *up* to the next
shown digit, so a service that was down for a minute never reads ``100 %``. A missing label raises
``KeyError`` — templates never print an empty string for a forgotten word.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any, Literal

from monitor import vocabulary
from monitor.clock import to_local, zone_label

Lang = Literal["id", "en"]
LANGS: tuple[Lang, ...] = ("id", "en")

MONTHS: Mapping[Lang, tuple[str, ...]] = {
    "id": ("Januari", "Februari", "Maret", "April", "Mei", "Juni", "Juli", "Agustus", "September", "Oktober",
           "November", "Desember"),
    "en": ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December"),
}
MONTHS_SHORT = vocabulary.words.MONTHS_SHORT
DAYS: Mapping[Lang, tuple[str, ...]] = {
    "id": ("Senin", "Selasa", "Rabu", "Kamis", "Jumat", "Sabtu", "Minggu"),
    "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
}
DAYS_SHORT: Mapping[Lang, tuple[str, ...]] = {
    "id": ("Sen", "Sel", "Rab", "Kam", "Jum", "Sab", "Min"),
    "en": ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"),
}

FUNDING: Mapping[Lang, Mapping[str, str]] = {
    "id": {"apbn": "APBN (Kementerian)", "apbd": "APBD", "other": "lainnya"},
    "en": {"apbn": "national budget (APBN)", "apbd": "regional budget (APBD)", "other": "other"},
}


LABELS: Mapping[Lang, Mapping[str, str]] = {
    "id": {
        "weekly_title": "Laporan Mingguan Gangguan Perangkat Perekaman e-KTP",
        "range_title": "Laporan Gangguan Perangkat Perekaman e-KTP",
        "escalation_title": "Laporan Gangguan dan Permohonan Tindak Lanjut",
        "period": "Periode",
        "week": "Minggu ke-{week} tahun {year}",
        "generated": "Dibuat",
        "incomplete": "Periode belum selesai: angka dihitung sampai {until}.",
        "stopped": "Monitor tidak berjalan sejak tanda hidup terakhirnya ({last}): waktu sesudahnya dihitung "
                   "\u201cmonitor tidak berjalan\u201d, bukan normal.",
        "parts": "Pembagian waktu periode",
        "parts_note": "Setiap detik periode masuk tepat satu bagian; jumlahnya sama dengan panjang periode. "
                      "Ketersediaan dihitung hanya dari waktu yang dipantau.",
        "part_monitored": "Dipantau",
        "part_period": "Periode",
        "before_monitoring": "sebelum pemantauan dimulai",
        "summary": "Ringkasan",
        "services": "Ketersediaan Layanan",
        "service": "Layanan",
        "availability": "Keterse\u00addiaan",
        "trend": "Minggu lalu",
        "trend_range": "Periode sebelumnya",
        "downtime": "Waktu gangguan",
        "central": "Gangguan pusat",
        "maintenance": "Pemeli\u00adharaan",
        "unmonitored": "Tidak dipantau",
        "degraded": "Menurun",
        "failures": "Jumlah gangguan",
        "mttr": "Rata-rata pemulihan (MTTR)",
        "mtbf": "Rata-rata antar gangguan (MTBF)",
        "longest": "Gangguan terlama",
        "timeline": "Status perangkat selama periode",
        "by_cause": "Waktu gangguan menurut penyebab",
        "ministry": "Perlu tindak lanjut Kementerian",
        "ministry_none": "Tidak ada hal yang memerlukan tindak lanjut Kementerian pada periode ini.",
        "open_issues": "Masalah terbuka yang perlu ditindaklanjuti kantor",
        "open_none": "Tidak ada masalah terbuka.",
        "outages": "Daftar gangguan",
        "outages_none": "Tidak ada gangguan tercatat pada periode ini.",
        "start": "Mulai",
        "end": "Selesai",
        "duration": "Durasi",
        "device": "Perangkat",
        "cause": "Penyebab",
        "evidence": "Bukti",
        "ack_by": "Ditanggapi oleh",
        "status": "Status",
        "devices": "Ketersediaan per perangkat",
        "kind": "Jenis",
        "age": "Usia",
        "funding": "Sumber dana",
        "warnings": "Peringatan perangkat",
        "warnings_none": "Tidak ada peringatan perangkat.",
        "warning": "Peringatan",
        "count": "Jumlah",
        "last_seen": "Terakhir",
        "recurrence": "Riwayat kegagalan perangkat",
        "last_12": "12 bulan",
        "last_36": "36 bulan",
        "acks": "Tanggapan petugas",
        "acks_none": "Tidak ada insiden pada periode ini.",
        "incident": "Insiden",
        "time_to_ack": "Waktu tanggap",
        "not_acked": "belum ditanggapi",
        "gaps": "Waktu monitor tidak berjalan",
        "maint_windows": "Jadwal pemeliharaan",
        "method": "Cara penghitungan",
        "ongoing": "masih berlangsung",
        "before_period": "mulai sebelum periode",
        "ended_after": "pulih {when}",
        "planned": "terencana",
        "none_dash": "—",
        "undefined_note": "— : tidak terdefinisi karena tidak ada gangguan.",
        "years": "{n} tahun",
        "page": "Halaman",
        "of": "dari",
        "impact": "Perkiraan dampak",
        "signature_place": "{city}, {date}",
        "nip": "NIP",
        "total": "Total",
        "equipment": "Perangkat",
        "model": "Model",
        "serial": "Nomor seri",
        "installed": "Tahun pemasangan",
        "history": "Riwayat kegagalan (36 bulan)",
        "chronology": "Kronologi",
        "time": "Waktu",
        "event": "Kejadian",
        "actions_taken": "Tindakan yang telah dilakukan kantor",
        "request": "Permohonan",
        "to": "Kepada Yth.",
        "subject": "Perihal",
        "number": "Nomor",
        "attachment": "Lampiran",
        "respectfully": "Hormat kami,",
        "unknown_device": "(perangkat dihapus dari konfigurasi)",
        "site": "Kantor",
        "note": "Catatan",
        "who": "Oleh",
        "local": "Lokal",
        "whole_office": "Seluruh kantor",
        "rule_any": "salah satu perangkat",
        "rule_all": "semua perangkat",
        "h_failures": "Gang\u00adguan",
        "h_central": "Dari pusat",
        "h_longest": "Terlama",
        "device_outages": "Gangguan perangkat",
        "detail_note": "Dari {total} gangguan, {shown} yang terpenting (masih berlangsung, terkait tindak lanjut "
                       "Kementerian, terlama) dicantumkan lengkap; sisanya diringkas per perangkat di bawah. Daftar "
                       "lengkap ada pada lampiran CSV.",
        "other_outages": "Gangguan lainnya, per perangkat",
        "recurrence_note": "{shown} dari {total} perangkat dengan kegagalan terbanyak; daftar lengkap pada "
                           "berkas HTML.",
        "device_note": "{shown} dari {total} perangkat dengan waktu gangguan terlama; daftar lengkap pada "
                       "berkas HTML dan CSV.",
        "action_note": "{shown} dari {total} tindakan terpenting; daftar lengkap pada berkas HTML.",
    },
    "en": {
        "weekly_title": "Weekly Outage Report of the e-KTP Recording Equipment",
        "range_title": "Outage Report of the e-KTP Recording Equipment",
        "escalation_title": "Outage Report and Request for Action",
        "period": "Period",
        "week": "Week {week} of {year}",
        "generated": "Generated",
        "incomplete": "The period is not over: figures are counted until {until}.",
        "stopped": "The monitor has not been running since its last sign of life ({last}): the time after it is "
                   "counted as \u201cmonitor not running\u201d, not as up.",
        "parts": "How the period divides",
        "parts_note": "Every second of the period is in exactly one part; they add up to the period. "
                      "Availability is counted over monitored time only.",
        "part_monitored": "Monitored",
        "part_period": "Period",
        "before_monitoring": "before monitoring began",
        "summary": "Summary",
        "services": "Service availability",
        "service": "Service",
        "availability": "Availa\u00adbility",
        "trend": "Last week",
        "trend_range": "Previous period",
        "downtime": "Downtime",
        "central": "Central downtime",
        "maintenance": "Mainte\u00adnance",
        "unmonitored": "Not monitored",
        "degraded": "Degraded",
        "failures": "Outages",
        "mttr": "Mean time to restore (MTTR)",
        "mtbf": "Mean time between failures (MTBF)",
        "longest": "Longest outage",
        "timeline": "Device status over the period",
        "by_cause": "Downtime by cause",
        "ministry": "Needs action by the Ministry",
        "ministry_none": "Nothing in this period needs action by the Ministry.",
        "open_issues": "Open issues for the office",
        "open_none": "No open issues.",
        "outages": "Outages",
        "outages_none": "No outage recorded in this period.",
        "start": "Start",
        "end": "End",
        "duration": "Duration",
        "device": "Device",
        "cause": "Cause",
        "evidence": "Evidence",
        "ack_by": "Acknowledged by",
        "status": "Status",
        "devices": "Availability per device",
        "kind": "Kind",
        "age": "Age",
        "funding": "Funding",
        "warnings": "Equipment warnings",
        "warnings_none": "No equipment warnings.",
        "warning": "Warning",
        "count": "Count",
        "last_seen": "Last",
        "recurrence": "Failure history per device",
        "last_12": "12 months",
        "last_36": "36 months",
        "acks": "Acknowledgements",
        "acks_none": "No incident in this period.",
        "incident": "Incident",
        "time_to_ack": "Time to acknowledge",
        "not_acked": "not acknowledged",
        "gaps": "Time the monitor was not running",
        "maint_windows": "Maintenance windows",
        "method": "How the figures are counted",
        "ongoing": "ongoing",
        "before_period": "began before the period",
        "ended_after": "restored {when}",
        "planned": "planned",
        "none_dash": "—",
        "undefined_note": "— : undefined because there was no outage.",
        "years": "{n} years",
        "page": "Page",
        "of": "of",
        "impact": "Estimated impact",
        "signature_place": "{city}, {date}",
        "nip": "NIP",
        "total": "Total",
        "equipment": "Equipment",
        "model": "Model",
        "serial": "Serial number",
        "installed": "Installed",
        "history": "Failure history (36 months)",
        "chronology": "Timeline",
        "time": "Time",
        "event": "Event",
        "actions_taken": "What the office has done",
        "request": "Request",
        "to": "To",
        "subject": "Subject",
        "number": "Number",
        "attachment": "Attachment",
        "respectfully": "Respectfully,",
        "unknown_device": "(device removed from the configuration)",
        "site": "Office",
        "note": "Note",
        "who": "By",
        "local": "Local",
        "whole_office": "Whole office",
        "rule_any": "any device",
        "rule_all": "all devices",
        "h_failures": "Outages",
        "h_central": "Central",
        "h_longest": "Longest",
        "device_outages": "Device outages",
        "detail_note": "Of {total} outages, the {shown} most important (ongoing, behind a Ministry action, longest) "
                       "are listed in full; the others are summed up per device below. The complete list is in the "
                       "CSV attachment.",
        "other_outages": "Other outages, per device",
        "recurrence_note": "The {shown} of {total} devices that failed most; the HTML file lists them all.",
        "device_note": "The {shown} of {total} devices with the most downtime; the HTML and CSV files list "
                       "them all.",
        "action_note": "The {shown} most important of {total} actions; the HTML file lists them all.",
    },
}


def lang_of(value: str | None) -> Lang:
    return "en" if value == "en" else "id"


def label(lang: Lang, key: str, **kw: Any) -> str:
    """The word for ``key``; KeyError for an unknown key (never an empty string)."""
    text = LABELS[lang][key]
    return text.format(**kw) if kw else text


def cause_name(lang: Lang, cause: str | None) -> str:
    """The cause as a report shows it in tables and legends (the short register)."""
    return vocabulary.cause_name(lang, cause, short=True)


status_name = vocabulary.status_name
kind_name = vocabulary.kind_name
observation_name = vocabulary.observation_name
gap_reason = vocabulary.gap_reason_name


def funding_name(lang: Lang, funding: str | None) -> str:
    return FUNDING[lang].get(funding or "", "—") if funding else "—"


def month_name(lang: Lang, month: int) -> str:
    return MONTHS[lang][month - 1]


# ------------------------------------------------------------------------------------------ numbers


format_number = vocabulary.format_number


def _floor(value: float, decimals: int) -> float:
    return vocabulary.formats.floor_to(value, decimals)


def format_pct(value: float | None, lang: Lang) -> str:
    """``99,5 %`` / ``99.5%``: one decimal, two from 99.9 % up; truncated, so never rounded up (a service
    that was down for a minute never reads ``100 %``); None -> ``—``."""
    if value is None:
        return "—"
    if value >= 100.0:
        shown = "100"
    else:
        decimals = 2 if value >= 99.9 else 1
        shown = format_number(_floor(value, decimals), lang, decimals)
    return f"{shown} %" if lang == "id" else f"{shown}%"


def format_points(delta: float | None, lang: Lang) -> str:
    """A change of availability in percentage points, signed: ``+1,2`` / ``−0,4`` / ``±0``."""
    if delta is None:
        return "—"
    if abs(delta) < 0.005:
        return "±0"
    sign = "+" if delta > 0 else "−"
    decimals = 2 if abs(delta) < 1 else 1
    return sign + format_number(abs(delta), lang, decimals)


def format_duration(seconds: float | None, lang: Lang, *, short: bool = False) -> str:
    """Two most significant units: ``2 hari 3 jam``, ``3 jam 15 menit``, ``45 detik`` (id);
    ``2 d 3 h``, ``3 h 15 min`` (en); ``short`` for tables: ``2 hr 3 j``, ``3 j 15 mnt``.
    None -> ``—``; 0 -> ``0 menit``."""
    return vocabulary.format_duration(seconds, lang, short=short)


def format_hours(seconds: float, lang: Lang) -> str:
    """Hours with one decimal, for charts: ``3,5 jam`` / ``3.5 h``."""
    return f"{format_number(seconds / 3600, lang, 1)} {vocabulary.unit_name(lang, 'h', long=False)}"


# -------------------------------------------------------------------------------------------- times


def _hm(dt: datetime, lang: Lang) -> str:
    return dt.strftime("%H.%M" if lang == "id" else "%H:%M")


def format_time(dt: datetime, zone: str, lang: Lang, *, label_zone: bool = True) -> str:
    """``08.15 WIB``."""
    return vocabulary.format_time(dt, zone, lang) if label_zone else vocabulary.format_clock(dt, zone, lang)


def format_datetime(dt: datetime | None, zone: str, lang: Lang, *, label_zone: bool = True,
                    weekday: bool = False) -> str:
    """``16 Nov 2026 08.15 WIB`` (``Sen 16 Nov 2026 ...`` with ``weekday``); None -> ``—``."""
    if dt is None:
        return "—"
    local = to_local(dt, zone)
    text = f"{local.day} {MONTHS_SHORT[lang][local.month - 1]} {local.year} {_hm(local, lang)}"
    if weekday:
        text = f"{DAYS_SHORT[lang][local.weekday()]} {text}"
    return f"{text} {zone_label(zone)}" if label_zone else text


def format_short(dt: datetime | None, zone: str, lang: Lang) -> str:
    """``Sen 16/11 08.15`` — for dense tables whose heading names the zone (a narrow column breaks it
    before the time only)."""
    if dt is None:
        return "—"
    local = to_local(dt, zone)
    return f"{DAYS_SHORT[lang][local.weekday()]}\u00a0{local.day:02d}/{local.month:02d} {_hm(local, lang)}"


def format_date(d: date | datetime, lang: Lang, *, weekday: bool = False) -> str:
    """``16 November 2026`` (``Senin, 16 November 2026`` with ``weekday``)."""
    text = f"{d.day} {MONTHS[lang][d.month - 1]} {d.year}"
    return f"{DAYS[lang][d.weekday()]}, {text}" if weekday else text


def format_date_range(first: date, last: date, lang: Lang) -> str:
    """``16–22 November 2026``, ``30 November – 6 Desember 2026``, ``29 Desember 2025 – 4 Januari 2026``."""
    if first == last:
        return format_date(first, lang)
    if (first.year, first.month) == (last.year, last.month):
        return f"{first.day}–{last.day} {MONTHS[lang][first.month - 1]} {first.year}"
    if first.year == last.year:
        return f"{first.day} {MONTHS[lang][first.month - 1]} – {format_date(last, lang)}"
    return f"{format_date(first, lang)} – {format_date(last, lang)}"


_ORDINALS_ID = ("pertama", "kedua", "ketiga", "keempat", "kelima", "keenam", "ketujuh", "kedelapan",
                "kesembilan", "kesepuluh")
_ORDINALS_EN = ("first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth")


def ordinal(n: int, lang: Lang) -> str:
    """``ketiga`` / ``third``; from 11: ``ke-11`` / ``11th``."""
    if 1 <= n <= 10:
        return (_ORDINALS_ID if lang == "id" else _ORDINALS_EN)[n - 1]
    if lang == "id":
        return f"ke-{n}"
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def plural(n: int, lang: Lang, one: str, many: str) -> str:
    """English needs plurals; Indonesian does not (``3 gangguan``)."""
    return one if lang == "id" or n == 1 else many
