"""The demo's verdict: did everything it expected happen? Read from the record and the chats, never assumed.

Each :class:`Outcome` names one thing a newcomer should have seen; the demo exits 0 only when all hold.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from monitor.domain import Audience
from monitor.sandbox.demo.watch import ChatMessage, Record

__all__ = ["Outcome", "verify"]


@dataclass(frozen=True)
class Outcome:
    name: str
    ok: bool
    detail: str

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "ok": self.ok, "detail": self.detail}


def _kinds(evidence: Sequence[Mapping[str, Any]]) -> set[str]:
    return {str(e.get("kind")) for e in evidence}


def _pdf(path: Path | None) -> bool:
    try:
        return path is not None and path.stat().st_size > 1000 and path.read_bytes()[:5] == b"%PDF-"
    except OSError:
        return False


def verify(record: Record, messages: Sequence[ChatMessage], chat_of: Mapping[Audience, str],
           facts: Mapping[str, Any], report_files: Mapping[str, Sequence[Path]],
           monitor_exit: int | None, *, expect_clean_stop: bool = True) -> list[Outcome]:
    """Every expectation of the demo, checked against what was recorded and sent."""
    out: list[Outcome] = []

    def add(name: str, ok: bool, detail: str) -> None:
        out.append(Outcome(name, bool(ok), detail))

    def to(audience: Audience) -> list[ChatMessage]:
        chat = chat_of.get(audience)
        return sorted((m for m in messages if m.chat_id == chat), key=lambda m: m.message_id)

    incidents = {i["id"]: i for i in record.incidents()}
    storm_id = facts.get("storm_incident")
    storm = incidents.get(storm_id) if storm_id is not None else None
    outages = record.outages()
    storm_outages = [o for o in outages if storm_id is not None and o["incident"] == storm_id]
    by_dev = {o["device"]: o for o in storm_outages}

    # 1. the lightning incident, with its evidence
    ev = _kinds(storm["evidence"]) if storm else set()
    add("lightning incident with its evidence",
        storm is not None and storm["cause"] == "lightning" and {"strike", "spd_tripped"} <= ev,
        f"incident #{storm_id}: cause {storm['cause'] if storm else '-'}, evidence {sorted(ev)}")

    # 2. the causes a person would expect
    srv, rtr, dc = by_dev.get("rec-srv-1"), by_dev.get("router"), by_dev.get("dc-pusat")
    srv_ev = _kinds(srv["evidence"]) if srv else set()
    add("recording server down, cause lightning (strike, SPD tripped, UPS on battery as evidence)",
        srv is not None and srv["status"] == "down" and srv["cause"] == "lightning"
        and {"strike", "spd_tripped", "on_battery"} <= srv_ev,
        f"{srv['status']}/{srv['cause']}, evidence {sorted(srv_ev)}" if srv else "no outage of rec-srv-1 in it")
    add("router down; the data center behind it unreachable, not down",
        rtr is not None and rtr["status"] == "down" and dc is not None and dc["status"] == "unreachable",
        f"router {rtr['status'] if rtr else '-'}, dc-pusat {dc['status'] if dc else '-'}")
    add("one incident for the whole storm", {"spd-1", "ups-1", "ups-apc", "rec-srv-1", "router", "dc-pusat"}
        <= set(by_dev), f"incident #{storm_id} holds {sorted(by_dev)}")

    # 3. escalation
    ministry = to(Audience.MINISTRY_LIAISON)
    reports_at = float(facts.get("reports_at") or float("inf"))
    early = [m for m in ministry if (m.filename or "").endswith(".pdf") and m.date < reports_at]
    add("Ministry liaison told at once (cause lightning) with the escalation report PDF attached",
        any(not m.filename for m in ministry) and bool(early),
        f"{len(ministry)} message(s) to the Ministry chat, documents: "
        f"{[m.filename for m in ministry if m.filename]}")
    head = to(Audience.HEAD_OF_OFFICE)
    ack_at: datetime | None = storm["acknowledged_at"] if storm else None
    head_early = [m for m in head if not m.filename and (ack_at is None or m.date <= ack_at.timestamp() + 1)]
    add("head of office escalated while nobody had acknowledged", bool(head_early),
        f"{len(head_early)} escalation message(s) before the acknowledgement")

    # 4. the acknowledgement from Telegram
    acks = [a for a in record.acknowledgements() if a["incident"] == storm_id]
    add("acknowledged from Telegram (button “Tangani”)",
        any(a["source"] == "button" and a["user_name"] == facts.get("staff_name") for a in acks)
        and storm is not None and storm["acknowledged_by"] == facts.get("staff_name"),
        f"{[(a['user_name'], a['source']) for a in acks]}")

    # 5. the monitor gap
    gaps = record.gaps()
    killed = facts.get("killed_at")
    gap = next((g for g in gaps if killed is not None and g["started_at"] <= killed <= g["ended_at"]), None)
    srv_all = [o for o in outages if o["device"] == "rec-srv-1" and o["incident"] == storm_id]
    add("monitor gap recorded as not-monitored time, inside one continuous outage",
        gap is not None and len(srv_all) == 1 and bool(srv_all[0]["gaps"]),
        (f"gap {(gap['ended_at'] - gap['started_at']).total_seconds():.1f} s ({gap['reason']}); "
         f"server outage holds {len(srv_all[0]['gaps']) if srv_all else 0} gap(s)") if gap else "no gap recorded")
    add("the gap reported in the IT staff group", any("⏸" in m.text for m in to(Audience.IT_STAFF)),
        "a ⏸ note in the IT chat")

    # 6. recovery
    sent = record.outbox()
    recoveries = [o for o in sent if o["kind"] == "recovery" and o["incident"] == storm_id and o["status"] == "sent"]
    add("the storm recovered: incident closed, recovery messages sent",
        storm is not None and storm["ended_at"] is not None and any(o["audience"] == "it_staff" for o in recoveries),
        f"recovery sent to {sorted({o['audience'] for o in recoveries})}")

    # 7. the later service outage
    svc = [o for o in outages if o["device"] == "rec-srv-1" and o["incident"] != storm_id]
    add("a later, short outage of the recording service alone, cause service",
        any(o["cause"] == "service" and o["ended_at"] is not None for o in svc),
        f"{[(o['status'], o['cause'], o['ended_at'] is not None) for o in svc]}")

    # 8. reports produced and sent
    weekly = {p.suffix: p for p in report_files.get("weekly", [])}
    esc = next((p for p in report_files.get("escalation", []) if p.suffix == ".pdf"), None)
    add("weekly report (PDF, HTML, CSV) and escalation report (PDF) produced",
        _pdf(weekly.get(".pdf")) and all(weekly.get(s) is not None and weekly[s].exists() for s in (".html", ".csv"))
        and _pdf(esc), f"{sorted(p.name for p in weekly.values())}, {esc.name if esc else 'no escalation PDF'}")
    wpdf = weekly.get(".pdf")
    names_head = {m.filename for m in head if m.filename}
    names_min = {m.filename for m in ministry if m.filename}
    add("reports sent: weekly to the head of office and the Ministry, escalation to the Ministry",
        wpdf is not None and wpdf.name in names_head and wpdf.name in names_min
        and esc is not None and esc.name in names_min,
        f"head got {sorted(n for n in names_head if n)}, Ministry got {sorted(n for n in names_min if n)}")

    # 9. one document per incident and escalation step
    letters = ("Laporan-Eskalasi", "Escalation-Report")
    esc_docs = {m.document_sha256 for m in ministry if (m.filename or "").startswith(letters)}
    letters_sent = sum(1 for m in ministry if (m.filename or "").startswith(letters))
    add("one escalation document per incident and step: the Ministry got the same file each time",
        len(esc_docs) <= 1,
        f"{letters_sent} escalation PDF(s) in the Ministry's chat, {len(esc_docs)} different file(s)")

    if expect_clean_stop:
        add("the monitor stopped cleanly at the end (SIGTERM, exit 0)", monitor_exit == 0, f"exit code {monitor_exit}")
        tail = facts.get("after_stop") or {}
        grown = (tail.get("not_running_s") or [0.0, 0.0])
        elapsed = float(tail.get("elapsed_s") or 0.0)
        add("a report built after the monitor stopped counts the tail as not running",
            tail.get("running") == [False, False] and bool(tail.get("same_figures")) and bool(tail.get("same_outages"))
            and elapsed > 0 and abs((grown[1] - grown[0]) - elapsed) < 0.01,
            tail.get("error") or f"availability {tail.get('availability')} both times, outages unchanged; not running "
            f"{grown[0]:.1f} s → {grown[1]:.1f} s (+{grown[1] - grown[0]:.1f} s, the {elapsed:.1f} s between the "
            "two builds)")
    return out
