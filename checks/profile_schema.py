"""The schema of a profile file (pydantic models) and its compiled parts; see :mod:`checks.profile`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from checks.expr import Expr
from checks.values import COUNTER32_MOD, COUNTER64_MOD, TIMETICKS_MOD, ValueType
from monitor.domain import DeviceKind, ObservationKind, ParamValue

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
    range: tuple[float, float] | None = Field(None, description="sane range after scaling; outside, the value is "
                                                                  "dropped (ignored) unless a rescale factor fits")
    rescale: tuple[float, ...] = Field(default=(), description="factors tried, in order, when the value is outside "
                                                               "range (0.1: a card that sends 0.1 V as volts)")
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


class MatchDef(_Model):
    """When ``profile: auto`` picks this profile (see :mod:`checks.profile_select`)."""

    sysobjectid: tuple[str, ...] = Field(default=(), description="sysObjectID prefixes of devices this is made for")
    sysdescr: tuple[str, ...] = Field(default=(), description="regular expressions on sysDescr (case-insensitive)")
    probe: tuple[str, ...] = Field(default=(), description="objects that must answer (default: the required ones)")
    priority: int = Field(0, ge=-200, le=200, description="among profiles that fit, the highest wins")

    @model_validator(mode="after")
    def _shape(self) -> MatchDef:
        for prefix in self.sysobjectid:
            if not _OID.match(prefix.rstrip(".")):
                raise ValueError(f"sysobjectid {prefix!r} is not a numeric OID prefix")
        for pattern in self.sysdescr:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"sysdescr {pattern!r}: {exc}") from None
        return self


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
    conditions_from: str | None = Field(None, description="also apply this profile's conditions and params (a "
                                                         "file in the same folder or built in): the shared UPS "
                                                         "rules of ups-rfc1628 over NUT metric names")
    role: Literal["primary", "extension"] = Field(
        "primary", description="primary: reads a device on its own; extension: adds what a base lacks (probes, "
                               "contacts) and is only ever read together with a primary profile")
    match: MatchDef | None = Field(None, description="when profile: auto chooses this profile")
    essential: tuple[str, ...] = Field(default=(), description="metrics without which the reading is useless "
                                                               "(default: ups.status if defined, else every metric)")
    provided: tuple[str, ...] = Field(default=(), description="metric names a profile that takes these conditions "
                                                              "(conditions_from) defines; absent here")
    inherited: ProfileDef | None = Field(None, exclude=True, description="set by the loader (conditions_from)")


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

