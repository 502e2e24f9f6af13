"""Rendering: Jinja2 (StrictUndefined, autoescape) → HTML → PDF with WeasyPrint, with no network access.

* Templates live in ``monitor/reports/templates``; the CSS is inlined and the charts are embedded as
  ``data:`` PNG URIs, so the HTML file is self-contained and the PDF needs nothing from outside.
* :class:`LocalOnlyFetcher` is WeasyPrint's URL fetcher for every render: it serves ``data:`` URIs and
  files inside the template folder, and refuses everything else (``http:``, ``https:``, ``ftp:``, other
  files) without opening a socket. A refused resource is simply missing from the PDF and logged.
* Fonts: DejaVu Sans/Serif, named explicitly in the CSS (also in the ``@page`` margin boxes, which do not
  inherit the body font); WeasyPrint embeds and subsets them.
* Rendering a PDF takes seconds (WeasyPrint is pure Python), so async callers go through
  :func:`render_files_async`, which runs in a worker thread and never blocks the event loop.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import pickle
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from monitor import vocabulary
from monitor.clock import to_local, zone_label
from monitor.errors import ReportError
from monitor.reports import figures, i18n, narrative, selection
from monitor.reports.escalation import Entry, EscalationFigures, Request
from monitor.reports.figures import Action, OutageLine, ReportFigures
from monitor.reports.i18n import Lang
from monitor.settings import Site

log = logging.getLogger(__name__)

TEMPLATES = Path(__file__).with_name("templates")


# ------------------------------------------------------------------------------------------- fetcher


def _make_fetcher_class() -> type:
    from weasyprint.urls import URLFetcher

    class _LocalOnlyFetcher(URLFetcher):  # type: ignore[misc]
        """Serves ``data:`` URIs and files under ``roots``; refuses everything else (no socket)."""

        def __init__(self, roots: Sequence[Path], refused: list[str], images: Mapping[str, Callable[[], bytes]]
                     ) -> None:
            super().__init__(allowed_protocols=("data", "file"), allow_redirects=False)
            self._roots = [r.resolve() for r in roots]
            self.refused = refused
            self._images = images

        def fetch(self, url: str, headers: Any = None) -> Any:
            from weasyprint.urls import URLFetcherResponse

            scheme = url.split(":", 1)[0].lower() if ":" in url else ""
            if scheme == CHART_SCHEME and url.split(":", 1)[1] in self._images:
                return URLFetcherResponse(url, self._images[url.split(":", 1)[1]](),
                                          headers={"Content-Type": "image/png"})
            if scheme == "data":
                return super().fetch(url, headers)
            if scheme == "file":
                from urllib.request import url2pathname
                path = Path(url2pathname(url.split("?", 1)[0].removeprefix("file:"))).resolve()
                if any(path.is_relative_to(r) for r in self._roots):
                    return super().fetch(url, headers)
            self.refused.append(url)
            log.warning("report rendering refused to fetch %s (reports never use the network)", url[:200])
            raise ReportError(f"refused to fetch {url[:200]!r}: reports render offline", permanent=True)

    return _LocalOnlyFetcher


@cache
def _fetcher_class() -> type:
    return _make_fetcher_class()


def local_only_fetcher(refused: list[str] | None = None, roots: Sequence[Path] = (),
                       images: Mapping[str, Callable[[], bytes]] | None = None) -> Any:
    """A WeasyPrint URL fetcher that only serves ``data:`` URIs, our own template files and the ``images``
    we made (``ektp-chart:<name>``, produced when asked)."""
    cls = _fetcher_class()
    return cls([TEMPLATES, *roots], refused if refused is not None else [], images or {})


def html_to_pdf(html: str, target: Path, *, refused: list[str] | None = None,
                images: Mapping[str, Callable[[], bytes]] | None = None) -> int:
    """Write ``html`` as a PDF at ``target``; return the number of pages. No network access."""
    from weasyprint import HTML

    document = HTML(string=html, base_url=str(TEMPLATES) + "/",
                    url_fetcher=local_only_fetcher(refused, images=images)).render()
    target.parent.mkdir(parents=True, exist_ok=True)
    document.write_pdf(target)
    return len(document.pages)


# ------------------------------------------------------------------------------------------ templates


@cache
def environment() -> Environment:
    """The Jinja2 environment: StrictUndefined (a missing value is an error) and HTML autoescape."""
    env = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=True, undefined=StrictUndefined,
                      trim_blocks=False, lstrip_blocks=False, keep_trailing_newline=True)
    env.filters["css_string"] = css_string
    return env


def css_string(value: object) -> Markup:
    """Text for a CSS string literal inside ``<style>`` (``content: "…"``): backslash-escaped, and no ``<``
    so the text can never close the style element."""
    out = []
    for ch in str(value):
        if ch in '"\\<>&' or ord(ch) < 32:
            out.append(f"\\{ord(ch):x} ")
        else:
            out.append(ch)
    return Markup("".join(out))


@cache
def stylesheet() -> Markup:
    return Markup((TEMPLATES / "report.css").read_text(encoding="utf-8"))


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


@dataclass
class Formatter:
    """Formatting helpers handed to the templates as ``f`` (language and zone bound)."""

    lang: Lang
    timezone: str
    fig: ReportFigures | None = None
    names: Mapping[str, str] = field(default_factory=dict)

    @property
    def zone(self) -> str:
        return zone_label(self.timezone)

    def t(self, key: str, **kw: Any) -> str:
        return i18n.label(self.lang, key, **kw)

    def pct(self, value: float | None) -> str:
        return i18n.format_pct(value, self.lang)

    def points(self, value: float | None) -> str:
        return i18n.format_points(value, self.lang)

    def dur(self, seconds: float | None) -> str:
        return i18n.format_duration(seconds, self.lang)

    def durs(self, seconds: float | None) -> str:
        """Short duration for dense tables (``2 hr 3 j``)."""
        return i18n.format_duration(seconds, self.lang, short=True)

    def exact(self, seconds: float) -> str:
        """Every unit to the second (``6 hr 20 j 50 mnt``): parts that add up to the period."""
        return vocabulary.format_duration(seconds, self.lang, short=True, exact=True)

    def num(self, value: float, decimals: int = 0) -> str:
        return i18n.format_number(value, self.lang, decimals)

    def dt(self, value: datetime | None) -> str:
        return i18n.format_datetime(value, self.timezone, self.lang)

    def dtw(self, value: datetime | None) -> str:
        return i18n.format_datetime(value, self.timezone, self.lang, weekday=True)

    def short(self, value: datetime | None) -> str:
        return i18n.format_short(value, self.timezone, self.lang)

    def date(self, value: date | datetime, weekday: bool = False) -> str:
        d = to_local(value, self.timezone).date() if isinstance(value, datetime) else value
        return i18n.format_date(d, self.lang, weekday=weekday)

    def cause(self, value: str | None) -> str:
        return i18n.cause_name(self.lang, value)

    def status(self, value: str) -> str:
        return i18n.status_name(self.lang, value)

    def kind(self, value: str) -> str:
        return i18n.kind_name(self.lang, value)

    def funding(self, value: str | None) -> str:
        return i18n.funding_name(self.lang, value)

    def part(self, value: str) -> str:
        """A coverage part as a heading (``Monitor tidak berjalan``)."""
        return i18n.status_name(self.lang, value).capitalize()

    def gap_reason(self, value: str) -> str:
        return i18n.gap_reason(self.lang, value)

    def obs(self, kind: str) -> str:
        return i18n.observation_name(self.lang, kind)

    def title(self, title: str) -> str:
        """An incident's title, its status code in words."""
        return narrative.incident_title(self.lang, title)

    def ack(self, ack: Any) -> str:
        return narrative.ack_text(self.lang, ack)

    def counts(self, items: Sequence[tuple[str, int]]) -> str:
        return ", ".join(f"{i18n.cause_name(self.lang, c)} {n}×" for c, n in items) or "—"

    def evidence(self, item: Any, with_time: bool = True) -> str:
        return narrative.evidence_text(self.lang, item, self.timezone, self.names, with_time=with_time)

    def evidence_short(self, line: OutageLine, limit: int = 2) -> str:
        """The first facts of an outage for the table: ``14.02 UPS beralih ke baterai; …``."""
        parts = []
        for item in line.evidence[:limit]:
            when = i18n.format_time(item.time, self.timezone, self.lang, label_zone=False) if item.time else ""
            what = narrative.evidence_text(self.lang, item, self.timezone, self.names, with_time=False)
            parts.append(f"{when} {what}".strip())
        more = len(line.evidence) - limit
        if more > 0:
            parts.append(f"+{more}")
        if not parts and line.outage.reason:
            parts.append(vocabulary.localize_reason(line.outage.reason, self.lang))
        return "; ".join(parts) or "—"

    def action(self, a: Action) -> str:
        if self.fig is None:
            raise ReportError("action text needs the report figures")
        return narrative.action_text(self.lang, a, self.fig)


