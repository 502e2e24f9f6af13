"""The monitor's own machine (psutil): disk for the database, memory, load, boot time, battery.

psutil sees only the machine it runs on, so this is the ``monitor_host`` device's check, not a way to
watch the recording servers (they use SNMP HOST-RESOURCES-MIB).

Metrics: ``disk.<path>.used`` (%), ``disk.<path>.free`` (bytes), ``memory.used`` (%), ``load.1`` and
``load.per_cpu``, ``cpu.count``, ``boot.time`` (Unix seconds), ``uptime`` (s), and when a battery exists
``battery.charge`` (%), ``battery.runtime`` (s) and ``ups.status`` (``OL``/``OB``).
Conditions: a disk at ``disk_down_pct`` is ``down`` (the database cannot be written), at
``disk_degraded_pct`` ``degraded``; memory and load above their limits and running on battery are
``degraded``. A changed boot time is a :attr:`ObservationKind.HOST_BOOT` observation (the daemon can
seed the previous boot time with :meth:`HostCheck.restore`).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import psutil

from monitor.domain import (
    CheckResult,
    Device,
    HostSpec,
    MetricValue,
    Observation,
    ObservationKind,
    ReasonCode,
    Status,
    worst,
)

__all__ = ["HostCheck", "HostSample", "sample_host"]


@dataclass
class HostSample:
    disks: dict[str, tuple[float, int]] = field(default_factory=dict)   # path -> (used %, free bytes)
    disk_errors: dict[str, str] = field(default_factory=dict)
    memory_pct: float = 0.0
    load1: float | None = None
    cpus: int = 1
    boot_time: float = 0.0
    battery: Any = None


def sample_host(paths: tuple[str, ...]) -> HostSample:
    """Read everything psutil offers (blocking: call through ``asyncio.to_thread``)."""
    sample = HostSample()
    for path in paths:
        try:
            usage = psutil.disk_usage(path)
        except OSError as exc:
            sample.disk_errors[path] = exc.strerror or str(exc)
            continue
        sample.disks[path] = (float(usage.percent), int(usage.free))
    sample.memory_pct = float(psutil.virtual_memory().percent)
    try:
        sample.load1 = os.getloadavg()[0]
    except OSError:
        sample.load1 = None
    sample.cpus = psutil.cpu_count() or 1
    sample.boot_time = float(psutil.boot_time())
    try:
        sample.battery = psutil.sensors_battery()
    except (NotImplementedError, OSError, AttributeError):
        sample.battery = None
    return sample


class HostCheck:
    """``type: host`` — see the module docstring."""

    kind: ClassVar[str] = "host"

    def __init__(self, spec: HostSpec, *, base_dir: str | None = None) -> None:
        self.spec = spec
        # relative paths (the default ".") are taken from the config file's folder, where the database is
        self.paths = tuple(p if Path(p).is_absolute() or base_dir is None else str(Path(base_dir) / p)
                           for p in spec.paths)
        self._boot_time: float | None = None
        self._boot_restored = False

    def restore(self, metrics: Mapping[str, MetricValue], *, at: datetime | None = None) -> None:
        """Seed the previous boot time from persisted metrics, so a reboot while we were off is seen."""
        value = metrics.get("boot.time")
        if isinstance(value, int | float) and not isinstance(value, bool):
            self._boot_time, self._boot_restored = float(value), True

    async def run(self, device: Device, *, now: datetime) -> CheckResult:
        spec = self.spec
        start = time.monotonic()
        try:
            sample = await asyncio.to_thread(sample_host, self.paths)
        except Exception as exc:  # psutil is our side: never an outage
            return CheckResult(check=spec.key, type=self.kind, status=Status.UNKNOWN, time=now,
                               duration_s=round(time.monotonic() - start, 4),
                               reason=f"cannot read this machine's state: {exc}", reason_code=ReasonCode.CHECK_ERROR)
        metrics: dict[str, MetricValue] = {}
        units: dict[str, str] = {}
        verdicts: list[tuple[Status, str]] = []
        observations: list[Observation] = []
        for label, path in zip(spec.paths, self.paths, strict=True):
            if path in sample.disk_errors:
                verdicts.append((Status.UNKNOWN, f"disk {label}: {sample.disk_errors[path]}"))
                continue
            used, free = sample.disks[path]
            metrics[f"disk.{label}.used"] = used
            metrics[f"disk.{label}.free"] = free
            units[f"disk.{label}.used"] = "%"
            units[f"disk.{label}.free"] = "B"
            if used >= spec.disk_degraded_pct:
                status = Status.DOWN if used >= spec.disk_down_pct else Status.DEGRADED
                verdicts.append((status, f"disk {label} {used:.0f}% full ({free / 1e9:.1f} GB free)"))
                observations.append(Observation(now, ObservationKind.DISK_FULL, f"disk {label} {used:.0f}% full",
                                                "selfwatch", {"path": label, "used_pct": used, "free_bytes": free}))
        metrics["memory.used"] = sample.memory_pct
        units["memory.used"] = "%"
        if sample.memory_pct >= spec.memory_degraded_pct:
            verdicts.append((Status.DEGRADED, f"memory {sample.memory_pct:.0f}% used"))
        metrics["cpu.count"] = sample.cpus
        if sample.load1 is not None:
            per_cpu = round(sample.load1 / max(1, sample.cpus), 2)
            metrics["load.1"] = round(sample.load1, 2)
            metrics["load.per_cpu"] = per_cpu
            if per_cpu >= spec.load_degraded_per_cpu:
                verdicts.append((Status.DEGRADED, f"load {sample.load1:.1f} on {sample.cpus} CPUs"))
        metrics["boot.time"] = round(sample.boot_time)
        metrics["uptime"] = round(max(0.0, now.timestamp() - sample.boot_time))
        units["boot.time"] = "s"
        units["uptime"] = "s"
        # Only a boot time restored from before this process started can tell of a reboot: while we run, the
        # host has not rebooted, and the kernel's boot time (wall clock minus time since boot) moves with every
        # wall-clock step — comparing it here would turn an NTP step into a "host booted" (issue 13).
        if self._boot_time is not None and self._boot_restored and abs(sample.boot_time - self._boot_time) > 5:
            booted = datetime.fromtimestamp(sample.boot_time, UTC)
            observations.append(Observation(now, ObservationKind.HOST_BOOT,
                                            f"the monitor host booted at {booted:%Y-%m-%dT%H:%M:%SZ}", "selfwatch",
                                            {"boot_time": round(sample.boot_time),
                                             "previous_boot_time": round(self._boot_time)}))
        self._boot_time, self._boot_restored = sample.boot_time, False
        battery = sample.battery
        if battery is not None:
            metrics["battery.charge"] = round(float(battery.percent), 1)
            units["battery.charge"] = "%"
            if isinstance(battery.secsleft, int) and battery.secsleft >= 0:
                metrics["battery.runtime"] = battery.secsleft
                units["battery.runtime"] = "s"
            plugged = bool(battery.power_plugged)
            metrics["ups.status"] = "OL" if plugged else "OB"
            if not plugged:
                verdicts.append((Status.DEGRADED, f"the monitor host runs on battery ({battery.percent:.0f}%)"))
                observations.append(Observation(now, ObservationKind.ON_BATTERY, "the monitor host runs on battery",
                                                "selfwatch", {"charge": round(float(battery.percent), 1)}))
        status = worst(*(s for s, _ in verdicts)) if verdicts else Status.UP
        reason = "; ".join(r for s, r in verdicts if s is status) if verdicts else None
        code = None
        if verdicts:
            code = ReasonCode.CHECK_ERROR if status is Status.UNKNOWN else ReasonCode.CONDITION
        return CheckResult(check=spec.key, type=self.kind, status=status, time=now,
                           duration_s=round(time.monotonic() - start, 4), reason=reason, reason_code=code,
                           metrics=metrics, units=units, observations=tuple(observations))
