"""Words and numbers of the reports (Bahasa Indonesia and English), and report periods."""

from __future__ import annotations

from datetime import date

import pytest

from monitor.errors import ReportError
from monitor.reports import i18n
from monitor.reports.i18n import LABELS
from monitor.reports.period import day_range, parse_week, previous_week, week_of

from . import scenario as sc


@pytest.mark.parametrize(("value", "id_", "en"), [
    (99.5, "99,5 %", "99.5%"),
    (99.64, "99,6 %", "99.6%"),
    (99.93, "99,93 %", "99.93%"),
    (97.345, "97,3 %", "97.3%"),
    (99.9999, "99,99 %", "99.99%"),       # never rounded up to 100
    (100.0, "100 %", "100%"),
    (23.08, "23,0 %", "23.0%"),
    (0.0, "0,0 %", "0.0%"),
    (None, "—", "—"),
])
def test_percentages(value: float | None, id_: str, en: str) -> None:
    assert i18n.format_pct(value, "id") == id_ and i18n.format_pct(value, "en") == en


@pytest.mark.parametrize(("seconds", "id_", "en", "short"), [
    (None, "—", "—", "—"),
    (0, "0 menit", "0 min", "0 mnt"),
    (45, "45 detik", "45 s", "45 dtk"),
    (59 * 60 + 40, "1 jam", "1 h", "1 j"),
    (3 * 3600 + 15 * 60, "3 jam 15 menit", "3 h 15 min", "3 j 15 mnt"),
    (2 * 86400 + 3 * 3600 + 20 * 60, "2 hari 3 jam", "2 d 3 h", "2 hr 3 j"),
    (2 * 86400 + 5 * 60, "2 hari", "2 d", "2 hr"),
])
def test_durations(seconds: float | None, id_: str, en: str, short: str) -> None:
    assert i18n.format_duration(seconds, "id") == id_
    assert i18n.format_duration(seconds, "en") == en
    assert i18n.format_duration(seconds, "id", short=True) == short


def test_numbers_dates_times_and_ordinals() -> None:
    assert i18n.format_number(1250.5, "id", 1) == "1.250,5" and i18n.format_number(1250.5, "en", 1) == "1,250.5"
    t = sc.wib(2026, 11, 17, 14, 2)
    assert i18n.format_datetime(t, "Asia/Jakarta", "id") == "17 Nov 2026 14.02 WIB"
    assert i18n.format_datetime(t, "Asia/Makassar", "en") == "17 Nov 2026 15:02 WITA"
    assert i18n.format_datetime(t, "Asia/Jayapura", "id", weekday=True) == "Sel 17 Nov 2026 16.02 WIT"
    assert i18n.format_short(t, "Asia/Jakarta", "id") == "Sel\u00a017/11 14.02"
    assert i18n.format_date(date(2026, 8, 17), "id", weekday=True) == "Senin, 17 Agustus 2026"
    assert i18n.format_date_range(date(2026, 11, 16), date(2026, 11, 22), "id") == "16–22 November 2026"
    assert i18n.format_date_range(date(2026, 11, 30), date(2026, 12, 6), "id") == "30 November – 6 Desember 2026"
    assert i18n.format_date_range(date(2026, 12, 28), date(2027, 1, 3), "en") == \
        "28 December 2026 – 3 January 2027"
    assert [i18n.ordinal(n, "id") for n in (1, 3, 10, 11)] == ["pertama", "ketiga", "kesepuluh", "ke-11"]
    assert [i18n.ordinal(n, "en") for n in (3, 11, 12, 21, 22, 23)] == ["third", "11th", "12th", "21st", "22nd", "23rd"]
    assert i18n.cause_name("id", "upstream") == "pusat (Data Center/VPN)"
    assert i18n.month_name("id", 8) == "Agustus"


def test_both_languages_have_the_same_words() -> None:
    assert set(LABELS["id"]) == set(LABELS["en"])
    from monitor import vocabulary as v
    from monitor.domain import Cause, DeviceKind, ObservationKind, Status
    for table in (*v.TABLES.values(), i18n.FUNDING):
        assert set(table["id"]) == set(table["en"])
    # every member of the domain enums has its words (the chat and the report use the same ones)
    assert {c.value for c in Cause} <= set(v.CAUSES["id"]) and set(v.CAUSES["id"]) == set(v.CAUSES_SHORT["id"])
    assert {s.value for s in Status} <= set(v.STATUSES["id"])
    assert {k.value for k in DeviceKind} == set(v.DEVICE_KINDS["id"])
    from monitor.engine.causes import ENGINE_FACT_KINDS
    assert {k.value for k in ObservationKind} | ENGINE_FACT_KINDS == set(v.OBSERVATIONS["id"])


def test_periods() -> None:
    w = parse_week("2026-W47", "Asia/Makassar")
    assert w.start == sc.wib(2026, 11, 15, 23) and w.seconds == 7 * 86400     # Monday 00:00 WITA = 23:00 WIB
    assert (w.first_day, w.last_day, w.iso_week) == (date(2026, 11, 16), date(2026, 11, 22), (2026, 47))
    assert parse_week("2026w47", "Asia/Makassar") == w
    assert week_of(date(2027, 1, 1), "Asia/Jakarta").label == "2026-W53"
    assert previous_week(sc.wib(2026, 11, 23, 7), "Asia/Jakarta").label == "2026-W47"
    r = day_range(date(2026, 11, 17), date(2026, 11, 19), "Asia/Jakarta")
    assert r.label == "2026-11-17_2026-11-19" and r.seconds == 3 * 86400
    assert r.previous() == day_range(date(2026, 11, 14), date(2026, 11, 16), "Asia/Jakarta")
    with pytest.raises(ReportError, match="ends"):
        day_range(date(2026, 11, 19), date(2026, 11, 17), "Asia/Jakarta")
    with pytest.raises(ReportError, match="no week 54"):
        parse_week("2026-W54", "Asia/Jakarta")
