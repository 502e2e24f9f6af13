"""Sentences of the reports, built from figures in the reader's language (pure).

The summary paragraph is what a head of office reads in 30 seconds: how available the recording
service was (and the trend), how long it stopped and why, what is still open, whether the fault was
central, the estimated impact, how long the monitor itself was off, and whether the Ministry must act.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from monitor import vocabulary
from monitor.domain import Cause, ObservationKind
from monitor.reports.data import AckRecord, DeviceInfo, EvidenceItem
from monitor.reports.escalation import Entry, EscalationFigures, Request
from monitor.reports.figures import (
    WORK_END,
    WORK_START,
    Action,
    Recurrence,
    ReportFigures,
    age_years,
)
from monitor.reports.i18n import (
    Lang,
    cause_name,
    format_date_range,
    format_datetime,
    format_duration,
    format_number,
    format_pct,
    funding_name,
    label,
    observation_name,
    ordinal,
    plural,
    status_name,
)
from monitor.reports.selection import ack_stats


def _age(lang: Lang, years: int | None) -> str:
    if years is None:
        return ""
    return f"berusia {years} tahun" if lang == "id" else f"{years} years old"


def device_phrase(lang: Lang, device: DeviceInfo | None, *, age: int | None = None, funding: bool = True) -> str:
    """``Server Perekaman 1 (HP ProLiant DL380 G7, berusia 15 tahun, APBN)``."""
    if device is None:
        return "kantor" if lang == "id" else "the office"
    extras = [x for x in (device.model, _age(lang, age),
                          "APBN" if funding and device.funding == "apbn" else "") if x]
    return f"{device.name} ({', '.join(extras)})" if extras else device.name


_FAILURE_PHRASE: Mapping[Lang, Mapping[str, str]] = {
    "id": {"power": "kegagalan daya", "lightning": "kerusakan akibat petir", "hardware": "kerusakan perangkat keras",
           "service": "gangguan layanan", "network": "gangguan jaringan", "upstream": "gangguan koneksi pusat",
           "unknown": "kegagalan tanpa penyebab jelas"},
    "en": {"power": "power failure", "lightning": "lightning damage", "hardware": "hardware failure",
           "service": "service failure", "network": "network outage", "upstream": "central link outage",
           "unknown": "failure of unknown cause"},
}


def recurrence_sentence(lang: Lang, rec: Recurrence, cause: Cause | None = None) -> str:
    """"Ini adalah kegagalan daya ketiga dalam 36 bulan pada Server Perekaman 1 berusia 15 tahun (…)." —
    about the device's latest failure in the period, or its latest failure of ``cause``."""
    latest = rec.latest
    if cause is not None:
        latest = next((f for f in reversed(rec.in_period) if f.cause is cause), None)
    if latest is None:
        return ""
    nth = rec.ordinal_of(latest)
    what = _FAILURE_PHRASE[lang].get(latest.cause.value, cause_name(lang, latest.cause))
    if lang == "id":
        who = rec.device.name + (f" berusia {rec.age_years} tahun" if rec.age_years is not None else "")
        return (f"Ini adalah {what} {ordinal(nth, lang)} dalam 36 bulan pada {who} "
                f"({rec.total_12} kegagalan dalam 12 bulan terakhir).")
    who = rec.device.name + (f", {rec.age_years} years old" if rec.age_years is not None else "")
    return (f"This is the {ordinal(nth, lang)} {what} in 36 months of {who} "
            f"({rec.total_12} {plural(rec.total_12, lang, 'failure', 'failures')} in the last 12 months).")


def evidence_text(lang: Lang, item: EvidenceItem, zone: str, names: Mapping[str, str], *,
                  with_time: bool = True) -> str:
    """One fact in the reader's language, rendered from its code and values (monitor/vocabulary/facts.py):
    ``16 Nov 2026 14.02 WIB, UPS Ruang Server: UPS pakai baterai (tegangan masuk 0 V, muatan 100 %)``; a fact
    seen by both a trap and a poll says so."""
    what = vocabulary.fact(lang, item.kind, item.values, text=item.text)
    if "+" in item.source:
        what += f" ({vocabulary.word(lang, 'sources', sources=vocabulary.source_name(lang, item.source))})"
    who = names.get(item.device, item.device)
    head = f"{format_datetime(item.time, zone, lang)}, " if with_time and item.time else ""
    return f"{head}{who + ': ' if who else ''}{what}"


