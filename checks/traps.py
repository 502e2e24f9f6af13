"""SNMP trap receiver: UPS and surge-protector traps become :class:`~monitor.domain.TrapEvent` s at once,
without waiting for the next poll.

Design (library-findings §1: pysnmp's own receiver drops a bad-community trap silently):

* every datagram is judged by :class:`checks.trapgate.DatagramGate` first, before any decoding: its size
  (``max_bytes``), its source (a configured device's address or ``allowed_sources``; anything else is
  dropped unread) and a token bucket (``max_per_second``) — a flood from strangers costs one
  ``recvfrom_into`` and a set lookup per datagram and never starves polling. Accepted datagrams wait in a
  bounded queue for one worker task that yields to the event loop after each message;
* v1/v2c: the community is read with a tiny BER reader (no full decode for a bad community), compared
  in constant time, then the message is decoded with pysnmp's protocol modules. Informs are answered.
* v3 (only when ``v3_users`` are configured): the datagram is handed to an embedded pysnmp engine
  (USM: users, keys, the sender's engine ID), whose unknown-user / wrong-digest counters tell us why a
  trap was refused;
* every refusal — oversized, unknown source, bad community, unknown v3 user, wrong key, malformed
  packet, rate limit — is counted (:attr:`TrapReceiver.counters`), logged once per source per ``log_interval``, and
  (bad community / v3 auth) reported once per interval as a ``TrapEvent`` with ``accepted=False``.

Attribution: the source IP is looked up in :class:`TrapSources` (built from the config by
``monitor.app.build_trap_receiver``); a trap from an address in ``allowed_sources`` that is no device's is
decoded and reported without a device. Several devices may share one address (a UPS card that also carries
the SPD contact): UPS traps go to the ``ups`` devices there, contact traps to the ``spd`` devices, other
traps to all of them; one event per device.

Mapped traps: RFC 1628 ``upsTraps`` (on battery, test completed, alarm entry added/removed with the
alarm descriptor), APC PowerNet (on battery, power restored, low battery, replace battery, bypass,
overload, contact fault / resolved, bad voltage, ...), Megatec XPPC (same numbering), and per-device rules
from profiles (``traps:`` in a profile file, e.g. a strike counter's own trap).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from checks.trapgate import DatagramGate, SourceFilter, norm_ip
from checks.values import SnmpValue
from monitor.domain import DeviceKind, DeviceRef, MetricValue, Observation, ObservationKind, TrapEvent
from monitor.lifecycle import cancel_task

__all__ = ["TrapReceiver", "TrapRule", "TrapSource", "TrapSources", "decode_community", "map_trap"]

log = logging.getLogger(__name__)

MAX_DATAGRAM = 65507
DEFAULT_MAX_BYTES = 8192
MAX_VARBINDS = 64
SNMP_TRAP_OID = "1.3.6.1.6.3.1.1.4.1.0"
SYS_UPTIME = "1.3.6.1.2.1.1.3.0"
_V1_AGENT_ADDR = "1.3.6.1.6.3.18.1.3.0"   # snmpTrapAddress.0: a v1 trap's agent-addr, kept as a varbind

OnEvent = Callable[[TrapEvent], Awaitable[None]]


# ------------------------------------------------------------------------------------ attribution


@dataclass(frozen=True, slots=True)
class TrapRule:
    """A device-specific mapping (from its profile): trap OID -> observation kind."""

    oid: str
    kind: ObservationKind
    text: str = ""


@dataclass(frozen=True, slots=True)
class TrapSource:
    """A configured device that may send traps from an address."""

    device: DeviceRef
    kind: DeviceKind
    rules: tuple[TrapRule, ...] = ()


class TrapSources:
    """Source IP -> the devices polled at that address."""

    def __init__(self, entries: Iterable[tuple[str, TrapSource]] = ()) -> None:
        self._by_ip: dict[str, list[TrapSource]] = {}
        for address, source in entries:
            self.add(address, source)

    def add(self, address: str, source: TrapSource) -> None:
        key = _norm_ip(address)
        bucket = self._by_ip.setdefault(key, [])
        if all(s.device != source.device for s in bucket):
            bucket.append(source)
        else:  # merge rules of several checks of one device
            for i, s in enumerate(bucket):
                if s.device == source.device:
                    bucket[i] = TrapSource(s.device, s.kind, tuple(dict.fromkeys((*s.rules, *source.rules))))

    def lookup(self, ip: str) -> list[TrapSource]:
        return list(self._by_ip.get(_norm_ip(ip), ()))

    def __contains__(self, ip: object) -> bool:
        """Whether ``ip`` (normalized: :func:`checks.trapgate.norm_ip`) is a device's address."""
        return ip in self._by_ip

    def __len__(self) -> int:
        return len(self._by_ip)


