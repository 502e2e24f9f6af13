"""The profile engine: device profiles are data (``checks/profiles/<name>.yaml``), this reads them.

A profile says, without code:

* ``objects`` — what to read: a scalar ``oid`` (one GET) or a table ``column`` (walked), each with the
  MIB object it is (``mib: UPS-MIB::upsOutputSource``), its type, enum labels, "not available"
  sentinels, a sane range and whether the profile needs it (``required``);
* ``metrics`` — named values (NUT names for UPS: ``battery.charge``…) computed ``from`` an object with
  a ``scale``, or by an ``expr``; ``flags`` metrics build strings like ``ups.status = "OB LB"``;
* ``tables`` — per-row metrics and conditions over walked columns (storage, interfaces);
* ``conditions`` — ``when`` an expression holds: a status (``degraded``/``down``/``unknown``, or ``up``
  to only record a fact), a human ``reason`` and an :class:`~monitor.domain.Observation` kind with values;
* ``params`` — what a config may pass (``params: {interfaces: [WAN]}``), typed, with defaults;
* ``fallback`` — profiles tried, in order, when this one's required objects are absent.

Evaluation (:meth:`BoundProfile.evaluate`) is pure: the values an agent returned, the previous sample
(for counters, deltas and restarts) and ``now`` in; status, reason, metrics, units and observations out.
Expressions are described in :mod:`checks.expr`.

Outcome rules (the contract with the rest of the monitor):

* a required object absent — or every required object of the wrong type — means the profile does not
  fit this device: ``unknown``, :attr:`ReasonCode.PROFILE_MISMATCH`, "profile does not match device";
* wrong types, values outside their sane range, negative counters, huge or unreadable strings are
  ``unknown`` with :attr:`ReasonCode.GARBAGE` (the metric is dropped) unless a real condition is worse;
* conditions decide the rest; the worst status wins and its reasons are joined with "; ".
"""

from __future__ import annotations

import difflib
import keyword
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from checks.expr import Column, Expr, ExprError, Missing, compile_expr, render_template, template_names
from checks.values import (
    COUNTER32_MOD,
    COUNTER64_MOD,
    TIMETICKS_MOD,
    Interpreted,
    SnmpValue,
    ValueType,
    counter_delta,
    interpret,
    tidy_number,
    uptime_restarted,
)
from monitor.domain import (
    Device,
    DeviceKind,
    MetricValue,
    Observation,
    ObservationKind,
    ParamValue,
    ReasonCode,
    Status,
)
from monitor.safefile import FileRefused, read_text_limited

__all__ = ["BoundProfile", "Evaluation", "Profile", "ProfileError", "Sample", "load_profile"]

_OID = re.compile(r"^\.?\d+(\.\d+)+$")
_OID_TEMPLATE = re.compile(r"^\.?(\d+|\{params\.[a-z_][a-z0-9_]*\})(\.(\d+|\{params\.[a-z_][a-z0-9_]*\}))*$")
_PLACEHOLDER = re.compile(r"\{params\.([a-z_][a-z0-9_]*)\}")
_METRIC_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_SHORT_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
DEVICE_FIELDS = ("input_voltage_min", "input_voltage_max", "low_runtime", "kind", "id", "name")
ROW_FIELDS = ("label", "index")

MISMATCH = "profile does not match device"


class ProfileError(ValueError):
    """A profile file is invalid, or a check's params do not fit its profile."""


# ------------------------------------------------------------------------------------------- schema


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class ObjectDef(_Model):
    """One MIB object read by the profile: a scalar instance (``oid``) or a table column (``column``)."""

    oid: str | None = Field(None, description="instance OID for a GET (may use {params.NAME})")
    column: str | None = Field(None, description="column OID to walk (rows keyed by index)")
    mib: str = Field(min_length=3, description="MIB and object name, e.g. UPS-MIB::upsOutputSource")
    type: ValueType = "integer"
    values: dict[int, str] = Field(default_factory=dict, description="enum labels")
    absent: tuple[int | str, ...] = Field(default=(), description="values that mean 'not available'")
    range: tuple[float, float] | None = Field(None, description="sane raw range; outside is garbage")
    max_length: int = Field(255, ge=1, le=65535)
    required: bool = False
    when: str | None = Field(None, description="walk this column only when this holds (an expression over "
                                               "scalar objects, e.g. upsAlarmsPresent > 0): saves a request")
    description: str = ""

    @model_validator(mode="after")
    def _shape(self) -> ObjectDef:
        if (self.oid is None) == (self.column is None):
            raise ValueError("give exactly one of oid (a scalar instance) or column (a table column)")
        text = self.oid or self.column or ""
        if not _OID_TEMPLATE.match(text):
            raise ValueError(f"{text!r} is not a numeric OID (placeholders: {{params.NAME}})")
        if self.column is not None and _PLACEHOLDER.search(self.column):
            raise ValueError("a column OID cannot use params")
        return self


