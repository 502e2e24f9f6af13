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

Profiles: ``profile: auto`` probes the device once and chooses a primary profile and its extensions
(:mod:`checks.profile_select`); ``a+b`` names them; a named profile's ``fallback`` profiles are tried in order.
Several profiles are read from one reply and merged (:func:`checks.profile.merge_evaluations`). Scalars a card
serves in another instance form (``X.0`` for a row ``X``, or ``X`` for ``X.0``) are found on first contact and
read in that form afterwards. In auto mode each poll also reads sysObjectID and sysUpTime: another sysObjectID or
an agent restart makes the check probe and choose again within the same run.

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

from checks.profile import MISMATCH, BoundProfile, Evaluation, ProfileError, Sample, merge_evaluations
from checks.profile_select import SYS_OBJECT_ID, SYS_UPTIME, Choice, Facts, alternates, choose, request_oids
from checks.resources import CheckResources
from checks.snmp_backend import FailureKind, SnmpBackend, SnmpFailure, SnmpReply, SnmpTarget
from checks.values import TIMETICKS_MOD, SnmpValue, uptime_restarted
from monitor.domain import AUTO_PROFILE, CheckResult, Device, MetricValue, ReasonCode, SnmpSpec, Status
from monitor.errors import ConfigError, ConfigIssue

__all__ = ["SnmpCheck"]

AUTH_FAILED = "authentication failed"


