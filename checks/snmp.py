"""SNMP check: poll a device and interpret the reply with its profile (``checks/profiles/*.yaml``).

Failure reasons are kept apart, because a misconfiguration is not an outage:

* no answer → ``down`` (:attr:`ReasonCode.TIMEOUT`). When the device has not answered us yet and the
  request is slow, an SNMPv3 engine-discovery probe runs alongside it: if *some* agent answers the probe
  but not our request, the community (v1/v2c) or privacy key (v3) is wrong →
* ``unknown`` "authentication failed" (:attr:`ReasonCode.AUTH_FAILED`) — also for v3 unknown user and
  wrong digest, which the agent reports;
* ICMP port unreachable on the probe → ``down`` (:attr:`ReasonCode.REFUSED`, no agent listening);
* a profile whose required objects are absent → the profile's ``fallback`` profiles are tried in order,
  then ``unknown`` "profile does not match device" (:attr:`ReasonCode.PROFILE_MISMATCH`);
* garbage values → ``unknown`` (:attr:`ReasonCode.GARBAGE`), see :mod:`checks.profile`.

Time: a poll takes at most ``timeout × (retries + 1)`` per profile tried — plus up to 0.3 s when
``retries`` is 0 and the device has not answered yet (the probe gets one full ``timeout``).

The check keeps the previous sample (metrics and time) for counter deltas, TimeTicks wraps and restarts;
:meth:`SnmpCheck.restore` seeds it from persisted metrics so a strike counted while the monitor was
restarting is still reported. The sample survives failed polls.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import ClassVar

from checks.profile import BoundProfile, Evaluation, ProfileError, Sample
from checks.resources import CheckResources
from checks.snmp_backend import FailureKind, SnmpBackend, SnmpFailure, SnmpReply, SnmpTarget
from monitor.domain import CheckResult, Device, MetricValue, ReasonCode, SnmpSpec, Status
from monitor.errors import ConfigError, ConfigIssue

__all__ = ["SnmpCheck"]

AUTH_FAILED = "authentication failed"


class SnmpCheck:
    """``type: snmp`` — see the module docstring."""

    kind: ClassVar[str] = "snmp"

    def __init__(self, spec: SnmpSpec, resources: CheckResources) -> None:
        self.spec = spec
        self.resources = resources
        try:
            chain = resources.profiles.chain(spec.profile)
            self.profiles: list[BoundProfile] = [p.bind(spec.params) for p in chain]
        except (KeyError, ProfileError) as exc:
            raise ConfigError([ConfigIssue("profile", None, f"checks.{spec.key}", str(exc).strip("'\""))]) from None
        self._active = 0                       # index of the profile that matched last
        self._previous: Sample | None = None
        self._previous_mono: float | None = None   # when _previous was taken, on the monotonic clock
        self._answered = False                 # has the device answered since start / the last failure?
        self.max_rows = max((t.definition.max_rows for p in chain for t in p.tables), default=256)

    @property
    def profile(self) -> str:
        return self.profiles[self._active].name

    def restore(self, metrics: Mapping[str, MetricValue], *, at: datetime | None = None) -> None:
        """Seed the previous sample from persisted metrics (``at``: when they were taken, if known)."""
        if metrics:
            self._previous, self._previous_mono = Sample(dict(metrics), at), None

    def _since(self, now: datetime, mono: float) -> Sample | None:
        """The previous sample, its time on today's wall clock: the time between two polls (counter rates,
        "the agent restarted") is monotonic time — a wall-clock step between them is no elapsed time."""
        prev = self._previous
        if prev is None or self._previous_mono is None:
            return prev
        return Sample(prev.metrics, now - timedelta(seconds=mono - self._previous_mono))

    async def run(self, device: Device, *, now: datetime) -> CheckResult:
        start = time.monotonic()
        if not device.address:
            return self._result(now, start, Status.UNKNOWN, "no address configured", ReasonCode.CHECK_ERROR)
        spec = self.spec
        target = SnmpTarget(device.address, spec.snmp, timeout=spec.timeout.total_seconds(), retries=spec.retries)
        order = [self._active, *(i for i in range(len(self.profiles)) if i != self._active)]
        mismatch: Evaluation | None = None
        for index in order:
            bound = self.profiles[index]
            reply, alive = await self._fetch(bound, target)
            if reply.failure is not None:
                self._answered = False
                return self._failure(now, start, reply.failure, alive, target, bound.name)
            self._answered = True
            evaluation = bound.evaluate(reply.scalars, reply.columns, device=device, previous=self._since(now, start),
                                        now=now)
            if evaluation.mismatch:
                mismatch = mismatch or evaluation
                continue
            self._active = index
            self._previous, self._previous_mono = Sample(dict(evaluation.metrics), now), start
            return CheckResult(check=spec.key, type=self.kind, status=evaluation.status, time=now,
                               duration_s=round(time.monotonic() - start, 4), reason=evaluation.reason,
                               reason_code=evaluation.code, metrics=evaluation.metrics, units=evaluation.units,
                               observations=evaluation.observations, profile=bound.name)
        assert mismatch is not None
        tried = ", ".join(p.name for p in self.profiles)
        reason = mismatch.reason or "profile does not match device"
        if len(self.profiles) > 1:
            reason += f"; also tried {tried.split(', ', 1)[1]}"
        return self._result(now, start, Status.UNKNOWN, reason, ReasonCode.PROFILE_MISMATCH,
                            profile=self.profiles[0].name)

    async def _fetch(self, bound: BoundProfile, target: SnmpTarget) -> tuple[SnmpReply, str | None]:
        """Scalars first; then the columns the scalars say are worth walking (one request saved per poll
        when, e.g., a UPS reports no alarms)."""
        reply, probe = await self._fetch_scalars(bound, target)
        if reply.failure is not None:
            return reply, probe
        columns = bound.columns_needed(reply.scalars) if bound.column_oids and bound.scalar_oids else []
        if columns:
            walked = await self.resources.snmp.fetch(target, [], columns, max_rows=self.max_rows)
            reply.columns.update(walked.columns)
            reply.requests += walked.requests
            reply.failure = walked.failure
        return reply, probe

    async def _fetch_scalars(self, bound: BoundProfile, target: SnmpTarget) -> tuple[SnmpReply, str | None]:
        backend = self.resources.snmp
        scalars = list(bound.scalar_oids.values())
        columns = [] if scalars else list(bound.column_oids.values())
        fetch = asyncio.ensure_future(backend.fetch(target, scalars, columns, max_rows=self.max_rows))
        if self._answered:
            return await fetch, None
        # Not answered yet: if the request is slow, ask in parallel whether any agent is there at all.
        delay = min(0.3, target.timeout / 3)
        done, _ = await asyncio.wait({fetch}, timeout=delay)
        if done:
            return fetch.result(), None
        # The probe gets a full per-attempt timeout: a busy agent must not turn "wrong community" into
        # "down". With retries ≥ 1 it ends within the request's own budget; with retries = 0 it may end
        # up to ``delay`` (≤ 0.3 s) after it.
        probe = asyncio.ensure_future(_probe(backend, target, max(0.2, target.timeout)))
        try:
            reply = await fetch
        finally:
            if not probe.done() and not fetch.done():
                probe.cancel()
        alive: str | None = None
        if reply.failure is not None and reply.failure.kind is FailureKind.TIMEOUT:
            with contextlib.suppress(asyncio.CancelledError):
                alive = await probe
        else:
            probe.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await probe
        return reply, alive

    def _failure(self, now: datetime, start: float, failure: SnmpFailure, probe: str | None, target: SnmpTarget,
                 profile: str) -> CheckResult:
        creds = target.credentials
        if failure.kind is FailureKind.TIMEOUT and probe == "refused":
            return self._result(now, start, Status.DOWN, "SNMP port closed (no agent listening)",
                                ReasonCode.REFUSED, profile=profile)
        if failure.kind is FailureKind.TIMEOUT:
            if probe == "alive":
                if creds.version == "3":
                    why = (f"{AUTH_FAILED}: the agent answers but not to user {creds.user!r} "
                           "(wrong privacy key or protocol?)")
                else:
                    why = (f"{AUTH_FAILED}: the agent answers but ignores this community "
                           f"(wrong community or SNMP version v{creds.version}?)")
                return self._result(now, start, Status.UNKNOWN, why, ReasonCode.AUTH_FAILED, profile=profile)
            return self._result(now, start, Status.DOWN, f"no SNMP answer ({failure.message})",
                                ReasonCode.TIMEOUT, profile=profile)
        if failure.kind is FailureKind.REFUSED:
            return self._result(now, start, Status.DOWN, "SNMP port closed (no agent listening)",
                                ReasonCode.REFUSED, profile=profile)
        if failure.kind is FailureKind.AUTH:
            return self._result(now, start, Status.UNKNOWN, f"{AUTH_FAILED}: {_auth_text(failure.message, creds.user)}",
                                ReasonCode.AUTH_FAILED, profile=profile)
        if failure.kind is FailureKind.CONFIG:
            return self._result(now, start, Status.UNKNOWN, f"SNMP set-up problem on our side: {failure.message}",
                                ReasonCode.CHECK_ERROR, profile=profile)
        return self._result(now, start, Status.UNKNOWN, f"device answered garbage: {failure.message}",
                            ReasonCode.GARBAGE, profile=profile)

    def _result(self, now: datetime, start: float, status: Status, reason: str | None, code: ReasonCode | None,
                *, profile: str | None = None) -> CheckResult:
        return CheckResult(check=self.spec.key, type=self.kind, status=status, time=now,
                           duration_s=round(time.monotonic() - start, 4), reason=reason, reason_code=code,
                           profile=profile or self.spec.profile)


async def _probe(backend: SnmpBackend, target: SnmpTarget, wait_s: float) -> str:
    quick = SnmpTarget(target.host, target.credentials, timeout=wait_s, retries=0)
    return await backend.probe_agent(quick)


def _auth_text(message: str, user: str | None) -> str:
    lowered = message.lower()
    if "unknown" in lowered and "user" in lowered:
        return f"the agent does not know user {user!r}"
    if "digest" in lowered:
        return "wrong authentication key or protocol"
    if "decrypt" in lowered:
        return "wrong privacy key or protocol"
    return message
