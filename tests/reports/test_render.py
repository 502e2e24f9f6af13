"""Rendering: the HTML golden files (StrictUndefined), the PDF (pages, text, charts, embedded DejaVu fonts),
the escalation letter, and the guarantee that rendering never touches the network.

The showcase week (tests/reports/scenario.py) is written into a real SQLite file and rendered once per
module (a PDF takes a second or two). Golden files: ``EKTP_UPDATE_GOLDEN=1 pytest tests/reports`` rewrites
them; review the diff before committing.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from jinja2 import UndefinedError
from pypdf import PdfReader

from monitor.errors import ReportError
from monitor.reports import csvout, render
from monitor.reports.escalation import escalation_figures
from monitor.reports.figures import ReportFigures
from monitor.reports.period import parse_week
from monitor.reports.runner import load_figures, render_report
from monitor.settings import Settings
from monitor.storage import Database
from monitor.storage import db as dbmod
from monitor.storage.db import create_db_engine

from . import scenario as sc

GOLDEN = Path(__file__).with_name("golden")
PLACEHOLDER = {"timeline": "data:image/png;base64,VElNRUxJTkU=", "causes": "data:image/png;base64,Q0FVU0VT"}


@dataclass
class Showcase:
    settings: Settings
    db: Database
    ids: dict[str, int]
    fig: ReportFigures
    fig_en: ReportFigures
    files: dict[str, Path]
    pages: int | None
    text: str


@pytest.fixture(scope="module")
def showcase(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Showcase]:
    tmp = tmp_path_factory.mktemp("showcase")
    settings = sc.load(sc.write_yaml(tmp, sc.SHOWCASE_YAML))
    engine = create_db_engine(f"sqlite:///{tmp / 'showcase.db'}")
    dbmod.upgrade(engine)
    db = Database(engine)
    ids = sc.write_showcase_week(db, settings)
    period = parse_week("2026-W47", "Asia/Jakarta")
    fig = db.call(lambda s: load_figures(s, settings, "mura", period, sc.SHOWCASE_NOW))
    rendered = render_report(fig, "id", tmp / "out", "Laporan-Mingguan-mura-2026-W47", ("pdf", "html", "csv"))
    text = "\n".join(page.extract_text() or "" for page in PdfReader(rendered.files["pdf"]).pages)
    try:
        yield Showcase(settings, db, ids, fig, fig, rendered.files, rendered.pages, text)
    finally:
        db.close()


def _golden(name: str, actual: str) -> None:
    path = GOLDEN / name
    if os.environ.get("EKTP_UPDATE_GOLDEN"):
        path.parent.mkdir(exist_ok=True)
        path.write_text(actual, encoding="utf-8")
    expected = path.read_text(encoding="utf-8")
    assert actual == expected, f"{name} differs from the golden file (EKTP_UPDATE_GOLDEN=1 to accept)"


# ------------------------------------------------------------------------------------------------ HTML


@pytest.mark.parametrize("lang", ["id", "en"])
def test_weekly_html_matches_the_golden_file(showcase: Showcase, lang: str) -> None:
    html = render.weekly_html(showcase.fig, lang, PLACEHOLDER)  # type: ignore[arg-type]
    _golden(f"weekly-mura-2026-W47.{lang}.html", html)


def test_escalation_html_matches_the_golden_file(showcase: Showcase) -> None:
    from monitor.reports.data import load_report_data
    from monitor.reports.escalation import EVIDENCE_BEFORE

    inc = showcase.ids["lightning"]
    start = sc.wib(2026, 11, 17, 14, 2)
    data = showcase.db.call(lambda s: load_report_data(s, showcase.settings, "mura", start - EVIDENCE_BEFORE,
                                                       sc.SHOWCASE_NOW))
    esc = escalation_figures(data, inc, sc.SHOWCASE_NOW)
    _golden("escalation-mura-lightning.id.html", render.escalation_html(esc, showcase.settings.site("mura"), "id"))


def test_templates_are_strict_about_missing_values(showcase: Showcase) -> None:
    env = render.environment()
    with pytest.raises(UndefinedError):
        env.from_string("{{ nothing_here }}").render()
    with pytest.raises(UndefinedError):
        env.from_string("{{ fig.no_such_field }}").render(fig=showcase.fig)
    context = render.weekly_context(showcase.fig, "id", PLACEHOLDER)
    del context["summary"]
    with pytest.raises(ReportError, match="summary"):
        render.render_template("weekly.html.j2", context)
    with pytest.raises(KeyError):
        render.Formatter("id", "Asia/Jakarta").t("no_such_label")


def test_a_week_without_outages_says_so_and_shows_mtbf_as_undefined(office: Settings) -> None:
    from monitor.reports import figures as F

    from .conftest import NOW, WEEK, data
    fig = F.compute(data(office, maintenance=()), WEEK, NOW)
    html = render.weekly_html(fig, "id", PLACEHOLDER)
    text = " ".join(html.split())
    assert "Layanan Perekaman e-KTP tersedia 100 % dari waktu yang dipantau" in text
    assert "Layanan tidak pernah terhenti." in text
    assert "Tidak ada gangguan tercatat pada periode ini." in text
    assert "— : tidak terdefinisi karena tidak ada gangguan." in text
    # MTTR and MTBF cells of the services and the whole office read "—"
    assert text.count('<td class="num">—</td> <td class="num">—</td>') >= 3


def test_html_escapes_names_from_the_config(showcase: Showcase) -> None:
    site = showcase.settings.site("mura")
    evil = site.model_copy(update={"name": "Kantor <script>alert(1)</script> & Co"})
    from dataclasses import replace
    fig = replace(showcase.fig, site=evil)
    html = render.weekly_html(fig, "id", PLACEHOLDER)
    assert "<script>alert(1)</script>" not in html
    assert "Kantor &lt;script&gt;alert(1)&lt;/script&gt; &amp; Co" in html


def test_the_html_file_lists_every_outage(showcase: Showcase) -> None:
    html = showcase.files["html"].read_text(encoding="utf-8")
    assert html.count('<tr>\n    <td class="num">') >= len(showcase.fig.outages)
    assert html.startswith("<!DOCTYPE html>") and "data:image/png;base64," in html


# ------------------------------------------------------------------------------------------------- PDF


def test_pdf_pages_text_and_summary_figures(showcase: Showcase) -> None:
    pdf = showcase.files["pdf"]
    assert pdf.is_file() and pdf.read_bytes().startswith(b"%PDF")
    assert showcase.pages == 4 and len(PdfReader(pdf).pages) == 4
    text = " ".join(showcase.text.split())
    headline = showcase.fig.headline
    assert headline is not None
    # the figures of the summary, as printed
    for expected in ("LAPORAN MINGGUAN GANGGUAN PERANGKAT PEREKAMAN E-KTP", "PEMERINTAH KABUPATEN MURUNG RAYA",
                     "16–22 November 2026", "Minggu ke-47 tahun 2026", "Ringkasan",
                     "Layanan Perekaman e-KTP tersedia 23,0 %", "minggu lalu 99,6 %", "5 hari 6 jam",
                     "Perlu tindak lanjut Kementerian", "HP ProLiant DL380 G7", "berusia 15 tahun",
                     "Ini adalah kerusakan akibat petir kedua dalam 36 bulan", "Koneksi ke pusat",
                     "Monitor tidak berjalan selama 1 jam 10 menit", "Drs. Yohanes Saputra, M.Si.",
                     "NIP 19700101 199003 1 004", "WIB"):
        assert expected in text, expected
    # by hand: down Tue 17 Nov 14:03 WIB .. the week's end = 467 820 s, less the Friday backup (7 200 s,
    # planned) and the monitor's reboot on Saturday (4 200 s, not monitored)
    a = headline.availability
    assert (a.down_s, a.maintenance_s, a.unmonitored_s) == (456_420, 7_200, 4_200)
    assert a.observed_s == 604_800 - 7_200 - 4_200
    assert a.availability == pytest.approx(100 * (593_400 - 456_420) / 593_400)   # 23.08 %, printed 23,0 %


def test_pdf_has_both_charts_and_embedded_dejavu_fonts(showcase: Showcase) -> None:
    reader = PdfReader(showcase.files["pdf"])
    # WeasyPrint shares one resource dictionary between pages: count distinct images
    images = list({img.data: img for page in reader.pages for img in page.images}.values())
    assert len(images) == 2                                  # timeline and downtime by cause
    assert all(img.image is not None and img.image.width > 600 for img in images)
    fonts: dict[str, bool] = {}
    for page in reader.pages:
        for font in page["/Resources"]["/Font"].values():
            font = font.get_object()
            descendant = font["/DescendantFonts"][0].get_object() if "/DescendantFonts" in font else font
            desc = descendant["/FontDescriptor"].get_object()
            fonts[str(font["/BaseFont"])] = any(k in desc for k in ("/FontFile", "/FontFile2", "/FontFile3"))
    assert fonts and all(fonts.values()), fonts                 # every font embedded
    assert all("DejaVu" in name for name in fonts), fonts       # and only DejaVu (margin boxes too)
    assert any("DejaVu-Sans" in name for name in fonts) and any("DejaVu-Serif" in name for name in fonts)


def test_pdf_text_with_pdftotext_when_available(showcase: Showcase) -> None:
    out = subprocess.run(["pdftotext", "-layout", str(showcase.files["pdf"]), "-"], capture_output=True, text=True,
                         timeout=60, check=True).stdout
    assert "23,0 %" in out and "Perlu tindak lanjut Kementerian" in out
    # the footer of every page: title, office and week on the left, page numbers on the right
    assert "Halaman 1 / 4" in out and "Halaman 4 / 4" in out
    assert out.count("Laporan Mingguan Gangguan Perangkat Perekaman e-KTP · Disdukcapil Kabupaten Murung Raya · "
                     "2026-W47") == 4


def test_english_report(showcase: Showcase, tmp_path: Path) -> None:
    rendered = render_report(showcase.fig, "en", tmp_path, "Weekly", ("pdf",))
    text = " ".join(" ".join(p.extract_text() or "" for p in PdfReader(rendered.files["pdf"]).pages).split())
    for expected in ("WEEKLY OUTAGE REPORT", "Week 47 of 2026", "Layanan Perekaman e-KTP was available 23.0%",
                     "Needs action by the Ministry", "16–22 November 2026"):
        assert expected in text, expected


def test_escalation_pdf(showcase: Showcase, tmp_path: Path) -> None:
    from monitor.reports.runner import build_escalation_files

    files = build_escalation_files(showcase.settings, showcase.db, showcase.ids["lightning"], sc.SHOWCASE_NOW,
                                   tmp_path, formats=("pdf",))
    reader = PdfReader(files["pdf"])
    text = " ".join(" ".join(p.extract_text() or "" for p in reader.pages).split())
    for expected in ("Kepada Yth.", "Direktur Jenderal Kependudukan dan Pencatatan Sipil",
                     "Perihal", "akibat petir", "Server Perekaman 1", "HP ProLiant DL380 G7", "SN CZJ1234ABC",
                     "15 tahun", "APBN", "Kronologi", "arrester petir (SPD) terpicu",
                     "Budi Santoso menangani gangguan (tombol “Tangani” di Telegram)",
                     "Tindakan yang telah dilakukan kantor",
                     "Teknisi provinsi dihubungi", "Permohonan", "Penggantian atau perbaikan perangkat yang dibeli "
                     "dari APBN", "masih berlangsung", "Drs. Yohanes Saputra, M.Si."):
        assert expected in text, expected
    assert files["pdf"].name == f"Laporan-Eskalasi-mura-Insiden-{showcase.ids['lightning']}.pdf"


def test_csv_written_with_the_report(showcase: Showcase) -> None:
    rows = csvout.read_csv(showcase.files["csv"].read_bytes(), "id")
    assert len(rows) == len(showcase.fig.outages)


# ---------------------------------------------------------------------------------------- no network


class _Listener:
    """A loopback TCP server that counts the connections it accepts (it never answers)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.accepted += 1
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self.thread.join(timeout=5)
        self.sock.close()