MetricType = Literal["gauge", "counter32", "counter64", "timeticks", "string", "flags", "bool"]


class MetricDef(_Model):
    """A named value: ``from`` an object (times ``scale``), an ``expr``, or ``flags`` (``ups.status``)."""

    from_: str | None = Field(None, alias="from")
    expr: str | None = None
    flags: dict[str, str] = Field(default_factory=dict, description="flag -> condition, joined with spaces")
    scale: float = 1.0
    unit: str = ""
    type: MetricType = "gauge"
    range: tuple[float, float] | None = Field(None, description="sane range after scaling; outside is garbage")
    round: int | None = Field(None, ge=0, le=9)
    description: str = ""

    @model_validator(mode="after")
    def _shape(self) -> MetricDef:
        given = [k for k, v in (("from", self.from_), ("expr", self.expr), ("flags", self.flags or None)) if v]
        if len(given) != 1:
            raise ValueError("give exactly one of from, expr or flags")
        if (self.type == "flags") != bool(self.flags):
            raise ValueError("flags go with type: flags")
        return self

    @property
    def modulus(self) -> float | None:
        """Where the metric wraps, in its own (scaled) unit."""
        base = {"counter32": COUNTER32_MOD, "counter64": COUNTER64_MOD, "timeticks": TIMETICKS_MOD}.get(self.type)
        return base * abs(self.scale) if base else None


class ConditionDef(_Model):
    """``when`` holds: set ``status`` with ``reason``; record an ``observe`` fact with ``values``."""

    when: str
    status: Literal["up", "degraded", "down", "unknown"] = "degraded"
    reason: str | None = None
    observe: ObservationKind | None = None
    text: str | None = Field(None, description="English sentence for the observation (default: the reason)")
    values: dict[str, str] = Field(default_factory=dict, description="observation values: name -> expression")

    @model_validator(mode="after")
    def _shape(self) -> ConditionDef:
        if self.status != "up" and not self.reason:
            raise ValueError("a condition that changes the status needs a reason")
        if self.status == "up" and self.observe is None:
            raise ValueError("a condition with status up must observe something")
        return self


class TableDef(_Model):
    """Rows of walked columns, each with its own metrics and conditions."""

    label: str | None = Field(None, description="expression naming a row (default: its index)")
    columns: tuple[str, ...] = Field(min_length=1, description="column objects that make a row")
    where: str | None = Field(None, description="keep only rows where this holds")
    require: str | None = Field(None, description="expression giving labels that must be present")
    prefix: str | None = Field(None, description="metric name prefix; default '<table>.{label}.'")
    metrics: dict[str, MetricDef] = Field(default_factory=dict)
    conditions: tuple[ConditionDef, ...] = ()
    max_rows: int = Field(256, ge=1, le=10000)


ParamType = Literal["int", "number", "str", "bool", "list[str]", "list[int]", "oid"]


class TrapRuleDef(_Model):
    """A trap this kind of device sends, mapped to an observation (``oid`` may use {params.NAME})."""

    oid: str
    observe: ObservationKind
    text: str = ""

    @model_validator(mode="after")
    def _shape(self) -> TrapRuleDef:
        if not _OID_TEMPLATE.match(self.oid):
            raise ValueError(f"{self.oid!r} is not a numeric OID (placeholders: {{params.NAME}})")
        return self


class ParamDef(_Model):
    type: ParamType
    default: ParamValue | None = None
    required: bool = False
    description: str = ""


