"""Kemendagri area codes: the national identity of a site.

A code is the province (two digits), then the regency or city, the sub-district (kecamatan) and the
village, each separated by a dot, as the Minister of Home Affairs' regulation on area codes lists them:
``62`` (Kalimantan Tengah), ``62.12`` (Kabupaten Murung Raya), ``62.12.01`` (a kecamatan of it),
``62.12.01.2001`` (a village). Regencies are numbered from 01, cities from 71; no level is ``00``.

The hub keys every central row by this code, so a code is validated where it is written (the office's
``sites[].code`` and the hub's ``offices[].sites``), never later. Province names are those of the 38
provinces since the 2022 Papua split; ``province`` in the office config defaults to the code's.
"""

from __future__ import annotations

import re

PROVINCES: dict[str, str] = {
    "11": "Aceh", "12": "Sumatera Utara", "13": "Sumatera Barat", "14": "Riau", "15": "Jambi",
    "16": "Sumatera Selatan", "17": "Bengkulu", "18": "Lampung", "19": "Kepulauan Bangka Belitung",
    "21": "Kepulauan Riau", "31": "DKI Jakarta", "32": "Jawa Barat", "33": "Jawa Tengah", "34": "DI Yogyakarta",
    "35": "Jawa Timur", "36": "Banten", "51": "Bali", "52": "Nusa Tenggara Barat", "53": "Nusa Tenggara Timur",
    "61": "Kalimantan Barat", "62": "Kalimantan Tengah", "63": "Kalimantan Selatan", "64": "Kalimantan Timur",
    "65": "Kalimantan Utara", "71": "Sulawesi Utara", "72": "Sulawesi Tengah", "73": "Sulawesi Selatan",
    "74": "Sulawesi Tenggara", "75": "Gorontalo", "76": "Sulawesi Barat", "81": "Maluku", "82": "Maluku Utara",
    "91": "Papua", "92": "Papua Barat", "93": "Papua Selatan", "94": "Papua Tengah", "95": "Papua Pegunungan",
    "96": "Papua Barat Daya",
}
"""Province code -> official name (Kemendagri)."""

_SHAPE = re.compile(r"^(\d{2})(?:\.(\d{2})(?:\.(\d{2})(?:\.(\d{4}))?)?)?$")
MAX_LENGTH = 13
"""``62.12.01.2001``: the longest code (village level)."""


def check_code(value: str) -> str:
    """``value`` stripped if it is a valid area code; else ValueError saying what is wrong."""
    code = value.strip()
    m = _SHAPE.match(code)
    if m is None:
        raise ValueError(f"area code {value!r} must look like 62, 62.12, 62.12.01 or 62.12.01.2001 "
                         "(Kemendagri: province, regency/city, sub-district, village)")
    province, regency, district, village = m.groups()
    if province not in PROVINCES:
        raise ValueError(f"area code {value!r}: {province} is not a province code (known: "
                         f"{', '.join(sorted(PROVINCES))})")
    for part, what in ((regency, "regency/city"), (district, "sub-district"), (village, "village")):
        if part is not None and int(part) == 0:
            raise ValueError(f"area code {value!r}: the {what} part cannot be zero")
    return code


def province_of(code: str) -> str:
    """The official province name of a valid code."""
    return PROVINCES[code[:2]]


def same_province_name(a: str, b: str) -> bool:
    """Province names compared without case, spaces or dots (``DKI Jakarta`` == ``dki  jakarta``)."""
    def norm(s: str) -> str:
        return re.sub(r"[\s.]+", "", s).casefold()
    return norm(a) == norm(b)


def contains(parent: str, code: str) -> bool:
    """Whether ``code`` is ``parent`` or lies inside it (``62.12`` contains ``62.12.01``)."""
    return code == parent or code.startswith(parent + ".")
