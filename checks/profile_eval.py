"""Evaluating one reply with a bound profile (pure): values in; status, metrics, observations out.

Per-value trust: a value the device cannot mean (a "not available" sentinel, a wrong type, a value outside
its sane or physical range) drops *that* metric, with the reason in :attr:`Evaluation.ignored`. The device is
``unknown`` (garbage) only when every essential metric of the profile (``essential:``, default ``ups.status``
for UPS profiles, else every metric) is unusable because of such values.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from checks.expr import Column, Missing, render_template
from checks.profile_schema import MISMATCH, _Condition, _Metric, _Table
from checks.values import Interpreted, SnmpValue, counter_delta, interpret, tidy_number, uptime_restarted
from monitor.domain import Device, MetricValue, Observation, ObservationKind, ReasonCode, Status

if TYPE_CHECKING:
    from checks.profile import Profile

__all__ = ["BoundProfile", "Evaluation", "RawColumns", "RawScalars", "Sample", "merge_evaluations"]



@dataclass(frozen=True)
class Sample:
    """What a check remembers between runs: the last metrics (and when), for deltas and restarts."""

    metrics: Mapping[str, MetricValue]
    time: datetime | None = None


@dataclass(frozen=True)
class Evaluation:
    """The interpretation of one reply. ``mismatch`` means "try a fallback profile"."""

    status: Status
    reason: str | None
    code: ReasonCode | None
    metrics: dict[str, MetricValue] = field(default_factory=dict)
    units: dict[str, str] = field(default_factory=dict)
    observations: tuple[Observation, ...] = ()
    mismatch: bool = False
    ignored: dict[str, str] = field(default_factory=dict)     # metric (or object) -> why it was dropped
    adjusted: dict[str, str] = field(default_factory=dict)    # metric -> unit correction applied


RawScalars = Mapping[str, SnmpValue]
RawColumns = Mapping[str, Mapping[str, SnmpValue]]


class _Scope:
    """Name resolution for expressions (see :mod:`checks.expr`)."""

    def __init__(self, objects: Mapping[str, Any], metrics: Mapping[str, MetricValue], params: Mapping[str, Any],
                 device: Mapping[str, Any], previous: Sample | None, now: datetime,
                 moduli: Mapping[str, float | None], enums: Mapping[str, Mapping[int, str]],
                 row: Mapping[str, Any] | None = None, row_metrics: Mapping[str, str] | None = None) -> None:
        self.objects, self.metrics, self.params, self.device = objects, metrics, params, device
        self.previous, self.now, self.moduli, self.enums = previous, now, moduli, enums
        self.row, self.row_metrics = row, row_metrics or {}

    def with_row(self, row: Mapping[str, Any], row_metrics: Mapping[str, str]) -> _Scope:
        return _Scope(self.objects, self.metrics, self.params, self.device, self.previous, self.now, self.moduli,
                      self.enums, row, row_metrics)

    def lookup(self, name: str) -> Any:
        if self.row is not None and name in self.row:
            return self.row[name]
        if name in self.row_metrics:
            return self.metrics.get(self.row_metrics[name])
        if name.startswith("params."):
            return self.params.get(name[len("params."):])
        if name.startswith("device."):
            return self.device.get(name[len("device."):])
        if name in self.metrics:
            return self.metrics[name]
        return self.objects.get(name)

    def name_function(self, func: str, name: str) -> Any:
        current = self.lookup(name)
        if func == "exists":
            return current is not None
        if func == "label":
            if not isinstance(current, int):
                return None
            return self.enums.get(name, {}).get(current, f"unknown({current})")
        full = self.row_metrics.get(name, name)
        previous = self.previous.metrics.get(full) if self.previous else None
        if func == "prev":
            return previous
        if previous is None or current is None:
            return None
        if func == "changed":
            return previous != current
        if not isinstance(current, int | float) or not isinstance(previous, int | float):
            return None
        if func == "delta":
            return tidy_number(counter_delta(float(current), float(previous), self.moduli.get(full))[0])
        if func == "went_back":
            return current < previous
        # restarted
        elapsed = None
        if self.previous is not None and self.previous.time is not None:
            elapsed = (self.now - self.previous.time).total_seconds()
        return uptime_restarted(float(current), float(previous), elapsed, self.moduli.get(full))


class BoundProfile:
    """A profile with a check's params resolved: what to request, and how to read the reply."""

    def __init__(self, profile: Profile, params: Mapping[str, Any], scalars: Mapping[str, str],
                 columns: Mapping[str, str], traps: Iterable[tuple[str, ObservationKind, str]] = ()) -> None:
        self.profile = profile
        self.trap_rules = list(traps)        # (trap OID, observation kind, text)
        self.params = dict(params)
        self.scalar_oids = dict(scalars)     # object name -> instance OID
        self.column_oids = dict(columns)     # object name -> column OID
        self._moduli: dict[str, float | None] = {m.name: m.definition.modulus for m in profile.metrics}

    @property
    def name(self) -> str:
        return self.profile.name

    def columns_needed(self, scalars: RawScalars) -> list[str]:
        """Column OIDs to walk given the scalars already read (columns with a false ``when`` are skipped)."""
        if not self.profile.column_when:
            return list(self.column_oids.values())
        d = self.profile.definition
        objects: dict[str, Any] = {}
        for name, oid in self.scalar_oids.items():
            obj = d.objects[name]
            got = interpret(scalars.get(oid), obj.type, absent=obj.absent, value_range=obj.range,
                            max_length=obj.max_length)
            if got.problem is None:
                objects[name] = got.value
        scope = _Scope(objects, {}, self.params, {}, None, datetime.now(UTC), {}, {})
        out = []
        for name, oid in self.column_oids.items():
            when = self.profile.column_when.get(name)
            if when is None or when.truth(scope):
                out.append(oid)
        return out

    def evaluate(self, scalars: RawScalars, columns: RawColumns, *, device: Device, previous: Sample | None,
                 now: datetime) -> Evaluation:
        """Interpret one reply (``scalars``: OID -> value; ``columns``: column OID -> index -> value)."""
        d = self.profile.definition
        objects: dict[str, Any] = {}
        dropped: dict[str, Interpreted] = {}          # object (or object.row) -> why
        required = [n for n, o in d.objects.items() if o.required]
        absent_required: list[str] = []
        wrong_required: list[str] = []
        cells: dict[str, Column] = {}
        for name, obj in d.objects.items():
            if obj.column is None:
                got = interpret(scalars.get(self.scalar_oids[name]), obj.type, absent=obj.absent,
                                value_range=obj.range, max_length=obj.max_length)
                if got.problem is None:
                    objects[name] = got.value
                elif obj.required and got.problem == "missing":
                    absent_required.append(name)
                elif got.problem != "missing":
                    dropped[name] = got
                    if obj.required and got.problem == "wrong_type":
                        wrong_required.append(name)
            else:
                col = Column()
                raw_rows = columns.get(self.column_oids[name], {})
                for index, raw in raw_rows.items():
                    cell = interpret(raw, obj.type, absent=obj.absent, value_range=obj.range,
                                     max_length=obj.max_length)
                    if cell.problem is None:
                        col[index] = cell.value
                    elif cell.problem != "missing":
                        dropped[f"{name}.{index}"] = cell
                cells[name] = col
                objects[name] = col
                if obj.required and not raw_rows:
                    absent_required.append(name)
        if absent_required or (required and len(wrong_required) == len(required)):
            names = absent_required or wrong_required
            shown = ", ".join(d.objects[n].mib for n in names[:3]) + (" …" if len(names) > 3 else "")
            why = "no" if absent_required else "wrong type of"
            return Evaluation(Status.UNKNOWN, f"{MISMATCH} ({why} {shown})", ReasonCode.PROFILE_MISMATCH,
                              mismatch=True)

        pq = device.power_quality
        device_vals = {"input_voltage_min": pq.input_voltage_min, "input_voltage_max": pq.input_voltage_max,
                       "low_runtime": pq.low_runtime.total_seconds(), "kind": device.kind.value, "id": device.id,
                       "name": device.name}
        enums = {n: o.values for n, o in d.objects.items() if o.values}
        metrics: dict[str, MetricValue] = {}
        units: dict[str, str] = {}
        moduli = dict(self._moduli)
        scope = _Scope(objects, metrics, self.params, device_vals, previous, now, moduli, enums)
        ignored: dict[str, str] = {}
        adjusted: dict[str, str] = {}
        for key, bad in dropped.items():
            ignored[self.profile.object_metric.get(key, key)] = bad.detail or bad.problem or "unusable"
        for m in self.profile.metrics:
            self._compute_metric(m, m.name, scope, metrics, units, ignored, adjusted)

        verdicts: list[tuple[Status, str, ReasonCode]] = []
        observations: list[Observation] = []
        for table in self.profile.tables:
            mismatch = self._table(table, cells, scope, metrics, units, moduli, ignored, adjusted, verdicts,
                                   observations, now)
            if mismatch:
                return Evaluation(Status.UNKNOWN, f"{MISMATCH} ({mismatch})", ReasonCode.PROFILE_MISMATCH,
                                  mismatch=False)
        for cond in self.profile.conditions:
            self._condition(cond, scope, verdicts, observations, now, None)
        essential = self.profile.essential
        if ignored and essential and not any(name in metrics for name in essential):
            shown = "; ".join(f"{k}: {v}" for k, v in list(ignored.items())[:3])
            verdicts.append((Status.UNKNOWN, "device answered garbage: " + shown
                             + (f" (+{len(ignored) - 3} more)" if len(ignored) > 3 else ""), ReasonCode.GARBAGE))
        return _verdict(verdicts, metrics, units, observations, ignored, adjusted)

    # -- pieces
    def _compute_metric(self, m: _Metric, name: str, scope: _Scope, metrics: dict[str, MetricValue],
                        units: dict[str, str], ignored: dict[str, str], adjusted: dict[str, str]) -> None:
        d = m.definition
        value: Any
        if d.type == "flags":
            value = " ".join(flag for flag, cond in m.flags if cond.truth(scope)) or None
        else:
            assert m.expr is not None
            value = m.expr.value(scope)
        if value is None or isinstance(value, Column | tuple):
            return
        if d.type == "string":
            value = str(value)
        elif d.type == "bool":
            value = bool(value)
        elif d.type != "flags":
            if isinstance(value, str | bool):
                if isinstance(value, bool):
                    value = int(value)
                else:
                    ignored[name] = f"expected a number, got {value[:40]!r}"
                    return
            value = value * d.scale if d.scale != 1 else value
            if d.range is not None and not d.range[0] <= value <= d.range[1]:
                fixed = next((f for f in d.rescale if d.range[0] <= value * f <= d.range[1]), None)
                if fixed is None:
                    ignored[name] = (f"{tidy_number(value)} outside {tidy_number(d.range[0])}.."
                                     f"{tidy_number(d.range[1])}{' ' + d.unit if d.unit else ''}")
                    return
                adjusted[name] = (f"{tidy_number(value)} read as {tidy_number(value * fixed)}"
                                  f"{' ' + d.unit if d.unit else ''} (the device sends ×{tidy_number(1 / fixed)} "
                                  f"units; outside {tidy_number(d.range[0])}..{tidy_number(d.range[1])} otherwise)")
                value = value * fixed
            value = tidy_number(round(value, d.round) if d.round is not None else value)
        metrics[name] = value
        if d.unit:
            units[name] = d.unit

    def _table(self, table: _Table, cells: Mapping[str, Column], scope: _Scope, metrics: dict[str, MetricValue],
               units: dict[str, str], moduli: dict[str, float | None], ignored: dict[str, str],
               adjusted: dict[str, str], verdicts: list[tuple[Status, str, ReasonCode]],
               observations: list[Observation], now: datetime) -> str | None:
        t = table.definition
        indices: dict[str, None] = {}
        for col in t.columns:
            for index in cells.get(col, {}):
                indices.setdefault(index, None)
        ordered = sorted(indices, key=_index_key)[: t.max_rows]
        labels: list[str] = []
        all_labels: list[str] = []
        kept: list[tuple[dict[str, Any], dict[str, str]]] = []
        for index in ordered:
            row: dict[str, Any] = {col: cells.get(col, Column()).get(index) for col in t.columns}
            row["index"] = index
            row["label"] = index
            if table.label is not None:
                label = table.label.value(scope.with_row(row, {}))
                row["label"] = str(label) if label is not None else index
            row_scope = scope.with_row(row, {})
            all_labels.append(str(row["label"]))
            if table.where is not None and not table.where.truth(row_scope):
                continue
            labels.append(row["label"])
            safe = re.sub(r"\s+", "_", str(row["label"]))[:64]
            prefix = table.prefix.replace("{label}", safe).replace("{index}", index)
            row_metrics = {m.name: prefix + m.name for m in table.metrics}
            for m in table.metrics:
                moduli[prefix + m.name] = m.definition.modulus
            kept.append((row, row_metrics))
        if table.require is not None:
            wanted = table.require.value(scope) or ()
            wanted = [wanted] if isinstance(wanted, str) else list(wanted)
            missing = [w for w in wanted if str(w) not in labels]
            if missing:
                shown = list(dict.fromkeys(all_labels))
                found = ", ".join(shown[:12]) + (" …" if len(shown) > 12 else "") if shown else "none"
                return f"no {table.name} named {', '.join(map(repr, missing))}; found: {found}"
        for row, row_metrics in kept:
            row_scope = scope.with_row(row, row_metrics)
            for m in table.metrics:
                self._compute_metric(m, row_metrics[m.name], row_scope, metrics, units, ignored, adjusted)
            fields = {"label": row["label"], "index": row["index"]}
            for cond in table.conditions:
                self._condition(cond, row_scope, verdicts, observations, now, fields)
        return None

    def _condition(self, cond: _Condition, scope: _Scope, verdicts: list[tuple[Status, str, ReasonCode]],
                   observations: list[Observation], now: datetime, fields: Mapping[str, Any] | None) -> None:
        if not cond.when.truth(scope):
            return
        d = cond.definition
        reason = render_template(d.reason, scope, fields) if d.reason else None
        if d.status != "up" and reason:
            verdicts.append((Status(d.status), reason, ReasonCode.CONDITION))
        if d.observe is not None:
            values: dict[str, MetricValue] = {}
            for key, expr in cond.values:
                if fields is not None and expr.source in fields:
                    values[key] = fields[expr.source]
                    continue
                try:
                    v = expr.eval(scope)
                except (Missing, TypeError, ValueError, ArithmeticError):
                    continue
                if isinstance(v, bool | int | float | str):
                    values[key] = tidy_number(v) if isinstance(v, float) else v
            text = render_template(d.text, scope, fields) if d.text else (reason or d.observe.value.replace("_", " "))
            observations.append(Observation(time=now, kind=d.observe, text=text, source="poll", values=values))


