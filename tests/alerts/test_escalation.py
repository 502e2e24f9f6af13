"""The escalation ladder: the pure decision table, then the timing end to end with a fake clock."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from alerts import escalation
from alerts.escalation import EscalationState, IncidentFacts, decide, reminders_due, skipped_by_ack
from alerts.service import drain
from monitor.settings import EscalationSettings
from tests.fakes import T0

from .conftest import HEAD, IT, MINISTRY, Env

LADDER = EscalationSettings().steps  # it_staff at once; head after 30 min unless acked; ministry 24 h / cause
MIN, HOUR = timedelta(minutes=1), timedelta(hours=1)


@pytest.mark.parametrize(("case", "age", "cause", "fired", "acked", "closed", "planned", "expected"), [
    ("a new incident tells IT at once", 0 * MIN, "power", [], False, False, False, [("it_staff", "at_once")]),
    ("lightning goes to the ministry at once", 0 * MIN, "lightning", [], False, False, False,
     [("it_staff", "at_once"), ("ministry_liaison", "cause")]),
    ("hardware found later: ministry then", 5 * MIN, "hardware", ["0:it_staff"], False, False, False,
     [("ministry_liaison", "cause")]),
    ("29 minutes: nothing new", 29 * MIN, "power", ["0:it_staff"], False, False, False, []),
    ("30 minutes, not acknowledged: head of office", 30 * MIN, "power", ["0:it_staff"], False, False, False,
     [("head_of_office", "after")]),
    ("30 minutes, acknowledged: no head of office", 30 * MIN, "power", ["0:it_staff"], True, False, False, []),
    ("24 hours: ministry", 24 * HOUR, "power", ["0:it_staff", "1:head_of_office"], False, False, False,
     [("ministry_liaison", "after")]),
    ("24 hours acknowledged: ministry still (not an unless_acknowledged step)", 24 * HOUR, "network",
     ["0:it_staff"], True, False, False, [("ministry_liaison", "after")]),
    ("every step fired: nothing twice", 48 * HOUR, "lightning", ["0:it_staff", "1:head_of_office",
                                                                  "2:ministry_liaison"], False, False, False, []),
    ("closed: nothing", 2 * HOUR, "power", ["0:it_staff"], False, True, False, []),
    ("planned: nothing", 2 * HOUR, "maintenance", [], False, False, True, []),
])
def test_decision_table(case: str, age: timedelta, cause: str, fired: list[str], acked: bool, closed: bool,
                        planned: bool, expected: list[tuple[str, str]]) -> None:
    now = T0 + age
    facts = IncidentFacts(1, T0, cause, now if closed else None, planned, T0 + MIN if acked else None)
    state = EscalationState(fired={k: "x" for k in fired})
    assert [(d.audience, d.reason) for d in decide(LADDER, facts, state, now)] == expected, case


def test_acknowledgement_skips_and_reminder_table() -> None:
    facts = IncidentFacts(1, T0, "power", acknowledged_at=T0 + MIN)
    state = EscalationState(fired={"0:it_staff": "x"})
    assert skipped_by_ack(LADDER, facts, state) == ["1:head_of_office"]
    state.tell("it_staff", T0)
    assert reminders_due(LADDER, facts, state, T0 + 4 * HOUR - MIN, 4 * HOUR) == []
    assert reminders_due(LADDER, facts, state, T0 + 4 * HOUR, 4 * HOUR) == ["it_staff"]
    state.tell("ministry_liaison", T0)  # told, but not an at-once audience: no reminders
    assert reminders_due(LADDER, facts, state, T0 + 9 * HOUR, 4 * HOUR) == ["it_staff"]
    closed = IncidentFacts(1, T0, "power", ended_at=T0 + HOUR)
    assert reminders_due(LADDER, closed, state, T0 + 9 * HOUR, 4 * HOUR) == []
    assert EscalationState.load(state.dump()) == state


async def test_every_step_fires_once_and_recovery_reaches_everyone_told(env: Env) -> None:
    w = env.world
    _, inc = w.open("router", cause="network")
    await env.advance(31)
    assert len(env.api.messages_to(IT)) == 1
    await env.advance(28 * 60)  # 08:28
    assert env.api.messages_to(HEAD) == []
    await env.advance(2 * 60)   # 08:30:31
    [head] = env.api.messages_to(HEAD)
    assert (head.text or "").split("\n")[:2] == [
        f"⚠️ <b>ESKALASI GANGGUAN #{inc}</b> · Disdukcapil Kab. Contoh",
        "Belum ditangani 30 menit sejak 08.00 WIB."]
    assert head.buttons  # the head of office may acknowledge too
    for _ in range(24 * 6):
        await env.advance(600)
    assert len(env.api.messages_to(HEAD)) == 1
    [ministry] = env.api.messages_to(MINISTRY)
    assert (ministry.text or "").split("\n")[1] == "Masih terbuka 1 hari sejak 23 Nov 08.00 WIB."
    state = EscalationState.load(env.incident(inc).escalation)
    assert set(state.fired) == {"0:it_staff", "1:head_of_office", "2:ministry_liaison"}
    assert set(state.told) == {"it_staff", "head_of_office", "ministry_liaison"}
    w.close("router")
    await env.drain()
    for chat in (IT, HEAD, MINISTRY):
        assert (env.api.messages_to(chat)[-1].text or "").startswith(f"✅ <b>PULIH #{inc}</b>")
    reminders = [m for m in env.api.messages_to(IT) if (m.text or "").startswith("🔁")]
    assert len(reminders) == 6  # every 4 h over the day, to IT only


async def test_acknowledgement_stops_the_unacknowledged_steps(env: Env) -> None:
    w = env.world
    _, inc = w.open("router", cause="network")
    await env.advance(31)
    now = env.clock.now()

    def ack(s):  # type: ignore[no-untyped-def]
        from monitor.storage.models import IncidentRow
        row = s.get(IncidentRow, inc)
        return escalation.acknowledge(s, row, user_id=5001, user_name="Budi", note=None, source="cli", now=now)

    assert env.db.call(ack) is True
    assert env.db.call(ack) is False  # a second acknowledgement is stored, the first one stays
    for _ in range(7):
        await env.advance(600)
    assert env.api.messages_to(HEAD) == []
    state = EscalationState.load(env.incident(inc).escalation)
    assert state.skipped == {"1:head_of_office": "acknowledged by Budi before it was due"}
    assert state.acknowledged["by"] == "Budi"


async def test_lightning_escalates_to_the_ministry_at_once_with_the_report(env: Env, tmp_path: Path) -> None:
    pdf = tmp_path / "eskalasi-1.pdf"
    pdf.write_bytes(b"%PDF-1.7 eskalasi")
    asked: list[int] = []

    async def escalation_report(incident_id: int) -> Path:
        asked.append(incident_id)
        return pdf

    w = env.world
    _, inc = w.open("srv", cause="lightning", evidence=[w.evidence("spd", "spd_tripped"),
                                                        w.evidence("spd", "strike", count=4)])
    await drain(env.settings, env.db, env.clock, env.notifier, dispatcher=env.dispatcher,
                escalation_report=escalation_report)
    env.clock.advance(31)
    await drain(env.settings, env.db, env.clock, env.notifier, dispatcher=env.dispatcher,
                escalation_report=escalation_report)
    text, doc = env.api.messages_to(MINISTRY)
    assert (text.text or "").split("\n")[:2] == [
        f"⚠️ <b>ESKALASI GANGGUAN #{inc}</b> · Disdukcapil Kab. Contoh",
        "Penyebab petir / lonjakan tegangan: kemungkinan perlu penggantian perangkat dari pusat."]
    assert "📎 Laporan eskalasi (PDF) dikirim terpisah." in (text.text or "")
    assert "• 08.00 WIB Arrester Petir: arrester petir (SPD) terpicu" in (text.text or "")
    assert doc.method == "senddocument" and doc.document == pdf.read_bytes() and doc.filename == "eskalasi-1.pdf"
    assert (doc.text or "").startswith(f"📎 <b>ESKALASI GANGGUAN #{inc}</b>")
    assert asked == [inc]
    state = EscalationState.load(env.incident(inc).escalation)
    assert state.reports["ministry_liaison"]["status"] == "sent"
    assert len(env.api.messages_to(IT)) == 1


async def test_a_failing_report_is_retried_then_given_up_without_losing_the_message(env: Env) -> None:
    calls = 0

    async def broken(incident_id: int) -> Path:
        nonlocal calls
        calls += 1
        raise RuntimeError("weasyprint exploded")

    env.world.open("srv", cause="hardware")
    for _ in range(5):
        await drain(env.settings, env.db, env.clock, env.notifier, dispatcher=env.dispatcher,
                    escalation_report=broken)
        env.clock.advance(31)
    assert calls == escalation.REPORT_TRIES
    assert len(env.api.messages_to(MINISTRY)) == 1  # the escalation text went out anyway
    state = EscalationState.load(env.incident(1).escalation)
    assert state.reports["ministry_liaison"]["status"] == "failed"