class ProfileDef(_Model):
    """A whole profile file."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")
    title: str = Field(min_length=1)
    description: str = ""
    mibs: tuple[str, ...] = Field(min_length=1, description="MIB modules (with RFC / vendor) this reads")
    kinds: tuple[DeviceKind, ...] = ()
    params: dict[str, ParamDef] = Field(default_factory=dict)
    fallback: tuple[str, ...] = ()
    objects: dict[str, ObjectDef] = Field(min_length=1)
    metrics: dict[str, MetricDef] = Field(default_factory=dict)
    tables: dict[str, TableDef] = Field(default_factory=dict)
    conditions: tuple[ConditionDef, ...] = ()
    traps: tuple[TrapRuleDef, ...] = Field(default=(), description="traps this device sends, as observations")


# ------------------------------------------------------------------------------------------ compiled


@dataclass(frozen=True)
class _Metric:
    name: str
    definition: MetricDef
    expr: Expr | None
    flags: tuple[tuple[str, Expr], ...]


@dataclass(frozen=True)
class _Condition:
    definition: ConditionDef
    when: Expr
    values: tuple[tuple[str, Expr], ...]


@dataclass(frozen=True)
class _Table:
    name: str
    definition: TableDef
    label: Expr | None
    where: Expr | None
    require: Expr | None
    prefix: str
    metrics: tuple[_Metric, ...]
    conditions: tuple[_Condition, ...]


@dataclass(frozen=True)
class Profile:
    """A validated, compiled profile file. Bind it to a check's params with :meth:`bind`."""

    definition: ProfileDef
    path: Path
    metrics: tuple[_Metric, ...]
    tables: tuple[_Table, ...]
    conditions: tuple[_Condition, ...]
    column_when: Mapping[str, Expr] = field(default_factory=dict)   # column object -> walk condition

    @property
    def name(self) -> str:
        return self.definition.name

    def check_params(self, params: Mapping[str, Any], *, known: Iterable[str] = ()) -> list[tuple[str, str]]:
        """Problems with ``params`` as ``(param, message)``; ``known`` are params other profiles of a
        fallback chain accept."""
        problems: list[tuple[str, str]] = []
        declared = self.definition.params
        for key, value in params.items():
            if key not in declared:
                if key not in known:
                    names = sorted({*declared, *known})
                    close = difflib.get_close_matches(key, names, n=1)
                    hint = f"did you mean {close[0]!r}? " if close else ""
                    problems.append((key, f"profile {self.name!r} has no parameter {key!r} "
                                          f"({hint}accepted: {', '.join(names) or 'none'})"))
                continue
            message = _param_problem(declared[key], value)
            if message:
                problems.append((key, message))
        for key, pdef in declared.items():
            if pdef.required and key not in params and pdef.default is None:
                problems.append((key, f"profile {self.name!r} needs the parameter {key!r}: {pdef.description}"))
        return problems

    def bind(self, params: Mapping[str, Any]) -> BoundProfile:
        """Resolve params (defaults, OID placeholders). Raises :class:`ProfileError`."""
        own = {k: v for k, v in params.items() if k in self.definition.params}
        problems = self.check_params(own)
        if problems:
            raise ProfileError("; ".join(m for _, m in problems))
        resolved: dict[str, Any] = {k: p.default for k, p in self.definition.params.items() if p.default is not None}
        resolved.update(own)
        scalars: dict[str, str] = {}
        columns: dict[str, str] = {}
        for name, obj in self.definition.objects.items():
            if obj.column is not None:
                columns[name] = obj.column.strip(".")
                continue
            text = _PLACEHOLDER.sub(lambda m: str(resolved.get(m.group(1), "")), obj.oid or "")
            if not _OID.match(text):
                raise ProfileError(f"profile {self.name!r}: object {name} has OID {text!r} after params; "
                                   "set the parameter it uses")
            scalars[name] = text.strip(".")
        traps: list[tuple[str, ObservationKind, str]] = []
        for rule in self.definition.traps:
            if any(m.group(1) not in resolved for m in _PLACEHOLDER.finditer(rule.oid)):
                continue  # the param that names the trap is not set for this check
            oid = _PLACEHOLDER.sub(lambda m: str(resolved[m.group(1)]), rule.oid).strip(".")
            if _OID.match(oid):
                traps.append((oid, rule.observe, rule.text))
        return BoundProfile(self, resolved, scalars, columns, traps)


def _param_problem(pdef: ParamDef, value: Any) -> str | None:
    ok = {
        "int": isinstance(value, int) and not isinstance(value, bool),
        "number": isinstance(value, int | float) and not isinstance(value, bool),
        "str": isinstance(value, str),
        "bool": isinstance(value, bool),
        "list[str]": isinstance(value, list | tuple) and all(isinstance(v, str) for v in value),
        "list[int]": isinstance(value, list | tuple) and all(isinstance(v, int) and not isinstance(v, bool)
                                                           for v in value),
        "oid": isinstance(value, str) and bool(_OID.match(value)),
    }[pdef.type]
    if not ok:
        want = {"oid": "a numeric OID like 1.3.6.1.4.1.99999.1.0", "list[str]": "a list of names",
                "list[int]": "a list of numbers", "int": "a whole number", "number": "a number",
                "str": "text", "bool": "true or false"}[pdef.type]
        return f"expected {want}, got {value!r}"
    return None


