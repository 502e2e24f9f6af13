"""Domain types shared by every part of ektp-monitor.

This module is the vocabulary of DESIGN.md ("Words") turned into types, and the contracts between
the parts:

* what a check is asked to do (:class:`PingSpec`, :class:`SnmpSpec`, :class:`TcpSpec`, :class:`HostSpec`)
  and on which :class:`Device` — these are the validated config values, so ``checks/`` never imports
  ``monitor.settings``;
* what a check returns (:class:`CheckResult`, with :class:`Observation` facts as evidence);
* what a trap becomes (:class:`TrapEvent`);
* the :class:`Check` and :class:`Notifier` protocols.

Values are immutable. Times are aware UTC datetimes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal, Protocol, runtime_checkable

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    SecretStr,
    WithJsonSchema,
    model_validator,
)

# --------------------------------------------------------------------------------------------- words


class Status(StrEnum):
    """What we know about a device (or a check) right now.

    ``degraded`` still works but is at risk (packet loss, UPS on battery, SPD worn, disk nearly full).
    ``unreachable`` means a parent is down so we cannot know. ``unknown`` means our side could not
    decide (misconfiguration, monitor not running).
    """

    UP = "up"
    DEGRADED = "degraded"
    DOWN = "down"
    UNREACHABLE = "unreachable"
    UNKNOWN = "unknown"

    @property
    def severity(self) -> int:
        """Order for "worst status" (higher is worse). unknown ranks below down: it is not an outage."""
        return _SEVERITY[self]

    @property
    def is_failure(self) -> bool:
        """True for statuses that make a device unavailable (down, unreachable)."""
        return self in (Status.DOWN, Status.UNREACHABLE)


_SEVERITY = {Status.UP: 0, Status.UNKNOWN: 1, Status.DEGRADED: 2, Status.UNREACHABLE: 3, Status.DOWN: 4}


def worst(*statuses: Status) -> Status:
    """The most severe of ``statuses`` (``up`` when empty)."""
    return max(statuses, key=lambda s: s.severity, default=Status.UP)


class Cause(StrEnum):
    """Why an outage happened. Always stored with the evidence that led to it."""

    POWER = "power"
    LIGHTNING = "lightning"
    NETWORK = "network"
    UPSTREAM = "upstream"
    HARDWARE = "hardware"
    SERVICE = "service"
    MAINTENANCE = "maintenance"
    MONITOR_OFFLINE = "monitor_offline"
    ENVIRONMENT = "environment"          # the room: overheating, water, smoke (a second server dies of heat)
    UNKNOWN = "unknown"


class Audience(StrEnum):
    """Who is told."""

    IT_STAFF = "it_staff"
    HEAD_OF_OFFICE = "head_of_office"
    MINISTRY_LIAISON = "ministry_liaison"


class DeviceKind(StrEnum):
    """What a device is; drives cause inference and report wording."""

    RECORDING_SERVER = "recording_server"
    WORKSTATION = "workstation"
    UPS = "ups"
    SPD = "spd"
    ROUTER = "router"
    SWITCH = "switch"
    UPSTREAM = "upstream"
    MONITOR_HOST = "monitor_host"
    PDU = "pdu"                          # power distribution unit: outlets, phase load
    ROOM_SENSOR = "room_sensor"          # room environment: temperature, humidity, water, door, smoke


AUTO_PROFILE = "auto"
AUTO_PROFILE_KINDS = frozenset({DeviceKind.UPS, DeviceKind.SPD, DeviceKind.RECORDING_SERVER, DeviceKind.WORKSTATION,
                                DeviceKind.ROUTER, DeviceKind.SWITCH, DeviceKind.PDU, DeviceKind.ROOM_SENSOR})
"""Kinds whose SNMP check chooses its profiles itself when the config names none (``profile: auto``)."""


# ------------------------------------------------------------------------------------- config values

_DURATION_RE = re.compile(r"^\s*(?:(\d+(?:\.\d+)?)\s*([smhdw]|ms))+\s*$")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|[smhdw])")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(value: object) -> timedelta:
    """Parse ``30s``, ``5m``, ``2h``, ``3d``, ``1h30m``, ``250ms`` or a number of seconds.

    Raises ValueError with a message meant for the person who wrote the config.
    """
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool):
        raise ValueError("expected a duration like 30s, 5m, 2h or 3d")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return _seconds(float(value), value)
    if isinstance(value, str) and _DURATION_RE.match(value):
        seconds = sum(float(n) * _UNIT_SECONDS[u] for n, u in _DURATION_PART.findall(value))
        return _seconds(seconds, value)
    raise ValueError(f"invalid duration {value!r}: use a number with a unit, like 30s, 5m, 2h or 3d")


def _seconds(seconds: float, written: object) -> timedelta:
    # timedelta raises OverflowError (not ValueError) for .inf or 99999999999d: a traceback, not a config error
    try:
        return timedelta(seconds=seconds)
    except (OverflowError, ValueError):
        raise ValueError(f"invalid duration {written!r}: too long (or not a number)") from None


def format_duration(td: timedelta) -> str:
    """The inverse of :func:`parse_duration`, compact (``1h30m``, ``45s``)."""
    total = td.total_seconds()
    if total and total < 1:
        return f"{round(total * 1000)}ms"
    secs = round(total)
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if secs >= size:
            parts.append(f"{secs // size}{unit}")
            secs %= size
    return "".join(parts) or "0s"


Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str),
    WithJsonSchema({"type": ["string", "number"], "pattern": r"^(\d+(\.\d+)?(ms|[smhdw]))+$",
                    "description": "duration: 30s, 5m, 2h, 3d (or seconds as a number)"}),
]

_SLUG = r"^[a-z0-9][a-z0-9_.-]{0,63}$"
Slug = Annotated[str, Field(pattern=_SLUG, description="lower-case id: letters, digits, _ . -")]


def _parse_installed(value: object) -> str:
    """Accept ``2011``, ``2011-05`` or a full date; keep ``YYYY-MM`` (or ``YYYY``) as text."""
    if isinstance(value, datetime):
        value = value.date()
    if isinstance(value, date):
        return f"{value.year:04d}-{value.month:02d}"
    if isinstance(value, int) and 1970 <= value <= 2100:
        return f"{value:04d}"
    if isinstance(value, str) and re.fullmatch(r"(19[7-9]\d|20\d\d)(-(0[1-9]|1[0-2]))?(-\d\d)?", value):
        return value[:7]
    raise ValueError(f"invalid installation date {value!r}: use YYYY-MM, e.g. 2011-05")


YearMonth = Annotated[str, BeforeValidator(_parse_installed),
                      WithJsonSchema({"type": "string", "pattern": r"^\d{4}(-\d{2})?$"})]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


SnmpVersion = Literal["1", "2c", "3"]
AuthProtocol = Literal["md5", "sha", "sha224", "sha256", "sha384", "sha512"]
PrivProtocol = Literal["des", "aes128", "aes192", "aes256"]


def normalize_snmp_version(value: object) -> object:
    # YAML reads `version: 3` as an int and `version: 2c` as a string; accept both spellings.
    return str(value).lower().lstrip("v") if isinstance(value, int | str) else value


class SnmpCredentials(_Frozen):
    """How to talk SNMP to one device: the merge of ``defaults.snmp`` and the check's ``snmp``.

    Secrets are SecretStr so they never print. Invariants (validated): v1/v2c have a community;
    v3 has a user, and a privacy protocol only together with an authentication protocol.
    """

    version: Annotated[SnmpVersion, BeforeValidator(normalize_snmp_version)] = "2c"
    port: int = Field(161, ge=1, le=65535)
    community: SecretStr | None = None
    user: str | None = None
    auth_protocol: AuthProtocol | None = None
    auth_key: SecretStr | None = None
    priv_protocol: PrivProtocol | None = None
    priv_key: SecretStr | None = None
    context: str = ""

    @model_validator(mode="after")
    def _coherent(self) -> SnmpCredentials:
        if self.version in ("1", "2c"):
            if self.community is None or not self.community.get_secret_value():
                raise ValueError(f"SNMP v{self.version} needs a community (community or community_file)")
        else:
            if not self.user:
                raise ValueError("SNMP v3 needs a user")
            if self.priv_protocol and not self.auth_protocol:
                raise ValueError("SNMP v3 privacy (priv_protocol) needs authentication (auth_protocol)")
            if self.auth_protocol and (self.auth_key is None or len(self.auth_key.get_secret_value()) < 8):
                raise ValueError("SNMP v3 auth_key must be at least 8 characters")
            if self.priv_protocol and (self.priv_key is None or len(self.priv_key.get_secret_value()) < 8):
                raise ValueError("SNMP v3 priv_key must be at least 8 characters")
        return self

    @property
    def security_level(self) -> str:
        """``noAuthNoPriv``, ``authNoPriv`` or ``authPriv`` (v3); ``community`` for v1/v2c."""
        if self.version != "3":
            return "community"
        if self.priv_protocol:
            return "authPriv"
        return "authNoPriv" if self.auth_protocol else "noAuthNoPriv"


class CheckBase(_Frozen):
    """Fields every check has. ``interval``/``timeout``/``retries`` are filled from the device and
    ``defaults`` by the config loader, so they are always set here."""

    id: Slug | None = Field(None, description="label unique within the device; defaults to the type "
                                              "(or type:profile for snmp)")
    interval: Duration
    timeout: Duration
    retries: int = Field(ge=0, le=10)
    enabled: bool = True

    @property
    def key(self) -> str:
        """Stable identifier of this check within its device (used in samples and results)."""
        return self.id or str(getattr(self, "type", "check"))


class PingSpec(CheckBase):
    """ICMP echo: ``count`` packets per probe; degraded above the loss/RTT thresholds, down at 100 % loss."""

    type: Literal["ping"] = "ping"
    address: str | None = Field(None, description="override the device address")
    count: int = Field(3, ge=1, le=20)
    packet_interval: Duration = Field(default=timedelta(milliseconds=200))
    degraded_loss_pct: float = Field(20.0, ge=0, le=100)
    degraded_rtt_ms: float = Field(300.0, gt=0)


class TcpSpec(CheckBase):
    """TCP connect to ``port`` (the recording service, or the central data center over the VPN)."""

    type: Literal["tcp"] = "tcp"
    address: str | None = None
    port: int = Field(ge=1, le=65535)
    degraded_connect_ms: float = Field(1000.0, gt=0)

    @property
    def key(self) -> str:
        return self.id or f"tcp:{self.port}"


ParamValue = str | int | float | bool | list[str] | list[int]


class SnmpSpec(CheckBase):
    """An SNMP poll interpreted by a device profile (``checks/profiles/<profile>.yaml``)."""

    type: Literal["snmp"] = "snmp"
    profile: str = Field(AUTO_PROFILE, description="profile name (ups-rfc1628, ups-apc, host-resources...), several "
                         "joined by '+' (a base and its extensions: ups-rfc1628+env-apc-uio), or auto: "
                         "chosen from sysObjectID, sysDescr and what the device answers")
    snmp: SnmpCredentials
    params: dict[str, ParamValue] = Field(default_factory=dict,
                                          description="profile parameters, e.g. interfaces for if-uplink")

    @property
    def key(self) -> str:
        return self.id or f"snmp:{self.profile}"


class HostSpec(CheckBase):
    """The monitor's own machine through psutil."""

    type: Literal["host"] = "host"
    paths: tuple[str, ...] = Field(default=(".",), description="filesystems to watch (the database's first)")
    disk_degraded_pct: float = Field(90.0, gt=0, le=100)
    disk_down_pct: float = Field(98.0, gt=0, le=100)
    memory_degraded_pct: float = Field(95.0, gt=0, le=100)
    load_degraded_per_cpu: float = Field(4.0, gt=0)


