"""The outage table as CSV, the way Excel on an office PC opens it with a double click.

* UTF-8 **with BOM** (``utf-8-sig``): without the BOM, Excel reads UTF-8 as the ANSI code page and breaks
  names like "Pemeliharaan – UPS" or "Ruang Server ①".
* Delimiter and decimal mark follow the report language, because Excel takes both from the Windows
  regional settings: Indonesian (``id``) uses ``;`` and a decimal comma (``12,5``); English (``en``) uses
  ``,`` and a decimal point. (A ``sep=;`` first line would force the delimiter but makes Excel ignore the
  BOM, so it is not used.)
* CRLF line ends (RFC 4180); every field that needs it is quoted by the csv module.
* Times are site-local ``YYYY-MM-DD HH:MM`` (Excel recognises them as dates in both locales) with the zone
  (WIB/WITA/WIT) in its own column; durations in minutes as numbers, plus the readable text.
* Every word is in the file's language, rendered from codes through the vocabulary: kinds, statuses, causes,
  evidence and the check's reason; no raw codes (machines read ``report --format json``).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import datetime

from monitor.clock import to_local, zone_label
from monitor.reports import narrative
from monitor.reports.figures import OutageLine, ReportFigures
from monitor.reports.i18n import Lang, cause_name, format_duration, kind_name, status_name
from monitor.vocabulary import localize_reason

COLUMNS = ("no", "site", "device_id", "device", "kind", "start", "end", "zone", "duration_min", "duration",
           "in_period_min", "downtime_min", "status", "cause_name", "central", "planned_min",
           "unmonitored_min", "open_at_end", "incident", "acknowledged_by", "acknowledged_at", "time_to_ack_min",
           "evidence", "reason")

HEADERS: dict[Lang, dict[str, str]] = {
    "id": {"no": "No", "site": "Kantor", "device_id": "ID perangkat", "device": "Perangkat", "kind": "Jenis",
           "start": "Mulai", "end": "Selesai", "zone": "Zona", "duration_min": "Durasi (menit)",
           "duration": "Durasi", "in_period_min": "Dalam periode (menit)",
           "downtime_min": "Dihitung gangguan (menit)", "status": "Status", "cause_name": "Penyebab",
           "central": "Gangguan pusat", "planned_min": "Pemeliharaan (menit)",
           "unmonitored_min": "Tidak dipantau (menit)", "open_at_end": "Masih berlangsung",
           "incident": "Insiden", "acknowledged_by": "Ditanggapi oleh", "acknowledged_at": "Waktu tanggapan",
           "time_to_ack_min": "Waktu tanggap (menit)", "evidence": "Bukti", "reason": "Keterangan"},
    "en": {"no": "No", "site": "Office", "device_id": "Device id", "device": "Device", "kind": "Kind",
           "start": "Start", "end": "End", "zone": "Zone", "duration_min": "Duration (min)", "duration": "Duration",
           "in_period_min": "In period (min)", "downtime_min": "Counted downtime (min)", "status": "Status",
           "cause_name": "Cause", "central": "Central fault", "planned_min": "Maintenance (min)",
           "unmonitored_min": "Not monitored (min)", "open_at_end": "Ongoing at end", "incident": "Incident",
           "acknowledged_by": "Acknowledged by", "acknowledged_at": "Acknowledged at",
           "time_to_ack_min": "Time to acknowledge (min)", "evidence": "Evidence", "reason": "Reason"},
}
_YES = {"id": ("ya", "tidak"), "en": ("yes", "no")}


def delimiter(lang: Lang) -> str:
    return ";" if lang == "id" else ","


def _local(dt: datetime | None, zone: str) -> str:
    if dt is None:
        return ""
    return to_local(dt, zone).strftime("%Y-%m-%d %H:%M")


def _minutes(seconds: float | None, lang: Lang) -> str:
    """Minutes with one decimal and no thousands separator (a spreadsheet number, not prose)."""
    if seconds is None:
        return ""
    text = f"{seconds / 60:.1f}"
    return text.replace(".", ",") if lang == "id" else text


def row(line: OutageLine, n: int, fig: ReportFigures, lang: Lang, names: dict[str, str]) -> list[str]:
    zone = fig.site.timezone
    yes, no = _YES[lang]
    ack = line.ack
    return [
        str(n), fig.site.id, line.device.id, line.device.name, kind_name(lang, line.device.kind),
        _local(line.start, zone),
        _local(line.end, zone), zone_label(zone), _minutes(line.duration_s, lang),
        format_duration(line.duration_s, lang), _minutes(line.in_period_s, lang), _minutes(line.downtime_s, lang),
        status_name(lang, line.outage.status), cause_name(lang, line.cause),
        yes if line.central else no, _minutes(line.maintenance_s, lang), _minutes(line.unmonitored_s, lang),
        yes if line.open_at_end else no, "" if line.outage.incident_id is None else str(line.outage.incident_id),
        (ack.by or "") if ack else "", _local(ack.acknowledged_at, zone) if ack else "",
        _minutes(ack.time_to_ack_s, lang) if ack else "",
        " | ".join(narrative.evidence_text(lang, e, zone, names) for e in line.evidence),
        localize_reason(line.outage.reason, lang) if line.outage.reason else "",
    ]


def outage_csv(fig: ReportFigures, lang: Lang) -> bytes:
    """The outage table of ``fig`` as CSV bytes (see the module docstring for the dialect)."""
    names = {d.device.id: d.device.name for d in fig.current.devices}
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, delimiter=delimiter(lang), lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow([HEADERS[lang][c] for c in COLUMNS])
    for n, line in enumerate(fig.outages, 1):
        writer.writerow(row(line, n, fig, lang, names))
    return buf.getvalue().encode("utf-8-sig")


def read_csv(data: bytes, lang: Lang) -> list[dict[str, str]]:
    """Parse a file written by :func:`outage_csv` back into rows keyed by :data:`COLUMNS`."""
    text = data.decode("utf-8-sig")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter(lang))
    header = next(reader)
    keys: Sequence[str] = [next(k for k, v in HEADERS[lang].items() if v == h) for h in header]
    return [dict(zip(keys, r, strict=True)) for r in reader]