# ------------------------------------------------------------------------------------------ loading


MAX_PROFILE_BYTES = 1 << 20
"""A profile file larger than this is refused unread (the largest built-in one is 12 KB)."""


def load_profile(path: Path) -> Profile:
    """Read, validate and compile one profile file. Raises :class:`ProfileError` naming the file and key.

    The file is read through :func:`monitor.safefile.read_text_limited`: a regular file of at most
    :data:`MAX_PROFILE_BYTES`, a symlink only to a file in the same folder. Errors quote at most one key
    of the file (the first problem; the others are counted), never its lines: a profile folder holding a
    symlink to ``/etc/shadow`` must not print the shadow file as "unknown keys"."""
    try:
        text = read_text_limited(path, limit=MAX_PROFILE_BYTES, what="profile", within=path.parent)
        data = yaml.safe_load(text)
    except FileRefused as exc:
        raise ProfileError(str(exc)) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or type(exc).__name__
        raise ProfileError(f"{path}{where}: YAML syntax error: {problem}") from None
    except RecursionError:
        raise ProfileError(f"{path}: YAML nested too deeply") from None
    if not isinstance(data, dict):
        raise ProfileError(f"{path}: a profile is a mapping (name, title, mibs, objects, ...)")
    try:
        definition = ProfileDef.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        first = errors[0]
        where = ".".join(_short(p) for p in first["loc"])
        more = f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})" if len(errors) > 1 else ""
        raise ProfileError(f"{path}: {where}: {first['msg']}{more}") from None
    if definition.name != path.stem:
        raise ProfileError(f"{path}: name {definition.name!r} must equal the file name {path.stem!r}")
    try:
        return _compile(definition, path)
    except ExprError as exc:
        raise ProfileError(f"{path}: {exc}") from None


def _short(part: object, limit: int = 40) -> str:
    """A key path part as shown in an error: long keys (a line of some other file) are cut."""
    text = str(part)
    return text if len(text) <= limit else text[:limit] + "…"


def _compile(d: ProfileDef, path: Path) -> Profile:
    objects = set(d.objects)
    params = {f"params.{p}" for p in d.params}
    device = {f"device.{f}" for f in DEVICE_FIELDS}
    clash = objects & set(d.metrics)
    if clash:
        raise ExprError(f"names used both as object and metric: {', '.join(sorted(clash))}")
    for name in d.metrics:
        if not _METRIC_NAME.match(name) or any(keyword.iskeyword(p) for p in name.split(".")):
            raise ExprError(f"metric name {name!r}: use dotted words (not Python keywords), e.g. battery.charge")

    def check_names(expr: Expr, where: str, allowed: set[str]) -> Expr:
        unknown = sorted(n for n in expr.names if n not in allowed)
        if unknown:
            raise ExprError(f"{where}: unknown name(s) {', '.join(unknown)} in {expr.source!r}")
        return expr

    def compile_metrics(defs: Mapping[str, MetricDef], where: str, base: set[str]) -> tuple[tuple[_Metric, ...],
                                                                                                set[str]]:
        known = set(base)
        out: list[_Metric] = []
        for name, m in defs.items():
            loc = f"{where}.{name}"
            expr = None
            if m.from_ is not None:
                expr = check_names(compile_expr(m.from_), loc, known)
            elif m.expr is not None:
                expr = check_names(compile_expr(m.expr), loc, known)
            flags = tuple((flag, check_names(compile_expr(cond), f"{loc}.flags.{flag}", known))
                          for flag, cond in m.flags.items())
            out.append(_Metric(name, m, expr, flags))
            known.add(name)
        return tuple(out), known

    def compile_conditions(defs: Iterable[ConditionDef], where: str, allowed: set[str],
                           fields: tuple[str, ...] = ()) -> tuple[_Condition, ...]:
        out = []
        for i, c in enumerate(defs):
            loc = f"{where}[{i}]"
            when = check_names(compile_expr(c.when), f"{loc}.when", allowed)
            values = tuple((k, check_names(compile_expr(v), f"{loc}.values.{k}", allowed | set(fields)))
                           for k, v in c.values.items())
            for text in (c.reason, c.text):
                for part in template_names(text or ""):
                    if part not in fields:
                        check_names(compile_expr(part), f"{loc}.reason", allowed)
            out.append(_Condition(c, when, values))
        return tuple(out)

    base = objects | params | device
    metrics, known = compile_metrics(d.metrics, "metrics", base)
    tables = []
    for tname, t in d.tables.items():
        for col in (*t.columns,):
            if col not in d.objects or d.objects[col].column is None:
                raise ExprError(f"tables.{tname}.columns: {col!r} is not a column object")
        row_base = known | set(t.columns) | set(ROW_FIELDS)
        label = check_names(compile_expr(t.label), f"tables.{tname}.label", row_base - {"label"}) if t.label else None
        where = check_names(compile_expr(t.where), f"tables.{tname}.where", row_base) if t.where else None
        require = check_names(compile_expr(t.require), f"tables.{tname}.require", known) if t.require else None
        for name in t.metrics:
            if not _SHORT_NAME.match(name) or keyword.iskeyword(name):
                raise ExprError(f"tables.{tname}.metrics: {name!r} must be a single word")
        tmetrics, row_known = compile_metrics(t.metrics, f"tables.{tname}.metrics", row_base)
        tconds = compile_conditions(t.conditions, f"tables.{tname}.conditions", row_known, ROW_FIELDS)
        tables.append(_Table(tname, t, label, where, require, t.prefix or f"{tname}.{{label}}.", tmetrics, tconds))
    conditions = compile_conditions(d.conditions, "conditions", known)
    scalars = {n for n, o in d.objects.items() if o.column is None}
    column_when = {}
    for name, obj in d.objects.items():
        if obj.when is not None:
            if obj.column is None:
                raise ExprError(f"objects.{name}.when: only a column can be conditional")
            column_when[name] = check_names(compile_expr(obj.when), f"objects.{name}.when", scalars | params)
    return Profile(d, path, metrics, tuple(tables), conditions, column_when)