_norm_ip = norm_ip


# ------------------------------------------------------------------------------------------ mapping

_UPS_MIB_ALARMS: dict[str, tuple[str, ObservationKind | None]] = {
    "1.3.6.1.2.1.33.1.6.3.1": ("upsAlarmBatteryBad", ObservationKind.REPLACE_BATTERY),
    "1.3.6.1.2.1.33.1.6.3.2": ("upsAlarmOnBattery", ObservationKind.ON_BATTERY),
    "1.3.6.1.2.1.33.1.6.3.3": ("upsAlarmLowBattery", ObservationKind.LOW_BATTERY),
    "1.3.6.1.2.1.33.1.6.3.4": ("upsAlarmDepletedBattery", ObservationKind.LOW_BATTERY),
    "1.3.6.1.2.1.33.1.6.3.5": ("upsAlarmTempBad", ObservationKind.TEMPERATURE_HIGH),
    "1.3.6.1.2.1.33.1.6.3.6": ("upsAlarmInputBad", ObservationKind.LINE_BAD),
    "1.3.6.1.2.1.33.1.6.3.7": ("upsAlarmOutputBad", None),
    "1.3.6.1.2.1.33.1.6.3.8": ("upsAlarmOutputOverload", ObservationKind.OVERLOAD),
    "1.3.6.1.2.1.33.1.6.3.9": ("upsAlarmOnBypass", ObservationKind.BYPASS),
    "1.3.6.1.2.1.33.1.6.3.10": ("upsAlarmBypassBad", None),
    "1.3.6.1.2.1.33.1.6.3.11": ("upsAlarmOutputOffAsRequested", None),
    "1.3.6.1.2.1.33.1.6.3.12": ("upsAlarmUpsOffAsRequested", None),
    "1.3.6.1.2.1.33.1.6.3.13": ("upsAlarmChargerFailed", None),
    "1.3.6.1.2.1.33.1.6.3.14": ("upsAlarmUpsOutputOff", None),
    "1.3.6.1.2.1.33.1.6.3.15": ("upsAlarmUpsSystemOff", None),
    "1.3.6.1.2.1.33.1.6.3.16": ("upsAlarmFanFailure", None),
    "1.3.6.1.2.1.33.1.6.3.17": ("upsAlarmFuseFailure", None),
    "1.3.6.1.2.1.33.1.6.3.18": ("upsAlarmGeneralFault", None),
    "1.3.6.1.2.1.33.1.6.3.19": ("upsAlarmDiagnosticTestFailed", None),
    "1.3.6.1.2.1.33.1.6.3.20": ("upsAlarmCommunicationsLost", None),
    "1.3.6.1.2.1.33.1.6.3.21": ("upsAlarmAwaitingPower", None),
    "1.3.6.1.2.1.33.1.6.3.22": ("upsAlarmShutdownPending", ObservationKind.LOW_BATTERY),
    "1.3.6.1.2.1.33.1.6.3.23": ("upsAlarmShutdownImminent", ObservationKind.LOW_BATTERY),
    "1.3.6.1.2.1.33.1.6.3.24": ("upsAlarmTestInProgress", None),
}
# What clears when an alarm entry is removed.
_UPS_MIB_CLEARED = {"upsAlarmOnBattery": ObservationKind.ON_MAINS}

