"""Charts of the reports, drawn with matplotlib's object API on the Agg canvas (no pyplot, no global
figure state, so charts can be drawn in worker threads) and returned as PNG bytes.

* :func:`timeline_png`: one row per service (bold) and per device, coloured by slot over the period,
  with day ticks in the site's local time.
* :func:`causes_png`: downtime by cause in hours (central causes marked), or a "no downtime" panel.

PNG rather than SVG because WeasyPrint lays out a PNG several times faster (library-findings §7); the
resolution (140 dpi at the printed size) stays sharp on paper.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import datetime, timedelta

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from monitor.clock import to_local, zone_label
from monitor.domain import Cause
from monitor.reports.figures import Slot, Timeline
from monitor.reports.i18n import DAYS_SHORT, Lang, cause_name, format_duration, format_number, status_name

DPI = 140
WIDTH_IN = 6.9          # the printable width of A4 with 18 mm margins

COLORS: dict[Slot, str] = {
    Slot.UP: "#3c8d40",
    Slot.DEGRADED: "#f2b01e",
    Slot.DOWN: "#c62828",
    Slot.UNREACHABLE: "#ef7d1a",
    Slot.MAINTENANCE: "#4a7cc9",
    Slot.UNMONITORED: "#b0b0b0",
}
CAUSE_COLOR = "#c62828"
CENTRAL_COLOR = "#7b4fa0"

_FONT = "DejaVu Sans"


def _png(fig: Figure) -> bytes:
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    return buf.getvalue()


def _short(name: str, limit: int = 30) -> str:
    return name if len(name) <= limit else name[: limit - 1] + "…"


def timeline_png(rows: Sequence[tuple[str, Timeline, bool]], start: datetime, end: datetime, zone: str,
                 lang: Lang) -> bytes:
    """``rows``: (label, timeline, bold) top to bottom; ``[start, end)`` is the whole period (time after
    the timelines' end, i.e. the future, stays blank)."""
    n = max(1, len(rows))
    row_h = 0.24 if n <= 25 else 0.17
    height = min(9.2, 0.95 + row_h * n)
    fig = Figure(figsize=(WIDTH_IN, height))
    ax = fig.add_axes((0.27, 0.72 / height + 0.08 / height, 0.71, 1 - (0.95 + 0.05) / height))
    total_h = (end - start).total_seconds() / 3600
    # one collection per slot for all rows: a few artists instead of one per (row, slot) keeps a 50-device
    # chart fast to draw
    boxes: dict[Slot, list[list[tuple[float, float]]]] = {}
    for i, (_, tl, _) in enumerate(rows):
        y = n - 1 - i
        for seg in tl:
            x0 = (seg.start - start).total_seconds() / 3600
            x1 = (seg.end - start).total_seconds() / 3600
            boxes.setdefault(seg.slot, []).append([(x0, y - 0.36), (x0, y + 0.36), (x1, y + 0.36), (x1, y - 0.36)])
    for slot, verts in boxes.items():
        ax.add_collection(PolyCollection(verts, facecolors=COLORS[slot], linewidths=0, edgecolors="#ffffff",
                                         hatch="////" if slot is Slot.UNMONITORED else None))
    ax.set_ylim(-0.6, n - 0.4)
    ax.set_xlim(0, total_h)
    ax.set_yticks([n - 1 - i for i in range(len(rows))])
    ax.set_yticklabels([_short(lbl) for lbl, _, _ in rows], fontsize=6.5 if n > 25 else 7.5, family=_FONT)
    for tick, (_, _, bold) in zip(ax.get_yticklabels(), rows, strict=True):
        if bold:
            tick.set_fontweight("bold")
    days = round(total_h / 24)
    step = 1 if days <= 14 else 7
    ticks, labels = [], []
    for d in range(0, days + 1, step):
        t = start + timedelta(days=d)
        ticks.append(d * 24.0)
        loc = to_local(t, zone)
        labels.append(f"{DAYS_SHORT[lang][loc.weekday()]} {loc.day:02d}/{loc.month:02d}" if d < days else "")
    ax.set_xticks(ticks)
    ax.set_xticklabels(labels, fontsize=7, family=_FONT, ha="left")
    ax.grid(axis="x", color="#666666", linewidth=0.4, alpha=0.6)
    ax.tick_params(axis="both", length=0, pad=3)
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.set_xlabel(f"{'Waktu setempat' if lang == 'id' else 'Local time'} ({zone_label(zone)})", fontsize=7,
                  family=_FONT)
    handles = [Patch(facecolor=COLORS[s], hatch="////" if s is Slot.UNMONITORED else None, edgecolor="#ffffff",
                     label=status_name(lang, s.value)) for s in Slot]
    fig.legend(handles=handles, loc="lower center", ncol=6, fontsize=6.5, frameon=False,
               prop={"family": _FONT, "size": 6.5}, bbox_to_anchor=(0.5, 0.0))
    return _png(fig)


def causes_png(by_cause: Sequence[tuple[Cause, float]], lang: Lang, *, caption: str) -> bytes:
    """Horizontal bars of downtime (hours) by cause, largest first; central (upstream) in purple."""
    items = [(c, s) for c, s in by_cause if s > 0]
    n = max(1, len(items))
    height = 0.75 + 0.3 * n
    fig = Figure(figsize=(WIDTH_IN, height))
    ax = fig.add_axes((0.27, 0.45 / height, 0.62, 1 - 0.6 / height))
    for spine in ("top", "right"):
        ax.spines[spine].set_visible(False)
    if not items:
        ax.set_axis_off()
        ax.text(0.5, 0.5, "Tidak ada waktu gangguan" if lang == "id" else "No downtime", ha="center",
                va="center", fontsize=9, family=_FONT, color="#3c8d40", transform=ax.transAxes)
        return _png(fig)
    labels = [cause_name(lang, c) for c, _ in items]
    hours = [s / 3600 for _, s in items]
    colors = [CENTRAL_COLOR if c is Cause.UPSTREAM else CAUSE_COLOR for c, _ in items]
    ys = list(range(len(items)))[::-1]
    ax.barh(ys, hours, color=colors, height=0.6)
    ax.set_yticks(ys)
    ax.set_yticklabels(labels, fontsize=7.5, family=_FONT)
    top = max(hours)
    ax.set_xlim(0, top * 1.28 if top > 0 else 1)
    for y, (_, s) in zip(ys, items, strict=True):
        ax.text(s / 3600 + top * 0.015, y, format_duration(s, lang), va="center", fontsize=7, family=_FONT)
    ax.tick_params(axis="x", labelsize=7)
    ax.xaxis.set_major_formatter(lambda v, _pos: format_number(v, lang, 0 if top >= 5 else 1))
    ax.set_xlabel(caption, fontsize=7, family=_FONT)
    return _png(fig)


ChartInputs = tuple[Sequence[tuple[str, Timeline, bool]], datetime, datetime, str, Lang,
                    Sequence[tuple[Cause, float]], str]
"""What the weekly report's two charts are drawn from (plain, picklable data; see render.chart_inputs)."""


def weekly_pngs(inputs: ChartInputs) -> dict[str, bytes]:
    """The weekly report's charts as PNG bytes: ``timeline`` and ``causes``. A module-level function so a
    child process can run it (the one-shot ``report`` command draws them while it loads WeasyPrint)."""
    rows, start, end, zone, lang, by_cause, caption = inputs
    return {"timeline": timeline_png(rows, start, end, zone, lang),
            "causes": causes_png(by_cause, lang, caption=caption)}