def period_text(fig: ReportFigures, lang: Lang) -> str:
    p = fig.period
    text = i18n.format_date_range(p.first_day, p.last_day, lang) + f" ({zone_label(p.zone)})"
    if p.iso_week:
        text += f" · {i18n.label(lang, 'week', week=p.iso_week[1], year=p.iso_week[0])}"
    return text


def weekly_context(fig: ReportFigures, lang: Lang, charts: Mapping[str, str], *, full: bool = False
                   ) -> dict[str, Any]:
    """Everything weekly.html.j2 uses. ``full``: list every outage and acknowledgement (the HTML file);
    otherwise the PDF's selection (figures.outage_detail / ack_detail)."""
    names = {d.device.id: d.device.name for d in fig.current.devices}
    f = Formatter(lang, fig.site.timezone, fig, names)
    title = i18n.label(lang, "weekly_title" if fig.period.kind == "week" else "range_title")
    undefined = any(x.failures == 0 for x in (fig.current.site, *(s.availability for s in fig.current.services),
                                              *(d.availability for d in fig.current.devices)))
    week = fig.period.iso_week
    detail, others = selection.outage_detail(fig, None if full else figures.DETAIL_LIMIT)
    if not full:
        others = others[:figures.DEVICE_LIMIT]
    return {
        "detail": detail, "others": others, "ack_summary": narrative.ack_summary(fig, lang),
        **part_table(fig, lang),
        "recurrence": fig.recurrence if full else fig.recurrence[:figures.RECURRENCE_LIMIT],
        "devices": selection.device_detail(fig.current.devices, None if full else figures.DEVICE_LIMIT),
        "central_actions": fig.central_actions if full else fig.central_actions[:figures.ACTION_LIMIT],
        "local_actions": fig.local_actions if full else fig.local_actions[:figures.ACTION_LIMIT],
        "acks": selection.ack_detail(fig.acknowledgements, None if full else figures.ACK_DETAIL_LIMIT),
        "f": f, "fig": fig, "site": fig.site, "lh": fig.site.letterhead, "title": title,
        "period_text": period_text(fig, lang),
        "footer": f"{title} · {fig.site.name} · " + (f"{week[0]}-W{week[1]:02d}" if week else fig.period.label),
        "summary": narrative.summary(fig, lang), "charts": dict(charts), "css": stylesheet(),
        "trend_label": "trend" if fig.period.kind == "week" else "trend_range",
        "availability_note": narrative.availability_note(lang), "undefined_mtbf": undefined,
        "impact_text": narrative.impact_text(fig, lang), "method": narrative.method_lines(lang),
        "sign_date": to_local(fig.now, fig.site.timezone).date(),
    }