_LEGACY_TITLE = re.compile(r"^(?P<name>.*): (?P<status>up|degraded|down|unreachable|unknown)$")


def incident_title(lang: Lang, title: str) -> str:
    """An incident's title in ``lang``: the engine writes ``<device name>: <status code>``; the status is shown
    in words. A title someone wrote is shown as written."""
    m = _LEGACY_TITLE.match(title)
    return f"{m['name']}: {status_name(lang, m['status'])}" if m else title


def working_time(seconds: float, lang: Lang) -> str:
    """Office time lost, in working hours: ``6 jam kerja`` / ``45 menit jam kerja`` / ``6 working hours``."""
    if seconds < 3600:
        return (f"{format_duration(seconds, lang)} jam kerja" if lang == "id" else
                f"{format_duration(seconds, lang)} of working time")
    hours = seconds / 3600
    text = format_number(hours, lang, 0 if hours >= 10 or float(hours).is_integer() else 1)
    return f"{text} jam kerja" if lang == "id" else f"{text} working hours"


def working_hours(lang: Lang) -> str:
    s, e = WORK_START.strftime("%H.%M"), WORK_END.strftime("%H.%M")
    return f"Senin–Jumat {s}–{e}" if lang == "id" else f"Monday–Friday {s.replace('.', ':')}–{e.replace('.', ':')}"