def _index_key(index: str) -> tuple[int, ...]:
    try:
        return tuple(int(p) for p in index.split("."))
    except ValueError:
        return (2**63,)


def _verdict(verdicts: list[tuple[Status, str, ReasonCode]], metrics: dict[str, MetricValue],
             units: dict[str, str], observations: list[Observation], ignored: dict[str, str],
             adjusted: dict[str, str]) -> Evaluation:
    if not verdicts:
        return Evaluation(Status.UP, None, None, metrics, units, tuple(observations), ignored=ignored,
                          adjusted=adjusted)
    worst = max(verdicts, key=lambda v: v[0].severity)[0]
    reasons = list(dict.fromkeys(r for s, r, _ in verdicts if s is worst))
    code = next(c for s, _, c in verdicts if s is worst)
    return Evaluation(worst, "; ".join(reasons), code, metrics, units, tuple(observations), ignored=ignored,
                      adjusted=adjusted)


def merge_evaluations(parts: Iterable[Evaluation]) -> Evaluation:
    """One evaluation from a base profile's and its extensions' (in that order): a metric comes from the
    first part that has it; observations, ignored values and corrections of every part are kept; the worst
    status wins, its reasons joined with "; " (each once)."""
    parts = [p for p in parts if not p.mismatch]
    if not parts:
        raise ValueError("merge_evaluations needs at least one evaluation that is not a mismatch")
    if len(parts) == 1:
        return parts[0]
    metrics: dict[str, MetricValue] = {}
    units: dict[str, str] = {}
    ignored: dict[str, str] = {}
    adjusted: dict[str, str] = {}
    observations: list[Observation] = []
    for part in parts:
        for name, value in part.metrics.items():
            if name not in metrics:
                metrics[name] = value
                if name in part.units:
                    units[name] = part.units[name]
        for name, why in part.ignored.items():
            if name not in metrics:
                ignored.setdefault(name, why)
        for name, how in part.adjusted.items():
            adjusted.setdefault(name, how)
        seen = {(o.kind, o.text) for o in observations}
        observations += [o for o in part.observations if (o.kind, o.text) not in seen]
    ignored = {k: v for k, v in ignored.items() if k not in metrics}   # another profile had a good value
    worst = max(parts, key=lambda p: p.status.severity).status
    if worst is Status.UP:
        return Evaluation(Status.UP, None, None, metrics, units, tuple(observations), ignored=ignored,
                          adjusted=adjusted)
    reasons: list[str] = []
    for part in parts:
        if part.status is worst and part.reason:
            reasons += [r for r in part.reason.split("; ") if r not in reasons]
    code = next(p.code for p in parts if p.status is worst)
    return Evaluation(worst, "; ".join(reasons), code, metrics, units, tuple(observations), ignored=ignored,
                      adjusted=adjusted)
