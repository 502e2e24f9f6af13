"""Every text is wholly one language (issue 12, Deliver 3): every message kind and both report kinds, rendered
from the golden scenario in Bahasa Indonesia and in English, contain no word of the other language's
catalogue, no ISO/UTC time and no raw key. The word lists come from the vocabulary itself (tests/language.py);
the demo's texts are checked the same way in tests/test_demo.py.
"""

from __future__ import annotations

import string
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from alerts import messages, selfwarn
from alerts.compose import incident_view
from alerts.messages import (
    DeviceLine,
    DeviceStatus,
    DigestItem,
    EscalationInfo,
    EvidenceLine,
    IncidentView,
    OpenIncident,
    OutageItem,
    SiteStatus,
    UpsLine,
)
from monitor.domain import ObservationKind
from monitor.engine.causes import ENGINE_FACT_KINDS
from monitor.reports import csvout, narrative, render
from monitor.reports.data import load_report_data
from monitor.reports.escalation import EVIDENCE_BEFORE, escalation_figures
from monitor.reports.period import parse_week
from monitor.reports.runner import load_figures
from monitor.settings import Settings
from monitor.storage import Database
from monitor.storage import db as dbmod
from monitor.storage.db import create_db_engine
from monitor.storage.models import AcknowledgementRow, IncidentRow, MaintenanceRow

from .language import SHARED, _words, assert_one_language, catalog, foreign_words, problems
from .reports import scenario as sc

LANGS = ("id", "en")
NOW = datetime(2026, 11, 23, 3, 30, tzinfo=UTC)           # 10.30 WIB
ZONE = "Asia/Jakarta"
KNOWN_SHARED = SHARED | {
    "ack", "admin", "alias", "allowed", "april", "arrester", "bot", "bypass", "center", "chat", "data", "database",
    "disk", "dukcapil", "ektp", "heartbeat", "help", "helpdesk", "jakarta", "log", "min", "model", "monitor", "mute",
    "normal", "november", "ntp", "offline", "per", "program", "rec", "router", "september", "server", "srv",
    "status", "switch", "total", "unmute", "users",
    # issue 14: "air" is Indonesian water and English air conditioning; the others are the same word in both
    "air", "alarm", "pdu", "sensor"}
"""Words both catalogues use (names, loanwords, commands). A new word here means an English word slipped into
the Indonesian catalogue (or the other way round): look before adding it."""

# What the checks and the engine really write: reasons (English machine text) and facts with their values
REASONS = (
    "timeout", "tcp:40153: port 40153: connection refused (service not running) (answering: snmp:host-resources)",
    "router is down: snmp:if-uplink: SNMP port closed (no agent listening)",
    "snmp:ups-rfc1628: UPS output is off: the load has no power",
    "snmp:ups-apc: battery low: the UPS will shut down soon (4% charge, 1 min left)",
    "snmp:spd-contact: surge protector contact in alarm (trap)", "ping: packet loss 33.3% (2/3 replies)",
    "host: disk / 96% full (1.2 GB free); memory 93% used", "snmp:ups: input voltage 251 V outside 198–242 V",
    "snmp:x: authentication failed (wrong community?)", "a reason nobody translated",
    "waiting for own checks after the network recovered: ping: no reply to 3 pings",
    "snmp:if-uplink: uplink WAN is lowerLayerDown [still down after the maintenance window ended]")
VALUES: dict[str, dict[str, object]] = {
    "on_battery": {"charge": 100, "runtime_s": 8100, "seconds_on_battery": 5, "input_voltage": 0,
                   "trap": "upsTrapOnBattery"},
    "on_mains": {"input_voltage": 221}, "low_battery": {"charge": 4, "runtime_s": 60},
    "low_runtime": {"runtime_s": 540, "limit_s": 600}, "voltage_abnormal": {"voltage": 0, "min": 198, "max": 242},
    "transfer": {"cause": "largeMomentarySpike", "previous": "selfTest"},
    "spd_tripped": {"contact": 1, "name": "Arrester Petir (SPD)", "state": "fault", "var1": "Contact Fault: x"},
    "strike": {"increase": 1, "old": 12, "new": 13}, "overload": {"load": 97, "limit": 90},
    "temperature_high": {"temperature": 41.5, "limit": 40}, "disk_full": {"path": "/", "used_pct": 96},
    "line_bad": {"increase": 3, "total": 9, "previous": 6}, "link_down": {"interface": "ether1"},
    "reboot": {"uptime_s": 20, "previous_uptime_s": 38347746.01}, "monitor_gap": {"gap_s": 12.1},
    "outage": {"status": "down", "cause": "power"}, "status": {"status": "down"},
    "maintenance": {"ends_at": "2026-11-23T05:00:00Z"}}