def summary(fig: ReportFigures, lang: Lang) -> list[str]:
    """The summary paragraph as sentences."""
    zone = fig.site.timezone
    cur, prev = fig.current, fig.previous
    when = format_date_range(fig.period.first_day, fig.period.last_day, lang)
    week = fig.period.iso_week
    if week:
        when += f" ({label(lang, 'week', week=week[1], year=week[0]).lower()})" if lang == "id" else \
            f" ({label(lang, 'week', week=week[1], year=week[0])})"
    head = fig.headline
    avail = head.availability if head else cur.site
    prev_avail = (prev.service(head.id).availability if head and prev.service(head.id) else prev.site)  # type: ignore[union-attr]
    name = head.name if head else ("seluruh perangkat kantor" if lang == "id" else "all office equipment")
    out: list[str] = []
    trend = ""
    if prev_avail.availability is not None:
        trend = (f" ({label(lang, 'trend' if fig.period.kind == 'week' else 'trend_range').lower()} "
                 f"{format_pct(prev_avail.availability, lang)})")
    if avail.availability is None:
        out.append(f"Selama {when}, {name} tidak dipantau sama sekali (monitor belum dipasang atau tidak berjalan), "
                   "sehingga tidak ada angka ketersediaan." if lang == "id" else
                   f"During {when}, {name} was not monitored at all (the monitor was not installed or not running), "
                   "so there is no availability figure.")
    elif lang == "id":
        out.append(f"Selama {when}, {name} tersedia {format_pct(avail.availability, lang)} dari waktu yang "
                   f"dipantau{trend}.")
    else:
        out.append(f"During {when}, {name} was available {format_pct(avail.availability, lang)} of the monitored "
                   f"time{trend}.")
    if avail.availability is not None and avail.failures:
        top_cause, top_s = avail.down_by_cause[0]
        n = avail.failures
        if lang == "id":
            out.append(f"Layanan terhenti {n} kali, total {format_duration(avail.down_s, lang)}, terutama karena "
                       f"{cause_name(lang, top_cause)} ({format_duration(top_s, lang)}).")
        else:
            out.append(f"It stopped {n} {plural(n, lang, 'time', 'times')}, {format_duration(avail.down_s, lang)} "
                       f"in total, mostly because of {cause_name(lang, top_cause)} ({format_duration(top_s, lang)}).")
        if avail.central_down_s > 0:
            out.append(f"{format_duration(avail.central_down_s, lang)} di antaranya disebabkan gangguan di pusat "
                       "(Data Center/VPN), bukan di kantor." if lang == "id" else
                       f"{format_duration(avail.central_down_s, lang)} of it was a central fault (data center/VPN), "
                       "not the office's.")
    elif avail.availability is not None:
        out.append("Layanan tidak pernah terhenti." if lang == "id" else "It never stopped.")
    dev_outages = fig.unavailable_outages
    if dev_outages or fig.open_at_end:
        n = len(dev_outages)
        text = (f"Tercatat {n} gangguan perangkat." if lang == "id" else
                f"{n} device {plural(n, lang, 'outage was', 'outages were')} recorded.")
        if fig.open_at_end:
            first = fig.open_at_end[0]
            more = len(fig.open_at_end) - 1
            age = format_duration((fig.record_end - first.start).total_seconds(), lang)
            last = format_datetime(fig.record_end, zone, lang)
            if lang == "id":
                when_end = "Pada akhir periode" if fig.running else f"Saat monitor terakhir berjalan ({last})"
                text += (f" {when_end} {first.device.name} masih {status_name(lang, first.outage.status)} "
                         f"(sejak {format_datetime(first.start, zone, lang)}, {age})"
                         + (f" dan {more} gangguan lain masih berlangsung." if more else "."))
            else:
                when_end = "At the end of the period" if fig.running else f"When the monitor last ran ({last})"
                text += (f" {when_end} {first.device.name} was still "
                         f"{status_name(lang, first.outage.status)} (since {format_datetime(first.start, zone, lang)}, "
                         f"{age})" + (f" and {more} other outages were ongoing." if more else "."))
        out.append(text)
    rec = next((a.recurrence for a in fig.central_actions if a.recurrence), None) or next(
        (r for r in fig.recurrence if r.in_period and r.ordinal and r.ordinal >= 2), None)
    if rec is not None and (s := recurrence_sentence(lang, rec)):
        out.append(s)
    if fig.impact is not None and fig.impact.recordings > 0:
        out.append(f"Diperkirakan sekitar {format_number(fig.impact.recordings, lang)} perekaman e-KTP tidak dapat "
                   f"dilayani (jam kerja {working_hours(lang)})." if lang == "id" else
                   f"An estimated {format_number(fig.impact.recordings, lang)} e-KTP recordings could not be made "
                   f"(working hours {working_hours(lang)}).")
    out += not_monitored_sentences(fig, lang)
    n = len(fig.central_actions)
    if n:
        out.append(f"{n} hal memerlukan tindak lanjut Kementerian." if lang == "id" else
                   f"{n} {plural(n, lang, 'item needs', 'items need')} action by the Ministry.")
    else:
        out.append("Tidak ada hal yang memerlukan tindak lanjut Kementerian." if lang == "id" else
                   "Nothing needs action by the Ministry.")
    return out


def not_monitored_sentences(fig: ReportFigures, lang: Lang) -> list[str]:
    """The time the record cannot vouch for, each part on its own (the same figures as the list of gaps and
    the parts table): the monitor not running (recorded gaps, and the open tail since its last heartbeat when
    it is not running now), and the time before monitoring began."""
    zone = fig.site.timezone
    site = fig.current.site
    out: list[str] = []
    if site.not_running_s > 0:
        tail = fig.current.tail_s
        since = format_datetime(fig.record_end, zone, lang)
        if lang == "id":
            text = f"Monitor tidak berjalan selama {format_duration(site.not_running_s, lang)}"
            if tail > 0:
                text += (f", termasuk {format_duration(tail, lang)} sejak tanda hidup terakhirnya ({since}): monitor "
                         "tidak berjalan saat laporan ini dibuat")
            out.append(text + "; waktu itu tidak dihitung sebagai normal maupun gangguan.")
        else:
            text = f"The monitor was not running for {format_duration(site.not_running_s, lang)}"
            if tail > 0:
                text += (f", including {format_duration(tail, lang)} since its last sign of life ({since}): it was "
                         "not running when this report was made")
            out.append(text + "; that time is counted neither as up nor as down.")
    if site.not_yet_monitored_s > 0:
        began = fig.monitoring_began
        if lang == "id":
            out.append(f"{format_duration(site.not_yet_monitored_s, lang)} belum dipantau"
                       + (f" (pemantauan dimulai {format_datetime(began, zone, lang)})" if began else "")
                       + " dan tidak dihitung.")
        else:
            out.append(f"{format_duration(site.not_yet_monitored_s, lang)} not yet monitored"
                       + (f" (monitoring began {format_datetime(began, zone, lang)})" if began else "")
                       + ", not counted.")
    return out


