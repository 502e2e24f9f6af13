"""The monitor's own machine through psutil (real readings of this machine)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from checks.host import HostCheck
from monitor.domain import Device, DeviceKind, HostSpec, ObservationKind, ReasonCode, Status

NOW = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)
ME = Device(id="monitor", name="Monitor", kind=DeviceKind.MONITOR_HOST, confirm_down=1, confirm_up=1)


def spec(**kw: object) -> HostSpec:
    return HostSpec(**{"interval": "60s", "timeout": "2s", "retries": 0, "paths": ["/"], **kw})


async def test_this_machine() -> None:
    result = await HostCheck(spec(disk_degraded_pct=100, memory_degraded_pct=100, load_degraded_per_cpu=1000)).run(
        ME, now=datetime.now(UTC))
    assert result.status is Status.UP, result.reason
    m = result.metrics
    assert 0 < float(m["disk./.used"]) < 100 and int(m["disk./.free"]) > 0
    assert 0 < float(m["memory.used"]) < 100 and int(m["cpu.count"]) >= 1
    assert int(m["uptime"]) > 0 and int(m["boot.time"]) < datetime.now(UTC).timestamp()
    assert result.units["disk./.used"] == "%"


async def test_a_nearly_full_disk_is_degraded_then_down() -> None:
    degraded = await HostCheck(spec(disk_degraded_pct=0.001, disk_down_pct=100)).run(ME, now=NOW)
    assert degraded.status is Status.DEGRADED and degraded.reason_code is ReasonCode.CONDITION
    assert degraded.observations[0].kind is ObservationKind.DISK_FULL
    down = await HostCheck(spec(disk_degraded_pct=0.001, disk_down_pct=0.002)).run(ME, now=NOW)
    assert down.status is Status.DOWN


async def test_a_reboot_of_the_monitor_host_is_observed() -> None:
    check = HostCheck(spec())
    check.restore({"boot.time": 1_000_000})                  # the boot time we persisted last time
    result = await check.run(ME, now=NOW)
    assert ObservationKind.HOST_BOOT in [o.kind for o in result.observations]
    again = await check.run(ME, now=NOW)
    assert ObservationKind.HOST_BOOT not in [o.kind for o in again.observations]


async def test_relative_paths_are_taken_from_the_config_folder(tmp_path: Path) -> None:
    result = await HostCheck(spec(paths=["."], disk_degraded_pct=100), base_dir=str(tmp_path)).run(ME, now=NOW)
    assert "disk...used" in result.metrics


async def test_a_missing_path_is_unknown_not_down() -> None:
    result = await HostCheck(spec(paths=["/no/such/folder"])).run(ME, now=NOW)
    assert result.status is Status.UNKNOWN and result.reason_code is ReasonCode.CHECK_ERROR