class SnmpCheck:
    """``type: snmp`` — see the module docstring."""

    kind: ClassVar[str] = "snmp"

    def __init__(self, spec: SnmpSpec, resources: CheckResources) -> None:
        self.spec = spec
        self.resources = resources
        self.auto = spec.profile == AUTO_PROFILE
        self.plans: list[list[BoundProfile]] = []      # compositions tried in order: [base, *extensions]
        if not self.auto:
            names = spec.profile.split("+")
            try:
                chain = resources.profiles.chain(names[0])
                extensions = [resources.profiles.get(n).bind(spec.params) for n in names[1:]]
                self.plans = [[p.bind(spec.params), *extensions] for p in chain]
            except (KeyError, ProfileError) as exc:
                raise ConfigError([ConfigIssue("profile", None, f"checks.{spec.key}",
                                               str(exc).strip("'\""))]) from None
        self._candidates: list[BoundProfile] | None = None
        self.choice: Choice | None = None          # what auto chose (kept until the device changes)
        self._active = 0                           # index of the plan that matched last
        self._previous: Sample | None = None
        self._previous_mono: float | None = None   # when _previous was taken, on the monotonic clock
        self._answered = False                     # has the device answered since start / the last failure?
        self._forms: dict[str, str] = {}           # scalar OID -> the instance form the device serves
        self._uptime: tuple[float, float] | None = None   # (sysUpTime s, monotonic time read)

    @property
    def profile(self) -> str:
        if self.auto:
            return self.choice.profile if self.choice and self.choice.primary else AUTO_PROFILE
        return "+".join(b.name for b in self.plans[self._active])

    @property
    def max_rows(self) -> int:
        plans = self.plans or [self._candidates or []]
        return max((t.definition.max_rows for plan in plans for b in plan for t in b.profile.tables), default=256)

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

    def candidates(self, device: Device) -> list[BoundProfile]:
        """The profiles ``auto`` chooses among for this device's kind, bound to the check's params."""
        if self._candidates is None:
            found = []
            for profile in self.resources.profiles.candidates(device.kind.value):
                try:
                    found.append(profile.bind(self.spec.params))
                except ProfileError:
                    continue    # needs a param this check does not give (e.g. spd-counter's oid)
            self._candidates = found
        return self._candidates

    async def select(self, device: Device,
                     target: SnmpTarget) -> tuple[Choice | None, SnmpReply, str | None]:
        """Probe the device and choose its profiles (``profile: auto``); the reply tells a failure (with the
        agent probe's verdict)."""
        candidates = self.candidates(device)
        reply, alive = await self._get(request_oids(candidates), target)
        if reply.failure is not None:
            return None, reply, alive
        facts = Facts.from_reply(reply.scalars)
        choice = choose(candidates, facts)
        self._forms = {}
        if choice.primary is not None:
            by_name = {b.name: b for b in candidates}
            self.plans = [[by_name[n] for n in choice.names]]
            self._active = 0
        return choice, reply, None

    async def run(self, device: Device, *, now: datetime) -> CheckResult:
        start = time.monotonic()
        if not device.address:
            return self._result(now, start, Status.UNKNOWN, "no address configured", ReasonCode.CHECK_ERROR)
        spec = self.spec
        target = SnmpTarget(device.address, spec.snmp, timeout=spec.timeout.total_seconds(), retries=spec.retries)
        reprobed = False
        if self.auto and self.choice is None:
            outcome = await self._choose(device, target, now, start)
            if outcome is not None:
                return outcome
            reprobed = True
        while True:
            result = await self._read(device, target, now, start)
            if isinstance(result, CheckResult):
                return result
            # the device changed (or the chosen profile no longer fits): choose again, once per run
            if reprobed or not self.auto:
                return self._mismatch(now, start, result)
            outcome = await self._choose(device, target, now, start)
            if outcome is not None:
                return outcome
            reprobed = True

    async def _choose(self, device: Device, target: SnmpTarget, now: datetime, start: float) -> CheckResult | None:
        choice, reply, alive = await self.select(device, target)
        if reply.failure is not None:
            self._answered = False
            return self._failure(now, start, reply.failure, alive, target, AUTO_PROFILE)
        self._answered = True
        assert choice is not None
        self.choice = choice
        if choice.primary is None:
            return self._result(now, start, Status.UNKNOWN, f"{MISMATCH}: {choice.why}", ReasonCode.PROFILE_MISMATCH,
                                profile=AUTO_PROFILE)
        return None

    async def _read(self, device: Device, target: SnmpTarget, now: datetime,
                    start: float) -> CheckResult | Evaluation:
        """One poll with the current plan (and the fallback plans of a named profile). Returns the result, or
        the mismatch when no plan fits or the device changed (auto mode)."""
        order = [self._active, *(i for i in range(len(self.plans)) if i != self._active)]
        mismatch: Evaluation | None = None
        for index in order:
            plan = self.plans[index]
            reply, alive = await self._fetch(plan, target)
            if reply.failure is not None:
                self._answered = False
                return self._failure(now, start, reply.failure, alive, target, "+".join(b.name for b in plan))
            self._answered = True
            if self.auto and self._changed(reply, start):
                return Evaluation(Status.UNKNOWN, "the device changed (another sysObjectID or a restarted agent)",
                                  ReasonCode.PROFILE_MISMATCH, mismatch=True)
            previous = self._since(now, start)
            parts = [b.evaluate(reply.scalars, reply.columns, device=device, previous=previous, now=now)
                     for b in plan]
            if parts[0].mismatch:
                mismatch = mismatch or parts[0]
                continue
            self._active = index
            # an extension that read nothing here (no probe on this card) is not named as a reader
            used = [b.name for i, (b, e) in enumerate(zip(plan, parts, strict=True))
                    if not e.mismatch and (i == 0 or e.metrics.keys() - {"uptime"})]
            evaluation = merge_evaluations(parts)
            self._previous, self._previous_mono = Sample(dict(evaluation.metrics), now), start
            why = self.choice.why if self.auto and self.choice else self._configured_why(index)
            return CheckResult(check=self.spec.key, type=self.kind, status=evaluation.status, time=now,
                               duration_s=round(time.monotonic() - start, 4), reason=evaluation.reason,
                               reason_code=evaluation.code, metrics=evaluation.metrics, units=evaluation.units,
                               observations=evaluation.observations, profile="+".join(used),
                               ignored=evaluation.ignored, adjusted=evaluation.adjusted, profile_why=why)
        assert mismatch is not None
        return mismatch

    def _configured_why(self, index: int) -> str:
        names = "+".join(b.name for b in self.plans[index])
        if index == 0:
            return f"configured: {names}"
        return f"configured: {self.plans[0][0].name} does not match; fallback {names}"

    def _changed(self, reply: SnmpReply, mono: float) -> bool:
        """Auto mode: another sysObjectID than at the choice, or an agent restart (sysUpTime went back, against
        the monotonic time between the polls: a wall-clock step is no elapsed time)."""
        facts = Facts.from_reply(reply.scalars)
        changed = False
        if self.choice is not None and facts.sys_object_id and self.choice.facts.sys_object_id \
                and facts.sys_object_id != self.choice.facts.sys_object_id:
            changed = True
        if facts.uptime_s is not None:
            if self._uptime is not None:
                previous, at = self._uptime
                if uptime_restarted(facts.uptime_s, previous, mono - at, TIMETICKS_MOD / 100):
                    changed = True
            self._uptime = (facts.uptime_s, mono)
        return changed

    def _mismatch(self, now: datetime, start: float, mismatch: Evaluation) -> CheckResult:
        names = [plan[0].name for plan in self.plans]
        reason = mismatch.reason or MISMATCH
        if len(names) > 1:
            reason += f"; also tried {', '.join(names[1:])}"
        return self._result(now, start, Status.UNKNOWN, reason, ReasonCode.PROFILE_MISMATCH,
                            profile=names[0] if names else AUTO_PROFILE)

    async def _fetch(self, plan: list[BoundProfile], target: SnmpTarget) -> tuple[SnmpReply, str | None]:
        """Scalars first (in the instance form the device serves); then the columns the scalars say are worth
        walking (one request saved per poll when, e.g., a UPS reports no alarms)."""
        wanted = list(dict.fromkeys(oid for b in plan for oid in b.scalar_oids.values()))
        if self.auto:
            wanted += [o for o in (SYS_OBJECT_ID, SYS_UPTIME) if o not in wanted]
        reply, probe = await self._get(wanted, target, columns_if_no_scalars=plan)
        if reply.failure is not None:
            return reply, probe
        failure = await self._resolve_forms(wanted, reply, target)
        if failure is not None:
            reply.failure = failure
            return reply, probe
        columns = list(dict.fromkeys(c for b in plan for c in (b.columns_needed(reply.scalars) if b.scalar_oids
                                                                else b.column_oids.values())))
        columns = [c for c in columns if c not in reply.columns]
        if columns:
            walked = await self.resources.snmp.fetch(target, [], columns, max_rows=self.max_rows)
            reply.columns.update(walked.columns)
            reply.requests += walked.requests
            reply.failure = walked.failure
        return reply, probe

    async def _resolve_forms(self, wanted: list[str], reply: SnmpReply, target: SnmpTarget) -> SnmpFailure | None:
        """Put values served in another instance form (``X.0`` for ``X``, or ``X`` for ``X.0``) under the OID
        the profile names. The form that worked is kept, so this costs a request only on first contact."""
        missing = [o for o in wanted if o not in self._forms and _absent(reply.scalars.get(o))]
        if missing:
            extra = await self.resources.snmp.fetch(target, [a for o in missing for a in alternates(o)], [],
                                                    max_rows=1)
            reply.requests += extra.requests
            if extra.failure is not None:
                return extra.failure
            for oid in missing:
                served = next((a for a in alternates(oid) if not _absent(extra.scalars.get(a))), oid)
                self._forms[oid] = served
                if served != oid:
                    reply.scalars[oid] = extra.scalars[served]
        for oid in wanted:
            if oid not in self._forms and not _absent(reply.scalars.get(oid)):
                self._forms[oid] = oid
        return None

    async def _get(self, scalars: list[str], target: SnmpTarget, *,
                   columns_if_no_scalars: list[BoundProfile] | None = None) -> tuple[SnmpReply, str | None]:
        """GET ``scalars`` (asking for the forms learnt before) and map the answers back."""
        wire = {oid: self._forms.get(oid, oid) for oid in scalars}
        columns: list[str] = []
        if not scalars and columns_if_no_scalars:
            columns = list(dict.fromkeys(c for b in columns_if_no_scalars for c in b.column_oids.values()))
        reply, probe = await self._fetch_scalars(list(dict.fromkeys(wire.values())), columns, target)
        for oid, served in wire.items():
            if served != oid and served in reply.scalars:
                reply.scalars[oid] = reply.scalars[served]
        return reply, probe

    async def _fetch_scalars(self, scalars: list[str], columns: list[str],
                             target: SnmpTarget) -> tuple[SnmpReply, str | None]:
        backend = self.resources.snmp
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


def _absent(value: SnmpValue | None) -> bool:
    return value is None or value.absent


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