TEXTS = {"status": REASONS[1], "maintenance": "Backup mingguan", "outage": "UPS ups-1 down since 15:11:42Z"}
NAMES = ("Disdukcapil Kab. Contoh", "Server Perekaman e-KTP", "UPS Ruang Server", "Arrester Petir (SPD)",
         "Router VPN Kantor", "Budi", "Backup mingguan", "ether1", "Arrester Petir", "ke lokasi")


def test_the_catalogues_share_only_known_words() -> None:
    shared = _words(catalog("id")) & _words(catalog("en"))
    assert shared - KNOWN_SHARED == set(), "English in the Indonesian catalogue, or the other way round?"
    assert foreign_words()["id"] and foreign_words()["en"]


def test_the_checker_finds_what_it_must() -> None:
    assert "raw key 'runtime_s'" in problems("UPS pakai baterai (runtime_s 8.100)", "id")
    assert "ISO/UTC time '00:24:34Z'" in problems("down since 00:24:34Z", "id")
    assert "English word 'since'" in problems("UPS ups-1 down since 15:11", "id")
    assert "Indonesian word 'sejak'" in problems("UPS down sejak 15:11", "en")
    assert "raw key 'input.voltage'" in problems("input.voltage 0", "en")
    assert problems("Server Perekaman e-KTP: mati sejak 22.11 WIB (tcp:40153: koneksi ditolak)", "id") == []


# ------------------------------------------------------------------------------------------- messages


def evidence() -> tuple[EvidenceLine, ...]:
    kinds = [k.value for k in ObservationKind] + sorted(ENGINE_FACT_KINDS)
    return tuple(EvidenceLine(NOW - timedelta(minutes=30 - i), "UPS Ruang Server", kind, TEXTS.get(kind, ""),
                              VALUES.get(kind, {}), "trap" if i % 2 else "poll") for i, kind in enumerate(kinds))


def view(**changes: object) -> IncidentView:
    base = IncidentView(
        id=12, site_name="Disdukcapil Kab. Contoh", timezone=ZONE, cause="lightning",
        started_at=NOW - timedelta(minutes=28),
        devices=(*(DeviceLine("Server Perekaman e-KTP", "down", NOW - timedelta(minutes=27), reason=r)
                   for r in REASONS),
                 DeviceLine("UPS Ruang Server", "degraded", NOW - timedelta(minutes=28), reason="on battery",
                            on_battery=True),
                 DeviceLine("Router VPN Kantor", "unreachable", NOW - timedelta(days=1), NOW - timedelta(minutes=3))),
        evidence=evidence(), ups=(UpsLine("UPS Ruang Server", 64.0, 8100.0),))
    return replace(base, **changes)  # type: ignore[arg-type]


SAMPLES: dict[str, dict[str, object]] = {
    "id": {"duration": "5 menit", "window": "10 menit", "time": "08.00 WIB", "until": "10.00 WIB", "start": "07.00",
           "end": "08.00", "reason": "-", "note": "-", "via": "dari konsol server", "text": "catatan"},
    "en": {"duration": "5 min", "window": "10 min", "time": "08:00 WIB", "until": "10:00 WIB", "start": "07:00",
           "end": "08:00", "reason": "-", "note": "-", "via": "from the server console", "text": "a note"},
}


def fill(lang: str, key: str) -> dict[str, object]:
    """A value for every ``{name}`` of the phrase ``key``: names and numbers, or words in ``lang``."""
    names = {f for _, f, _, _ in string.Formatter().parse(messages.PHRASES[lang][key]) if f}
    words = {"status": messages.phrase(lang, "status.down"), "cause": messages.phrase(lang, "cause.power"),
             "audience": messages.phrase(lang, "audience.head_of_office"), **SAMPLES[lang]}
    return {n: words.get(n, 7 if n in ("id", "count", "changes", "user_id", "limit", "part", "parts") else
                         "Server Perekaman e-KTP") for n in names}


