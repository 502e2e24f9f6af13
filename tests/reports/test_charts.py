"""The charts' axes are readable (issue 12, Deliver 4): asserted on what matplotlib draws — tick labels, axis
labels, legend — not on pixels. (Found: the cause chart of a 34-second downtime read "0,0" at every tick.)"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg

from monitor.domain import Cause
from monitor.engine.coverage import Part, Segment
from monitor.reports import charts

START = datetime(2026, 11, 15, 17, 0, tzinfo=UTC)       # Mon 16 Nov 00:00 WIB
ZONE = "Asia/Jakarta"


def labels(fig: object, axis: str = "x") -> list[str]:
    FigureCanvasAgg(fig).draw()  # type: ignore[arg-type]
    ax = fig.axes[0]  # type: ignore[attr-defined]
    ticks = ax.get_xticklabels() if axis == "x" else ax.get_yticklabels()
    return [t.get_text() for t in ticks]


@pytest.mark.parametrize(("seconds", "unit", "lang", "xlabel"), [
    (34, "s", "id", "detik gangguan, dijumlah untuk semua perangkat"),
    (26 * 60, "min", "id", "menit gangguan, dijumlah untuk semua perangkat"),
    (5 * 3600 + 1200, "h", "en", "hours of downtime, summed over all devices"),
    (3 * 86400, "d", "en", "days of downtime, summed over all devices"),
])
def test_the_cause_chart_counts_in_a_unit_its_ticks_can_show(seconds: float, unit: str, lang: str,
                                                           xlabel: str) -> None:
    axis = charts.downtime_axis(seconds, lang)  # type: ignore[arg-type]
    assert axis.unit == unit
    assert len(axis.ticks) >= 3 and len(set(axis.labels)) == len(axis.labels)         # distinct ticks
    assert axis.ticks[0] == 0 and axis.limit >= seconds / axis.scale
    fig = charts.causes_figure([(Cause.LIGHTNING, seconds), (Cause.POWER, seconds / 3)], lang)  # type: ignore[arg-type]
    drawn = labels(fig)
    assert drawn == list(axis.labels) and len(set(drawn)) == len(drawn) and "0,0" not in drawn[1:]
    ax = fig.axes[0]
    assert ax.get_xlabel() == xlabel
    assert [t.get_text() for t in ax.get_yticklabels()] == (["petir", "listrik"] if lang == "id"
                                                              else ["lightning", "power"])
    bars = [t.get_text() for t in ax.texts]                   # each bar says its duration in words
    assert len(bars) == 2 and all(b and b[0].isdigit() for b in bars)


def test_thirty_four_seconds_of_downtime_reads_in_seconds() -> None:
    """The demo's week: the cause chart read "0,0" at every tick (hours with one decimal)."""
    drawn = labels(charts.causes_figure([(Cause.LIGHTNING, 26), (Cause.SERVICE, 8)], "id"))
    assert drawn == ["0", "10", "20", "30", "40"]


def test_no_downtime_says_so() -> None:
    fig = charts.causes_figure([], "id")
    FigureCanvasAgg(fig).draw()
    assert [t.get_text() for t in fig.axes[0].texts] == ["Tidak ada waktu gangguan"]


def test_time_ticks_are_days_for_a_week_and_hours_for_a_day() -> None:
    ticks, week = charts.time_ticks(START, START + timedelta(days=7), ZONE, "id")
    assert week[:3] == ["Sen 16/11", "Sel 17/11", "Rab 18/11"] and week[-1] == "" and ticks[1] == 24.0
    ticks, day = charts.time_ticks(START, START + timedelta(days=1), ZONE, "id")
    assert day == ["Sen 16/11", "03.00", "06.00", "09.00", "12.00", "15.00", "18.00", "21.00", "Sel 17/11"]
    assert ticks == [3.0 * i for i in range(9)]
    _, day_en = charts.time_ticks(START, START + timedelta(days=1), ZONE, "en")
    assert day_en[1] == "03:00"


def test_the_timeline_shows_every_part_but_the_future_with_a_legend() -> None:
    now = START + timedelta(days=3)
    tl = (Segment(START, START + timedelta(days=1), Part.NOT_YET_MONITORED),
          Segment(START + timedelta(days=1), START + timedelta(days=2), Part.UP),
          Segment(START + timedelta(days=2), START + timedelta(days=2, hours=1), Part.DOWN, Cause.POWER),
          Segment(START + timedelta(days=2, hours=1), now, Part.NOT_RUNNING),
          Segment(now, START + timedelta(days=7), Part.FUTURE))
    fig = charts.timeline_figure([("Layanan Perekaman e-KTP", tl, True), ("Server Perekaman 1", tl, False)],
                                 START, START + timedelta(days=7), ZONE, "id")
    assert labels(fig)[:2] == ["Sen 16/11", "Sel 17/11"]
    assert labels(fig, "y") == ["Layanan Perekaman e-KTP", "Server Perekaman 1"]
    ax = fig.axes[0]
    drawn = {c.get_label() for c in ax.collections}
    assert drawn == {"not_yet_monitored", "up", "down", "not_running"}            # the future stays blank
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert {"normal", "mati", "monitor tidak berjalan", "belum dipantau"} <= set(legend)
    assert "belum terjadi" not in legend
    assert ax.get_xlabel() == "Waktu setempat (WIB)"