# APC PowerNet-MIB TRAP-TYPEs (enterprise 1.3.6.1.4.1.318, v2 form .318.0.N) and Megatec XPPC-MIB, which
# reuses APC's numbering for 1–15 (enterprise 1.3.6.1.4.1.935). (name, kind, category)
_APC: dict[int, tuple[str, ObservationKind | None, str]] = {
    1: ("communicationLost", None, "ups"), 2: ("upsOverload", ObservationKind.OVERLOAD, "ups"),
    3: ("upsDiagnosticsFailed", None, "ups"), 4: ("upsDischarged", ObservationKind.LOW_BATTERY, "ups"),
    5: ("upsOnBattery", ObservationKind.ON_BATTERY, "ups"),
    6: ("smartBoostOn", ObservationKind.VOLTAGE_ABNORMAL, "ups"),
    7: ("lowBattery", ObservationKind.LOW_BATTERY, "ups"), 8: ("communicationEstablished", None, "ups"),
    9: ("powerRestored", ObservationKind.ON_MAINS, "ups"), 10: ("upsDiagnosticsPassed", None, "ups"),
    11: ("returnFromLowBattery", None, "ups"), 12: ("upsTurnedOff", None, "ups"), 13: ("upsSleeping", None, "ups"),
    14: ("upsWokeUp", None, "ups"), 15: ("upsRebootStarted", None, "ups"),
}
_APC_ONLY: dict[int, tuple[str, ObservationKind | None, str]] = {
    17: ("upsBatteryNeedsReplacement", ObservationKind.REPLACE_BATTERY, "ups"),
    18: ("contactFault", ObservationKind.SPD_TRIPPED, "spd"),
    19: ("contactFaultResolved", ObservationKind.SPD_OK, "spd"),
    20: ("hardwareFailureBypass", ObservationKind.BYPASS, "ups"), 21: ("softwareBypass", ObservationKind.BYPASS, "ups"),
    22: ("switchedBypass", ObservationKind.BYPASS, "ups"), 23: ("returnFromBypass", None, "ups"),
    29: ("restartAgent", ObservationKind.REBOOT, "any"),
    31: ("smartAvrReducing", ObservationKind.VOLTAGE_ABNORMAL, "ups"),
    33: ("upsOverloadCleared", None, "ups"), 36: ("upsBatteryReplaced", None, "ups"),
    49: ("badVoltage", ObservationKind.VOLTAGE_ABNORMAL, "ups"), 50: ("badVoltageCleared", None, "ups"),
    53: ("batteryOverTemperature", ObservationKind.TEMPERATURE_HIGH, "ups"),
    59: ("temperatureThresholdViolation1", ObservationKind.TEMPERATURE_HIGH, "any"),
    63: ("temperatureThresholdViolation2", ObservationKind.TEMPERATURE_HIGH, "any"),
}
_GENERIC = {"1.3.6.1.6.3.1.1.5.1": ("coldStart", ObservationKind.REBOOT), "1.3.6.1.6.3.1.1.5.2": ("warmStart", None),
            "1.3.6.1.6.3.1.1.5.3": ("linkDown", ObservationKind.LINK_DOWN),
            "1.3.6.1.6.3.1.1.5.4": ("linkUp", ObservationKind.LINK_UP),
            "1.3.6.1.6.3.1.1.5.5": ("authenticationFailure", None)}

_TEXT = {
    ObservationKind.ON_BATTERY: "UPS switched to battery (trap)",
    ObservationKind.ON_MAINS: "UPS back on mains power (trap)",
    ObservationKind.LOW_BATTERY: "UPS battery low (trap)",
    ObservationKind.REPLACE_BATTERY: "UPS battery needs replacement (trap)",
    ObservationKind.OVERLOAD: "UPS overloaded (trap)",
    ObservationKind.BYPASS: "UPS on bypass (trap)",
    ObservationKind.VOLTAGE_ABNORMAL: "abnormal mains voltage (trap)",
    ObservationKind.LINE_BAD: "UPS input line bad (trap)",
    ObservationKind.TEMPERATURE_HIGH: "temperature too high (trap)",
    ObservationKind.SPD_TRIPPED: "surge protector contact in alarm (trap)",
    ObservationKind.SPD_OK: "surge protector contact normal again (trap)",
    ObservationKind.REBOOT: "the agent restarted (trap)",
    ObservationKind.LINK_DOWN: "a link went down (trap)",
    ObservationKind.LINK_UP: "a link came up (trap)",
    ObservationKind.STRIKE: "lightning/surge strike (trap)",
}


def _text(value: SnmpValue | None) -> str:
    if value is None or value.value is None:
        return "" if value is None else value.tag
    if isinstance(value.value, bytes):
        return "".join(ch if ch.isprintable() else "?" for ch in value.value[:200].decode("utf-8", "replace"))
    return str(value.value)[:200]


