"""SNMP values, backend-neutral, and how a profile interprets them.

A backend (pysnmp today, ezsnmp later) turns whatever its library returns into :class:`SnmpValue`
(a type tag and a plain Python value), so the profile engine never sees library types. Interpretation
against the type a profile declares is pure and decides one of three outcomes for each value:

* a usable value (int, float or str);
* **missing** — noSuchObject/noSuchInstance/endOfMibView, NULL, or a declared "not available"
  sentinel such as -1: the metric is simply absent;
* a universal placeholder (:data:`SENTINELS`: 65535, 4294967295, 2^31-1...) in a non-counter: garbage with
  "not available", so the profile drops the metric and says why;
* **wrong type** (an OCTET STRING or OID where a number belongs) or **garbage** (negative counter,
  value outside its sane range, a huge string): reported, never turned into a number.

Counter and TimeTicks arithmetic (wrap at 2^32 / 2^64, reset after a reboot) lives here too.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Literal

__all__ = ["COUNTER32_MOD", "COUNTER64_MOD", "TIMETICKS_MOD", "Interpreted", "SnmpValue", "ValueType",
           "counter_delta", "interpret", "tidy_number", "uptime_restarted"]

COUNTER32_MOD = 2**32
COUNTER64_MOD = 2**64
TIMETICKS_MOD = 2**32

Tag = Literal["integer", "octets", "oid", "ipaddress", "counter32", "gauge32", "timeticks", "counter64", "opaque",
              "null", "nosuchobject", "nosuchinstance", "endofmibview"]
ValueType = Literal["integer", "gauge", "counter", "counter32", "counter64", "timeticks", "enum", "string", "oid",
                    "ip", "bool"]

_NUMERIC_TAGS = frozenset({"integer", "counter32", "gauge32", "timeticks", "counter64"})
_ABSENT_TAGS = frozenset({"null", "nosuchobject", "nosuchinstance", "endofmibview"})
_DECIMAL = re.compile(r"^\s*[-+]?\d+(\.\d+)?\s*$", re.ASCII)  # ASCII: Unicode \s (\x1c…) is no float()
_TAG_NAMES = {"integer": "INTEGER", "octets": "OCTET STRING", "oid": "OBJECT IDENTIFIER", "ipaddress": "IpAddress",
              "counter32": "Counter32", "gauge32": "Gauge32", "timeticks": "TimeTicks", "counter64": "Counter64",
              "opaque": "Opaque", "null": "NULL", "nosuchobject": "noSuchObject",
              "nosuchinstance": "noSuchInstance", "endofmibview": "endOfMibView"}


@dataclass(frozen=True, slots=True)
class SnmpValue:
    """One value as the agent sent it: ``tag`` names the SNMP type; ``value`` is int (numbers),
    bytes (OCTET STRING, Opaque), str (OID, IpAddress) or None (NULL and the exception values)."""

    tag: Tag
    value: int | bytes | str | None = None

    @property
    def absent(self) -> bool:
        return self.tag in _ABSENT_TAGS

    def describe(self, limit: int = 40) -> str:
        """``OCTET STRING 'abc'`` — for reasons and logs (bounded, printable)."""
        name = _TAG_NAMES.get(self.tag, self.tag)
        if self.value is None:
            return name
        shown = self.value.decode("utf-8", "replace") if isinstance(self.value, bytes) else str(self.value)
        shown = "".join(ch if ch.isprintable() else "?" for ch in shown)
        if len(shown) > limit:
            shown = shown[:limit] + "…"
        return f"{name} {shown!r}" if isinstance(self.value, bytes) else f"{name} {shown}"


@dataclass(frozen=True, slots=True)
class Interpreted:
    """The outcome for one value: ``value`` when usable, else ``problem`` is ``missing``,
    ``wrong_type`` or ``garbage`` with ``detail`` saying why."""

    value: int | float | str | bool | None = None
    problem: Literal["missing", "wrong_type", "garbage"] | None = None
    detail: str = ""


MISSING = Interpreted(problem="missing")

SENTINELS = frozenset({65535, 4294967295, 2147483647, -2147483648, -32768, -2147483647})
"""Values cards send for "not available" in any field (all ones in 16 or 32 bits, the signed extremes): never
a reading. A profile declares field-specific ones (``absent: [-1]``) itself."""


def interpret(raw: SnmpValue | None, vtype: ValueType, *, absent: tuple[int | str, ...] = (),
              value_range: tuple[float, float] | None = None, max_length: int = 255) -> Interpreted:
    """Interpret ``raw`` as the profile's ``vtype`` (see the module docstring for the outcomes)."""
    if raw is None or raw.absent:
        return MISSING
    if vtype in ("string", "oid", "ip"):
        return _text(raw, vtype, absent, max_length)
    number = _number(raw)
    if number is None:
        return Interpreted(problem="wrong_type", detail=f"expected a number, got {raw.describe()}")
    if number in absent:
        return MISSING
    if number in SENTINELS and vtype not in ("counter", "counter32", "counter64"):
        return Interpreted(problem="garbage", detail=f"not available (the device's placeholder {number})")
    if vtype in ("counter", "counter32", "counter64") and number < 0:
        return Interpreted(problem="garbage", detail=f"negative counter {number}")
    if vtype == "counter32" and raw.tag == "counter64" and number >= COUNTER32_MOD:
        return Interpreted(problem="garbage", detail=f"Counter32 value {number} exceeds 2^32")
    if vtype == "timeticks" and not 0 <= number < TIMETICKS_MOD:
        return Interpreted(problem="garbage", detail=f"TimeTicks value {number} outside 0..2^32-1")
    if value_range is not None and not value_range[0] <= number <= value_range[1]:
        return Interpreted(problem="garbage",
                           detail=f"value {tidy_number(number)} outside {tidy_number(value_range[0])}.."
                                  f"{tidy_number(value_range[1])}")
    if vtype == "bool":
        return Interpreted(value=bool(number))
    return Interpreted(value=number)