_CONNECTS: list[Any] = []
_WATCHING = threading.Event()


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if not _WATCHING.is_set() or event not in ("socket.connect", "socket.getaddrinfo", "urllib.Request"):
        return
    if event == "urllib.Request" and str(args[0]).startswith("data:"):
        return  # urllib decodes data: URIs itself (no socket); anything else is an attempt to fetch
    _CONNECTS.append((event, str(args)[:200]))


sys.addaudithook(_audit)  # process-wide and permanent, but inert unless a test sets _WATCHING


@pytest.fixture
def listener() -> Iterator[_Listener]:
    server = _Listener()
    try:
        yield server
    finally:
        server.close()


def test_rendering_fetches_nothing_from_the_network(listener: _Listener, tmp_path: Path) -> None:
    base = f"127.0.0.1:{listener.port}"
    html = f"""<!DOCTYPE html><html><head><meta charset="utf-8">
<link rel="stylesheet" href="http://{base}/style.css">
<style>
@import url("http://{base}/import.css");
@font-face {{ font-family: Remote; src: url("https://{base}/font.woff2"); }}
body {{ font-family: Remote, "DejaVu Sans"; background: url("http://{base}/bg.png"); }}
</style></head><body>
<p>Laporan tanpa jaringan</p>
<img src="http://{base}/logo.png"><img src="https://{base}/logo2.png"><img src="ftp://{base}/x.png">
<img src="file:///etc/hostname">
<img src="{render.data_uri(_tiny_png())}">
</body></html>"""
    refused: list[str] = []
    _CONNECTS.clear()
    _WATCHING.set()
    try:
        pages = render.html_to_pdf(html, tmp_path / "offline.pdf", refused=refused)
    finally:
        _WATCHING.clear()
    assert pages == 1
    assert listener.accepted == 0
    assert _CONNECTS == []                      # no socket was even opened towards anything
    assert {u.split("/")[-1] for u in refused} >= {"style.css", "import.css", "font.woff2", "bg.png", "logo.png",
                                                  "logo2.png", "x.png", "hostname"}
    reader = PdfReader(tmp_path / "offline.pdf")
    assert "Laporan tanpa jaringan" in (reader.pages[0].extract_text() or "")
    assert len(reader.pages[0].images) == 1     # the data: image is the only one that made it