def map_trap(trap_oid: str, varbinds: Mapping[str, SnmpValue], rules: Sequence[TrapRule] = (),
             ) -> tuple[str, str, list[tuple[ObservationKind, str, dict[str, MetricValue]]]]:
    """``(name, category, [(kind, text, values)])`` for a trap. Pure; unknown traps map to TRAP."""
    facts: list[tuple[ObservationKind, str, dict[str, MetricValue]]] = []
    for rule in rules:
        if rule.oid == trap_oid:
            facts.append((rule.kind, rule.text or _TEXT.get(rule.kind, rule.kind.value), {"trap": trap_oid}))
    if trap_oid.startswith("1.3.6.1.2.1.33.2.0."):
        return _ups_mib(trap_oid, varbinds, facts)
    for prefix, table in (("1.3.6.1.4.1.318.0.", {**_APC, **_APC_ONLY}), ("1.3.6.1.4.1.935.0.", _APC)):
        if trap_oid.startswith(prefix) and trap_oid[len(prefix):].isdigit():
            number = int(trap_oid[len(prefix):])
            if number in table:
                name, kind, category = table[number]
                values: dict[str, MetricValue] = {}
                for oid, value in varbinds.items():   # APC sends the contact number/name, runtime... as text
                    if oid not in (SYS_UPTIME, SNMP_TRAP_OID, _V1_AGENT_ADDR) and len(values) < 8:
                        values[f"var{len(values) + 1}"] = _text(value)
                if kind is not None:
                    facts.append((kind, _TEXT.get(kind, name), values))
                return name, category, facts or [(ObservationKind.TRAP, f"{name} (trap)", values)]
    if trap_oid in _GENERIC:
        name, kind = _GENERIC[trap_oid]
        return name, "any", facts or [(kind or ObservationKind.TRAP, f"{name} (trap)", {})]
    name = "enterprise trap" if not facts else "profile trap"
    return name, "any", facts or [(ObservationKind.TRAP, f"trap {trap_oid}", {"trap": trap_oid})]


def _ups_mib(trap_oid: str, varbinds: Mapping[str, SnmpValue],
             facts: list[tuple[ObservationKind, str, dict[str, MetricValue]]],
             ) -> tuple[str, str, list[tuple[ObservationKind, str, dict[str, MetricValue]]]]:
    number = trap_oid.rsplit(".", 1)[1]
    values: dict[str, MetricValue] = {}
    for oid, value in varbinds.items():
        if oid.startswith("1.3.6.1.2.1.33.1.2.3") and isinstance(value.value, int):
            values["runtime_s"] = value.value * 60
        elif oid.startswith("1.3.6.1.2.1.33.1.2.2") and isinstance(value.value, int):
            values["seconds_on_battery"] = value.value
    if number == "1":
        facts.append((ObservationKind.ON_BATTERY, _TEXT[ObservationKind.ON_BATTERY], values))
        return "upsTrapOnBattery", "ups", facts
    if number == "2":
        return "upsTrapTestCompleted", "ups", facts or [(ObservationKind.TRAP, "UPS self-test completed (trap)", {})]
    if number in ("3", "4"):
        added = number == "3"
        descrs = [str(v.value) for o, v in varbinds.items()
                  if o.startswith("1.3.6.1.2.1.33.1.6.2.1.2") and v.tag == "oid"]
        for descr in descrs:
            alarm, kind = _UPS_MIB_ALARMS.get(descr.strip("."), (descr, None))
            if added and kind is not None:
                facts.append((kind, f"UPS alarm {alarm} (trap)", {"alarm": alarm, **values}))
            elif not added and alarm in _UPS_MIB_CLEARED:
                facts.append((_UPS_MIB_CLEARED[alarm], f"UPS alarm {alarm} cleared (trap)", {"alarm": alarm}))
            else:
                facts.append((ObservationKind.TRAP, f"UPS alarm {alarm} {'raised' if added else 'cleared'} (trap)",
                              {"alarm": alarm, "cleared": not added}))
        name = "upsTrapAlarmEntryAdded" if added else "upsTrapAlarmEntryRemoved"
        return name, "ups", facts or [(ObservationKind.TRAP, f"{name} (trap)", {})]
    return f"upsTrap.{number}", "ups", facts or [(ObservationKind.TRAP, f"UPS trap {trap_oid}", {})]


# ------------------------------------------------------------------------------------------- decoding