def action_text(lang: Lang, action: Action, fig: ReportFigures) -> str:
    """One item of "Perlu tindak lanjut Kementerian" or of the open issues."""
    zone = fig.site.timezone
    end = fig.window_end
    rec = {r.device.id: r for r in fig.recurrence}
    dev = action.device
    age = rec[dev.id].age_years if dev is not None and dev.id in rec else None
    if dev is not None and age is None:
        age = age_years(dev.installed, end, zone)
    since = format_datetime(action.since, zone, lang)
    dur = format_duration(action.seconds, lang)
    cause = cause_name(lang, action.cause)
    ongoing_id = ", masih berlangsung" if action.ongoing else ""
    ongoing_en = ", still ongoing" if action.ongoing else ""
    k = action.kind
    if k == "apbn_damage":
        r = action.recurrence
        extra = ""
        if r is not None and action.cause is not None and (
                r.ordinal_for(action.cause) >= 2 or r.total_12 >= 2):
            extra = " " + recurrence_sentence(lang, r, action.cause)
        if lang == "id":   # "sejak" only while it lasts; an outage that is over stopped "pada" a time
            return (f"{device_phrase(lang, dev, age=age)} terhenti karena {cause} "
                    f"{'sejak' if action.ongoing else 'pada'} {since} "
                    f"({action.count} kali, total {dur}{ongoing_id}). Perangkat dibeli dari APBN: mohon "
                    f"penggantian atau perbaikan oleh Kementerian.{extra}")
        return (f"{device_phrase(lang, dev, age=age)} stopped because of {cause} "
                f"{'since' if action.ongoing else 'at'} {since} "
                f"({action.count} {plural(action.count or 0, lang, 'time', 'times')}, {dur} in total{ongoing_en}). "
                f"Bought from the national budget: please replace or repair it.{extra}")
    if k == "upstream":
        if lang == "id":
            return (f"Koneksi ke pusat (Data Center Dukcapil/VPN) terputus {action.count} kali, total {dur}"
                    f"{ongoing_id}, sementara perangkat kantor normal. Mohon pemeriksaan di sisi pusat.")
        return (f"The central link (data center/VPN) was down {action.count} "
                f"{plural(action.count or 0, lang, 'time', 'times')}, {dur} in total{ongoing_en}, while the office's "
                "equipment was fine. Please check the central side.")
    if k == "recurrence":
        r = action.recurrence
        causes = ", ".join(f"{cause_name(lang, c)} {n}×" for c, n in (r.last_12 if r else ()))
        if lang == "id":
            ask = ("Mohon dipertimbangkan penggantian oleh Kementerian." if action.central else
                   f"Pertimbangkan penggantian (sumber dana {funding_name(lang, dev.funding if dev else None)}).")
            return f"{device_phrase(lang, dev, age=age)} gagal {action.count} kali dalam 12 bulan ({causes}). {ask}"
        ask = ("Please consider replacing it." if action.central else
               f"Consider replacing it (funding: {funding_name(lang, dev.funding if dev else None)}).")
        return f"{device_phrase(lang, dev, age=age)} failed {action.count} times in 12 months ({causes}). {ask}"
    if k in ("apbn_warning", "warning"):
        whats = []
        for kind, n in action.items:
            if kind == ObservationKind.STRIKE:
                whats.append(f"{n} sambaran petir tercatat" if lang == "id" else f"{n} lightning strikes counted")
            else:
                whats.append(f"{observation_name(lang, kind)}" + (f" ({n}×)" if n > 1 else ""))
        last = f"terakhir {since}" if lang == "id" else f"last {since}"
        ask = ""
        if k == "apbn_warning":
            ask = (" Perangkat APBN: mohon penggantian sebelum badai berikutnya." if lang == "id" else
                   " National-budget equipment: please replace it before the next storm.")
        return f"{device_phrase(lang, dev, funding=False)}: {', '.join(whats)}; {last}.{ask}"
    if k == "open_outage":
        st = status_name(lang, action.detail or "down")
        last = "" if fig.running else (
            f" saat monitor terakhir berjalan ({format_datetime(fig.record_end, zone, lang)})" if lang == "id" else
            f" when the monitor last ran ({format_datetime(fig.record_end, zone, lang)})")
        if lang == "id":
            return (f"{device_phrase(lang, dev, funding=False)} masih {st}{last} sejak {since} ({dur}), "
                    f"penyebab: {cause}.")
        return f"{device_phrase(lang, dev, funding=False)} still {st}{last} since {since} ({dur}), cause: {cause}."
    if k == "unacknowledged":
        title = incident_title(lang, action.detail) if action.detail else cause
        if lang == "id":
            return f"Insiden \u201c{title}\u201d sejak {since} belum ditanggapi petugas{ongoing_id}."
        return f"Incident \u201c{title}\u201d since {since} was not acknowledged{ongoing_en}."
    if k == "unknown_state":
        why = f" ({vocabulary.localize_reason(action.detail, lang)})" if action.detail else ""
        if lang == "id":
            return (f"{device_phrase(lang, dev, funding=False)} tidak dapat diperiksa sejak {since}{why}; "
                    "periksa konfigurasi atau kredensial SNMP.")
        return f"{device_phrase(lang, dev, funding=False)} cannot be checked since {since}{why}; check its settings."
    return f"{k}: {cause}"