# ---------------------------------------------------------------------------------------- evaluation


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
        problems: list[tuple[str, Interpreted]] = []
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
                    problems.append((name, got))
                    if obj.required:
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
                        problems.append((f"{name}.{index}", cell))
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
        garbage: list[str] = [f"{n}: {p.detail}" for n, p in problems]
        for m in self.profile.metrics:
            self._compute_metric(m, m.name, scope, metrics, units, garbage)

        verdicts: list[tuple[Status, str, ReasonCode]] = []
        observations: list[Observation] = []
        for table in self.profile.tables:
            mismatch = self._table(table, cells, scope, metrics, units, moduli, garbage, verdicts, observations, now)
            if mismatch:
                return Evaluation(Status.UNKNOWN, f"{MISMATCH} ({mismatch})", ReasonCode.PROFILE_MISMATCH,
                                  mismatch=False)
        for cond in self.profile.conditions:
            self._condition(cond, scope, verdicts, observations, now, None)
        if garbage:
            verdicts.append((Status.UNKNOWN, "device answered garbage: " + "; ".join(garbage[:3])
                             + (f" (+{len(garbage) - 3} more)" if len(garbage) > 3 else ""), ReasonCode.GARBAGE))
        return _verdict(verdicts, metrics, units, observations)

    # -- pieces
    def _compute_metric(self, m: _Metric, name: str, scope: _Scope, metrics: dict[str, MetricValue],
                        units: dict[str, str], garbage: list[str]) -> None:
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
                    garbage.append(f"{name}: expected a number, got {value[:40]!r}")
                    return
            value = value * d.scale if d.scale != 1 else value
            if d.range is not None and not d.range[0] <= value <= d.range[1]:
                garbage.append(f"{name} = {tidy_number(value)} outside {tidy_number(d.range[0])}.."
                               f"{tidy_number(d.range[1])}")
                return
            value = tidy_number(round(value, d.round) if d.round is not None else value)
        metrics[name] = value
        if d.unit:
            units[name] = d.unit

    def _table(self, table: _Table, cells: Mapping[str, Column], scope: _Scope, metrics: dict[str, MetricValue],
               units: dict[str, str], moduli: dict[str, float | None], garbage: list[str],
               verdicts: list[tuple[Status, str, ReasonCode]], observations: list[Observation],
               now: datetime) -> str | None:
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
                self._compute_metric(m, row_metrics[m.name], row_scope, metrics, units, garbage)
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
             units: dict[str, str], observations: list[Observation]) -> Evaluation:
    if not verdicts:
        return Evaluation(Status.UP, None, None, metrics, units, tuple(observations))
    worst = max(verdicts, key=lambda v: v[0].severity)[0]
    reasons = list(dict.fromkeys(r for s, r, _ in verdicts if s is worst))
    code = next(c for s, _, c in verdicts if s is worst)
    return Evaluation(worst, "; ".join(reasons), code, metrics, units, tuple(observations))