class Malformed(Exception):
    pass


def _ber_header(data: bytes, pos: int) -> tuple[int, int, int]:
    """(tag, content start, content length) of the TLV at ``pos``; raises Malformed."""
    if pos + 2 > len(data):
        raise Malformed("truncated")
    tag = data[pos]
    first = data[pos + 1]
    pos += 2
    if first < 0x80:
        length = first
    else:
        count = first & 0x7F
        if count == 0 or count > 4 or pos + count > len(data):
            raise Malformed("bad length")
        length = int.from_bytes(data[pos:pos + count], "big")
        pos += count
    if pos + length > len(data):
        raise Malformed("length beyond the datagram")
    return tag, pos, length


def decode_community(data: bytes) -> tuple[int, bytes | None]:
    """``(version, community)`` read cheaply from a v1/v2c message (community None for v3).

    Raises :class:`Malformed` for anything that is not an SNMP message."""
    tag, pos, _length = _ber_header(data, 0)
    if tag != 0x30:
        raise Malformed("not a SEQUENCE")
    tag, vpos, vlen = _ber_header(data, pos)
    if tag != 0x02 or not 1 <= vlen <= 4:
        raise Malformed("no version")
    version = int.from_bytes(data[vpos:vpos + vlen], "big", signed=True)
    if version == 3:
        return 3, None
    if version not in (0, 1):
        raise Malformed(f"unknown SNMP version {version}")
    tag, cpos, clen = _ber_header(data, vpos + vlen)
    if tag != 0x04:
        raise Malformed("no community")
    return version, bytes(data[cpos:cpos + clen])


@dataclass
class _Decoded:
    version: str
    trap_oid: str
    varbinds: dict[str, SnmpValue]
    inform_response: bytes | None = None


def _decode_v1v2c(data: bytes) -> _Decoded:
    from pyasn1.codec.ber import decoder, encoder
    from pysnmp.proto import api

    from checks.snmp_backend import _convert

    mp = api.decodeMessageVersion(data)
    p_mod = api.PROTOCOL_MODULES[mp]
    msg, _rest = decoder.decode(data, asn1Spec=p_mod.Message())
    pdu = p_mod.apiMessage.get_pdu(msg)
    varbinds: dict[str, SnmpValue] = {}
    if mp == api.SNMP_VERSION_1:
        if not pdu.isSameTypeWith(p_mod.TrapPDU()):
            raise Malformed("not a trap")
        enterprise = ".".join(str(x) for x in p_mod.apiTrapPDU.get_enterprise(pdu))
        generic = int(p_mod.apiTrapPDU.get_generic_trap(pdu))
        specific = int(p_mod.apiTrapPDU.get_specific_trap(pdu))
        # RFC 3584 §3.1: the SNMPv2 form of a v1 trap
        trap_oid = f"{enterprise}.0.{specific}" if generic == 6 else f"1.3.6.1.6.3.1.1.5.{generic + 1}"
        for oid, value in list(p_mod.apiTrapPDU.get_varbinds(pdu))[:MAX_VARBINDS]:
            varbinds[".".join(str(x) for x in oid)] = _convert(value)
        varbinds.setdefault(_V1_AGENT_ADDR, SnmpValue("ipaddress", str(
            p_mod.apiTrapPDU.get_agent_address(pdu).prettyPrint())))
        return _Decoded("1", trap_oid, varbinds)
    inform = pdu.isSameTypeWith(p_mod.InformRequestPDU())
    if not (inform or pdu.isSameTypeWith(p_mod.SNMPv2TrapPDU())):
        raise Malformed("not a trap or inform")
    for oid, value in list(p_mod.apiPDU.get_varbinds(pdu))[:MAX_VARBINDS]:
        varbinds[".".join(str(x) for x in oid)] = _convert(value)
    trap = varbinds.get(SNMP_TRAP_OID)
    if trap is None or trap.tag != "oid":
        raise Malformed("no snmpTrapOID.0")
    response = None
    if inform:
        rsp_pdu = p_mod.apiPDU.get_response(pdu)
        p_mod.apiPDU.set_varbinds(rsp_pdu, p_mod.apiPDU.get_varbinds(pdu))
        rsp = p_mod.apiMessage.get_response(msg)
        p_mod.apiMessage.set_pdu(rsp, rsp_pdu)
        response = bytes(encoder.encode(rsp))
    return _Decoded("2c", str(trap.value), varbinds, response)


