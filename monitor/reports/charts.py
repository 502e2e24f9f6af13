"""Charts of the reports, drawn with matplotlib's object API on the Agg canvas (no pyplot, no global
figure state, so charts can be drawn in worker threads) and returned as PNG bytes.

* :func:`timeline_figure`: one row per service (bold) and per device, coloured by coverage part over the
  period (the future stays blank), with ticks in the site's local time: every 3 hours for a period of up to
  two days, every day up to two weeks, every week beyond.
* :func:`causes_figure`: downtime by cause (central causes marked), in the unit that makes the ticks
  readable — seconds, minutes, hours or days (:func:`downtime_axis`) — or a "no downtime" panel.

The axes are decided by pure functions (:func:`time_ticks`, :func:`downtime_axis`) so tests assert on what
the reader sees, not on pixels. PNG rather than SVG because WeasyPrint lays out a PNG several times faster
(library-findings §7); the resolution (140 dpi at the printed size) stays sharp on paper.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from monitor import vocabulary
from monitor.clock import to_local, zone_label
from monitor.domain import Cause
from monitor.engine.coverage import Part, Timeline
from monitor.reports.i18n import DAYS_SHORT, Lang, cause_name, format_duration, format_number, status_name

DPI = 140
WIDTH_IN = 6.9          # the printable width of A4 with 18 mm margins

COLORS: dict[Part, str] = {
    Part.UP: "#3c8d40",
    Part.DEGRADED: "#f2b01e",
    Part.DOWN: "#c62828",
    Part.UNREACHABLE: "#ef7d1a",
    Part.MAINTENANCE: "#4a7cc9",
    Part.UNKNOWN: "#d9d9d9",
    Part.NOT_RUNNING: "#8c8c8c",
    Part.NOT_YET_MONITORED: "#c8c8c8",
}
HATCH: dict[Part, str] = {Part.NOT_RUNNING: "////", Part.NOT_YET_MONITORED: "...."}
LEGEND_ALWAYS = (Part.UP, Part.DEGRADED, Part.DOWN, Part.UNREACHABLE, Part.MAINTENANCE, Part.NOT_RUNNING)
CAUSE_COLOR = "#c62828"
CENTRAL_COLOR = "#7b4fa0"

_FONT = "DejaVu Sans"


def png(fig: Figure) -> bytes:
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    return buf.getvalue()


def _short(name: str, limit: int = 30) -> str:
    return name if len(name) <= limit else name[: limit - 1] + "…"


def time_ticks(start: datetime, end: datetime, zone: str, lang: Lang) -> tuple[list[float], list[str]]:
    """Tick positions (hours from ``start``) and labels in the site's local time: 3-hourly ``06.00`` for up to
    two days (the day named at local midnight), daily ``Sen 16/11`` up to two weeks, weekly beyond."""
    total_h = (end - start).total_seconds() / 3600
    ticks: list[float] = []
    labels: list[str] = []
    if total_h <= 48:
        local_start = to_local(start, zone)
        first = local_start.replace(minute=0, second=0, microsecond=0)
        first += timedelta(hours=(-first.hour) % 3)
        if first < local_start:
            first += timedelta(hours=3)
        t = first
        while (t - local_start).total_seconds() / 3600 <= total_h + 1e-9:
            h = (t - local_start).total_seconds() / 3600
            hm = f"{t.hour:02d}.00" if lang == "id" else f"{t.hour:02d}:00"
            labels.append(f"{DAYS_SHORT[lang][t.weekday()]} {t.day:02d}/{t.month:02d}" if t.hour == 0 else hm)
            ticks.append(h)
            t += timedelta(hours=3)
        return ticks, labels
    days = round(total_h / 24)
    step = 1 if days <= 14 else 7
    for d in range(0, days + 1, step):
        loc = to_local(start + timedelta(days=d), zone)
        ticks.append(d * 24.0)
        labels.append(f"{DAYS_SHORT[lang][loc.weekday()]} {loc.day:02d}/{loc.month:02d}" if d < days else "")
    return ticks, labels


def parts_shown(rows: Sequence[tuple[str, Timeline, bool]]) -> list[Part]:
    """The legend: the usual parts, and any other part the chart shows (the future is left blank)."""
    present = {seg.part for _, tl, _ in rows for seg in tl}
    return [p for p in Part if p is not Part.FUTURE and (p in LEGEND_ALWAYS or p in present)]


def timeline_figure(rows: Sequence[tuple[str, Timeline, bool]], start: datetime, end: datetime, zone: str,
                    lang: Lang) -> Figure:
    """``rows``: (label, timeline, bold) top to bottom over the whole period ``[start, end)``."""
    n = max(1, len(rows))
    row_h = 0.24 if n <= 25 else 0.17
    height = min(9.2, 1.1 + row_h * n)
    fig = Figure(figsize=(WIDTH_IN, height))
    ax = fig.add_axes((0.27, 0.95 / height, 0.71, 1 - (1.15 + 0.05) / height))
    total_h = (end - start).total_seconds() / 3600
    # one collection per part for all rows: a few artists instead of one per (row, part) keeps a 50-device
    # chart fast to draw
    boxes: dict[Part, list[list[tuple[float, float]]]] = {}
    for i, (_, tl, _) in enumerate(rows):
        y = n - 1 - i
        for seg in tl:
            if seg.part is Part.FUTURE:
                continue
            x0 = (seg.start - start).total_seconds() / 3600
            x1 = (seg.end - start).total_seconds() / 3600
            boxes.setdefault(seg.part, []).append([(x0, y - 0.36), (x0, y + 0.36), (x1, y + 0.36), (x1, y - 0.36)])
    for part, verts in boxes.items():
        ax.add_collection(PolyCollection(verts, facecolors=COLORS[part], linewidths=0, edgecolors="#ffffff",
                                         hatch=HATCH.get(part), label=part.value))
    ax.set_ylim(-0.6, n - 0.4)
    ax.set_xlim(0, total_h)
    ax.set_yticks([n - 1 - i for i in range(len(rows))])
    ax.set_yticklabels([_short(lbl) for lbl, _, _ in rows], fontsize=6.5 if n > 25 else 7.5, family=_FONT)
    for tick, (_, _, bold) in zip(ax.get_yticklabels(), rows, strict=True):
        if bold:
            tick.set_fontweight("bold")
    ticks, labels = time_ticks(start, end, zone, lang)
    ax.set_xticks(ticks)
    ax.set_xticklabels(labels, fontsize=7, family=_FONT, ha="left")
    ax.grid(axis="x", color="#666666", linewidth=0.4, alpha=0.6)
    ax.tick_params(axis="both", length=0, pad=3)
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.set_xlabel(f"{vocabulary.word(lang, 'local_time')} ({zone_label(zone)})", fontsize=7, family=_FONT)
    shown = parts_shown(rows)
    handles = [Patch(facecolor=COLORS[p], hatch=HATCH.get(p), edgecolor="#ffffff", label=status_name(lang, p.value))
               for p in shown]
    fig.legend(handles=handles, loc="lower center", ncol=min(4, len(handles)), frameon=False,
               prop={"family": _FONT, "size": 6.5}, bbox_to_anchor=(0.5, 0.0))
    return fig


def timeline_png(rows: Sequence[tuple[str, Timeline, bool]], start: datetime, end: datetime, zone: str,
                 lang: Lang) -> bytes:
    return png(timeline_figure(rows, start, end, zone, lang))


@dataclass(frozen=True, slots=True)
class Axis:
    """A downtime axis: the unit, how many seconds one unit is, the ticks and their labels."""

    unit: str                   # vocabulary unit key: s, min, h, d
    scale: float
    limit: float                # the axis' upper end, in units
    ticks: tuple[float, ...]
    labels: tuple[str, ...]


_UNITS = (("s", 1.0), ("min", 60.0), ("h", 3600.0), ("d", 86400.0))


def _nice_step(top: float, target: int = 5) -> float:
    raw = top / target
    mag = 10.0 ** math.floor(math.log10(raw))
    for m in (1.0, 2.0, 2.5, 5.0, 10.0):
        if raw <= m * mag:
            return float(m * mag)
    return float(10 * mag)


def downtime_axis(longest_s: float, lang: Lang) -> Axis:
    """The unit in which the longest bar is at least 2 (seconds below 2 minutes, minutes below 2 hours,
    hours below 2 days, else days) and about five distinct, evenly spaced tick labels from 0."""
    unit, scale = _UNITS[0]
    for u, s in _UNITS:
        if longest_s >= 2 * s:
            unit, scale = u, s
    top = max(longest_s / scale, 1.0)
    step = _nice_step(top * 1.28)
    limit = step * math.ceil(top * 1.28 / step)
    ticks = tuple(round(i * step, 6) for i in range(round(limit / step) + 1))
    decimals = 0 if float(step).is_integer() else (1 if float(step * 10).is_integer() else 2)
    labels = tuple(format_number(x, lang, decimals) for x in ticks)
    return Axis(unit, scale, limit, ticks, labels)


def causes_figure(by_cause: Sequence[tuple[Cause, float]], lang: Lang) -> Figure:
    """Horizontal bars of downtime by cause, largest first; central (upstream) in purple."""
    items = [(c, s) for c, s in by_cause if s > 0]
    n = max(1, len(items))
    height = 0.8 + 0.3 * n
    fig = Figure(figsize=(WIDTH_IN, height))
    ax = fig.add_axes((0.27, 0.5 / height, 0.62, 1 - 0.62 / height))
    for spine in ("top", "right"):
        ax.spines[spine].set_visible(False)
    if not items:
        ax.set_axis_off()
        ax.text(0.5, 0.5, vocabulary.word(lang, "no_downtime"), ha="center", va="center", fontsize=9,
                family=_FONT, color="#3c8d40", transform=ax.transAxes)
        return fig
    axis = downtime_axis(max(s for _, s in items), lang)
    labels = [cause_name(lang, c) for c, _ in items]
    values = [s / axis.scale for _, s in items]
    colors = [CENTRAL_COLOR if c is Cause.UPSTREAM else CAUSE_COLOR for c, _ in items]
    ys = list(range(len(items)))[::-1]
    ax.barh(ys, values, color=colors, height=0.6)
    ax.set_yticks(ys)
    ax.set_yticklabels(labels, fontsize=7.5, family=_FONT)
    ax.set_xlim(0, axis.limit)
    ax.set_xticks(axis.ticks)
    ax.set_xticklabels(axis.labels, fontsize=7, family=_FONT)
    for y, (_, s) in zip(ys, items, strict=True):
        ax.text(s / axis.scale + axis.limit * 0.012, y, format_duration(s, lang), va="center", fontsize=7,
                family=_FONT)
    ax.set_xlabel(vocabulary.word(lang, "downtime_axis", unit=vocabulary.unit_name(lang, axis.unit)), fontsize=7,
                  family=_FONT)
    return fig


def causes_png(by_cause: Sequence[tuple[Cause, float]], lang: Lang) -> bytes:
    return png(causes_figure(by_cause, lang))


ChartInputs = tuple[Sequence[tuple[str, Timeline, bool]], datetime, datetime, str, Lang,
                    Sequence[tuple[Cause, float]]]
"""What the weekly report's two charts are drawn from (plain, picklable data; see render.chart_inputs)."""


def weekly_pngs(inputs: ChartInputs) -> dict[str, bytes]:
    """The weekly report's charts as PNG bytes: ``timeline`` and ``causes``. A module-level function so a
    child process can run it (the one-shot ``report`` command draws them while it loads WeasyPrint)."""
    rows, start, end, zone, lang, by_cause = inputs
    return {"timeline": timeline_png(rows, start, end, zone, lang), "causes": causes_png(by_cause, lang)}
