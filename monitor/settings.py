"""The configuration: typed, frozen pydantic models and :func:`load_settings`.

One YAML file describes the sites (offices), their devices and checks, services, audiences,
escalation, maintenance windows, reports, traps, the database and Telegram. It is validated once, at
load, into :class:`Settings`; defaults live in the models below and nowhere else.

Loading happens in four steps, each collecting *all* its issues before failing:

1. read the YAML with line numbers, expand ``${VAR}`` and ``*_file`` secrets (:mod:`monitor.yamlsource`);
2. validate ``defaults`` on its own, then copy its values (interval, timeout, retries, confirmation
   counts, SNMP credentials, power-quality band) into every device and check that does not set them;
3. validate the whole tree with pydantic (unknown keys are errors);
4. check references: ``depends_on``/``powered_by``/services/maintenance name existing devices of the
   same site, dependencies have no cycle, ids are unique — plus any ``extra_checks`` the caller passes
   (the CLI passes the profile catalogue so an unknown profile is a config error).

Every issue names file, line and key path; :class:`monitor.errors.ConfigError` carries them all.
"""

from __future__ import annotations

import copy
import difflib
import ipaddress
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from monitor import areas
from monitor.domain import (
    Audience,
    AuthProtocol,
    Cause,
    Device,
    DeviceRef,
    Duration,
    PowerQuality,
    PrivProtocol,
    Slug,
    SnmpSpec,
    SnmpVersion,
    normalize_snmp_version,
)
from monitor.errors import ConfigError, ConfigIssue
from monitor.yamlsource import Loc, Source, format_loc, read_source

Language = Literal["id", "en"]

_ZONE_ALIASES = {"WIB": "Asia/Jakarta", "WITA": "Asia/Makassar", "WIT": "Asia/Jayapura"}


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _timezone(value: object) -> object:
    if isinstance(value, str):
        value = _ZONE_ALIASES.get(value.strip().upper(), value.strip())
        try:
            ZoneInfo(str(value))
        except (ZoneInfoNotFoundError, ValueError, OSError):  # "Asia" alone is a folder of zones: IsADirectoryError
            raise ValueError(f"unknown time zone {value!r}: use Asia/Jakarta (WIB), Asia/Makassar (WITA) "
                             "or Asia/Jayapura (WIT)") from None
    return value


TimeZone = Annotated[str, BeforeValidator(_timezone)]


def _clock_time(value: object) -> object:
    if isinstance(value, int) and 0 <= value < 24 * 60:
        # YAML 1.1 reads 07:00 as the sexagesimal integer 420
        return time(value // 60, value % 60)
    return value


ClockTime = Annotated[time, BeforeValidator(_clock_time)]


def host_port(value: str) -> tuple[str, int]:
    """``"host:port"`` (``[::1]:162`` for IPv6) as (host, port); ValueError when it is not that."""
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"listen must be host:port, got {value!r}")
    return host.strip("[]"), int(port)


def _listen(value: str) -> str:
    host_port(value)
    return value


HostPort = Annotated[str, AfterValidator(_listen)]
"""``host:port`` to listen on (checked with :func:`host_port`)."""


# ---------------------------------------------------------------------------------------- sections


class DatabaseSettings(_Model):
    """Where the record lives. SQLite (default) or PostgreSQL by URL; relative SQLite paths are taken
    from the config file's directory."""

    url: str = "sqlite:///ektp-monitor.db"
    sample_retention_days: int = Field(30, ge=1, le=3650)
    busy_timeout: Duration = Field(default=timedelta(seconds=5))


class SnmpDefaults(_Model):
    """Partial SNMP settings; merged under every check's own ``snmp`` block."""

    version: Annotated[SnmpVersion, BeforeValidator(normalize_snmp_version)] | None = None
    port: int | None = Field(None, ge=1, le=65535)
    community: SecretStr | None = None
    user: str | None = None
    auth_protocol: AuthProtocol | None = None
    auth_key: SecretStr | None = None
    priv_protocol: PrivProtocol | None = None
    priv_key: SecretStr | None = None
    context: str | None = None


class Defaults(_Model):
    """Values every device and check inherits unless it sets its own."""

    interval: Duration = Field(default=timedelta(seconds=60))
    timeout: Duration = Field(default=timedelta(seconds=2))
    retries: int = Field(1, ge=0, le=10)
    confirm_down: int = Field(3, ge=1, le=100)
    confirm_up: int = Field(2, ge=1, le=100)
    snmp: SnmpDefaults = SnmpDefaults()
    power_quality: PowerQuality = PowerQuality()


