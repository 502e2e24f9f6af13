"""HUB.yaml: the national hub's configuration (``ektp-monitor hub ... -c HUB.yaml``).

Read like the office's config (``monitor.yamlsource``: line numbers, ``${VAR}``, ``password_file``), and
validated whole: every issue names file, line and key path. Example::

    listen: "0.0.0.0:8443"
    tls: {cert_file: /etc/ektp-hub/hub.crt, key_file: /etc/ektp-hub/hub.key}   # or behind_proxy: true
    database:
      url: "postgresql+psycopg://ektp_hub@127.0.0.1:5432/ektp_hub"
      password_file: /etc/ektp-hub/db-password                               # or password: ${HUB_DB_PASSWORD}
    offices:
      - id: mura
        name: "Disdukcapil Kabupaten Murung Raya"
        sites: ["62.12"]
        tokens: ["sha256:3f1c…"]                # from `ektp-monitor hub token new --office mura`
        revoked_tokens: []
    ministry:                                   # used by the silent-office alerts and the national report
      chat: {chat_id: -1001234567890, language: id}
      telegram: {bot_token_file: /etc/ektp-hub/bot-token}
    schedules:
      weekly_report: {day: mon, time: "08:00", timezone: Asia/Jakarta}
      silent_after: 5m
      silent_list: "07:30"

Offices, their sites and tokens are the hub's access rules: an office's token may write only the rows of
the sites listed for it (checked by the ingest, and again by PostgreSQL row-level security).
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Iterator, Mapping
from datetime import time, timedelta
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from sqlalchemy.engine import URL, make_url

from monitor.domain import Duration, Slug
from monitor.errors import ConfigError
from monitor.hub.tokens import TokenHash
from monitor.settings import (
    AreaCode,
    AudienceTarget,
    ClockTime,
    HostPort,
    Language,
    TelegramSettings,
    TimeZone,
    host_port,
    validate_source,
)
from monitor.yamlsource import Loc, read_source

DEFAULT_INGEST_ROLE = "ektp_hub_ingest"


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class HubTls(_Model):
    """The hub's own certificate (PEM) when it terminates HTTPS itself."""

    cert_file: str
    key_file: str


class HubDatabase(_Model):
    """The central PostgreSQL. The password comes from ``password`` (``${VAR}``) or ``password_file``,
    never the URL in the file. ``ingest_role`` is the role every ingest transaction runs as (``SET LOCAL
    ROLE``): it has only the grants the ingest needs and is subject to row-level security."""

    url: str = Field(description="postgresql+psycopg://USER@HOST:PORT/DB")
    password: SecretStr | None = None
    pool_size: int = Field(5, ge=1, le=100)
    ingest_role: str = Field(DEFAULT_INGEST_ROLE, pattern=r"^[a-z_][a-z0-9_]{0,62}$")

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        try:
            url = make_url(v)
        except Exception:
            raise ValueError(f"not a database URL: {v!r}") from None
        if url.get_backend_name() != "postgresql":
            raise ValueError("the hub needs PostgreSQL: postgresql+psycopg://USER@HOST:PORT/DB")
        if url.password:
            raise ValueError("put the password in password or password_file, not in the URL")
        return v

    def sqlalchemy_url(self) -> URL:
        url = make_url(self.url)
        if url.drivername == "postgresql":
            url = url.set(drivername="postgresql+psycopg")
        if self.password is not None and self.password.get_secret_value():
            url = url.set(password=self.password.get_secret_value())
        return url


class HubLimits(_Model):
    """What one ingest request may carry (413 beyond)."""

    max_request_bytes: int = Field(4 << 20, ge=1024, description="compressed body")
    max_decompressed_bytes: int = Field(32 << 20, ge=1024, description="body after gunzip")
    max_records: int = Field(5000, ge=1, le=100_000)
    max_answers: int = Field(100, ge=1, le=10_000, description="Ministry answers per reply")


class HubOfficeConfig(_Model):
    """An office allowed to send: its sites (Kemendagri codes) and the hashes of its tokens."""

    id: Slug
    name: str = Field(min_length=1)
    sites: tuple[AreaCode, ...] = Field(min_length=1)
    tokens: tuple[TokenHash, ...] = ()
    revoked_tokens: tuple[TokenHash, ...] = ()


class MinistrySettings(_Model):
    """The Ministry's Telegram audience (silent offices, the national report: issue 15 part B)."""

    name: str = "Direktorat Jenderal Kependudukan dan Pencatatan Sipil"
    language: Language = "id"
    chat: AudienceTarget | None = None
    telegram: TelegramSettings = TelegramSettings(enabled=False)

    @model_validator(mode="after")
    def _chat(self) -> MinistrySettings:
        if self.telegram.enabled and self.chat is None:
            raise ValueError("ministry.telegram is enabled but ministry.chat is not set")
        return self


class NationalReportSchedule(_Model):
    enabled: bool = True
    day: Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"] = "mon"
    time: ClockTime = time(8, 0)
    timezone: TimeZone = "Asia/Jakarta"