def message_texts(lang: str) -> Iterator[tuple[str, str]]:
    for mode in ("alert", "update", "reminder", "escalation", "recovery", "short"):
        for reason in ("unacked", "open", "cause"):
            esc = EscalationInfo("ministry_liaison", reason, attach_report=True)
            yield f"incident {mode} {reason}", messages.render_incident(view(), mode, lang=lang, now=NOW,
                                                                        escalation=esc)
    yield "acknowledged", messages.render_incident(view(acknowledged_by="Budi", acknowledged_at=NOW,
                                                        ack_note="ke lokasi"), "reminder", lang=lang, now=NOW)
    yield "ended", messages.render_incident(view(ended_at=NOW), "recovery", lang=lang, now=NOW)
    yield "planned", messages.render_incident(view(planned=True, cause="maintenance"), "alert", lang=lang, now=NOW)
    yield "observation", messages.render_observation(site_name="Disdukcapil Kab. Contoh", zone=ZONE, now=NOW,
                                                     lang=lang, items=evidence())
    for started in (True, False):
        yield "flapping", messages.render_flapping(site_name="Disdukcapil Kab. Contoh", device_name="Router VPN Kantor",
                                                   zone=ZONE, now=NOW, lang=lang, started=started, changes=7,
                                                   window_s=600, status="degraded")
    for reason in ("process_stopped", "host_rebooted", "clock_jump"):
        yield "gap", messages.render_gap(site_name="Disdukcapil Kab. Contoh", zone=ZONE, now=NOW, lang=lang,
                                         started_at=NOW - timedelta(hours=4), ended_at=NOW, reason=reason)
    for restored in (False, True):
        yield "receiver", messages.render_receiver_broken(
            audience="head_of_office", site_name="Disdukcapil Kab. Contoh",
            reason="bot diblokir" if lang == "id" else "bot blocked", lang=lang, zone=ZONE, now=NOW, restored=restored)
    yield "alive", messages.render_alive(site_name="Disdukcapil Kab. Contoh", zone=ZONE, now=NOW, lang=lang, total=7,
                                         up=5, open_incidents=1)
    summaries = [messages.summary_line(key, lang=lang, emoji="•", incident_id=12, **fill(lang, key))
                 for key in messages.PHRASES[lang] if key.startswith("sum.")]
    opened = OpenIncident(13, "Disdukcapil Kab. Contoh", NOW - timedelta(hours=2), "power", ("UPS Ruang Server",))
    yield from (("digest", t) for t in messages.render_digest(
        [DigestItem(NOW - timedelta(hours=3 - i / 10), s) for i, s in enumerate(summaries)], zone=ZONE, now=NOW,
        lang=lang, open_incidents=[opened]))
    yield "caption", messages.render_escalation_caption(view(), lang=lang, now=NOW, audience="ministry_liaison")
    statuses = tuple(DeviceStatus("Server Perekaman e-KTP", "srv", status, NOW - timedelta(hours=1), REASONS[i])
                     for i, status in enumerate(("up", "degraded", "down", "unreachable", "unknown")))
    ups = DeviceStatus("UPS Ruang Server", "ups", "degraded", NOW, "on battery", NOW + timedelta(hours=2), True,
                       UpsLine("UPS Ruang Server", 55.0, 900.0))
    yield "status", messages.render_status([SiteStatus("Disdukcapil Kab. Contoh", ZONE, (*statuses, ups),
                                                       NOW + timedelta(hours=1))], now=NOW, lang=lang)
    yield "outages", messages.render_outages([OutageItem(12, "Disdukcapil Kab. Contoh", ZONE, "Server Perekaman e-KTP",
                                                         "down", NOW - timedelta(hours=2), "power", "Budi")],
                                             now=NOW, lang=lang)
    yield "outages none", messages.render_outages([], now=NOW, lang=lang)
    yield "help", messages.render_help(lang=lang, now=NOW)
    for key in messages.PHRASES[lang]:
        if key.startswith(("bot.", "btn.", "op.")):
            yield key, messages.phrase(lang, key, **fill(lang, key))
    for key in selfwarn._TEXT[lang]:
        if "." in key and not key.startswith(("src.", "reason.")):
            yield key, selfwarn._t(lang, key, reason=selfwarn._t(lang, "reason.disk"), since="08.00 WIB",
                                   pct="95 %" if lang == "id" else "95%", free=selfwarn._bytes(1.5e9, lang),
                                   direction=selfwarn._t(lang, "ahead"), amount="3 menit" if lang == "id" else "3 min",
                                   source=selfwarn._t(lang, "src.telegram"))


@pytest.mark.parametrize("lang", LANGS)
def test_every_message_kind_is_wholly_one_language(lang: str) -> None:
    seen = 0
    for what, text in message_texts(lang):
        assert_one_language(text, lang, NAMES, where=what)
        seen += 1
    assert seen > 60