@dataclass(frozen=True, slots=True)
class PartRow:
    name: str
    seconds: tuple[float, ...]


def part_table(fig: ReportFigures, lang: Lang) -> dict[str, Any]:
    """How the period divides per service and for the whole office (the coverage model's parts, each its own
    column; a column only when some row has time in it; the last column is the period, their sum)."""
    def parts(a: figures.Availability) -> tuple[float, ...]:
        return (a.observed_s, a.maintenance_s, a.unknown_s, a.not_running_s, a.not_yet_monitored_s, a.future_s)

    names = (i18n.label(lang, "part_monitored"), i18n.status_name(lang, "maintenance").capitalize(),
             i18n.status_name(lang, "unknown").capitalize(), i18n.status_name(lang, "not_running").capitalize(),
             i18n.status_name(lang, "not_yet_monitored").capitalize(), i18n.status_name(lang, "future").capitalize())
    rows = [(s.name, parts(s.availability)) for s in fig.current.services]
    rows.append((i18n.label(lang, "whole_office"), parts(fig.current.site)))
    keep = [i for i in range(len(names)) if i == 0 or any(r[1][i] > 0 for r in rows)]
    return {"part_names": [names[i] for i in keep] + [i18n.label(lang, "part_period")],
            "part_rows": [PartRow(name, (*(secs[i] for i in keep), fig.period.seconds)) for name, secs in rows]}


