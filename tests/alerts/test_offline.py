"""The internet link is down for a simulated day while outages come and go; when it returns, each audience
gets ONE digest with every delayed event in it, each once, with its original time. Nothing is lost."""

from __future__ import annotations

import re
from collections import Counter

from sqlalchemy import select

from monitor.storage.models import DeliveryAttemptRow, OutboxRow

from .conftest import HEAD, IT, MINISTRY, Env


async def test_a_day_offline_then_one_digest_per_audience(env: Env) -> None:
    w = env.world
    await env.api.go_down()
    devices = ["router", "srv", "ws-1", "ws-2", "ws-3", "spd"]
    for hour in range(24):
        if hour % 3 == 0:  # every 3 hours an outage that lasts 40 minutes (head of office told after 30)
            key = devices[(hour // 3) % len(devices)]
            w.open(key, cause="hardware" if hour == 9 else "network")
            for _ in range(4):
                await env.advance(600)
            w.close(key)
            await env.advance(600)
            await env.advance(600)
        else:
            if hour % 5 == 0:
                w.observation("spd", "strike", increase=hour)
            await env.advance(1800)
            await env.advance(1800)
    probes = env.db.call(lambda s: set(s.scalars(select(DeliveryAttemptRow.time).where(
        DeliveryAttemptRow.ok.is_(False)))))
    assert env.api.messages == []
    assert len(probes) < 24 * 6  # the circuit breaker probes once in a while, it does not hammer
    waiting = [r for r in env.rows() if r.status in ("pending", "retry")]
    assert len(waiting) > 30

    await env.api.come_up()
    await env.advance(600)  # the breaker's next probe
    per_chat = Counter(m.chat_id for m in env.api.messages)
    assert per_chat == Counter({IT: 1, HEAD: 1, MINISTRY: 1}), [m.text for m in env.api.messages]

    rows = env.rows()
    digests = {r.id: r for r in rows if r.kind == "digest"}
    assert len(digests) == 3
    members = [r for r in rows if r.kind != "digest"]
    assert {r.status for r in members} == {"sent"}  # none lost
    for message in env.api.messages:
        digest = next(d for d in digests.values() if d.message_id == message.message_id
                      and d.chat_id == str(message.chat_id))
        mine = [r for r in members if r.digest_id == digest.id]
        assert mine and {r.audience for r in mine} == {digest.audience}
        text = message.text or ""
        assert re.match(r"📨 <b>Selama offline 23 Nov \d\d\.\d\d WIB–08.10 WIB</b>\n", text), text[:80]
        lines = [ln for ln in text.split("\n") if ln.startswith("• ")]
        assert len(lines) == len(mine)  # every event once: one line per delayed message
        for r in mine:
            assert text.count(r.payload["summary"]) >= 1
        times = [re.match(r"• (?:\d+ \w+ )?(\d\d\.\d\d) WIB", ln) for ln in lines]
        assert all(times)
    it_lines = [ln for ln in (env.api.messages_to(IT)[0].text or "").split("\n") if ln.startswith("• ")]
    assert any("5 sambaran petir tercatat" in ln for ln in it_lines)
    assert sum("gangguan mulai" in ln for ln in it_lines) == 8
    assert sum("pulih setelah 40 menit" in ln for ln in it_lines) == 8
    head_lines = [ln for ln in (env.api.messages_to(HEAD)[0].text or "").split("\n") if ln.startswith("• ")]
    assert sum("dieskalasi ke Kepala Dinas" in ln for ln in head_lines) == 8
    assert sum("pulih setelah 40 menit" in ln for ln in head_lines) == 8
    ministry = env.api.messages_to(MINISTRY)[0].text or ""
    assert "dieskalasi ke penghubung Kemendagri" in ministry  # the hardware outage at 17:00

    await env.advance(600)
    await env.advance(3600)
    assert len(env.api.messages) == 3  # and nothing twice
    unsent = env.db.call(lambda s: list(s.scalars(select(OutboxRow).where(OutboxRow.status != "sent"))))
    assert unsent == []
