"""Maintenance windows (pure): one-off, recurring cron in the site's zone, ad hoc rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from monitor.app import load_config
from monitor.engine.maintenance import Calendar, Window, crontab_weekdays, parse_cron
from monitor.errors import ConfigError

CONFIG = """
telegram: {enabled: false}
sites:
  - id: wib
    name: "Kantor WIB"
    timezone: Asia/Jakarta
    devices:
      - {id: srv, name: "Server", kind: recording_server, address: 127.0.0.1, checks: [{type: ping}]}
      - {id: ups, name: "UPS", kind: ups, address: 127.0.0.1, checks: [{type: ping}]}
    maintenance:
      - {id: backup, reason: "Backup mingguan", devices: [srv], cron: "0 22 * * 5", duration: 2h}
      - {id: listrik, reason: "Perbaikan listrik PLN", start: 2026-12-01T08:00:00, end: 2026-12-01T12:00:00}
  - id: wit
    name: "Kantor WIT"
    timezone: Asia/Jayapura
    devices:
      - {id: srv, name: "Server", kind: recording_server, address: 127.0.0.1, checks: [{type: ping}]}
    maintenance:
      - {reason: "Sundays", cron: "30 6 * * 0", duration: 30m}
"""


@pytest.fixture
def settings(write_config: Any) -> Any:
    return load_config(write_config(CONFIG), environ={})


def utc(*a: int) -> datetime:
    return datetime(*a, tzinfo=UTC)  # type: ignore[misc]


@pytest.mark.parametrize(("site", "device", "when", "expected"), [
    # Friday 2026-11-27 22:00 WIB = 15:00 UTC, for two hours; only the server
    ("wib", "srv", utc(2026, 11, 27, 14, 59, 59), None),
    ("wib", "srv", utc(2026, 11, 27, 15, 0, 0), "config:backup"),
    ("wib", "srv", utc(2026, 11, 27, 16, 59, 59), "config:backup"),
    ("wib", "srv", utc(2026, 11, 27, 17, 0, 0), None),
    ("wib", "ups", utc(2026, 11, 27, 15, 30), None),
    ("wib", "srv", utc(2026, 11, 26, 15, 30), None),               # a Thursday
    # one-off, site-local 08:00-12:00 WIB = 01:00-05:00 UTC, whole site
    ("wib", "ups", utc(2026, 12, 1, 1, 0), "config:listrik"),
    ("wib", "srv", utc(2026, 12, 1, 4, 59), "config:listrik"),
    ("wib", "srv", utc(2026, 12, 1, 5, 0), None),
    # Sunday 06:30 WIT (UTC+9) = Saturday 21:30 UTC; crontab weekday 0 is Sunday
    ("wit", "srv", utc(2026, 11, 28, 21, 30), "config:0"),
    ("wit", "srv", utc(2026, 11, 28, 21, 59, 59), "config:0"),
    ("wit", "srv", utc(2026, 11, 29, 21, 30), None),                # Monday 06:30 WIT
])
def test_config_windows(settings: Any, site: str, device: str, when: datetime, expected: str | None) -> None:
    win = Calendar(settings).planned(site, device, when)
    assert (win.source if win else None) == expected


def test_recurring_occurrence_bounds(settings: Any) -> None:
    win = Calendar(settings).planned("wib", "srv", utc(2026, 11, 27, 16, 0))
    assert win is not None
    assert (win.starts_at, win.ends_at, win.reason) == (utc(2026, 11, 27, 15), utc(2026, 11, 27, 17), "Backup mingguan")


def test_adhoc_windows(settings: Any) -> None:
    cal = Calendar(settings)
    adhoc = [Window("wib", frozenset({"ups"}), utc(2026, 11, 23, 1), utc(2026, 11, 23, 2), "ganti baterai", "adhoc:7")]
    assert cal.planned("wib", "ups", utc(2026, 11, 23, 1, 30), adhoc) == adhoc[0]
    assert cal.planned("wib", "srv", utc(2026, 11, 23, 1, 30), adhoc) is None
    assert cal.planned("wit", "ups", utc(2026, 11, 23, 1, 30), adhoc) is None
    assert cal.planned("wib", "ups", utc(2026, 11, 23, 2), adhoc) is None


def test_crontab_weekdays_are_translated() -> None:
    assert crontab_weekdays("0") == "sun" and crontab_weekdays("7") == "sun"
    assert crontab_weekdays("1-5") == "mon-fri" and crontab_weekdays("fri") == "fri"


def test_bad_cron_is_a_config_error_with_its_location(write_config: Any, tmp_path: Path) -> None:
    bad = CONFIG.replace('cron: "0 22 * * 5"', 'cron: "0 25 * * 5"')
    with pytest.raises(ConfigError) as info:
        load_config(write_config(bad), environ={})
    assert "sites[0].maintenance[0].cron" in str(info.value) and "25" in str(info.value)
    with pytest.raises(ValueError, match="5 fields"):
        parse_cron("0 22 * *", "Asia/Jakarta")


def test_window_duration_never_overlaps_into_next(settings: Any) -> None:
    cal = Calendar(settings)
    t = utc(2026, 12, 4, 15)   # a week without the one-off window
    hits = [cal.planned("wib", "srv", t + timedelta(minutes=m)) is not None for m in range(0, 24 * 60 * 7, 30)]
    assert sum(hits) == 4   # 2 hours a week, sampled every 30 minutes
