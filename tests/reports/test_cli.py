"""``ektp-monitor report``: the command's options, the paths it prints, errors, and ``--send`` through the
local Bot API server."""

from __future__ import annotations

import asyncio
import csv
import io
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from monitor.cli import EXIT_CONFIG, build_parser
from monitor.cli import main as cli_main
from monitor.commands import report as report_cmd
from monitor.sandbox.telegram_api import TelegramApiServer
from monitor.storage.models import IncidentRow, ReportRunRow
from tests.fakes import FakeClock

from . import scenario as sc
from .test_job import HEAD, MINISTRY, TOKEN, open_db, telegram_config


def make_office(tmp: Path) -> Path:
    """The showcase office with its database next to the config (relative URL, as an office would have)."""
    cfg = sc.write_yaml(tmp, sc.SHOWCASE_YAML)
    settings = sc.load(cfg)
    db = open_db(settings)
    sc.write_showcase_week(db, settings)
    db.close()
    return cfg


def run(argv: list[str], now: datetime, capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str], str]:
    args = build_parser().parse_args(argv)
    code = report_cmd.main(args, clock=FakeClock(now))
    out, err = capsys.readouterr()
    return code, [line for line in out.splitlines() if line], err


def test_week_report_prints_the_paths_it_wrote(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = make_office(tmp_path)
    code, lines, _ = run(["report", "-c", str(cfg), "--week", "2026-W47", "--format", "pdf,csv",
                          "--out", str(tmp_path / "out")], sc.SHOWCASE_NOW, capsys)
    assert code == 0
    assert lines == [str(tmp_path / "out" / "mura" / "Laporan-Mingguan-mura-2026-W47.pdf"),
                     str(tmp_path / "out" / "mura" / "Laporan-Mingguan-mura-2026-W47.csv")]
    assert all(Path(p).is_file() for p in lines)
    rows = list(csv.reader(io.StringIO(Path(lines[1]).read_bytes().decode("utf-8-sig")), delimiter=";"))
    assert rows[0][0] == "No" and len(rows) == 1 + 9
    db = open_db(sc.load(cfg))
    try:
        recorded = db.call(lambda s: [(r.site_id, r.kind, r.status, sorted(r.files)) for r in
                                      s.scalars(select(ReportRunRow))])
    finally:
        db.close()
    assert recorded == [("mura", "weekly", "built", ["csv", "pdf"])]


def test_default_period_language_and_out_dir_from_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = make_office(tmp_path)
    # Wednesday 25 Nov: without --week the last complete week (W47); formats and out_dir from the config
    code, lines, _ = run(["report", "-c", str(cfg), "--language", "en"], sc.wib(2026, 11, 25, 10), capsys)
    assert code == 0
    assert [Path(p).name for p in lines] == ["Weekly-Report-mura-2026-W47.pdf", "Weekly-Report-mura-2026-W47.html",
                                             "Weekly-Report-mura-2026-W47.csv"]
    assert Path(lines[0]).parent == tmp_path / "reports" / "mura"
    assert "Needs action by the Ministry" in (PdfReader(lines[0]).pages[0].extract_text() or "")


def test_from_to_range(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = make_office(tmp_path)
    code, lines, _ = run(["report", "-c", str(cfg), "--from", "2026-11-17", "--to", "2026-11-19", "--format", "html",
                          "--site", "mura"], sc.SHOWCASE_NOW, capsys)
    assert code == 0 and [Path(p).name for p in lines] == ["Laporan-Gangguan-mura-2026-11-17_2026-11-19.html"]
    html = Path(lines[0]).read_text(encoding="utf-8")
    assert "17–19 November 2026" in html and "Periode sebelumnya" in html


def test_incident_escalation_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = make_office(tmp_path)
    db = open_db(sc.load(cfg))
    incident = db.call(lambda s: s.scalars(select(IncidentRow.id).where(IncidentRow.cause == "lightning",
                                                                         IncidentRow.ended_at.is_(None))).one())
    db.close()
    code, lines, _ = run(["report", "-c", str(cfg), "--incident", str(incident), "--out", str(tmp_path / "o")],
                         sc.SHOWCASE_NOW, capsys)
    assert code == 0 and [Path(p).name for p in lines] == [f"Laporan-Eskalasi-mura-Insiden-{incident}.pdf"]
    assert "Permohonan" in " ".join((p.extract_text() or "") for p in PdfReader(lines[0]).pages)


@pytest.mark.parametrize(("argv", "message"), [
    (["--week", "2026-W60"], "has no week 60"),
    (["--week", "47"], "use YYYY-Www"),
    (["--from", "2026-11-31"], "invalid date"),
    (["--to", "2026-11-20"], "--to needs --from"),
    (["--site", "nowhere"], "unknown site nowhere; known: mura"),
    (["--format", "pdf,docx"], "unknown report format docx"),
    (["--week", "2026-W50"], "has not started yet"),
    (["--incident", "999"], "no incident #999"),
])
def test_bad_usage_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                    monkeypatch: pytest.MonkeyPatch, argv: list[str], message: str) -> None:
    cfg = make_office(tmp_path)
    monkeypatch.setattr(report_cmd, "SystemClock", lambda: FakeClock(sc.SHOWCASE_NOW))
    code = cli_main(["report", "-c", str(cfg), *argv])
    err = capsys.readouterr().err
    assert code == EXIT_CONFIG and message in err, err        # usage errors exit 2, as in every command


def test_a_bad_config_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = sc.write_yaml(tmp_path, "sites: []\n")
    assert cli_main(["report", "-c", str(cfg)]) == EXIT_CONFIG


def test_the_installed_command(tmp_path: Path) -> None:
    """The console script end to end (real clock): an old week with no outages at all."""
    cfg = make_office(tmp_path)
    exe = Path(sys.executable).with_name("ektp-monitor")
    proc = subprocess.run([str(exe), "report", "-c", str(cfg), "--week", "2020-W10", "--format", "pdf"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    (path,) = proc.stdout.split()
    text = " ".join(" ".join((p.extract_text() or "") for p in PdfReader(path).pages).split())
    # before monitoring began: nothing observed, so no availability is claimed
    assert "tidak dipantau sama sekali" in text and "Layanan tidak pernah terhenti" not in text


async def test_send_puts_the_pdf_through_the_outbox_to_telegram(tmp_path: Path) -> None:
    async with TelegramApiServer(TOKEN) as api:
        settings = telegram_config(tmp_path, api.url)
        db = open_db(settings)
        sc.write_showcase_week(db, settings)
        db.close()
        args = build_parser().parse_args(["report", "-c", str(tmp_path / "config.yaml"), "--week", "2026-W47",
                                          "--format", "csv", "--send", "--out", str(tmp_path / "out")])
        clock = FakeClock(sc.SHOWCASE_NOW)
        code = await asyncio.to_thread(report_cmd.main, args, clock=clock)
        assert code == 0
        docs = [m for m in api.messages if m.method.lower() == "senddocument"]
        assert sorted(m.chat_id for m in docs) == sorted([HEAD, MINISTRY])
        pdf = tmp_path / "out" / "mura" / "Laporan-Mingguan-mura-2026-W47.pdf"
        assert all(m.document == pdf.read_bytes() for m in docs)
        db = open_db(settings)
        try:
            assert db.call(lambda s: [r.status for r in s.scalars(select(ReportRunRow))]) == ["sent"]
        finally:
            db.close()