def cause_list(lang: Lang, items: tuple[tuple[Cause, float], ...]) -> str:
    return ", ".join(f"{cause_name(lang, c)} {format_duration(s, lang)}" for c, s in items) or "—"


def availability_note(lang: Lang) -> str:
    if lang == "id":
        return ("Ketersediaan = waktu tersedia ÷ waktu yang dipantau. Waktu pemeliharaan terencana dan waktu monitor "
                "tidak berjalan tidak dihitung (ditampilkan terpisah); kondisi menurun dihitung tersedia; gangguan "
                "pusat dihitung sebagai gangguan tetapi ditandai sebagai tanggung jawab pusat.")
    return ("Availability = available time ÷ monitored time. Planned maintenance and time the monitor was not running "
            "are left out (shown separately); degraded counts as available; central faults count as downtime but are "
            "marked as the central side's.")


def impact_text(fig: ReportFigures, lang: Lang) -> str:
    imp = fig.impact
    if imp is None:
        return ""
    if lang == "id":
        return (f"{imp.service_name} tidak tersedia selama {working_time(imp.lost_working_s, lang)} "
                f"({working_hours(lang)}). Dengan target {format_number(imp.expected_daily, lang)} perekaman per hari, "
                f"diperkirakan {format_number(imp.recordings, lang)} perekaman tidak dapat dilayani "
                "(perkiraan minimum: waktu tidak dipantau tidak dihitung).")
    return (f"{imp.service_name} was unavailable for {working_time(imp.lost_working_s, lang)} "
            f"({working_hours(lang)}). At {format_number(imp.expected_daily, lang)} recordings a day, an estimated "
            f"{format_number(imp.recordings, lang)} recordings could not be made (a minimum: time not monitored is not "
            "counted).")


