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
* **per-value trust**: a "not available" sentinel, a wrong type, a value outside its sane range (raw, or
  after scaling), a negative counter, a huge or unreadable string drops *that* value and the metrics made
  from it, with the reason in ``ignored`` (metric -> reason). A value outside its physical range that a
  ``rescale`` factor brings inside (a card that sends 0.1 V units as volts: 2313) is corrected, and the
  correction is recorded in ``adjusted``. The device is ``unknown`` with :attr:`ReasonCode.GARBAGE` only when
  every ``essential`` metric is unusable because of such values;
* conditions decide the rest; the worst status wins and its reasons are joined with "; ".

Composition: a check may read several profiles at once (``ups-rfc1628+env-apc-uio``, or what ``profile:
auto`` chose): a base and extensions. They are evaluated on the same reply and merged by metric name —
**the first profile that has a value for a metric wins** (the base before its extensions), every
condition of every profile counts, and the worst status wins (:func:`merge_evaluations`).

Selection (``match:``, ``role:``) is described in :mod:`checks.profile_select`.
"""

from __future__ import annotations

import difflib
import keyword
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from checks.expr import Expr, ExprError, compile_expr, template_names
from checks.profile_eval import BoundProfile, Evaluation, Sample, merge_evaluations
from checks.profile_schema import (
    _METRIC_NAME,
    _OID,
    _PLACEHOLDER,
    _SHORT_NAME,
    DEVICE_FIELDS,
    MISMATCH,
    ROW_FIELDS,
    ConditionDef,
    MetricDef,
    ParamDef,
    ProfileDef,
    ProfileError,
    _Condition,
    _Metric,
    _Table,
)
from monitor.domain import ObservationKind
from monitor.safefile import FileRefused, read_text_limited

__all__ = ["MISMATCH", "BoundProfile", "Evaluation", "Profile", "ProfileError", "Sample", "load_profile",
           "merge_evaluations"]

@dataclass(frozen=True)
class Profile:
    """A validated, compiled profile file. Bind it to a check's params with :meth:`bind`."""

    definition: ProfileDef
    path: Path
    metrics: tuple[_Metric, ...]
    tables: tuple[_Table, ...]
    conditions: tuple[_Condition, ...]
    column_when: Mapping[str, Expr] = field(default_factory=dict)   # column object -> walk condition
    object_metric: Mapping[str, str] = field(default_factory=dict)  # object -> the metric read straight from it
    essential: tuple[str, ...] = ()                                 # see ProfileDef.essential

    @property
    def role(self) -> str:
        return self.definition.role

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
    symlink to ``/etc/shadow`` must not print the shadow file as "unknown keys" (issue 13)."""
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
    if definition.conditions_from:
        definition = _inherit(definition, path)
    try:
        return _compile(definition, path)
    except ExprError as exc:
        raise ProfileError(f"{path}: {exc}") from None


def _short(part: object, limit: int = 40) -> str:
    """A key path part as shown in an error: long keys (a line of some other file) are cut."""
    text = str(part)
    return text if len(text) <= limit else text[:limit] + "…"


def _inherit(d: ProfileDef, path: Path) -> ProfileDef:
    """Add the conditions and params of ``d.conditions_from`` (its own come first and win)."""
    from checks.profiles import BUILTIN_DIR

    name = d.conditions_from or ""
    source = next((p for p in (path.parent / f"{name}.yaml", BUILTIN_DIR / f"{name}.yaml") if p.is_file()), None)
    if source is None or name == d.name:
        raise ProfileError(f"{path}: conditions_from: no profile {name!r} next to it or built in")
    base = load_profile(source)
    params = {**base.definition.params, **d.params}
    return d.model_copy(update={"conditions": (*d.conditions, *base.definition.conditions), "params": params,
                                "inherited": base.definition})


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
    own = len(d.conditions) - (len(d.inherited.conditions) if d.inherited else 0)
    conditions = compile_conditions(d.conditions[:own], "conditions", known | set(d.provided))
    if d.inherited is not None:
        lenient = known | set(d.inherited.objects) | set(d.inherited.metrics) | set(d.inherited.provided)
        conditions += compile_conditions(d.conditions[own:], f"conditions (from {d.inherited.name})", lenient)
    scalars = {n for n, o in d.objects.items() if o.column is None}
    column_when = {}
    for name, obj in d.objects.items():
        if obj.when is not None:
            if obj.column is None:
                raise ExprError(f"objects.{name}.when: only a column can be conditional")
            column_when[name] = check_names(compile_expr(obj.when), f"objects.{name}.when", scalars | params)
    object_metric = {m.from_: name for name, m in d.metrics.items() if m.from_ and m.from_ in d.objects}
    for t in d.tables.values():
        for name, m in t.metrics.items():
            if m.from_ and m.from_ in d.objects:
                object_metric.setdefault(m.from_, f"{name} ({m.from_})")
    for name in d.essential:
        if name not in d.metrics:
            raise ExprError(f"essential: {name!r} is not a metric of this profile")
    # an extension never makes the device garbage: its odd values are only ignored
    essential = d.essential or (() if d.role == "extension" else ("ups.status",) if "ups.status" in d.metrics
                                else tuple(d.metrics))
    return Profile(d, path, metrics, tuple(tables), conditions, column_when, object_metric, essential)