class AudienceTarget(_Model):
    """A Telegram chat (and optional forum topic) that receives one audience's messages."""

    chat_id: int | str = Field(description="numeric chat id (groups are negative) or @channelname")
    thread_id: int | None = None
    language: Language | None = None
    silent: bool = False


class TelegramSettings(_Model):
    """The bot. ``bot_token`` comes from ``${TELEGRAM_BOT_TOKEN}`` or ``bot_token_file``, never the file."""

    enabled: bool = True
    bot_token: SecretStr | None = None
    api_base_url: str = "https://api.telegram.org"
    allowed_users: tuple[int, ...] = ()
    audiences: dict[Audience, AudienceTarget] = Field(default_factory=dict)
    polling: bool = Field(True, description="long-poll for button presses and commands")
    per_chat_per_minute: int = Field(20, ge=1, le=60)
    overall_per_second: int = Field(30, ge=1, le=30)
    request_timeout: Duration = Field(default=timedelta(seconds=10))

    @field_validator("api_base_url")
    @classmethod
    def _url(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")):
            raise ValueError("api_base_url must start with http:// or https://")
        return v.rstrip("/")

    @model_validator(mode="after")
    def _token(self) -> TelegramSettings:
        if self.enabled and (self.bot_token is None or not self.bot_token.get_secret_value()):
            raise ValueError("telegram is enabled but has no bot_token (use ${TELEGRAM_BOT_TOKEN} or "
                             "bot_token_file), or set enabled: false")
        return self


class Letterhead(_Model):
    """Official letterhead fields for reports (kop surat)."""

    government: str = Field("", description="e.g. PEMERINTAH KABUPATEN MURUNG RAYA")
    office: str = Field("", description="e.g. DINAS KEPENDUDUKAN DAN PENCATATAN SIPIL")
    address: str = ""
    city: str = ""
    phone: str = ""
    email: str = ""
    website: str = ""
    head_name: str = ""
    head_title: str = "Kepala Dinas"
    head_nip: str = ""
    it_contact: str = ""


class MaintenanceWindow(_Model):
    """Planned work: one-off (``start``/``end``, in the site's zone when no offset is given) or
    recurring (``cron`` in the site's zone, lasting ``duration``). Outages inside are planned; alerts
    are suppressed."""

    id: Slug | None = None
    reason: str = Field(min_length=1)
    devices: tuple[str, ...] = Field(default=(), description="empty means the whole site")
    start: datetime | None = None
    end: datetime | None = None
    cron: str | None = None
    duration: Duration | None = None

    @model_validator(mode="after")
    def _shape(self) -> MaintenanceWindow:
        one_off = self.start is not None or self.end is not None
        recurring = self.cron is not None or self.duration is not None
        if one_off and recurring:
            raise ValueError("a maintenance window is either one-off (start, end) or recurring (cron, duration)")
        if one_off:
            if self.start is None or self.end is None:
                raise ValueError("a one-off maintenance window needs both start and end")
            if self.end <= self.start:
                raise ValueError("maintenance end must be after start")
        elif recurring:
            if self.cron is None or self.duration is None:
                raise ValueError("a recurring maintenance window needs both cron and duration")
            if len(self.cron.split()) != 5:
                raise ValueError(f"cron {self.cron!r} must have 5 fields: minute hour day month weekday")
            if self.duration <= timedelta(0):
                raise ValueError("duration must be positive")
        else:
            raise ValueError("give start and end (one-off) or cron and duration (recurring)")
        return self


class EscalationStep(_Model):
    """One rung of the ladder: tell ``audience`` once the incident is ``after`` old — or at once when
    its cause is in ``causes`` (e.g. lightning/hardware need central replacement)."""

    audience: Audience
    after: Duration = Field(default=timedelta(0))
    unless_acknowledged: bool = Field(False, description="skip this step once someone acknowledged")
    causes: tuple[Cause, ...] = Field(default=(), description="also fire at once for these causes")
    attach_report: bool = Field(False, description="attach the escalation report PDF")


def _default_ladder() -> tuple[EscalationStep, ...]:
    return (
        EscalationStep(audience=Audience.IT_STAFF),
        EscalationStep(audience=Audience.HEAD_OF_OFFICE, after=timedelta(minutes=30), unless_acknowledged=True),
        EscalationStep(audience=Audience.MINISTRY_LIAISON, after=timedelta(hours=24),
                       causes=(Cause.LIGHTNING, Cause.HARDWARE), attach_report=True),
    )


class EscalationSettings(_Model):
    steps: tuple[EscalationStep, ...] = Field(default_factory=_default_ladder)


class AlertSettings(_Model):
    """Grouping and repetition (Alertmanager's group_wait / repeat_interval)."""

    group_wait: Duration = Field(default=timedelta(seconds=30),
                                 description="wait for related evidence (UPS) before the first message")
    repeat_interval: Duration = Field(default=timedelta(hours=4), description="reminder while still open")
    digest_after: Duration = Field(default=timedelta(minutes=10),
                                   description="messages older than this when the link returns go out as one digest")
    recovery: bool = True
    mute_default: Duration = Field(default=timedelta(hours=2))
    daily_alive: ClockTime | None = Field(default=time(7, 30),
                                          description="site-local time of the daily 'still alive' line; null = off")
    max_attempts: int = Field(0, ge=0, description="0 = retry for ever (alerts are never dropped)")


class CauseSettings(_Model):
    """Windows used by cause inference and incident grouping (see monitor/engine/causes.py)."""

    power_window: Duration = Field(default=timedelta(minutes=15),
                                   description="UPS/power evidence this long before a failure counts")
    lightning_window: Duration = Field(default=timedelta(minutes=30),
                                       description="SPD/strike evidence this long before a failure counts")
    hardware_after: Duration = Field(default=timedelta(minutes=30),
                                     description="down this long with power normal and no other evidence")
    incident_window: Duration = Field(default=timedelta(minutes=10),
                                      description="outages at one site starting this close share an incident")


class FlappingSettings(_Model):
    window: Duration = Field(default=timedelta(minutes=30))
    max_changes: int = Field(6, ge=2, le=1000)


class WeeklyReportSettings(_Model):
    enabled: bool = True
    day: Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"] = "mon"
    time: ClockTime = time(7, 0)
    audiences: tuple[Audience, ...] = (Audience.HEAD_OF_OFFICE, Audience.MINISTRY_LIAISON)


class ReportSettings(_Model):
    out_dir: str = "reports"
    formats: tuple[Literal["pdf", "html", "csv"], ...] = ("pdf", "csv")
    weekly: WeeklyReportSettings = WeeklyReportSettings()


class TrapUser(_Model):
    """An SNMPv3 user allowed to send traps/informs to the receiver."""

    user: str
    auth_protocol: AuthProtocol | None = None
    auth_key: SecretStr | None = None
    priv_protocol: PrivProtocol | None = None
    priv_key: SecretStr | None = None
    engine_id: str | None = Field(None, description="sender's engine id (hex), needed for v3 traps")


class TrapSettings(_Model):
    enabled: bool = False
    listen: HostPort = Field("0.0.0.0:162", description="host:port to receive traps on")
    communities: tuple[SecretStr, ...] = ()
    v3_users: tuple[TrapUser, ...] = ()
    max_per_second: int = Field(2000, ge=1, description="excess traps are counted and dropped")
    allowed_sources: tuple[str, ...] = Field(default=(), description="addresses or networks (10.0.0.0/24) that "
                                             "may send traps besides the devices; everything else is dropped unread")
    max_bytes: int = Field(8192, ge=484, le=65507, description="longer datagrams are dropped unread and counted")

    @field_validator("allowed_sources")
    @classmethod
    def _sources(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for item in v:
            try:
                ipaddress.ip_network(item.strip(), strict=False)
            except ValueError:
                raise ValueError(f"{item!r} is not an IP address or network (e.g. 10.20.0.5 or 10.20.0.0/24)") \
                    from None
        return tuple(item.strip() for item in v)

    @property
    def address(self) -> tuple[str, int]:
        return host_port(self.listen)


class MetricsSettings(_Model):
    """Prometheus ``/metrics`` (off unless ``listen`` is set). Keep it on loopback or a management network:
    it names every device and its state, without authentication."""

    listen: HostPort | None = Field(None, description="host:port for /metrics, e.g. 127.0.0.1:9877")

    @property
    def address(self) -> tuple[str, int] | None:
        return None if self.listen is None else host_port(self.listen)


class MonitorSettings(_Model):
    """The daemon itself."""

    heartbeat_interval: Duration = Field(default=timedelta(seconds=15))
    concurrency: int = Field(100, ge=1, le=2000, description="checks running at once")
    misfire_grace: Duration = Field(default=timedelta(seconds=30))
    jitter: Duration = Field(default=timedelta(seconds=5), description="spread of first runs")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    heartbeat_url: str | None = Field(None, description="external dead man's switch pinged while alive")
    heartbeat_url_interval: Duration = Field(default=timedelta(minutes=5))
    clock_skew_warn: Duration = Field(default=timedelta(minutes=2))
    snmp_backend: Literal["auto", "pysnmp", "ezsnmp"] = Field(
        "pysnmp", description="SNMP library: pysnmp (pure Python), ezsnmp (net-snmp's C library, the 'fast' "
                              "extra: ~10x less CPU per poll, for thousands of devices) or auto (ezsnmp when "
                              "installed)")


class Service(_Model):
    """What users care about, e.g. "Layanan Perekaman e-KTP": up when ``any``/``all`` devices are up."""

    id: Slug
    name: str = Field(min_length=1)
    up_when: Literal["any", "all"] = "all"
    devices: tuple[str, ...] = Field(min_length=1)


def _area_code(value: object) -> object:
    return areas.check_code(value) if isinstance(value, str) else value


AreaCode = Annotated[str, BeforeValidator(_area_code)]
"""A Kemendagri area code (``62``, ``62.12``, ``62.12.01``): see :mod:`monitor.areas`."""


class Site(_Model):
    """One office, with its time zone, people, devices and services."""

    id: Slug
    name: str = Field(min_length=1)
    code: AreaCode | None = Field(None, description="Kemendagri area code, e.g. 62.12 (Kab. Murung Raya); "
                                                    "required when hub is set: the site's national identity")
    province: str | None = Field(None, description="defaults to the province of the code")
    timezone: TimeZone = "Asia/Jakarta"
    language: Language = "id"
    audiences: dict[Audience, AudienceTarget] = Field(default_factory=dict)
    letterhead: Letterhead = Letterhead()
    expected_daily_recordings: int | None = Field(None, ge=0, description="for the impact estimate")
    devices: tuple[Device, ...] = ()
    services: tuple[Service, ...] = ()
    maintenance: tuple[MaintenanceWindow, ...] = ()
    escalation: EscalationSettings | None = Field(None, description="overrides the global ladder")
    weekly_report: WeeklyReportSettings | None = Field(None, description="overrides reports.weekly")

    @model_validator(mode="after")
    def _province(self) -> Site:
        if self.code is not None:
            official = areas.province_of(self.code)
            if self.province is None:
                object.__setattr__(self, "province", official)  # frozen: filled once, at validation
            elif not areas.same_province_name(self.province, official):
                raise ValueError(f"province {self.province!r} does not match code {self.code} ({official})")
        return self

    def device(self, device_id: str) -> Device:
        for d in self.devices:
            if d.id == device_id:
                return d
        raise KeyError(device_id)


class HubLink(_Model):
    """The national hub this office ships its record to (``monitor/daemon/shipper.py``). Without it the
    office runs alone, exactly as before. ``token`` comes from ``${VAR}`` or ``token_file``, never the file."""

    url: str = Field(description="the hub's base URL, https://...")
    office_id: Slug = Field(description="this office's id in the hub's HUB.yaml")
    token: SecretStr
    ca_file: str | None = Field(None, description="CA certificate(s) to trust for the hub (PEM); default: system")
    batch_records: int = Field(1000, ge=1, le=5000, description="records per request at most")
    batch_bytes: int = Field(1_000_000, ge=10_000, le=8_000_000, description="uncompressed bytes per request")
    status_interval: Duration = Field(default=timedelta(seconds=60), description="liveness and current state")
    drain_rate: int = Field(500, ge=1, le=100_000, description="records per second at most while catching up")
    timeout: Duration = Field(default=timedelta(seconds=30))
    retry_max: Duration = Field(default=timedelta(minutes=5), description="longest wait between tries")

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        if not v.startswith("https://"):
            raise ValueError("hub url must start with https:// (the token travels in every request)")
        return v.rstrip("/")

    @field_validator("token")
    @classmethod
    def _token(cls, v: SecretStr) -> SecretStr:
        if len(v.get_secret_value()) < 20:
            raise ValueError("hub token is too short: use the one `ektp-monitor hub token new` printed")
        return v


class Settings(_Model):
    """The whole, validated configuration. Obtain it with :func:`load_settings`."""

    database: DatabaseSettings = DatabaseSettings()
    defaults: Defaults = Defaults()
    telegram: TelegramSettings = TelegramSettings(enabled=False)
    monitor: MonitorSettings = MonitorSettings()
    alerts: AlertSettings = AlertSettings()
    escalation: EscalationSettings = EscalationSettings()
    causes: CauseSettings = CauseSettings()
    flapping: FlappingSettings = FlappingSettings()
    reports: ReportSettings = ReportSettings()
    traps: TrapSettings = TrapSettings()
    metrics: MetricsSettings = MetricsSettings()
    hub: HubLink | None = Field(None, description="ship the record to the national hub (optional)")
    profile_dirs: tuple[str, ...] = Field(default=(), description="extra device profile folders")
    sites: tuple[Site, ...] = Field(min_length=1)

    _source: str = PrivateAttr(default="")
    _secrets: frozenset[str] = PrivateAttr(default=frozenset())

    # --- provenance
    @property
    def source(self) -> str:
        """The config file this was loaded from ('' when built in code)."""
        return self._source

    @property
    def base_dir(self) -> Path:
        return Path(self._source).resolve().parent if self._source else Path.cwd()

    @property
    def secrets(self) -> frozenset[str]:
        """Every secret value loaded (for log redaction). Never print this."""
        return self._secrets

    def resolve_path(self, path: str) -> Path:
        p = Path(path)
        return p if p.is_absolute() else self.base_dir / p

    @property
    def database_url(self) -> str:
        """The database URL with a relative SQLite path made absolute against the config's folder."""
        url = self.database.url
        prefix = "sqlite:///"
        if url.startswith(prefix) and not url.startswith("sqlite:////") and url != "sqlite:///:memory:":
            return prefix + str(self.resolve_path(url[len(prefix):]))
        return url

    # --- lookups
    def site(self, site_id: str) -> Site:
        for s in self.sites:
            if s.id == site_id:
                return s
        raise KeyError(site_id)

    def device(self, ref: DeviceRef) -> Device:
        return self.site(ref.site).device(ref.device)

    def iter_devices(self) -> Iterator[tuple[Site, Device]]:
        for s in self.sites:
            for d in s.devices:
                yield s, d

    def audience_target(self, site_id: str, audience: Audience) -> AudienceTarget | None:
        """The chat for ``audience`` at a site: the site's own, else the global one."""
        return self.site(site_id).audiences.get(audience) or self.telegram.audiences.get(audience)

    def escalation_for(self, site_id: str) -> EscalationSettings:
        return self.site(site_id).escalation or self.escalation

    def weekly_report_for(self, site_id: str) -> WeeklyReportSettings:
        return self.site(site_id).weekly_report or self.reports.weekly

    def redacted(self) -> dict[str, Any]:
        """The effective config as JSON-able data with every secret replaced by ``***``."""
        data: dict[str, Any] = _redact(self.model_dump(mode="json"), self._secrets)
        return data


def _redact(value: Any, secrets: frozenset[str]) -> Any:
    if isinstance(value, dict):
        return {k: _redact(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact(v, secrets) for v in value]
    if isinstance(value, str):
        if value == "**********":
            return "***"
        for s in secrets:
            if s and s in value:
                value = value.replace(s, "***")
    return value


# ------------------------------------------------------------------------------------------ loading

_M = TypeVar("_M", bound=BaseModel)
ExtraCheck = Callable[[Settings], Iterable[tuple[Loc, str]]]
"""An additional validation: yields (key path, message) for each problem."""


def load_settings(path: str | os.PathLike[str], *, extra_checks: Sequence[ExtraCheck] = (),
                  environ: Mapping[str, str] | None = None) -> Settings:
    """Load, validate and resolve the config at ``path``.

    Raises :class:`ConfigError` listing every issue (file, line, key path). ``extra_checks`` lets the
    composition root add validations that need other packages (e.g. the profile catalogue).
    """
    src, issues = read_source(path, environ)
    if src.data is None or not src.data:
        raise ConfigError(issues or [ConfigIssue(str(path), 1, "", "config file is empty")])
    return settings_from_source(src, extra_checks, issues)


def settings_from_source(src: Source, extra_checks: Sequence[ExtraCheck] = (),
                         read_issues: Sequence[ConfigIssue] = ()) -> Settings:
    """Steps 2–4 of loading (see the module docstring) on already-read data.

    ``read_issues`` (e.g. missing environment variables) are reported together with everything else;
    follow-on errors at the same key (an empty secret) are not repeated.
    """
    data: dict[str, Any] = src.data
    issues = list(read_issues)
    known = {i.path for i in issues}

    def add(found: Iterable[ConfigIssue]) -> None:
        issues.extend(i for i in found if i.path not in known and not any(
            i.path.startswith(k + ".") or k.startswith(i.path + ".") for k in known))

    raw_defaults = data.get("defaults", {})
    add(_validate_part(Defaults, raw_defaults, ("defaults",), src))
    if issues and any(i.path.startswith("defaults") for i in issues):
        raise ConfigError(issues)
    merged = _apply_defaults(copy.deepcopy(data), raw_defaults if isinstance(raw_defaults, dict) else {})
    try:
        settings = Settings.model_validate(merged)
    except ValidationError as exc:
        add(_issues_from_validation(exc, merged, src))
        raise ConfigError(issues) from None
    if issues:
        raise ConfigError(issues)
    settings._source = src.file
    secrets = set(src.secrets)
    secrets.update(_collect_secret_values(settings))
    settings._secrets = frozenset(s for s in secrets if s)
    problems = list(_reference_problems(settings))
    for check in extra_checks:
        problems.extend(check(settings))
    if problems:
        raise ConfigError([src.issue(loc, msg) for loc, msg in problems])
    return settings


def validate_source(model: type[_M], src: Source, read_issues: Sequence[ConfigIssue] = ()) -> _M:
    """Validate already-read YAML (``monitor.yamlsource.read_source``) into ``model``, for config files other
    than the office's (the hub's HUB.yaml). Raises :class:`ConfigError` naming file, line and key path of
    every issue, together with ``read_issues``."""
    issues = list(read_issues)
    if src.data is None or not src.data:
        raise ConfigError(issues or [ConfigIssue(src.file, 1, "", "config file is empty")])
    try:
        value = model.model_validate(src.data)
    except ValidationError as exc:
        known = {i.path for i in issues}
        issues.extend(i for i in _issues_from_validation(exc, src.data, src) if i.path not in known)
        raise ConfigError(issues) from None
    if issues:
        raise ConfigError(issues)
    return value


def _validate_part(model: type[BaseModel], raw: Any, prefix: Loc, src: Source) -> list[ConfigIssue]:
    try:
        model.model_validate(raw)
    except ValidationError as exc:
        return [_issue(src, (*prefix, *loc), msg) for loc, msg in _flatten(exc, raw)]
    return []


def _issue(src: Source, loc: Loc, msg: str) -> ConfigIssue:
    return ConfigIssue(src.file, src.line_of(loc), format_loc(loc), msg)


def _apply_defaults(data: dict[str, Any], raw_defaults: dict[str, Any]) -> dict[str, Any]:
    """Copy defaults into devices and checks (raw data, before validation) so the validated models
    always carry concrete values. A device's own interval/timeout/retries apply to its checks."""
    base = {k: raw_defaults[k] for k in ("interval", "timeout", "retries") if k in raw_defaults}
    base.setdefault("interval", "60s")
    base.setdefault("timeout", "2s")
    base.setdefault("retries", 1)
    snmp_defaults = raw_defaults.get("snmp") or {}
    sites = data.get("sites")
    if not isinstance(sites, list):
        return data
    for site in sites:
        devices = site.get("devices") if isinstance(site, dict) else None
        if not isinstance(devices, list):
            continue
        for dev in devices:
            if not isinstance(dev, dict):
                continue
            dev.setdefault("confirm_down", raw_defaults.get("confirm_down", 3))
            dev.setdefault("confirm_up", raw_defaults.get("confirm_up", 2))
            if "power_quality" in raw_defaults and isinstance(raw_defaults["power_quality"], dict):
                own = dev.get("power_quality")
                dev["power_quality"] = {**raw_defaults["power_quality"], **(own if isinstance(own, dict) else {})}
            inherited = {**base, **{k: dev.pop(k) for k in ("interval", "timeout", "retries") if k in dev}}
            checks = dev.get("checks")
            if not isinstance(checks, list):
                continue
            for chk in checks:
                if not isinstance(chk, dict):
                    continue
                for key, value in inherited.items():
                    chk.setdefault(key, value)
                if chk.get("type") == "snmp":
                    own = chk.get("snmp")
                    own = own if isinstance(own, dict) else {}
                    merged = {**snmp_defaults, **own}
                    if str(own.get("version", "")).lstrip("v") == "3":
                        merged.pop("community", None)  # v3 never uses the default community
                    chk["snmp"] = merged
    return data


_MESSAGES = {
    "extra_forbidden": "unknown key",
    "missing": "missing required key",
}


def _flatten(exc: ValidationError, data: Any) -> list[tuple[Loc, str]]:
    out: list[tuple[Loc, str]] = []
    seen: set[tuple[Loc, str]] = set()
    errors = exc.errors(include_url=False)
    locs = [tuple(e["loc"]) for e in errors]
    for err in errors:
        if err["type"] == "too_short" and any(len(o) > len(err["loc"]) and o[:len(err["loc"])] == err["loc"]
                                              for o in locs):
            continue  # "0 items after validation" only repeats the item errors below it
        loc = _real_loc(data, tuple(err["loc"]))
        msg = _message(err, data, loc)
        if (loc, msg) not in seen:
            seen.add((loc, msg))
            out.append((loc, msg))
    return out


def _issues_from_validation(exc: ValidationError, data: Any, src: Source) -> list[ConfigIssue]:
    return [_issue(src, loc, msg) for loc, msg in _flatten(exc, data)]


def _real_loc(data: Any, loc: Loc) -> Loc:
    """Drop pydantic's synthetic loc parts (union tags like 'snmp', 'function-after[...]') so the path
    matches the keys the user wrote."""
    out: list[str | int] = []
    node = data
    tag_skipped_at = -1
    for part in loc:
        if isinstance(node, dict):
            if (isinstance(part, str) and node.get("type") == part and len(out) >= 2
                    and out[-2] == "checks" and tag_skipped_at != len(out)):
                tag_skipped_at = len(out)
                continue  # the discriminated-union tag pydantic inserts after checks[i]
            if part in node:
                out.append(part)
                node = node[part]
                continue
            if isinstance(part, str) and (node.get("type") == part or "[" in part
                                          or part.startswith("function")):
                continue
            out.append(part)  # a missing key: keep it, nothing below exists
            node = None
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            out.append(part)
            node = node[part]
        elif isinstance(part, str) and ("[" in part or part.startswith("function")):
            continue
        else:
            out.append(part)
            node = None
    return tuple(out)


def _message(err: Any, data: Any, loc: Loc) -> str:
    kind = err["type"]
    msg = _MESSAGES.get(kind, err["msg"])
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    if kind == "extra_forbidden" and loc:
        close = difflib.get_close_matches(str(loc[-1]), _known_keys(), n=1)
        if close:
            msg += f" (did you mean {close[0]!r}?)"
    elif kind == "union_tag_invalid":
        msg = f"unknown check type {err.get('ctx', {}).get('tag')!r}: use ping, snmp, tcp or host"
    elif kind in ("literal_error", "enum"):
        text = str(err["msg"])
        msg = f"invalid value {err.get('input')!r}: {text[:1].lower()}{text[1:]}"
    return str(msg)


_ALL_KEYS: frozenset[str] = frozenset()


def _known_keys() -> list[str]:
    global _ALL_KEYS
    if not _ALL_KEYS:
        keys: set[str] = set()

        def walk(model: type[BaseModel]) -> None:
            for name, f in model.model_fields.items():
                keys.add(name)
                for arg in getattr(f.annotation, "__args__", ()) or (f.annotation,):
                    for sub in getattr(arg, "__args__", ()) or (arg,):
                        if isinstance(sub, type) and issubclass(sub, BaseModel) and sub is not model:
                            walk(sub)
        walk(Settings)
        from monitor.domain import HostSpec, PingSpec, TcpSpec
        for m in (PingSpec, TcpSpec, SnmpSpec, HostSpec, Device):
            walk(m)
        keys.update({"interval", "timeout", "retries", "bot_token_file", "community_file", "auth_key_file",
                     "priv_key_file", "token_file", "password_file"})
        _ALL_KEYS = frozenset(keys)
    return sorted(_ALL_KEYS)


def _collect_secret_values(settings: Settings) -> Iterator[str]:
    def walk(value: Any) -> Iterator[str]:
        if isinstance(value, SecretStr):
            yield value.get_secret_value()
        elif isinstance(value, BaseModel):
            for name in type(value).model_fields:
                yield from walk(getattr(value, name))
        elif isinstance(value, dict):
            for v in value.values():
                yield from walk(v)
        elif isinstance(value, list | tuple):
            for v in value:
                yield from walk(v)
    yield from walk(settings)
    if settings.monitor.heartbeat_url:
        yield settings.monitor.heartbeat_url


def _reference_problems(settings: Settings) -> Iterator[tuple[Loc, str]]:
    site_ids: dict[str, int] = {}
    codes: dict[str, int] = {}
    for si, site in enumerate(settings.sites):
        sloc: Loc = ("sites", si)
        if site.code is not None:
            if site.code in codes:
                yield (*sloc, "code"), f"duplicate site code {site.code!r} (also sites[{codes[site.code]}])"
            codes.setdefault(site.code, si)
        elif settings.hub is not None:
            yield (*sloc, "code"), ("a site needs its Kemendagri area code (e.g. 62.12) when hub is set: "
                                    "the hub keys the national record by it")
        if site.id in site_ids:
            yield (*sloc, "id"), f"duplicate site id {site.id!r} (also sites[{site_ids[site.id]}])"
        site_ids.setdefault(site.id, si)
        index: dict[str, int] = {}
        for di, dev in enumerate(site.devices):
            if dev.id in index:
                yield (*sloc, "devices", di, "id"), f"duplicate device id {dev.id!r} (also devices[{index[dev.id]}])"
            index.setdefault(dev.id, di)
        for di, dev in enumerate(site.devices):
            dloc: Loc = (*sloc, "devices", di)
            for pi, parent in enumerate(dev.depends_on):
                if parent == dev.id:
                    yield (*dloc, "depends_on", pi), "a device cannot depend on itself"
                elif parent not in index:
                    yield (*dloc, "depends_on", pi), _unknown_device(parent, index)
            if dev.powered_by is not None:
                if dev.powered_by not in index:
                    yield (*dloc, "powered_by"), _unknown_device(dev.powered_by, index)
                elif site.devices[index[dev.powered_by]].kind.value != "ups":
                    yield (*dloc, "powered_by"), f"{dev.powered_by!r} is not a ups"
            keys: dict[str, int] = {}
            for ci, chk in enumerate(dev.checks):
                if chk.key in keys:
                    yield (*dloc, "checks", ci), (f"two checks with the key {chk.key!r}; give one an id")
                keys.setdefault(chk.key, ci)
                if chk.type in ("ping", "snmp", "tcp") and not (getattr(chk, "address", None) or dev.address):
                    yield (*dloc, "address"), f"a {chk.type} check needs the device address"
        yield from _cycles(site, sloc, index)
        for vi, svc in enumerate(site.services):
            for i, ref in enumerate(svc.devices):
                if ref not in index:
                    yield (*sloc, "services", vi, "devices", i), _unknown_device(ref, index)
        for mi, win in enumerate(site.maintenance):
            for i, ref in enumerate(win.devices):
                if ref not in index:
                    yield (*sloc, "maintenance", mi, "devices", i), _unknown_device(ref, index)
    if settings.telegram.enabled:
        for si, site in enumerate(settings.sites):
            for step_i, step in enumerate(settings.escalation_for(site.id).steps):
                if settings.audience_target(site.id, step.audience) is None:
                    where: Loc = (("sites", si, "escalation", "steps", step_i) if site.escalation
                                  else ("escalation", "steps", step_i) if "escalation" in settings.model_fields_set
                                  else ("sites", si, "audiences"))
                    yield where, (f"site {site.id!r} has no chat for audience {step.audience.value!r} "
                                  "(set it in the site's audiences or telegram.audiences)")


def _unknown_device(name: str, index: Mapping[str, int]) -> str:
    close = difflib.get_close_matches(name, list(index), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"no device {name!r} in this site{hint}"


def _cycles(site: Site, sloc: Loc, index: Mapping[str, int]) -> Iterator[tuple[Loc, str]]:
    graph = {d.id: [p for p in d.depends_on if p in index and p != d.id] for d in site.devices}
    state: dict[str, int] = {}
    reported: set[frozenset[str]] = set()

    def visit(node: str, stack: list[str]) -> Iterator[tuple[Loc, str]]:
        state[node] = 1
        stack.append(node)
        for nxt in graph[node]:
            if state.get(nxt) == 1:
                cycle = [*stack[stack.index(nxt):], nxt]
                key = frozenset(cycle)
                if key not in reported:
                    reported.add(key)
                    yield ((*sloc, "devices", index[node], "depends_on"),
                           "dependency cycle: " + " -> ".join(cycle))
            elif nxt not in state:
                yield from visit(nxt, stack)
        stack.pop()
        state[node] = 2

    for dev in site.devices:
        if dev.id not in state:
            yield from visit(dev.id, [])