class HubSchedules(_Model):
    """When the hub speaks on its own (used by part B; validated now)."""

    weekly_report: NationalReportSchedule = NationalReportSchedule()
    silent_after: Duration = Field(default=timedelta(minutes=5),
                                   description="an office without a status this long is silent")
    silent_list: ClockTime | None = Field(default=time(7, 30), description="daily list of silent offices (WIB)")
    silent_list_timezone: TimeZone = "Asia/Jakarta"

    @field_validator("silent_after")
    @classmethod
    def _silent(cls, v: timedelta) -> timedelta:
        if v < timedelta(minutes=2):
            raise ValueError("silent_after must be at least 2m (offices send their status every minute)")
        return v


class HubConfig(_Model):
    """The whole HUB.yaml."""

    listen: HostPort = Field("127.0.0.1:8443", description="host:port")
    tls: HubTls | None = None
    behind_proxy: bool = Field(False, description="plain HTTP for a TLS-terminating proxy on this machine")
    forwarded_allow_ips: tuple[str, ...] = ("127.0.0.1",)
    database: HubDatabase
    limits: HubLimits = HubLimits()
    offices: tuple[HubOfficeConfig, ...] = ()
    ministry: MinistrySettings = MinistrySettings()
    schedules: HubSchedules = HubSchedules()
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @property
    def address(self) -> tuple[str, int]:
        return host_port(self.listen)

    # --- lookups
    def office(self, office_id: str) -> HubOfficeConfig:
        for o in self.offices:
            if o.id == office_id:
                return o
        raise KeyError(office_id)

    def tokens(self) -> Mapping[str, tuple[HubOfficeConfig, bool]]:
        """token hash -> (office, revoked)."""
        out: dict[str, tuple[HubOfficeConfig, bool]] = {}
        for o in self.offices:
            for h in o.tokens:
                out[h] = (o, False)
            for h in o.revoked_tokens:
                out[h] = (o, True)
        return out


def _problems(config: HubConfig, base: Path) -> Iterator[tuple[Loc, str]]:
    """What one key alone cannot say: the transport, duplicates across offices, files that must exist."""
    if config.tls is None and not config.behind_proxy:
        yield ("tls",), ("give tls (cert_file, key_file), or behind_proxy: true when a proxy on this machine "
                         "terminates HTTPS (tokens must never travel in clear)")
    if config.tls is not None and config.behind_proxy:
        yield ("behind_proxy",), "give either tls or behind_proxy, not both"
    if config.behind_proxy:
        host = config.address[0]
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = host == "localhost"
        if not loopback:
            yield ("listen",), f"behind_proxy: listen on a loopback address (the proxy is local), not {host!r}"
    if config.tls is not None:
        for key in ("cert_file", "key_file"):
            p = _abs(getattr(config.tls, key), base)
            if not p.is_file():
                yield ("tls", key), f"cannot read {p}"
    ids: dict[str, int] = {}
    owner: dict[str, str] = {}
    token_owner: dict[str, str] = {}
    for i, o in enumerate(config.offices):
        if o.id in ids:
            yield ("offices", i, "id"), f"duplicate office id {o.id!r} (also offices[{ids[o.id]}])"
        ids.setdefault(o.id, i)
        for j, code in enumerate(o.sites):
            if code in owner and owner[code] != o.id:
                yield ("offices", i, "sites", j), f"site {code} is listed for both {owner[code]!r} and {o.id!r}"
            owner.setdefault(code, o.id)
        for key in ("tokens", "revoked_tokens"):
            for j, h in enumerate(getattr(o, key)):
                if token_owner.get(h, o.id) != o.id:
                    yield ("offices", i, key, j), f"this token hash is also office {token_owner[h]!r}'s"
                token_owner.setdefault(h, o.id)
        for j, h in enumerate(o.revoked_tokens):
            if h in o.tokens:
                yield ("offices", i, "revoked_tokens", j), "a token cannot be both in tokens and revoked_tokens"


def load_hub_config(path: str | os.PathLike[str], environ: Mapping[str, str] | None = None) -> HubConfig:
    """Read and validate HUB.yaml; :class:`ConfigError` lists every issue with file, line and key path.
    Relative certificate paths are taken from the file's folder."""
    src, issues = read_source(path, environ)
    config = validate_source(HubConfig, src, issues)
    base = Path(path).resolve().parent
    problems = [src.issue(loc, msg) for loc, msg in _problems(config, base)]
    if problems:
        raise ConfigError(problems)
    if config.tls is not None:
        config = config.model_copy(update={"tls": HubTls(
            cert_file=str(_abs(config.tls.cert_file, base)), key_file=str(_abs(config.tls.key_file, base)))})
    return config


def _abs(path: str, base: Path) -> Path:
    p = Path(path)
    return p if p.is_absolute() else base / p


__all__ = ["DEFAULT_INGEST_ROLE", "HubConfig", "HubDatabase", "HubLimits", "HubOfficeConfig", "HubSchedules",
           "HubTls", "MinistrySettings", "NationalReportSchedule", "load_hub_config"]