def method_lines(lang: Lang) -> list[str]:
    """How the figures are counted (a short version of monitor/reports/figures.py's rules)."""
    if lang == "id":
        return [
            "Sumber data: catatan gangguan, jadwal pemeliharaan dan catatan waktu monitor tidak berjalan; bukan "
            "perkiraan.",
            "Gangguan yang melewati batas periode dihitung hanya bagian di dalam periode. Gangguan yang tumpang "
            "tindih pada satu perangkat digabung.",
            "Perangkat \u201ctidak terjangkau\u201d (perangkat induk mati) dihitung tidak tersedia dengan penyebab "
            "jaringan, kecuali penyebabnya listrik atau petir.",
            "Layanan \u201csalah satu perangkat\u201d tersedia bila salah satu perangkatnya tersedia; layanan "
            "\u201csemua perangkat\u201d bila semua perangkatnya tersedia.",
            "MTTR = waktu gangguan ÷ jumlah gangguan; MTBF = waktu tersedia ÷ jumlah gangguan; keduanya tidak "
            "terdefinisi (—) bila tidak ada gangguan.",
            f"Perkiraan dampak: target perekaman harian × waktu layanan perekaman terhenti pada jam kerja "
            f"({working_hours(lang)}) ÷ lama jam kerja sehari; hari libur nasional tidak diperhitungkan.",
            "Waktu ditampilkan dalam zona waktu kantor.",
        ]
    return [
        "Source: the outage record, maintenance windows and the record of when the monitor was not running; no "
        "estimates.",
        "Outages crossing the period's edges count only inside the period. Overlapping outages of one device are "
        "merged.",
        "An \u201cunreachable\u201d device (its parent is down) counts as unavailable with cause network, unless "
        "the cause is power or lightning.",
        "An \u201cany device\u201d service is available when one of its devices is; an \u201call devices\u201d "
        "service when all are.",
        "MTTR = downtime ÷ outages; MTBF = available time ÷ outages; both undefined (—) without outages.",
        f"Estimated impact: daily recording target × recording service downtime in working hours "
        f"({working_hours(lang)}) ÷ working hours per day; public holidays are not known.",
        "Times are in the office's time zone.",
    ]


def ack_summary(fig: ReportFigures, lang: Lang) -> str:
    """"5 insiden; 4 ditanggapi, rata-rata dalam 7 menit (median 6 menit, terlama 12 menit); 1 tidak ditanggapi." """
    st = ack_stats(fig.acknowledgements)
    missing = st.incidents - st.acknowledged
    if lang == "id":
        text = f"{st.incidents} insiden; {st.acknowledged} ditanggapi petugas"
        if st.acknowledged:
            text += (f", rata-rata dalam {format_duration(st.mean_s, lang)} "
                     f"(median {format_duration(st.median_s, lang)}, terlama {format_duration(st.slowest_s, lang)})")
        return text + (f"; {missing} tidak ditanggapi." if missing else ".")
    text = f"{st.incidents} {plural(st.incidents, lang, 'incident', 'incidents')}; {st.acknowledged} acknowledged"
    if st.acknowledged:
        text += (f", on average within {format_duration(st.mean_s, lang)} (median {format_duration(st.median_s, lang)}"
                 f", slowest {format_duration(st.slowest_s, lang)})")
    return text + (f"; {missing} not acknowledged." if missing else ".")


# ------------------------------------------------------------------------------------------ escalation

MINISTRY_ADDRESSEE: Mapping[Lang, tuple[str, ...]] = {
    "id": ("Direktur Jenderal Kependudukan dan Pencatatan Sipil", "Kementerian Dalam Negeri", "di", "Jakarta"),
    "en": ("Director General of Population and Civil Registration", "Ministry of Home Affairs", "in", "Jakarta"),
}

_REQUEST_SUBJECT: Mapping[Lang, Mapping[str, str]] = {
    "id": {"replace": "permohonan penggantian/perbaikan perangkat",
           "protection": "permohonan penggantian perangkat pelindung",
           "central": "permohonan pemulihan koneksi pusat", "assist": "permohonan bantuan teknis"},
    "en": {"replace": "request for replacement/repair of equipment",
           "protection": "request for replacement of protection equipment",
           "central": "request to restore the central link", "assist": "request for technical assistance"},
}