# ------------------------------------------------------------------------------------------ receiver


@dataclass
class TrapCounters:
    """Why packets were accepted or refused (exposed for the daemon's status and logs)."""

    received: int = 0
    accepted: int = 0
    events: int = 0
    bad_community: int = 0
    v3_unknown_user: int = 0
    v3_auth_failed: int = 0
    unknown_source: int = 0
    oversized: int = 0
    malformed: int = 0
    rate_limited: int = 0
    queue_full: int = 0
    callback_errors: int = 0
    by_source: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, int]:
        return {k: v for k, v in self.__dict__.items() if isinstance(v, int)}


class TrapReceiver:
    """A daemon component (``name``, ``start``, ``stop``) that turns traps into :class:`TrapEvent` s.

    ``on_event`` is awaited for each event, one at a time, from the receiver's worker task; it should be
    quick (queue the event for the engine). Exceptions from it are counted and logged, never fatal.
    ``allowed_sources`` (addresses or networks) may send traps besides the devices in ``sources``;
    datagrams longer than ``max_bytes`` are dropped unread.
    """

    name = "traps"

    def __init__(self, *, listen: tuple[str, int], communities: Sequence[str], sources: TrapSources,
                 on_event: OnEvent, v3_users: Sequence[Any] = (), max_per_second: int = 2000,
                 log_interval: float = 300.0, queue_size: int | None = None,
                 now: Callable[[], datetime] | None = None, allowed_sources: Sequence[str] = (),
                 max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.listen = listen
        self._communities = [c.encode() for c in communities if c]
        self.sources = sources
        self.allowed_sources = tuple(allowed_sources)
        self.on_event = on_event
        self.v3_users = list(v3_users)
        self.max_per_second = max(1, max_per_second)
        self.log_interval = log_interval
        self.counters = TrapCounters()
        self._now = now or (lambda: datetime.now(UTC))
        self._wakeup = asyncio.Event()
        self.gate = DatagramGate(counters=self.counters, sources=SourceFilter(sources, allowed_sources),
                                 max_bytes=min(max_bytes, MAX_DATAGRAM), max_per_second=self.max_per_second,
                                 queue_max=queue_size or min(10000, 2 * self.max_per_second),
                                 log_once=self._log_once, wakeup=self._wakeup)
        self._worker: asyncio.Task[None] | None = None
        self._logged: dict[tuple[str, str], tuple[float, int]] = {}
        self._v3: _V3Engine | None = None
        self.address: tuple[str, int] | None = None

    def adopt(self, other: TrapReceiver) -> None:
        """Take the attribution (devices' addresses, allowed sources) of a receiver built from a reloaded
        config whose ``traps`` section did not change: the socket stays open, nothing is missed."""
        self.sources = other.sources
        self.allowed_sources = other.allowed_sources
        self.gate.sources = other.gate.sources

    # -- lifecycle
    async def start(self) -> None:
        if self.gate.address is not None:
            return
        host, port = self.listen
        self.address = self.gate.open(host, port)
        if self.v3_users:
            self._v3 = _V3Engine(self.v3_users, self.gate.sendto)
        self._worker = asyncio.create_task(self._run(), name="trap-receiver")
        log.info("trap receiver listening on %s:%d (%d communities, %d v3 users, %d source addresses, "
                 "%d allowed sources)", self.address[0], self.address[1], len(self._communities), len(self.v3_users),
                 len(self.sources), len(self.allowed_sources))

    async def stop(self) -> None:
        worker, self._worker = self._worker, None
        await cancel_task(worker)
        self.gate.close()
        self.gate.address = None
        if self._v3 is not None:
            self._v3.close()
            self._v3 = None

    async def _run(self) -> None:
        queue, refusals = self.gate.queue, self.gate.refusals
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while refusals:
                ip, why = refusals.popleft()
                await self._emit_refused(ip, "?", why)
            while queue:
                data, source = queue.popleft()
                try:
                    await self._handle(data, source)
                except Exception:  # a bug must not stop the receiver
                    log.exception("trap from %s could not be handled", source[0])
                await asyncio.sleep(0)   # let polling run between traps

    # -- per message
    async def _handle(self, data: bytes, source: tuple[str, int]) -> None:
        c = self.counters
        ip = source[0]
        try:
            version, community = decode_community(data)
        except Malformed as exc:
            c.malformed += 1
            self._log_once("malformed", ip, f"malformed SNMP packet ({exc})")
            return
        if version == 3:
            await self._handle_v3(data, source)
            return
        assert community is not None
        if not any(hmac.compare_digest(community, known) for known in self._communities):
            c.bad_community += 1
            if self._log_once("community", ip, "trap with a wrong community refused"):
                await self._emit_refused(ip, "1" if version == 0 else "2c", "bad community")
            return
        try:
            decoded = _decode_v1v2c(data)
        except Exception as exc:  # pyasn1 raises many kinds for hostile input
            c.malformed += 1
            self._log_once("malformed", ip, f"malformed trap ({type(exc).__name__})")
            return
        if decoded.inform_response is not None:
            self.gate.sendto(decoded.inform_response, source)
        await self._accept(ip, decoded)

    async def _handle_v3(self, data: bytes, source: tuple[str, int]) -> None:
        c = self.counters
        ip = source[0]
        if self._v3 is None:
            c.v3_unknown_user += 1
            if self._log_once("v3", ip, "SNMPv3 trap refused: no v3 users configured (traps.v3_users)"):
                await self._emit_refused(ip, "3", "no v3 users configured")
            return
        try:
            outcome, decoded = self._v3.feed(data, source)
        except Exception as exc:
            c.malformed += 1
            self._log_once("malformed", ip, f"malformed SNMPv3 message ({type(exc).__name__})")
            return
        if decoded is not None:
            await self._accept(ip, decoded)
            return
        if outcome == "unknown_user":
            c.v3_unknown_user += 1
            if self._log_once("v3user", ip, "SNMPv3 trap from an unknown user refused"):
                await self._emit_refused(ip, "3", "unknown user")
        elif outcome == "auth":
            c.v3_auth_failed += 1
            if self._log_once("v3auth", ip, "SNMPv3 trap refused: wrong key, protocol or engine ID"):
                await self._emit_refused(ip, "3", "authentication failed")
        # "report": discovery or time sync handled by the engine; nothing to count

    async def _accept(self, ip: str, decoded: _Decoded) -> None:
        c = self.counters
        c.accepted += 1
        c.by_source[ip] = c.by_source.get(ip, 0) + 1
        if len(c.by_source) > 10000:
            c.by_source.clear()
        sources = self.sources.lookup(ip)
        rules = tuple(r for s in sources for r in s.rules)
        name, category, facts = map_trap(decoded.trap_oid, decoded.varbinds, rules)
        received = self._now()
        varbinds = tuple((oid, _text(v)) for oid, v in decoded.varbinds.items())
        targets: list[TrapSource | None]
        if not sources:   # an allowed source that is no device (the gate refused every other address)
            targets = [None]
        else:
            preferred = [s for s in sources if category in ("ups", "spd") and s.kind.value == category]
            targets = list(preferred or sources)
        for target in targets:
            observations = tuple(Observation(received, kind, text, "trap", {**values, "trap": name})
                                 for kind, text, values in facts)
            event = TrapEvent(received_at=received, source=ip, trap_oid=decoded.trap_oid, name=name,
                              version=decoded.version, device=target.device if target else None, accepted=True,
                              varbinds=varbinds, observations=observations)
            await self._deliver(event)

    async def _emit_refused(self, ip: str, version: str, why: str) -> None:
        targets: list[TrapSource | None] = list(self.sources.lookup(ip)) or [None]
        for target in targets:
            event = TrapEvent(received_at=self._now(), source=ip, trap_oid="", name=why, version=version,
                              device=target.device if target else None, accepted=False)
            await self._deliver(event)

    async def _deliver(self, event: TrapEvent) -> None:
        self.counters.events += 1
        try:
            await self.on_event(event)
        except Exception:
            self.counters.callback_errors += 1
            log.exception("trap event handler failed for %s", event.source)

    def _log_once(self, reason: str, source: str, message: str) -> bool:
        """Log ``message`` once per (reason, source) per interval; True when it was logged now."""
        key = (reason, source)
        now = time.monotonic()
        last, suppressed = self._logged.get(key, (-1e18, 0))
        if now - last < self.log_interval:
            self._logged[key] = (last, suppressed + 1)
            return False
        extra = f" ({suppressed} more since the last message)" if suppressed else ""
        if source == "*":
            log.warning("trap receiver: %s%s", message, extra)
        else:
            log.warning("trap receiver: %s from %s%s", message, source, extra)
        if len(self._logged) > 10000:
            self._logged.clear()
        self._logged[key] = (now, 0)
        return True


# ------------------------------------------------------------------------------------------ SNMPv3


# unknown user first; then the refusals that mean a wrong key or protocol. (usmStatsUnknownEngineIDs and
# usmStatsNotInTimeWindows also count the normal discovery/time-sync exchange of an inform: not failures.)
_USM_STATS = ("usmStatsUnknownUserNames", "usmStatsWrongDigests", "usmStatsDecryptionErrors",
              "usmStatsUnsupportedSecLevels")


class _V3Engine:
    """An embedded pysnmp v3arch engine fed one datagram at a time (USM needs its state machine)."""

    def __init__(self, users: Sequence[Any], sendto: Callable[[bytes, tuple[str, int]], None]) -> None:
        from pysnmp.carrier.asyncio.base import AbstractAsyncioTransport
        from pysnmp.carrier.asyncio.dgram import udp
        from pysnmp.entity import config, engine
        from pysnmp.entity.rfc3413 import ntfrcv
        from pysnmp.hlapi.v3arch import asyncio as v3

        from checks.snmp_backend import _AUTH_PROTOCOLS, _PRIV_PROTOCOLS, _convert
        from checks.snmpclock import monotonic_dispatcher

        self._convert = _convert

        class Bridge(AbstractAsyncioTransport):  # type: ignore[misc]
            def send_message(self, outgoing: bytes, address: Any) -> None:
                sendto(bytes(outgoing), (str(address[0]), int(address[1])))

        self.engine = engine.SnmpEngine()
        self.engine.register_transport_dispatcher(monotonic_dispatcher()())   # cache expiry on monotonic ticks
        self.bridge = Bridge()
        self.domain = udp.DOMAIN_NAME
        config.add_transport(self.engine, udp.DOMAIN_NAME, self.bridge)
        for u in users:
            auth = getattr(v3, _AUTH_PROTOCOLS[u.auth_protocol]) if u.auth_protocol else config.USM_AUTH_NONE
            priv = getattr(v3, _PRIV_PROTOCOLS[u.priv_protocol]) if u.priv_protocol else config.USM_PRIV_NONE
            kwargs: dict[str, Any] = {}
            if u.engine_id:
                kwargs["securityEngineId"] = v3.OctetString(hexValue=u.engine_id.removeprefix("0x"))
            config.add_v3_user(self.engine, u.user, auth, u.auth_key.get_secret_value() if u.auth_key else None,
                               priv, u.priv_key.get_secret_value() if u.priv_key else None, **kwargs)
        self._got: list[_Decoded] = []
        ntfrcv.NotificationReceiver(self.engine, self._on_notification)
        builder = self.engine.get_mib_builder()
        self._stats = [builder.import_symbols("__SNMP-USER-BASED-SM-MIB", name)[0] for name in _USM_STATS]

    def _on_notification(self, _engine: Any, _state: Any, _ctx_engine: Any, _ctx: Any, var_binds: Any,
                         _cb: Any) -> None:
        varbinds = {".".join(str(x) for x in oid): self._convert(val) for oid, val in list(var_binds)[:MAX_VARBINDS]}
        trap = varbinds.get(SNMP_TRAP_OID)
        self._got.append(_Decoded("3", str(trap.value) if trap and trap.tag == "oid" else "", varbinds))

    def feed(self, data: bytes, source: tuple[str, int]) -> tuple[str, _Decoded | None]:
        from pysnmp.carrier.asyncio.dgram.udp import UdpTransportAddress

        before = [int(s.syntax) for s in self._stats]
        self._got.clear()
        callback = self.bridge._callback_function
        if callback is None:
            return "closed", None
        callback(self.bridge, UdpTransportAddress(source), data)
        if self._got:
            return "ok", self._got[-1]
        after = [int(s.syntax) for s in self._stats]
        if after[0] > before[0]:
            return "unknown_user", None
        if any(a > b for a, b in zip(after[1:], before[1:], strict=True)):
            return "auth", None
        return "report", None

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.engine.close_dispatcher()