# -------------------------------------------------------------------------------------------- reports


@dataclass
class Golden:
    settings: Settings
    db: Database
    ids: dict[str, int]
    names: tuple[str, ...]


@pytest.fixture(scope="module")
def golden(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Golden]:
    tmp = tmp_path_factory.mktemp("golden")
    settings = sc.load(sc.write_yaml(tmp, sc.SHOWCASE_YAML))
    engine = create_db_engine(f"sqlite:///{tmp / 'showcase.db'}")
    dbmod.upgrade(engine)
    db = Database(engine)
    ids = sc.write_showcase_week(db, settings)
    site = settings.site("mura")

    def people(s: object) -> list[str]:
        rows = [*(a.user_name for a in s.scalars(select(AcknowledgementRow))),  # type: ignore[attr-defined]
                *(a.note or "" for a in s.scalars(select(AcknowledgementRow))),  # type: ignore[attr-defined]
                *(i.title for i in s.scalars(select(IncidentRow))),  # type: ignore[attr-defined]
                *(m.reason for m in s.scalars(select(MaintenanceRow)))]  # type: ignore[attr-defined]
        return rows

    letterhead = [v for v in (site.letterhead.model_dump().values() if site.letterhead else ()) if isinstance(v, str)]
    names = (site.name, *(d.name for d in site.devices), *(d.model or "" for d in site.devices),
             *(s.name for s in site.services), *(d.id for d in site.devices),
             *(w.reason for w in site.maintenance), *letterhead, *db.call(people))
    try:
        yield Golden(settings, db, ids, tuple(names))
    finally:
        db.close()


@pytest.mark.parametrize("running", [True, False], ids=["running", "stopped"])
@pytest.mark.parametrize("lang", LANGS)
def test_the_weekly_report_is_wholly_one_language(golden: Golden, lang: str, running: bool) -> None:
    period = parse_week("2026-W47", ZONE)
    now = sc.SHOWCASE_NOW if running else period.start + timedelta(days=4)
    fig = golden.db.call(lambda s: load_figures(s, golden.settings, "mura", period, now, running=running))
    charts = {"timeline": "data:image/png;base64,AAAA", "causes": "data:image/png;base64,AAAA"}
    assert_one_language(render.weekly_html(fig, lang, charts, full=True), lang, golden.names, where="weekly HTML")
    assert_one_language(csvout.outage_csv(fig, lang).decode("utf-8-sig"), lang, golden.names, where="weekly CSV")
    assert_one_language(narrative.caption(fig, lang), lang, golden.names, where="caption")


@pytest.mark.parametrize("lang", LANGS)
def test_the_escalation_letter_is_wholly_one_language(golden: Golden, lang: str) -> None:
    inc = golden.ids["lightning"]
    start = sc.wib(2026, 11, 17, 14, 2)
    data = golden.db.call(lambda s: load_report_data(s, golden.settings, "mura", start - EVIDENCE_BEFORE,
                                                     sc.SHOWCASE_NOW))
    esc = escalation_figures(data, inc, sc.SHOWCASE_NOW)
    assert_one_language(render.escalation_html(esc, golden.settings.site("mura"), lang), lang, golden.names,
                        where="escalation letter")


@pytest.mark.parametrize("lang", LANGS)
def test_the_incident_messages_from_the_record_are_wholly_one_language(golden: Golden, lang: str) -> None:
    """The chats' incident views read from the golden record (compose.incident_view), every mode."""
    for inc in golden.ids.values():
        v = golden.db.call(lambda s, i=inc: incident_view(s, golden.settings, i))
        assert v is not None
        for mode in ("alert", "update", "escalation", "recovery"):
            text = messages.render_incident(v, mode, lang=lang, now=sc.SHOWCASE_NOW,
                                            escalation=EscalationInfo("ministry_liaison", "cause", True))
            assert_one_language(text, lang, golden.names, where=f"incident #{inc} {mode}")


def test_a_planted_english_phrase_is_found(golden: Golden, tmp_path: Path) -> None:
    fig = golden.db.call(lambda s: load_figures(s, golden.settings, "mura", parse_week("2026-W47", ZONE),
                                                sc.SHOWCASE_NOW, running=True))
    html = render.weekly_html(fig, "id", {"timeline": "x", "causes": "x"})
    with pytest.raises(AssertionError, match="English word 'since'"):
        assert_one_language(html + "<p>UPS ups-1 down since 07.24</p>", "id", golden.names)
