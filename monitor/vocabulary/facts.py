"""One fact of evidence in words, rendered from its code and values (pure).

A fact is stored as ``{time, device, kind, text, source, values}`` (monitor/events.py): ``kind`` is an
:class:`~monitor.domain.ObservationKind` or one of the engine's own (``outage``, ``status``,
``maintenance``); ``text`` is English for the log. What a person reads is built here from ``kind`` and the
``values`` the vocabulary knows — with units, in the language's number format — and never from ``text``,
except a check's reason, which :mod:`monitor.vocabulary.reasons` renders. Values it does not know (a trap's
raw varbinds, internal counters) are left out rather than shown as raw keys.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from monitor.vocabulary.formats import format_duration, format_number, format_quantity
from monitor.vocabulary.reasons import localize_reason
from monitor.vocabulary.words import (
    TRANSFER_CAUSES,
    cause_name,
    lang_of,
    observation_name,
    status_name,
    word,
)

Values = Mapping[str, Any]


def _num(values: Values, *keys: str) -> float | None:
    for k in keys:
        v = values.get(k)
        if isinstance(v, int | float) and not isinstance(v, bool) and v == v:  # not NaN
            return float(v)
    return None


def _text(values: Values, key: str) -> str | None:
    v = values.get(key)
    return str(v) if isinstance(v, str | int) and not isinstance(v, bool) and str(v) else None


def _limit(lang: str, values: Values, unit: str, *keys: str) -> str | None:
    v = _num(values, *keys)
    return f"{word(lang, 'limit')} {format_quantity(v, unit, lang)}" if v is not None else None


def _band(lang: str, values: Values, unit: str) -> str | None:
    lo, hi = _num(values, "min", "minimum"), _num(values, "max", "maximum")
    if lo is None or hi is None:
        return None
    return f"{word(lang, 'limit')} {format_number(lo, lang, 0)}–{format_quantity(hi, unit, lang)}"


def _voltage(lang: str, values: Values, *keys: str, named: bool = True) -> str | None:
    v = _num(values, *keys)
    if v is None:
        return None
    return f"{word(lang, 'input_voltage')} {format_quantity(v, 'V', lang)}" if named else format_quantity(v, "V", lang)


def _charge(lang: str, values: Values) -> str | None:
    v = _num(values, "charge", "battery.charge")
    return f"{word(lang, 'charge')} {format_quantity(v, '%', lang)}" if v is not None else None


def _runtime(lang: str, values: Values) -> str | None:
    v = _num(values, "runtime_s", "battery.runtime")
    return word(lang, "runtime_left", duration=format_duration(v, lang)) if v is not None else None


def _battery(lang: str, v: Values) -> list[str | None]:
    return [_voltage(lang, v, "input_voltage"), _charge(lang, v), _runtime(lang, v)]


def _low_runtime(lang: str, v: Values) -> list[str | None]:
    limit = _num(v, "limit_s")
    return [_runtime(lang, v),
            f"{word(lang, 'limit')} {format_duration(limit, lang)}" if limit is not None else None]


def _abnormal_voltage(lang: str, v: Values) -> list[str | None]:
    return [_voltage(lang, v, "voltage", "input_voltage", named=False), _band(lang, v, "V")]


def _transfer(lang: str, v: Values) -> list[str | None]:
    code = _text(v, "cause")
    words = TRANSFER_CAUSES.get(lang_of(lang), {}).get(code or "")
    return [f"{word(lang, 'because')}: {words}" if words else None]


def _contact(lang: str, v: Values) -> list[str | None]:
    n, name = _text(v, "contact"), _text(v, "name")
    if n is None:
        return [f"\u201c{name}\u201d" if name else None]
    return [f"{word(lang, 'contact')} {n}" + (f" \u201c{name}\u201d" if name else "")]


def _strike(lang: str, v: Values) -> list[str | None]:
    old, new = _num(v, "old"), _num(v, "new")
    if old is not None and new is not None:
        return [f"{word(lang, 'counter')} {format_number(old, lang)} → {format_number(new, lang)}"]
    return []


def strikes(values: Values) -> int:
    """How many strikes one ``strike`` fact counts (``increase`` from the counter, or ``increment``)."""
    n = _num(values, "increase", "increment", "strikes")
    return int(n) if n is not None and n >= 1 else 1


def _line_bad(lang: str, v: Values) -> list[str | None]:
    n = _num(v, "increase")
    return [word(lang, "line_problems", count=format_number(n, lang)) if n is not None else None]


def _overload(lang: str, v: Values) -> list[str | None]:
    load, current = _num(v, "load"), _num(v, "current_a")
    return [f"{word(lang, 'load')} {format_quantity(load, '%', lang)}" if load is not None else None,
            f"{word(lang, 'current')} {format_quantity(current, 'A', lang)}" if current is not None else None,
            _limit(lang, v, "%", "limit")]


def _temperature(lang: str, v: Values) -> list[str | None]:
    t = _num(v, "temperature")
    return [format_quantity(t, "°C", lang) if t is not None else None, _limit(lang, v, "°C", "limit")]


def _humidity(lang: str, v: Values) -> list[str | None]:
    h = _num(v, "humidity")
    return [format_quantity(h, "%", lang) if h is not None else None, _band(lang, v, "%")]


def _contacts(lang: str, v: Values) -> list[str | None]:
    names = _text(v, "names")
    return [f"\u201c{names}\u201d" if names else None]


def _disk(lang: str, v: Values) -> list[str | None]:
    pct, path = _num(v, "used_pct"), _text(v, "path")
    return [" ".join(x for x in (path, format_quantity(pct, "%", lang) if pct is not None else None) if x) or None]


def _interface(lang: str, v: Values) -> list[str | None]:
    name = _text(v, "interface")
    return [f"{word(lang, 'interface')} {name}" if name else None]


_DETAILS: Mapping[str, Callable[[str, Values], list[str | None]]] = {
    "on_battery": _battery, "low_battery": lambda lang, v: [_charge(lang, v), _runtime(lang, v)],
    "on_mains": lambda lang, v: [_voltage(lang, v, "input_voltage")], "low_runtime": _low_runtime,
    "voltage_abnormal": _abnormal_voltage, "transfer": _transfer, "spd_tripped": _contact, "spd_ok": _contact,
    "strike": _strike, "line_bad": _line_bad, "overload": _overload, "temperature_high": _temperature,
    "disk_full": _disk, "link_down": _interface, "link_up": _interface, "humidity_abnormal": _humidity,
    "contact_alarm": _contacts,
}


def _status_fact(lang: str, text: str, values: Values) -> str:
    """The engine's ``status`` facts: a check's reason, a parent's state, or "down with nothing else"."""
    down_s = _num(values, "down_s")
    if down_s is not None:
        return word(lang, "down_without_evidence", duration=format_duration(down_s, lang))
    status = _text(values, "status")
    fact = _text(values, "fact")
    if fact == "answers" or (fact is None and text.endswith(" answers")):
        return word(lang, "answers")
    if fact == "status" or (fact is None and status is not None and " is " in text and len(text.split()) <= 4):
        return status_name(lang, status or "unknown")
    reason = localize_reason(text, lang) if text else None
    head = status_name(lang, status) if status else ""
    return f"{head} ({reason})" if head and reason else (reason or head or observation_name(lang, "status"))


def fact(lang: str, kind: str, values: Values | None = None, *, text: str = "") -> str:
    """The fact in ``lang``: ``UPS pakai baterai (tegangan masuk 0 V, muatan 100 %, sisa ±2 jam 15 menit)``.
    The device and the time are the caller's to add."""
    v = values or {}
    if kind == "status":
        return _status_fact(lang, text, v)
    if kind == "outage":
        status = status_name(lang, _text(v, "status") or "down")
        cause = _text(v, "cause")
        return f"{status} ({word(lang, 'cause')}: {cause_name(lang, cause, short=True)})" if cause else status
    if kind == "maintenance":
        return word(lang, "planned", reason=text) if text else observation_name(lang, kind)
    if kind == "monitor_gap" and _num(v, "gap_s") is not None:
        return word(lang, "host_power_loss")
    base = observation_name(lang, kind)
    if kind == "strike" and strikes(v) > 1:
        base = word(lang, "strikes_counted", count=format_number(strikes(v), lang))
    details = [d for d in (_DETAILS[kind](lang, v) if kind in _DETAILS else []) if d]
    return f"{base} ({', '.join(details)})" if details else base