def escalation_subject(esc: EscalationFigures, lang: Lang) -> str:
    first = esc.requests[0].kind if esc.requests else "assist"
    cause = cause_name(lang, esc.cause)
    if lang == "id":
        return f"Laporan gangguan perangkat perekaman e-KTP akibat {cause} dan {_REQUEST_SUBJECT[lang][first]}"
    return f"Outage of the e-KTP recording equipment ({cause}) and {_REQUEST_SUBJECT[lang][first]}"


def escalation_opening(esc: EscalationFigures, lang: Lang, zone: str) -> list[str]:
    """The letter's first paragraphs: what happened, since when, for how long, what it costs."""
    inc = esc.incident
    start = format_datetime(inc.started_at, zone, lang)
    cause = cause_name(lang, esc.cause)
    stopped = [s.name for s in esc.figures.services if s.availability.down_s > 0]
    svc = ", ".join(stopped)
    dur = format_duration(esc.duration_s, lang)
    out: list[str] = []
    if lang == "id":
        text = (f"Dengan hormat, bersama ini kami laporkan bahwa pada {start} terjadi gangguan dengan penyebab "
                f"{cause} di {esc.site_name}")
        text += f" yang menghentikan {svc}." if svc else "."
        text += (f" Hingga surat ini dibuat ({format_datetime(esc.now, zone, lang)}) gangguan masih berlangsung, "
                 f"sudah {dur}." if esc.ongoing else
                 f" Gangguan berakhir pada {format_datetime(inc.ended_at, zone, lang)} setelah {dur}.")
    else:
        text = f"We report that at {start} an outage caused by {cause} occurred at {esc.site_name}"
        text += f", stopping {svc}." if svc else "."
        text += (f" As of this letter ({format_datetime(esc.now, zone, lang)}) it is still ongoing, for {dur} so "
                 "far." if esc.ongoing else f" It ended at {format_datetime(inc.ended_at, zone, lang)} after {dur}.")
    out.append(text)
    imp = esc.impact
    if imp is not None and imp.lost_working_s > 0:
        out.append(f"Selama itu {imp.service_name} tidak tersedia selama {working_time(imp.lost_working_s, lang)}"
                   f"; dengan target {format_number(imp.expected_daily, lang)} perekaman per hari, diperkirakan "
                   f"{format_number(imp.recordings, lang)} perekaman tidak dapat dilayani."
                   if lang == "id" else
                   f"Meanwhile {imp.service_name} was unavailable for {working_time(imp.lost_working_s, lang)}"
                   f"; at {format_number(imp.expected_daily, lang)} recordings a day, an estimated "
                   f"{format_number(imp.recordings, lang)} recordings could not be made.")
    return out


def entry_text(e: Entry, lang: Lang, zone: str, names: Mapping[str, str]) -> str:
    """One line of the escalation timeline."""
    dev = e.device.name if e.device else ""
    if e.kind == "incident_start":
        return (f"Awal gangguan (penyebab: {cause_name(lang, e.cause)})" if lang == "id" else
                f"Outage begins (cause: {cause_name(lang, e.cause)})")
    if e.kind == "outage_start":
        st = status_name(lang, e.status or "down")
        return f"{dev} {st} ({cause_name(lang, e.cause)})"
    if e.kind == "outage_end":
        return f"{dev} normal kembali" if lang == "id" else f"{dev} back to normal"
    if e.kind == "evidence" and e.evidence is not None:
        return evidence_text(lang, e.evidence, zone, names, with_time=False)
    if e.kind == "ack" and e.ack is not None:
        return ack_text(lang, e.ack)
    if e.kind == "escalation":
        return vocabulary.word(lang, "escalated", audience=vocabulary.audience_name(lang, e.detail or "")).capitalize()
    if e.kind == "incident_end":
        return "Gangguan berakhir" if lang == "id" else "Outage ends"
    return e.kind


