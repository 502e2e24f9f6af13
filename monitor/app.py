"""Composition root: the one place (with the CLI) that knows the concrete checks, alert channels and
simulators, and wires them into the core through constructors.

Everything else receives its collaborators; nothing reaches for a global.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Awaitable, Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine

import checks.profiles
import monitor.engine.maintenance
from monitor.settings import Settings, load_settings
from monitor.storage.db import create_db_engine

if TYPE_CHECKING:
    from checks.resources import CheckResources
    from checks.traps import TrapReceiver, TrapSources
    from monitor.domain import Check, DeviceRef, TrapEvent
    from monitor.errors import CheckSetupError


def load_config(path: str | os.PathLike[str], environ: Mapping[str, str] | None = None) -> Settings:
    """Load the config with every validation the installed parts add (the profile catalogue, the
    maintenance crons)."""
    return load_settings(path, extra_checks=[checks.profiles.validate_settings,
                                             monitor.engine.maintenance.validate_settings], environ=environ)


def config_warnings(settings: Settings) -> list[str]:
    """Non-fatal problems worth telling the operator (e.g. a config holding secrets is world-readable)."""
    warnings: list[str] = []
    if settings.source:
        try:
            mode = Path(settings.source).stat().st_mode
        except OSError:
            mode = 0
        if mode & stat.S_IROTH and _file_holds_secret(settings):
            warnings.append(f"{settings.source} is readable by every user and holds secrets; "
                            f"run: chmod 600 {settings.source}")
    return warnings


def _file_holds_secret(settings: Settings) -> bool:
    try:
        text = Path(settings.source).read_text(encoding="utf-8")
    except OSError:
        return False
    return any(s in text for s in settings.secrets if len(s) >= 4)


def open_database(settings: Settings) -> Engine:
    return create_db_engine(settings.database_url,
                            busy_timeout_s=settings.database.busy_timeout.total_seconds())


# ------------------------------------------------------------------------------ checks (issue 3)
# The daemon (issue 4) and `ektp-monitor check` build their checks here:
#
#     resources = build_check_resources(settings)        # one SNMP socket/engine, ICMP mode, profiles
#     checks = build_checks(settings, resources)        # {(DeviceRef, check key): Check}
#     checks[ref, key].restore(last_metrics, at=when)   # optional: SNMP/host checks keep deltas across restarts
#     result = await checks[ref, key].run(device, now=now)
#     receiver = build_trap_receiver(settings, on_event) # a Component: await receiver.start() / .stop()
#     ...
#     await resources.close()                           # on shutdown (releases the SNMP sockets)
#
# Imports are local so that `config validate` does not pay for pysnmp/icmplib.


def build_check_resources(settings: Settings) -> CheckResources:
    """What all checks of this process share. Close it (``await resources.close()``) on shutdown."""
    from checks.resources import CheckResources

    return CheckResources(profiles=checks.profiles.catalog_for(settings),
                          snmp_concurrency=settings.monitor.concurrency, base_dir=settings.base_dir,
                          snmp_backend=settings.monitor.snmp_backend)


def build_checks(settings: Settings, resources: CheckResources, *,
                 devices: Iterable[DeviceRef] | None = None,
                 on_setup_error: Callable[[DeviceRef, str, CheckSetupError], None] | None = None,
                 ) -> dict[tuple[DeviceRef, str], Check]:
    """One check object per enabled check of every device (or of ``devices``), keyed by
    ``(DeviceRef, check key)``. Check objects keep state between runs: build them once.

    Raises :class:`~monitor.errors.CheckSetupError` once when a ping check exists but ICMP is not
    permitted on this machine (the message says how to fix it) — unless ``on_setup_error`` is given:
    then that check is left out and ``on_setup_error(ref, key, error)`` is called instead.
    Raises :class:`~monitor.errors.ConfigError` for a profile that cannot be used.
    """
    from checks.host import HostCheck
    from checks.ping import PingCheck
    from checks.snmp import SnmpCheck
    from checks.tcp import TcpCheck
    from monitor.domain import DeviceRef, HostSpec, PingSpec, SnmpSpec, TcpSpec
    from monitor.errors import CheckSetupError

    wanted = set(devices) if devices is not None else None
    built: dict[tuple[DeviceRef, str], Check] = {}
    for site, dev in settings.iter_devices():
        ref = DeviceRef(site.id, dev.id)
        if wanted is not None and ref not in wanted:
            continue
        for spec in dev.checks:
            if not spec.enabled:
                continue
            check: Check
            if isinstance(spec, PingSpec):
                try:
                    privileged = resources.icmp_privileged()
                except CheckSetupError as exc:
                    if on_setup_error is None:
                        raise
                    on_setup_error(ref, spec.key, exc)
                    continue
                check = PingCheck(spec, privileged=privileged, sweeper=resources.icmp_sweeper())
            elif isinstance(spec, SnmpSpec):
                check = SnmpCheck(spec, resources)
            elif isinstance(spec, TcpSpec):
                check = TcpCheck(spec)
            elif isinstance(spec, HostSpec):
                check = HostCheck(spec, base_dir=str(settings.base_dir))
            else:  # pragma: no cover - the config union has exactly these four
                raise TypeError(f"unknown check spec {type(spec).__name__}")
            built[(ref, spec.key)] = check
    return built


def build_trap_sources(settings: Settings) -> TrapSources:
    """Source address -> devices (with their kind and their profiles' trap rules), for trap attribution."""
    from checks.traps import TrapRule, TrapSource, TrapSources
    from monitor.domain import DeviceRef, SnmpSpec

    catalog = checks.profiles.catalog_for(settings)
    sources = TrapSources()
    for site, dev in settings.iter_devices():
        ref = DeviceRef(site.id, dev.id)
        rules: list[TrapRule] = []
        addresses = {dev.address} if dev.address else set()
        for spec in dev.checks:
            address = getattr(spec, "address", None)
            if address:
                addresses.add(address)
            if isinstance(spec, SnmpSpec):
                # profile: auto -> the trap rules of every profile it may choose for this kind of device
                for profile in catalog.for_spec(spec.profile, dev.kind.value):
                    try:
                        bound = profile.bind({k: v for k, v in spec.params.items() if k in profile.definition.params})
                    except ValueError:       # ProfileError: a candidate that needs a param this check lacks
                        continue
                    rules += [TrapRule(oid, kind, text) for oid, kind, text in bound.trap_rules]
        for address in addresses:
            sources.add(address, TrapSource(ref, dev.kind, tuple(rules)))
    return sources


def build_trap_receiver(settings: Settings, on_event: Callable[[TrapEvent], Awaitable[None]]) -> TrapReceiver:
    """The SNMP trap receiver (a Component: ``name``, ``start``, ``stop``) for ``settings.traps``.

    ``on_event`` is awaited for every :class:`~monitor.domain.TrapEvent`, including refused ones
    (``accepted=False``, once per source per 5 minutes). ``receiver.counters`` counts everything.
    Hostnames in device addresses are not resolved: traps are matched by IP address, and a datagram from
    an address that is no device's (nor in ``traps.allowed_sources``) is dropped before it is decoded.
    """
    from checks.traps import TrapReceiver

    traps = settings.traps
    return TrapReceiver(listen=traps.address, communities=[c.get_secret_value() for c in traps.communities],
                        sources=build_trap_sources(settings), on_event=on_event, v3_users=traps.v3_users,
                        max_per_second=traps.max_per_second, allowed_sources=traps.allowed_sources,
                        max_bytes=traps.max_bytes)