CheckSpec = Annotated[PingSpec | TcpSpec | SnmpSpec | HostSpec, Field(discriminator="type")]


class PowerQuality(_Frozen):
    """Mains band: input voltage outside it is an abnormal-voltage event (Indonesia: 220 V ±10 %)."""

    input_voltage_min: float = 198.0
    input_voltage_max: float = 242.0
    low_runtime: Duration = Field(default=timedelta(minutes=10),
                                  description="battery runtime below this is a low-runtime warning")


class Device(_Frozen):
    """One thing we watch, as configured. Identity is (site id, device id)."""

    id: Slug
    name: str = Field(min_length=1, max_length=200)
    kind: DeviceKind
    address: str | None = None
    depends_on: tuple[str, ...] = ()
    powered_by: str | None = None
    installed: YearMonth | None = None
    model: str | None = None
    serial: str | None = None
    funding: Literal["apbn", "apbd", "other"] | None = Field(
        None, description="who bought it: apbn (national budget: replacement needs the Ministry)")
    notes: str | None = None
    confirm_down: int = Field(ge=1, le=100)
    confirm_up: int = Field(ge=1, le=100)
    power_quality: PowerQuality = PowerQuality()
    checks: tuple[CheckSpec, ...] = ()


@dataclass(frozen=True, slots=True, order=True)
class DeviceRef:
    """Identity of a device across sites: device ids are unique only within a site."""

    site: str
    device: str

    def __str__(self) -> str:
        return f"{self.site}/{self.device}"