def _number(raw: SnmpValue) -> int | float | None:
    if raw.tag in _NUMERIC_TAGS and isinstance(raw.value, int):
        return raw.value
    if raw.tag == "octets" and isinstance(raw.value, bytes) and len(raw.value) <= 32:
        # Cheap cards send numbers as text ("230"); accept plain decimals, nothing else.
        try:
            text = raw.value.decode("ascii")
        except UnicodeDecodeError:
            return None
        if _DECIMAL.match(text):
            num = float(text)
            return int(num) if num.is_integer() and "." not in text else num
    return None


def _text(raw: SnmpValue, vtype: str, absent: tuple[int | str, ...], max_length: int) -> Interpreted:
    if vtype == "oid":
        if raw.tag != "oid":
            return Interpreted(problem="wrong_type", detail=f"expected an OID, got {raw.describe()}")
        return Interpreted(value=str(raw.value))
    if vtype == "ip":
        if raw.tag != "ipaddress":
            return Interpreted(problem="wrong_type", detail=f"expected an IpAddress, got {raw.describe()}")
        return Interpreted(value=str(raw.value))
    if raw.tag in _NUMERIC_TAGS:
        text = str(raw.value)
    elif raw.tag in ("octets", "opaque") and isinstance(raw.value, bytes):
        if len(raw.value) > max_length:
            return Interpreted(problem="garbage", detail=f"string of {len(raw.value)} bytes (limit {max_length})")
        text = raw.value.decode("utf-8", "replace")
        # NUL padding and trailing blanks are common (deltaups ifDescr, Eaton model); control bytes are not text
        text = text.replace("\x00", "").strip()
        bad = sum(1 for ch in text if ch == "\ufffd" or (not ch.isprintable() and ch not in "\t\n\r"))
        if text and bad * 4 > len(text):
            return Interpreted(problem="garbage", detail=f"unreadable string {raw.describe(20)}")
        text = "".join(ch if ch.isprintable() else " " for ch in text)
    else:
        return Interpreted(problem="wrong_type", detail=f"expected a string, got {raw.describe()}")
    if text in absent:
        return MISSING
    return Interpreted(value=text)


def tidy_number(value: float | int) -> float | int:
    """Round away float noise (412 * 0.1 = 41.2, not 41.200000000000003); integral floats become int."""
    if isinstance(value, int):  # bool is an int too
        return value
    if not math.isfinite(value):
        return value
    rounded = round(value, 6)
    return int(rounded) if rounded.is_integer() and abs(rounded) < 2**53 else rounded


def counter_delta(current: float, previous: float, modulus: float | None) -> tuple[float, str]:
    """Increase of a counter since ``previous``: ``(delta, how)`` with ``how`` one of ``normal``,
    ``wrap`` (passed its maximum, RFC 2578) or ``reset`` (the device restarted it; the delta is then
    the current value: everything counted since the reset is new)."""
    if current >= previous:
        return current - previous, "normal"
    if modulus is not None and previous - current > modulus / 2:
        return current + modulus - previous, "wrap"
    return current, "reset"


def uptime_restarted(current_s: float, previous_s: float, elapsed_s: float | None,
                     modulus_s: float | None) -> bool:
    """True when an uptime (seconds) shows a restart since the previous sample.

    A restart is an uptime that went back, or — when the wall time ``elapsed_s`` between the samples
    is known — an uptime shorter than that time: the device booted after our previous sample, which
    also catches a reboot while the monitor was off and the device has since been up longer than the
    old value. The 32-bit TimeTicks wrap (every 497 days) is recognised and is not a restart. A frozen
    uptime (a stuck agent, a static recording) is not a restart either.
    """
    if elapsed_s is not None and elapsed_s >= 0 and modulus_s is not None:
        tolerance = 60.0 + 0.01 * elapsed_s
        expected = previous_s + elapsed_s
        if expected >= modulus_s - tolerance and abs(current_s - (expected - modulus_s)) <= tolerance:
            return False  # wrapped, as predicted
    if current_s < previous_s:
        return not (modulus_s is not None and previous_s - current_s > modulus_s / 2
                    and (elapsed_s is None or previous_s + elapsed_s >= modulus_s - 60.0 - 0.01 * elapsed_s))
    if elapsed_s is not None and elapsed_s >= 0:
        return current_s + 5.0 + 0.005 * elapsed_s < elapsed_s
    return False
