"""Numbers, quantities, durations and times in the reader's language (pure).

Indonesian: decimal comma and thousands dot (``1.250``, ``99,5``), times with a dot (``08.15 WIB``, PUEBI);
English: ``1,250``, ``99.5``, ``08:15 WIB``. Times are always in the site's zone with its label
(WIB/WITA/WIT), never UTC. A quantity always carries its unit, so "8.100" can never be read as a runtime in
seconds: ``runtime_s 8100`` is shown as ``2 jam 15 menit``.
"""

from __future__ import annotations

import math
from datetime import datetime

from monitor.clock import to_local, zone_label
from monitor.vocabulary.words import MONTHS_SHORT, UNITS, UNITS_SHORT, lang_of, lookup


def format_number(value: float, lang: str, decimals: int = 0) -> str:
    """``1.250`` / ``99,5`` (id) or ``1,250`` / ``99.5`` (en)."""
    text = f"{value:,.{decimals}f}"
    if lang_of(lang) == "id":
        text = text.replace(",", "\0").replace(".", ",").replace("\0", ".")
    return text


def _decimals(value: float) -> int:
    return 0 if float(value).is_integer() or abs(value) >= 100 else 1


def format_quantity(value: float, unit: str, lang: str) -> str:
    """``220 V``, ``100 %`` (en ``100%``), ``41,5 °C``, ``1,2 GB``: one decimal below 100 when needed."""
    number = format_number(round(value, 1), lang, _decimals(round(value, 1)))
    if unit == "%":
        return f"{number} %" if lang_of(lang) == "id" else f"{number}%"
    return f"{number} {unit}" if unit else number


def format_duration(seconds: float | None, lang: str, *, short: bool = False, precise: bool = False,
                    exact: bool = False) -> str:
    """The two most significant units: ``2 hari 3 jam``, ``3 jam 15 menit``, ``45 detik`` (id);
    ``2 d 3 h``, ``3 h 15 min`` (en); ``short`` for tables: ``2 hr 3 j``. From a minute on, whole minutes
    (rounded); ``precise`` keeps seconds below ten minutes (``4 menit 30 detik``, for chats about what
    just happened). None -> ``—``; 0 -> ``0 menit``."""
    if seconds is None:
        return "—"
    lang = lang_of(lang)
    units = UNITS_SHORT if short else UNITS
    d, h, m, s = (lookup(units, lang, u) for u in ("d", "h", "min", "s"))
    total = max(0, round(seconds))
    if exact:   # every unit, to the second: parts that must add up to a whole
        days, rest = divmod(total, 86400)
        hours, rest = divmod(rest, 3600)
        mins, secs = divmod(rest, 60)
        return " ".join(f"{n} {u}" for n, u in ((days, d), (hours, h), (mins, m), (secs, s)) if n) or f"0 {m}"
    if precise and total < 600:
        mins, secs = divmod(total, 60)
        return " ".join(f"{n} {u}" for n, u in ((mins, m), (secs, s)) if n) or f"0 {s}"
    if total == 0:
        return f"0 {m}"
    if total < 60:
        return f"{total} {s}"
    mins = total // 60 if precise else (total + 30) // 60   # a chat says "30 minutes" until 31 have passed
    days, rem = divmod(mins, 1440)
    hours, minutes = divmod(rem, 60)
    parts = [(days, d), (hours, h), (minutes, m)]
    while parts and parts[0][0] == 0:
        parts.pop(0)
    return " ".join(f"{n} {u}" for n, u in parts[:2] if n) or f"0 {m}"


def format_clock(dt: datetime, zone: str, lang: str) -> str:
    """``08.15`` (id) / ``08:15`` (en) in the site's zone, without the zone label."""
    local = to_local(dt, zone)
    return local.strftime("%H.%M" if lang_of(lang) == "id" else "%H:%M")


def format_time(dt: datetime, zone: str, lang: str, *, today: datetime | None = None) -> str:
    """``08.15 WIB``; with ``today`` given and ``dt`` on another local day: ``27 Nov 08.15 WIB``."""
    local = to_local(dt, zone)
    text = f"{format_clock(dt, zone, lang)} {zone_label(zone)}"
    if today is not None and local.date() != to_local(today, zone).date():
        text = f"{local.day} {MONTHS_SHORT[lang_of(lang)][local.month - 1]} {text}"
    return text


def floor_to(value: float, decimals: int) -> float:
    factor = float(10 ** decimals)
    return float(math.floor(value * factor + 1e-9)) / factor
