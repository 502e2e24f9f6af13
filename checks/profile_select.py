"""Choosing profiles for a device (``profile: auto``): pure, from what one probe request returned.

A profile takes part when it declares ``match:`` and lists the device's kind in ``kinds``. The probe reads
sysObjectID, sysDescr and sysUpTime plus, for every candidate, its *probe objects* (``match.probe``, by
default its required objects) — in both instance forms a card may serve (``.1`` and ``.1.0``). Then:

* a candidate **fits** when every probe object answered (a profile without probe objects — tables only —
  fits when its sysObjectID prefix or sysDescr pattern matches);
* its **score** is ``priority`` + 100 when sysObjectID starts with one of its ``sysobjectid`` prefixes + 50
  when sysDescr matches one of its ``sysdescr`` patterns; the fitting *primary* profile with the highest score
  is chosen (ties: more probe objects, then the name) — so a vendor MIB that the device names in its
  sysObjectID wins over RFC 1628, and RFC 1628 (priority 0) wins over nothing;
* every fitting *extension* (ambient probes, contacts, the card's own temperature sensor) is read with it,
  in name order, after the primary: a metric comes from the first profile that has it
  (:func:`checks.profile.merge_evaluations`).

The choice and why are returned as text for the result (``profile_why``) and ``discover``. The SNMP check
keeps the choice and probes again when the device changes: another sysObjectID, an agent restart
(sysUpTime went back), or the chosen profile no longer fits.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from checks.profile_eval import BoundProfile
from checks.values import SnmpValue

__all__ = ["SYS_DESCR", "SYS_OBJECT_ID", "SYS_UPTIME", "Candidate", "Choice", "Facts", "alternates", "choose",
           "probe_oids"]

SYS_DESCR = "1.3.6.1.2.1.1.1.0"
SYS_OBJECT_ID = "1.3.6.1.2.1.1.2.0"
SYS_UPTIME = "1.3.6.1.2.1.1.3.0"


def alternates(oid: str) -> list[str]:
    """Other instance forms of a scalar OID a card may serve: ``X.0`` for a table row ``X`` (iStars and MGE
    serve UPS-MIB rows as ``.1.0``), and ``X`` for ``X.0`` (a scalar served without its instance)."""
    out = [f"{oid}.0"]
    if oid.endswith(".0"):
        out.append(oid[:-2])
    return out


def probe_oids(bound: BoundProfile) -> list[str]:
    """The instance OIDs whose answer decides whether ``bound`` fits (columns are not probed)."""
    d = bound.profile.definition
    names = d.match.probe if d.match and d.match.probe else tuple(n for n, o in d.objects.items() if o.required)
    return [bound.scalar_oids[n] for n in names if n in bound.scalar_oids]


@dataclass(frozen=True)
class Facts:
    """What the probe learnt: identification and which OIDs answered (in any instance form)."""

    sys_object_id: str | None
    sys_descr: str | None
    answered: frozenset[str]
    uptime_s: float | None = None

    @classmethod
    def from_reply(cls, scalars: Mapping[str, SnmpValue]) -> Facts:
        answered: set[str] = set()
        for oid, value in scalars.items():
            if value is not None and not value.absent:
                answered.add(oid)
                if oid.endswith(".0"):
                    answered.add(oid[:-2])     # a row served as X.0 answers for X
                answered.add(f"{oid}.0")       # and a scalar served without .0 answers for X.0
        oid_value = scalars.get(SYS_OBJECT_ID)
        descr = scalars.get(SYS_DESCR)
        uptime = scalars.get(SYS_UPTIME)
        return cls(
            sys_object_id=str(oid_value.value).strip(".") if oid_value is not None and oid_value.tag == "oid" else None,
            sys_descr=_text(descr),
            answered=frozenset(answered),
            uptime_s=uptime.value / 100 if uptime is not None and isinstance(uptime.value, int) else None)


def _text(value: SnmpValue | None) -> str | None:
    if value is None or value.absent:
        return None
    raw = value.value
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    text = "".join(ch if ch.isprintable() else " " for ch in text.replace("\x00", "")).strip()
    return text[:200] or None


@dataclass(frozen=True)
class Candidate:
    name: str
    role: str
    fits: bool
    score: int
    why: str


@dataclass(frozen=True)
class Choice:
    """The profiles chosen (``primary`` None when nothing fits), in reading order, and why."""

    primary: str | None
    extensions: tuple[str, ...]
    why: str
    facts: Facts
    candidates: tuple[Candidate, ...] = field(default=())

    @property
    def names(self) -> tuple[str, ...]:
        return (self.primary, *self.extensions) if self.primary else ()

    @property
    def profile(self) -> str:
        """The pinned form for a config: ``base+extension+...``."""
        return "+".join(self.names)


def _score(bound: BoundProfile, facts: Facts) -> Candidate:
    d = bound.profile.definition
    match = d.match
    assert match is not None
    probes = probe_oids(bound)
    missing = [o for o in probes if o not in facts.answered]
    reasons: list[str] = []
    score = match.priority
    oid = facts.sys_object_id or ""
    prefix = next((p for p in match.sysobjectid if oid == p.rstrip(".") or oid.startswith(p.rstrip(".") + ".")),
                  None)
    if prefix:
        score += 100
        reasons.append(f"sysObjectID {oid} is under {prefix.rstrip('.')}")
    descr = facts.sys_descr or ""
    pattern = next((p for p in match.sysdescr if re.search(p, descr, re.IGNORECASE)), None)
    if pattern:
        score += 50
        reasons.append(f"sysDescr matches {pattern!r}")
    names = {v: k for k, v in bound.scalar_oids.items()}
    if probes and not missing:
        shown = ", ".join(names.get(o, o) for o in probes[:3]) + (" …" if len(probes) > 3 else "")
        reasons.append(f"{shown} {'answers' if len(probes) == 1 else 'answer'}")
    elif missing:
        reasons.append("no " + ", ".join(names.get(o, o) for o in missing[:2]))
    fits = (bool(probes) and not missing) or (not probes and bool(prefix or pattern))
    return Candidate(bound.name, d.role, fits, score, "; ".join(reasons))


def choose(candidates: Sequence[BoundProfile], facts: Facts) -> Choice:
    """The primary profile and extensions for ``facts`` (see the module docstring)."""
    scored = [_score(b, facts) for b in candidates if b.profile.definition.match is not None]
    probes = {b.name: len(probe_oids(b)) for b in candidates}
    primaries = sorted((c for c in scored if c.fits and c.role == "primary"),
                       key=lambda c: (-c.score, -probes.get(c.name, 0), c.name))
    extensions = sorted(c.name for c in scored if c.fits and c.role == "extension")
    ident = f"sysObjectID {facts.sys_object_id or '?'}"
    if not primaries:
        tried = ", ".join(c.name for c in scored if c.role == "primary")
        return Choice(None, (), f"no profile fits this device ({ident}; tried {tried or 'none'})", facts,
                      tuple(scored))
    best = primaries[0]
    parts = [f"{best.name} ({best.why})"]
    by_name = {c.name: c for c in scored}
    parts += [f"{name} ({by_name[name].why})" for name in extensions]
    why = "auto: " + " + ".join(parts)
    others = [c.name for c in primaries[1:]]
    if others:
        why += f"; also fit: {', '.join(others[:4])}"
    return Choice(best.name, tuple(extensions), why, facts, tuple(scored))


def request_oids(candidates: Iterable[BoundProfile]) -> list[str]:
    """Every OID the probe asks for: identification plus each candidate's probe objects in both forms."""
    out: dict[str, None] = dict.fromkeys((SYS_DESCR, SYS_OBJECT_ID, SYS_UPTIME))
    for bound in candidates:
        for oid in probe_oids(bound):
            out.setdefault(oid, None)
            for alt in alternates(oid):
                out.setdefault(alt, None)
    return list(out)