def test_a_real_report_render_opens_no_socket(showcase: Showcase, tmp_path: Path) -> None:
    html = render.weekly_html(showcase.fig, "id", render.weekly_charts(showcase.fig, "id"))
    refused: list[str] = []
    _CONNECTS.clear()
    _WATCHING.set()
    try:
        render.html_to_pdf(html, tmp_path / "r.pdf", refused=refused)
    finally:
        _WATCHING.clear()
    assert _CONNECTS == [] and refused == []


def _tiny_png() -> bytes:
    import base64
    return base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9aw"
                            "AAAABJRU5ErkJggg==")


def _pdf_images(path: Path) -> list[bytes]:
    return sorted({im.data for page in PdfReader(path).pages for im in page.images})


def test_charts_drawn_by_a_child_process_are_the_same_charts(showcase: Showcase, tmp_path: Path) -> None:
    """The one-shot command draws the charts in a forked child while WeasyPrint loads: same PDF images, same
    HTML file, no child left behind."""
    import psutil

    before = {c.pid for c in psutil.Process().children()}
    here = render_report(showcase.fig, "id", tmp_path / "here", "W", ("pdf", "html"))
    child = render_report(showcase.fig, "id", tmp_path / "child", "W", ("pdf", "html"), charts_in_child=True)
    assert {c.pid for c in psutil.Process().children()} <= before        # the child was reaped
    assert len(_pdf_images(child.files["pdf"])) == 2
    assert _pdf_images(child.files["pdf"]) == _pdf_images(here.files["pdf"])
    assert child.files["html"].read_text() == here.files["html"].read_text()
    assert child.pages == here.pages