# ------------------------------------------------------------------------------------ check results

MetricValue = float | int | str | bool


class ObservationKind(StrEnum):
    """Facts that are evidence for causes, reported by checks, traps and the monitor itself."""

    ON_BATTERY = "on_battery"
    ON_MAINS = "on_mains"
    LOW_BATTERY = "low_battery"
    REPLACE_BATTERY = "replace_battery"
    LOW_RUNTIME = "low_runtime"
    OVERLOAD = "overload"
    BYPASS = "bypass"
    VOLTAGE_ABNORMAL = "voltage_abnormal"
    LINE_BAD = "line_bad"
    TRANSFER = "transfer"
    TEMPERATURE_HIGH = "temperature_high"
    HUMIDITY_ABNORMAL = "humidity_abnormal"
    WATER_LEAK = "water_leak"
    SMOKE = "smoke"
    DOOR_OPEN = "door_open"
    CONTACT_ALARM = "contact_alarm"
    SPD_TRIPPED = "spd_tripped"
    SPD_OK = "spd_ok"
    STRIKE = "strike"
    REBOOT = "reboot"
    LINK_DOWN = "link_down"
    LINK_UP = "link_up"
    DISK_FULL = "disk_full"
    HOST_BOOT = "host_boot"
    MONITOR_GAP = "monitor_gap"
    TRAP = "trap"