def render_template(name: str, context: Mapping[str, Any]) -> str:
    try:
        return environment().get_template(name).render(**context)
    except ReportError:
        raise
    except Exception as exc:  # jinja2.UndefinedError, TemplateSyntaxError, a formatting bug
        raise ReportError(f"rendering {name} failed: {type(exc).__name__}: {exc}", permanent=True) from exc


def weekly_html(fig: ReportFigures, lang: Lang, charts: Mapping[str, str], *, full: bool = False) -> str:
    return render_template("weekly.html.j2", weekly_context(fig, lang, charts, full=full))


def chart_inputs(fig: ReportFigures, lang: Lang) -> Any:
    """What :func:`monitor.reports.charts.weekly_pngs` draws from (a ``charts.ChartInputs``)."""
    rows = [(s.name, s.timeline, True) for s in fig.current.services]
    rows += [(d.device.name, d.timeline, False) for d in fig.current.devices]
    totals: dict[Any, float] = {}
    for d in fig.current.devices:
        for cause, secs in d.availability.down_by_cause:
            totals[cause] = totals.get(cause, 0.0) + secs
    by_cause = sorted(totals.items(), key=lambda kv: -kv[1])
    return (rows, fig.period.start, fig.period.end, fig.site.timezone, lang, by_cause)


def weekly_charts(fig: ReportFigures, lang: Lang) -> dict[str, str]:
    """The timeline and downtime-by-cause charts as ``data:`` URIs."""
    from monitor.reports import charts

    return {name: data_uri(png) for name, png in charts.weekly_pngs(chart_inputs(fig, lang)).items()}


CHART_SCHEME = "ektp-chart"


class ChartsInChild:
    """The weekly charts drawn by a forked child while this process loads WeasyPrint and lays the report out
    (the one-shot ``report`` command). The PDF's HTML names them ``ektp-chart:<name>``; the URL fetcher
    waits for them when WeasyPrint asks. The child inherits the loaded modules and the figures (nothing to
    import or pickle but the PNGs it sends back), touches no database or socket, and leaves by ``os._exit``.
    If it cannot be forked or fails, the charts are drawn here — the report never depends on it."""

    def __init__(self, fig: ReportFigures, lang: Lang) -> None:
        self._fig, self._lang = fig, lang
        self._pngs: dict[str, bytes] | None = None
        self._pid = 0
        self._read_fd = -1
        try:
            read_fd, write_fd = os.pipe()
            pid = os.fork()
        except OSError as exc:
            log.info("charts drawn in-process (%s)", exc)
            return
        if pid == 0:  # the child
            code = 1
            try:
                os.close(read_fd)
                from monitor.reports import charts

                payload = pickle.dumps(charts.weekly_pngs(chart_inputs(fig, lang)))
                with os.fdopen(write_fd, "wb") as out:
                    out.write(payload)
                code = 0
            finally:
                os._exit(code)
        os.close(write_fd)
        self._pid, self._read_fd = pid, read_fd

    NAMES = ("timeline", "causes")

    def urls(self) -> dict[str, str]:
        return {name: f"{CHART_SCHEME}:{name}" for name in self.NAMES}

    def images(self) -> dict[str, Callable[[], bytes]]:
        """For the URL fetcher: each chart's PNG, waited for when WeasyPrint first asks."""
        def one(name: str) -> Callable[[], bytes]:
            return lambda: self.pngs()[name]

        return {name: one(name) for name in self.NAMES}

    def pngs(self) -> dict[str, bytes]:
        if self._pngs is None:
            if self._read_fd >= 0:
                with os.fdopen(self._read_fd, "rb") as src:
                    self._read_fd = -1
                    payload = src.read()
                _pid, status = os.waitpid(self._pid, 0)
                self._pid = 0
                if os.waitstatus_to_exitcode(status) == 0 and payload:
                    self._pngs = pickle.loads(payload)
                else:
                    log.warning("the chart process failed (exit %s); drawing the charts here",
                                os.waitstatus_to_exitcode(status))
            if self._pngs is None:
                from monitor.reports import charts

                self._pngs = charts.weekly_pngs(chart_inputs(self._fig, self._lang))
        return self._pngs

    def data_uris(self) -> dict[str, str]:
        return {name: data_uri(png) for name, png in self.pngs().items()}

    def close(self) -> None:
        """Reap the child if nobody asked for its charts (an error before the PDF)."""
        if self._read_fd >= 0:
            os.close(self._read_fd)
            self._read_fd = -1
        if self._pid:
            os.waitpid(self._pid, 0)
            self._pid = 0


