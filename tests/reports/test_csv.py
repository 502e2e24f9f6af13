"""The outage table as CSV: Excel's dialect per language, and a lossless round trip."""

from __future__ import annotations

import csv
import io

import pytest

from monitor.domain import Cause, Status
from monitor.reports import csvout
from monitor.reports import figures as F
from monitor.reports.data import IncidentRecord
from monitor.settings import Settings

from .conftest import NOW, WEEK, data, outage, wib


@pytest.fixture
def fig(office: Settings) -> F.ReportFigures:
    inc = IncidentRecord(41, wib(2026, 11, 17, 14, 2), None, Cause.LIGHTNING, Status.DOWN,
                         acknowledged_at=wib(2026, 11, 17, 14, 9), acknowledged_by='Budi "IT"; Santoso')
    outs = (
        outage("srv1", wib(2026, 11, 15, 22), wib(2026, 11, 16, 2, 30), cause=Cause.POWER),
        outage("srv1", wib(2026, 11, 17, 14, 3), None, cause=Cause.LIGHTNING, incident=41),
        outage("ws", wib(2026, 11, 18, 9), wib(2026, 11, 18, 9, 45), status=Status.DEGRADED, cause=Cause.POWER),
        outage("dc", wib(2026, 11, 19, 9, 30), wib(2026, 11, 19, 11, 45), cause=Cause.UPSTREAM),
    )
    return F.compute(data(office, outages=outs, incidents=(inc,)), WEEK, NOW)


@pytest.mark.parametrize(("lang", "sep", "decimal"), [("id", ";", ","), ("en", ",", ".")])
def test_excel_dialect(fig: F.ReportFigures, lang: str, sep: str, decimal: str) -> None:
    raw = csvout.outage_csv(fig, lang)  # type: ignore[arg-type]
    assert raw.startswith(b"\xef\xbb\xbf")                       # UTF-8 BOM: Excel reads UTF-8
    text = raw.decode("utf-8-sig")
    assert "\r\n" in text and "\n" not in text.replace("\r\n", "")
    header = next(csv.reader(io.StringIO(text), delimiter=sep))
    assert len(header) == len(csvout.COLUMNS)
    rows = list(csv.reader(io.StringIO(text), delimiter=sep))[1:]
    first = dict(zip(csvout.COLUMNS, rows[0], strict=True))
    assert first["duration_min"] == f"270{decimal}0" and first["in_period_min"] == f"150{decimal}0"
    assert first["start"] == "2026-11-15 22:00" and first["zone"] == "WIB"


@pytest.mark.parametrize("lang", ["id", "en"])
def test_round_trip(fig: F.ReportFigures, lang: str) -> None:
    rows = csvout.read_csv(csvout.outage_csv(fig, lang), lang)  # type: ignore[arg-type]
    assert len(rows) == len(fig.outages) == 4
    to_num = (lambda s: float(s.replace(",", "."))) if lang == "id" else float
    for row, line in zip(rows, fig.outages, strict=True):
        assert row["device_id"] == line.device.id and row["device"] == line.device.name
        assert row["cause_name"] == csvout.cause_name(lang, line.cause)  # type: ignore[arg-type]
        assert to_num(row["duration_min"]) == pytest.approx(line.duration_s / 60, abs=0.05)
        assert to_num(row["downtime_min"]) == pytest.approx(line.downtime_s / 60, abs=0.05)
        assert (row["end"] == "") == (line.end is None)
    lightning = rows[1]
    assert lightning["acknowledged_by"] == 'Budi "IT"; Santoso'    # quotes and the delimiter survive
    assert lightning["incident"] == "41" and lightning["time_to_ack_min"] in ("7,0", "7.0")
    assert lightning["open_at_end"] in ("ya", "yes")
    assert rows[3]["central"] in ("ya", "yes") and rows[2]["downtime_min"] in ("0,0", "0.0")