@dataclass(frozen=True, slots=True)
class Observation:
    """One timestamped fact about a device, kept as evidence (time, source, fact).

    ``text`` is a short English sentence for logs; user-facing text is rendered from ``kind`` and
    ``values`` in the user's language. ``source`` says where the fact came from (``poll``, ``trap``,
    ``selfwatch``, ``config``).
    """

    time: datetime
    kind: ObservationKind
    text: str
    source: str = "poll"
    values: Mapping[str, MetricValue] = field(default_factory=dict)


class ReasonCode(StrEnum):
    """Machine-readable reason a check is not up, kept apart so misconfiguration is never an outage."""

    TIMEOUT = "timeout"                  # no answer -> down
    REFUSED = "refused"                  # TCP connection refused -> down (service)
    UNREACHABLE = "unreachable"          # network unreachable from the monitor
    AUTH_FAILED = "auth_failed"          # wrong community / user / key -> unknown
    PROFILE_MISMATCH = "profile_mismatch"  # noSuchObject / wrong type -> unknown
    GARBAGE = "garbage"                  # device answered nonsense -> unknown, reported as such
    CONDITION = "condition"              # a profile condition (on battery, disk full...)
    LOSS = "loss"                        # packet loss / slow answers -> degraded
    CHECK_ERROR = "check_error"          # our side failed (exception, timeout of the runner) -> unknown