# --------------------------------------------------------------------------------------------- files


@dataclass(frozen=True, slots=True)
class Rendered:
    """The files written for one report, by format (``pdf``, ``html``, ``csv``), and the PDF's pages."""

    files: dict[str, Path]
    pages: int | None = None


def write_files(out_dir: Path, basename: str, formats: Sequence[str], *, pdf_html: Callable[[], str],
                html_file: Callable[[], str], csv_bytes: Callable[[], bytes] | None,
                pdf_images: Mapping[str, Callable[[], bytes]] | None = None,
                json_bytes: Callable[[], bytes] | None = None) -> Rendered:
    """Write the requested formats: ``pdf`` from ``pdf_html()``, ``html`` from ``html_file()``, ``csv`` from
    ``csv_bytes()``, ``json`` from ``json_bytes()``. Each file is written under a temporary name and renamed,
    so a reader (the outbox sending the PDF) never sees half a file. Reports hold the office's outage record:
    the files are created owner-only (0600), and so is the folder when this creates it (0700)."""
    out_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    files: dict[str, Path] = {}
    pages: int | None = None
    for fmt in formats:
        target = out_dir / f"{basename}.{fmt}"
        tmp = target.with_name(f".{target.name}.tmp")
        if fmt not in ("html", "pdf", "csv", "json"):
            raise ReportError(f"unknown report format {fmt!r}: use pdf, html, csv or json", permanent=True)
        if (fmt == "csv" and csv_bytes is None) or (fmt == "json" and json_bytes is None):
            continue
        os.close(os.open(tmp, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600))
        tmp.chmod(0o600)  # a temporary file left by a crash may have other bits
        if fmt == "html":
            tmp.write_text(html_file(), encoding="utf-8")
        elif fmt == "pdf":
            pages = html_to_pdf(pdf_html(), tmp, images=pdf_images)
        elif fmt == "json" and json_bytes is not None:
            tmp.write_bytes(json_bytes())
        elif csv_bytes is not None:
            tmp.write_bytes(csv_bytes())
        tmp.replace(target)
        files[fmt] = target
    return Rendered(files, pages)


async def render_files_async(fn: Callable[[], Rendered]) -> Rendered:
    """Run a (slow, CPU-bound) render in a worker thread so the event loop keeps running checks."""
    return await asyncio.to_thread(fn)


# ---------------------------------------------------------------------------------------- escalation


def escalation_context(esc: EscalationFigures, site: Site, lang: Lang) -> dict[str, Any]:
    """Everything escalation.html.j2 uses."""
    names = {d.device.id: d.device.name for d in esc.figures.devices}
    f = EscalationFormatter(lang, site.timezone, None, names, esc=esc)
    return {
        "f": f, "esc": esc, "site": site, "lh": site.letterhead, "css": stylesheet(),
        "title": i18n.label(lang, "escalation_title"),
        "footer": f"{i18n.label(lang, 'escalation_title')} · {site.name} · #{esc.incident.id}",
        "letter_number": "……/……/Disdukcapil/" + str(to_local(esc.now, site.timezone).year) if lang == "id"
        else "……/……/" + str(to_local(esc.now, site.timezone).year),
        "attachment": "—",
        "subject": narrative.escalation_subject(esc, lang),
        "addressee": narrative.MINISTRY_ADDRESSEE[lang],
        "opening": narrative.escalation_opening(esc, lang, site.timezone),
        "no_action": ("Belum ada tanggapan tercatat dari petugas." if lang == "id"
                      else "No acknowledgement has been recorded."),
        "closing": ("Demikian laporan ini kami sampaikan. Atas perhatian dan bantuan Bapak/Ibu, kami ucapkan "
                    "terima kasih." if lang == "id" else "Thank you for your attention and assistance."),
        "sign_date": to_local(esc.now, site.timezone).date(),
    }


@dataclass
class EscalationFormatter(Formatter):
    esc: EscalationFigures | None = None

    def entry(self, e: Entry) -> str:
        return narrative.entry_text(e, self.lang, self.timezone, self.names)

    def request(self, r: Request) -> str:
        if self.esc is None:
            raise ReportError("request text needs the escalation figures")
        return narrative.request_text(r, self.esc, self.lang)


def escalation_html(esc: EscalationFigures, site: Site, lang: Lang) -> str:
    return render_template("escalation.html.j2", escalation_context(esc, site, lang))
