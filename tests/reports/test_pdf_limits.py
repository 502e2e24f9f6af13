"""The PDF of a big site lists the devices with the most downtime (at most DEVICE_LIMIT), in report order;
the HTML file lists them all (issue 8: 1,000 devices made a 130-page PDF)."""

from __future__ import annotations

from types import SimpleNamespace

from monitor.reports import figures, selection


def dev(name: str, down: float, degraded: float = 0.0) -> SimpleNamespace:
    return SimpleNamespace(name=name, availability=SimpleNamespace(down_s=down, degraded_s=degraded))


def test_small_sites_keep_every_device_in_order() -> None:
    devices = [dev("a", 0), dev("b", 5), dev("c", 1)]
    assert selection.device_detail(devices, 3) == tuple(devices)
    assert selection.device_detail(devices, None) == tuple(devices)


def test_big_sites_keep_the_worst_devices_in_report_order() -> None:
    devices = [dev("a", 10), dev("b", 0), dev("c", 50), dev("d", 0, 30), dev("e", 1)]
    shown = selection.device_detail(devices, 3)
    assert [d.name for d in shown] == ["a", "c", "d"]


def test_the_limits_are_what_the_pdf_uses() -> None:
    assert figures.DEVICE_LIMIT >= 50 and figures.ACTION_LIMIT >= 20