def ack_text(lang: Lang, ack: AckRecord) -> str:
    """``Budi menangani gangguan (tombol ✋ Tangani di Telegram): “sedang ke lokasi”`` — who did what."""
    how = vocabulary.lookup(vocabulary.ACK_SOURCES, lang, ack.source or "button")
    note = f": \u201c{ack.note}\u201d" if ack.note else ""
    return vocabulary.word(lang, "acknowledged", name=ack.user_name, how=how) + note


def request_text(r: Request, esc: EscalationFigures, lang: Lang) -> str:
    def devs() -> str:
        parts = []
        for d in r.devices:
            eq = next((e for e in esc.equipment if e.device.id == d.id), None)
            extras = [x for x in (d.model, f"SN {d.serial}" if d.serial else "",
                                  _age(lang, eq.age_years) if eq else "") if x]
            parts.append(d.name + (f" ({', '.join(extras)})" if extras else ""))
        return "; ".join(parts)

    if r.kind == "replace":
        return (f"Penggantian atau perbaikan perangkat yang dibeli dari APBN: {devs()}." if lang == "id" else
                f"Replacement or repair of equipment bought from the national budget: {devs()}.")
    if r.kind == "protection":
        kinds = ", ".join(dict.fromkeys(observation_name(lang, w.kind) for w in r.warnings))
        return (f"Penggantian perangkat pelindung dari APBN sebelum badai berikutnya ({kinds}): {devs()}."
                if lang == "id" else
                f"Replacement of national-budget protection equipment before the next storm ({kinds}): {devs()}.")
    if r.kind == "central":
        return ("Pemulihan dan pemeriksaan koneksi ke Data Center Dukcapil pusat (VPN/SIAK Terpusat); gangguan "
                "berada di sisi pusat, perangkat kantor dalam keadaan normal." if lang == "id" else
                "Restore and investigate the link to the central data center (VPN/central SIAK); the fault is on the "
                "central side, the office's equipment is working.")
    return (f"Bantuan teknis untuk memulihkan {devs() or 'layanan'}." if lang == "id" else
            f"Technical assistance to restore {devs() or 'the service'}.")


def caption(fig: ReportFigures, lang: Lang) -> str:
    """The short Telegram caption (HTML, < 1024 characters) sent with the weekly PDF."""
    from html import escape

    head = fig.headline
    avail = head.availability if head else fig.current.site
    prev = fig.previous.service(head.id) if head else None
    prev_pct = (prev.availability if prev else fig.previous.site).availability
    week = fig.period.iso_week
    when = format_date_range(fig.period.first_day, fig.period.last_day, lang)
    if week:
        when += f" (W{week[1]:02d})"
    title = "Laporan Mingguan Gangguan" if lang == "id" else "Weekly outage report"
    if fig.period.kind != "week":
        title = "Laporan Gangguan" if lang == "id" else "Outage report"
    name = head.name if head else ("Seluruh kantor" if lang == "id" else "Whole office")
    lines = [f"<b>{escape(title)}</b> · {escape(fig.site.name)}", escape(when),
             f"{escape(name)}: <b>{format_pct(avail.availability, lang)}</b>"
             + (f" ({'minggu lalu' if lang == 'id' else 'last week'} {format_pct(prev_pct, lang)})"
                if prev_pct is not None and fig.period.kind == "week" else "")]
    n = len(fig.unavailable_outages)
    if lang == "id":
        stats = f"{n} gangguan perangkat, {len(fig.open_at_end)} masih berlangsung"
        central = (f"⚠️ {len(fig.central_actions)} hal perlu tindak lanjut Kementerian" if fig.central_actions
                   else "Tidak ada yang perlu tindak lanjut Kementerian")
    else:
        stats = f"{n} device {plural(n, lang, 'outage', 'outages')}, {len(fig.open_at_end)} ongoing"
        central = (f"⚠️ {len(fig.central_actions)} {plural(len(fig.central_actions), lang, 'item needs', 'items need')}"
                   " action by the Ministry" if fig.central_actions else "Nothing needs action by the Ministry")
    lines += [escape(stats), escape(central)]
    return "\n".join(lines)[:1000]