@dataclass(frozen=True, slots=True)
class CheckResult:
    """The typed, final outcome of one check run. Never an exception, never a bare bool.

    Invariant: ``status`` is UP iff ``reason`` is None. ``metrics`` use NUT-style names for UPS values
    (``ups.status``, ``battery.charge``…) with units in ``units``.
    """

    check: str                      # the check's key within its device (e.g. "ping", "snmp:ups-apc")
    type: str                       # check kind: ping, snmp, tcp, host
    status: Status
    time: datetime
    duration_s: float = 0.0
    reason: str | None = None
    reason_code: ReasonCode | None = None
    metrics: Mapping[str, MetricValue] = field(default_factory=dict)
    units: Mapping[str, str] = field(default_factory=dict)
    observations: tuple[Observation, ...] = ()
    profile: str | None = None
    ignored: Mapping[str, str] = field(default_factory=dict)      # metric -> why its value was dropped
    adjusted: Mapping[str, str] = field(default_factory=dict)     # metric -> how its unit was corrected
    profile_why: str | None = None                                # how the profile(s) were chosen

    def __post_init__(self) -> None:
        if (self.status is Status.UP) != (self.reason is None):
            raise ValueError("CheckResult: reason must be set exactly when status is not up")


@dataclass(frozen=True, slots=True)
class TrapEvent:
    """A received SNMP trap/inform, already attributed to a device when its source is known.

    ``device`` is None for a trap from an unknown address; ``accepted`` is False for a bad community
    or unknown v3 user (counted and logged, never silently dropped).
    """

    received_at: datetime
    source: str
    trap_oid: str
    name: str
    version: str
    device: DeviceRef | None
    accepted: bool
    varbinds: tuple[tuple[str, str], ...] = ()
    observations: tuple[Observation, ...] = ()


# -------------------------------------------------------------------------------------- protocols


@runtime_checkable
class Check(Protocol):
    """One configured check of one device. ``run`` never raises for a device-side failure:
    it returns a :class:`CheckResult` with a status and a reason. The runner owns the timeout."""

    kind: ClassVar[str]

    async def run(self, device: Device, *, now: datetime) -> CheckResult: ...


@dataclass(frozen=True, slots=True)
class Button:
    """An inline button under a message; ``data`` is the callback payload (≤ 64 bytes)."""

    text: str
    data: str


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """A rendered message for one chat. ``document`` is a file path (PDF report), sent with ``text``
    as its caption; ``photo`` likewise for charts."""

    chat_id: int | str
    text: str
    thread_id: int | None = None
    parse_mode: Literal["HTML"] | None = "HTML"
    buttons: tuple[tuple[Button, ...], ...] = ()
    document: str | None = None
    photo: str | None = None
    filename: str | None = None
    silent: bool = False


@dataclass(frozen=True, slots=True)
class Delivery:
    """What the messaging API returned for a delivered message."""

    message_id: int | None
    chat_id: int | str


@runtime_checkable
class Notifier(Protocol):
    """A channel that delivers messages. ``send`` raises only :class:`monitor.errors.NotifyError`
    subclasses, which carry the retry decision."""

    name: ClassVar[str]

    async def send(self, message: OutgoingMessage) -> Delivery: ...


def jsonable(value: Any) -> Any:
    """Convert domain values (enums, datetimes, timedeltas, mappings, dataclasses) into JSON types."""
    if isinstance(value, StrEnum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if hasattr(value, "__dataclass_fields__"):
        return {k: jsonable(getattr(value, k)) for k in value.__dataclass_fields__}
    return value