def test_charts_are_drawn_here_when_no_child_can_be_made_or_it_fails(showcase: Showcase, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    expected = _pdf_images(render_report(showcase.fig, "id", tmp_path / "here", "W", ("pdf",)).files["pdf"])

    def no_fork() -> int:
        raise OSError(11, "Resource temporarily unavailable")

    with monkeypatch.context() as m:
        m.setattr(render.os, "fork", no_fork)
        no_child = render_report(showcase.fig, "id", tmp_path / "nofork", "W", ("pdf",), charts_in_child=True)
    assert _pdf_images(no_child.files["pdf"]) == expected

    from monitor.reports import charts

    def broken(inputs: Any) -> dict[str, bytes]:
        raise RuntimeError("matplotlib broke in the child")

    real = charts.weekly_pngs
    calls: list[int] = []

    def broken_in_child_only(inputs: Any) -> dict[str, bytes]:
        calls.append(os.getpid())
        return broken(inputs) if os.getpid() != parent else real(inputs)

    parent = os.getpid()
    monkeypatch.setattr(charts, "weekly_pngs", broken_in_child_only)
    failed = render_report(showcase.fig, "id", tmp_path / "failed", "W", ("pdf",), charts_in_child=True)
    assert _pdf_images(failed.files["pdf"]) == expected     # drawn here after the child failed
    assert calls == [parent]                                # only the parent's call is recorded (the child's died)
