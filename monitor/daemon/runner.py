"""One check run: the runner owns the timeout, and turns our own failures into ``unknown``.

A check's contract is to return a :class:`~monitor.domain.CheckResult` for every device-side failure
(timeout, refused, on battery...). What is left — an exception (a bug, a library surprise, a setup
problem) or a check that does not finish within its budget — is *our* side failing, so the result is
``unknown`` with :attr:`~monitor.domain.ReasonCode.CHECK_ERROR` and the reason. It is never ``down``:
a broken check must not page anyone about a healthy server, and it is recorded honestly.

The budget is the check's own worst case (``timeout × (retries + 1)``, plus the packet spacing for
ping) and a margin, so a check that honours its timeout always reports its own ``down`` first.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime

from monitor.domain import Check, CheckResult, Device, PingSpec, ReasonCode, Status
from monitor.logs import redact

log = logging.getLogger(__name__)

MARGIN_S = 2.0
"""Slack above a check's own worst case before the runner gives up on it."""


def budget(spec: object, margin: float = MARGIN_S) -> float:
    """Seconds a check of ``spec`` may take before the runner calls it stuck."""
    timeout = float(spec.timeout.total_seconds())  # type: ignore[attr-defined]
    retries = int(getattr(spec, "retries", 0))
    extra = 0.0
    if isinstance(spec, PingSpec):
        extra = spec.count * spec.packet_interval.total_seconds()
    return timeout * (retries + 1) + extra + margin


def _unknown(key: str, kind: str, now: datetime, reason: str, started: float) -> CheckResult:
    return CheckResult(check=key, type=kind, status=Status.UNKNOWN, time=now, duration_s=time.monotonic() - started,
                       reason=reason, reason_code=ReasonCode.CHECK_ERROR)


async def run_check(check: Check, device: Device, spec: object, *, now: datetime, secrets: Iterable[str] = (),
                    margin: float = MARGIN_S) -> CheckResult:
    """Run ``check`` once for ``device`` at tick time ``now``; never raises except on cancellation.

    The result carries the tick time and the spec's key whatever the check put there, so results of
    one check form one series.
    """
    key = str(getattr(spec, "key", getattr(check, "kind", "check")))
    kind = str(getattr(spec, "type", getattr(check, "kind", "check")))
    limit = budget(spec, margin)
    started = time.monotonic()
    try:
        async with asyncio.timeout(limit):
            res = await check.run(device, now=now)
    except TimeoutError:
        log.warning("check %s of %s did not finish within %.1fs", key, device.id, limit)
        return _unknown(key, kind, now, f"check did not finish within {limit:.1f}s", started)
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # the check's bug or setup problem: ours, not the device's
        text = redact(f"{type(exc).__name__}: {exc}", secrets)[:300]
        log.error("check %s of %s failed: %s", key, device.id, text, exc_info=log.isEnabledFor(logging.DEBUG))
        return _unknown(key, kind, now, f"check error: {text}", started)
    if not isinstance(res, CheckResult):  # a check breaking its contract
        return _unknown(key, kind, now,  # type: ignore[unreachable]
                        f"check returned {type(res).__name__}, not a CheckResult", started)
    duration = res.duration_s or (time.monotonic() - started)
    if res.check != key or res.time != now or res.duration_s != duration:
        res = replace(res, check=key, time=now, duration_s=duration)
    return res
