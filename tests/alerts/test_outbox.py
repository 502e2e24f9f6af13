"""The durable outbox against the local Bot API server: idempotent enqueue, claims, every attempt recorded,
backoff, 429 honoured exactly, broken receivers, migrated chats, rate limits, stale claims, two dispatchers."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts.outbox import Backoff, Dispatcher, RateLimiter, enqueue, normalize_payload
from alerts.service import make_dispatcher
from alerts.telegram import TelegramNotifier
from monitor.clock import SystemClock
from monitor.storage.models import AudienceStateRow, DeliveryAttemptRow, KeyValueRow, OutboxRow

from .conftest import HEAD, IT, IT_THREAD, MINISTRY, TOKEN, Env, make_env, open_db


def put(env: Env, key: str, text: str, *, audience: str = "it_staff", kind: str = "note", **kw: Any) -> int | None:
    def fn(s: Session) -> int | None:
        row = enqueue(s, key=key, audience=audience, site_id="kantor", kind=kind, now=env.clock.now(),
                      payload={"text": text, "summary": text, **kw.pop("payload", {})}, **kw)
        return row.id if row else None
    return env.db.call(fn)


def attempts(env: Env, row_id: int) -> list[DeliveryAttemptRow]:
    return env.db.call(lambda s: list(s.scalars(select(DeliveryAttemptRow).where(
        DeliveryAttemptRow.outbox_id == row_id).order_by(DeliveryAttemptRow.id))))


def row(env: Env, row_id: int) -> OutboxRow:
    r = env.db.call(lambda s: s.get(OutboxRow, row_id))
    assert r is not None
    return r


def test_payload_is_checked_at_enqueue() -> None:
    assert normalize_payload({"text": "x"}) == {"text": "x", "parse_mode": "HTML", "buttons": [], "document": None,
                                                "photo": None, "filename": None, "silent": False}
    for bad in ({}, {"text": 3}, {"text": "x", "parse_mode": "Markdown"}, {"text": "x", "buttons": [{"text": "a"}]},
                {"text": "x", "buttons": [[{"text": "a", "data": "d" * 65}]]},
                {"text": "", "document": "a", "photo": "b"}):
        with pytest.raises(ValueError):
            normalize_payload(bad)


async def test_enqueue_twice_with_one_key_is_a_noop(env: Env) -> None:
    first = put(env, "k1", "satu")
    assert first is not None
    assert put(env, "k1", "dua") is None
    assert [r.payload["text"] for r in env.rows()] == ["satu"]
    await env.dispatcher.run_once()
    assert [m.text for m in env.api.messages] == ["satu"]
    sent = row(env, first)
    assert (sent.status, sent.attempts, sent.chat_id, sent.message_id) == ("sent", 1, str(IT), 1)
    assert env.api.messages[0].thread_id == IT_THREAD
    assert [a.ok for a in attempts(env, first)] == [True]


async def test_429_retry_after_is_waited_exactly(env: Env) -> None:
    env.api.fail("sendMessage", status=429, retry_after=7)
    rid = put(env, "r", "pesan")
    assert rid is not None
    t0 = env.clock.now()
    res = await env.dispatcher.run_once()
    assert res.failed == 1
    r = row(env, rid)
    assert (r.status, r.next_attempt_at) == ("retry", t0 + timedelta(seconds=7))
    [a] = attempts(env, rid)
    assert (a.ok, a.error_kind, a.retry_after) == (False, "rate_limited", 7.0)
    other = put(env, "other", "pesan lain")  # the whole chat waits, not only the row
    calls = len(env.api.calls_of("sendMessage"))
    env.clock.advance(6.9)
    await env.dispatcher.run_once()
    assert len(env.api.calls_of("sendMessage")) == calls and row(env, other or 0).status == "pending"
    env.clock.advance(0.1)
    await env.dispatcher.run_once()
    assert sorted(m.text or "" for m in env.api.messages) == ["pesan", "pesan lain"]


async def test_server_errors_retry_with_exponential_backoff(env: Env) -> None:
    env.api.fail("sendMessage", status=500, times=3)
    rid = put(env, "r", "tahan banting")
    assert rid is not None
    waits = []
    for _ in range(3):
        before = env.clock.now()
        await env.dispatcher.run_once()
        r = row(env, rid)
        assert r.status == "retry"
        waits.append((r.next_attempt_at - before).total_seconds())
        env.clock.advance(waits[-1])
    assert waits == [5.0, 10.0, 20.0]
    await env.dispatcher.run_once()
    assert row(env, rid).status == "sent"
    history = attempts(env, rid)
    assert [(a.ok, a.error_kind) for a in history] == [(False, "network")] * 3 + [(True, None)]
    assert all("Internal Server Error" in (a.error or "") for a in history[:3])
    assert all(TOKEN not in (a.error or "") and TOKEN not in (row(env, rid).last_error or "") for a in history)
    assert Backoff().delay(50) == 600.0  # capped


async def test_timeout_is_retried_and_may_duplicate(env: Env) -> None:
    """No answer in time: the message may have arrived (here it did), so the retry can duplicate it -
    at-least-once, never lost."""
    env.api.slow(3.0, "sendMessage")  # request_timeout is 2 s
    rid = put(env, "r", "lambat")
    assert rid is not None
    await env.dispatcher.run_once()
    r = row(env, rid)
    assert r.status == "retry" and attempts(env, rid)[0].error_kind == "timeout"
    env.api.clear_faults()
    env.clock.advance(5)
    await env.dispatcher.run_once()
    assert row(env, rid).status == "sent"
    assert [m.text for m in env.api.messages] == ["lambat", "lambat"]


async def test_link_down_opens_the_circuit_without_burning_attempts(env: Env) -> None:
    await env.api.go_down()
    ids = [put(env, f"k{i}", f"pesan {i}") for i in range(5)]
    await env.dispatcher.run_once()
    tried = [r for r in env.rows() if r.attempts]
    assert len(tried) == 1  # one probe; the others wait untouched
    assert {r.status for r in env.rows()} == {"retry", "pending"}
    await env.dispatcher.run_once()  # the circuit is open: no new attempt
    assert sum(r.attempts for r in env.rows()) == 1
    await env.api.come_up()
    env.clock.advance(5)
    await env.dispatcher.run_once()
    assert {r.status for r in env.rows()} == {"sent"}
    assert len(ids) == 5 and sorted(m.text or "" for m in env.api.messages) == [f"pesan {i}" for i in range(5)]


async def test_blocked_receiver_is_dead_marked_broken_and_reported_to_the_others(env: Env) -> None:
    env.api.block_chat(HEAD)
    rid = put(env, "h1", "untuk kepala", audience="head_of_office")
    assert rid is not None
    await env.dispatcher.run_once()
    r = row(env, rid)
    assert r.status == "dead" and "blocked" in (r.last_error or "")
    assert attempts(env, rid)[0].error_kind == "receiver_gone"
    state = env.db.call(lambda s: s.scalars(select(AudienceStateRow)).one())
    assert (state.scope, state.audience, state.broken) == ("kantor", "head_of_office", True)
    await env.dispatcher.run_once()
    to_it = env.api.messages_to(IT)
    to_ministry = env.api.messages_to(MINISTRY)
    assert len(to_it) == 1 and len(to_ministry) == 1
    assert to_it[0].text == ("🚫 <b>PENERIMA PESAN BERMASALAH</b> · Disdukcapil Kab. Contoh\n"
                             "Pesan untuk Kepala Dinas (Disdukcapil Kab. Contoh) tidak bisa dikirim: "
                             "Forbidden: bot was blocked by the user\n"
                             "👉 Tindakan: Tambahkan lagi bot ke grup itu atau perbaiki chat_id di konfigurasi.")
    put(env, "h2", "lagi", audience="head_of_office")  # still blocked: dead again, no second report
    await env.dispatcher.run_once()
    await env.dispatcher.run_once()
    assert len(env.api.messages_to(IT)) == 1
    env.api.unblock_chat(HEAD)
    put(env, "h3", "sudah bisa", audience="head_of_office")
    await env.dispatcher.run_once()
    await env.dispatcher.run_once()
    assert [m.text for m in env.api.messages_to(HEAD)] == ["sudah bisa"]
    assert env.db.call(lambda s: s.scalars(select(AudienceStateRow)).one()).broken is False
    assert "bisa dikirim lagi" in (env.api.messages_to(IT)[-1].text or "")


async def test_chat_not_found_is_permanent_too(env: Env) -> None:
    env.api.forget_chat(MINISTRY)
    rid = put(env, "m", "untuk kementerian", audience="ministry_liaison")
    await env.dispatcher.run_once()
    assert row(env, rid or 0).status == "dead"
    state = env.db.call(lambda s: s.scalars(select(AudienceStateRow)).one())
    assert (state.scope, state.audience, state.broken) == ("*", "ministry_liaison", True)


async def test_migrated_chat_is_stored_and_the_message_resent(env: Env) -> None:
    env.api.migrate_chat(IT, -1009999)
    rid = put(env, "a", "ke grup baru")
    assert rid is not None
    await env.dispatcher.run_once()
    assert row(env, rid).status == "retry" and attempts(env, rid)[0].error_kind == "chat_migrated"
    await env.dispatcher.run_once()
    assert [(m.chat_id, m.thread_id, m.text) for m in env.api.messages] == [(-1009999, IT_THREAD, "ke grup baru")]
    kv = env.db.call(lambda s: s.get(KeyValueRow, "telegram.chat_migrations"))
    assert kv is not None and kv.value == {str(IT): "-1009999"}
    state = env.db.call(lambda s: s.scalars(select(AudienceStateRow).where(AudienceStateRow.audience == "it_staff"))
                        .one())
    assert state.chat_id == "-1009999"
    put(env, "b", "langsung ke grup baru")
    await env.dispatcher.run_once()
    assert env.api.messages[-1].chat_id == -1009999
    assert len(env.api.calls_of("sendMessage")) == 3  # no second failed try at the old id


async def test_bad_html_is_resent_as_plain_text(env: Env) -> None:
    rid = put(env, "x", "<b>tidak ditutup & rusak")
    await env.dispatcher.run_once()
    assert attempts(env, rid or 0)[0].error_kind == "bad_markup"
    await env.dispatcher.run_once()
    assert [(m.text, m.parse_mode) for m in env.api.messages] == [("tidak ditutup & rusak", None)]


async def test_stale_claim_is_returned_and_resent(env: Env) -> None:
    rid = put(env, "s", "tertahan")
    assert rid is not None
    claimed_at = env.clock.now() - timedelta(minutes=10)
    env.db.call(lambda s: s.get(OutboxRow, rid).__setattr__("status", "sending") or  # type: ignore[union-attr]
                s.get(OutboxRow, rid).__setattr__("claimed_by", "host:999:dead") or  # type: ignore[union-attr]
                s.get(OutboxRow, rid).__setattr__("claimed_at", claimed_at))  # type: ignore[union-attr]
    res = await env.dispatcher.run_once()
    assert res.recovered == 1
    assert row(env, rid).status == "sent"
    history = attempts(env, rid)
    assert history[0].error_kind == "lease_expired" and "host:999:dead" in (history[0].error or "")


async def test_suppressed_rows_are_kept_with_their_reason(env: Env) -> None:
    rid = put(env, "p", "rencana", suppressed="planned maintenance")
    await env.dispatcher.run_once()
    r = row(env, rid or 0)
    assert (r.status, r.last_error) == ("suppressed", "planned maintenance")
    assert env.api.messages == []


async def test_documents_are_sent_as_files_and_never_merged(env: Env, tmp_path: Path) -> None:
    pdf = tmp_path / "laporan.pdf"
    pdf.write_bytes(b"%PDF-1.7 laporan")
    env.clock.advance(-3600)
    put(env, "old1", "lama satu")
    put(env, "old2", "lama dua")
    put(env, "rep", "Laporan mingguan", kind="report", payload={"document": str(pdf), "filename": "lap.pdf"})
    env.clock.advance(3600)
    await env.dispatcher.run_once()
    kinds = [m.method for m in env.api.messages]
    assert sorted(kinds) == ["senddocument", "sendmessage"]
    doc = next(m for m in env.api.messages if m.method == "senddocument")
    assert doc.document == b"%PDF-1.7 laporan" and doc.filename == "lap.pdf"
    digest = next(m for m in env.api.messages if m.method == "sendmessage")
    assert "lama satu" in (digest.text or "") and "lama dua" in (digest.text or "")


async def test_restart_does_not_burst_past_the_chat_limit(env: Env) -> None:
    now = env.clock.now()

    def history(s: Session) -> None:
        for i in range(20):
            s.add(OutboxRow(idempotency_key=f"old{i}", site_id="kantor", audience="it_staff", kind="note",
                            payload={"text": "x"}, status="sent", attempts=1, created_at=now, event_time=now,
                            next_attempt_at=now, sent_at=now - timedelta(seconds=40 - i), chat_id=str(IT)))
    env.db.call(history)
    put(env, "new", "setelah restart")
    fresh = make_dispatcher(env.settings, env.db, env.clock, env.notifier)  # a new process: empty memory
    res = await fresh.run_once()
    assert res.sent == 0 and res.waiting == 1
    env.clock.advance(20.5)  # the oldest of the 20 leaves the 60 s window
    res = await fresh.run_once()
    assert res.sent == 1


def test_rate_limiter_windows() -> None:
    t = datetime(2026, 1, 1, tzinfo=UTC)
    lim = RateLimiter(3, 5, chat_window=60.0, overall_window=1.0)
    for i in range(3):
        lim.commit("a", lim.reserve("a", t), t + timedelta(seconds=i))
    assert lim.free("a", t + timedelta(seconds=2)) == 0
    assert lim.wait("a", t + timedelta(seconds=2)) == pytest.approx(58.0)
    assert lim.free("a", t + timedelta(seconds=60.5)) == 1
    assert lim.free("b", t + timedelta(seconds=2)) == 3
    burst = RateLimiter(20, 2)
    burst.reserve("x", t)
    burst.reserve("y", t)
    assert burst.free("z", t) == 0 and burst.free("z", t + timedelta(seconds=1.01)) == 2
    lim.block("c", t + timedelta(seconds=7))
    assert lim.wait("c", t) == 7.0


async def test_rate_limit_is_never_exceeded_against_a_strict_server(tmp_path: Path) -> None:
    """Real time: the server answers 429 above 3 messages per second per chat; the dispatcher, limited to
    the same, never triggers it and still delivers everything."""
    from monitor.sandbox.telegram_api import TelegramApiServer

    async with TelegramApiServer(TOKEN, rate_limit=(3, 1.0)) as api:
        env = await make_env(tmp_path, api, start=datetime.now(UTC))
        try:
            limiter = RateLimiter(3, 30, chat_window=1.0)
            dispatcher = Dispatcher(env.settings, env.db, SystemClock(), env.notifier, limiter=limiter)
            for i in range(10):
                put(env, f"k{i}", f"pesan {i}")
            deadline = time.monotonic() + 20
            while len(api.messages) < 10 and time.monotonic() < deadline:
                await dispatcher.run_once()
                await asyncio.sleep(0.05)
            assert api.rate_limit_violations == 0
            assert sorted(m.text or "" for m in api.messages) == sorted(f"pesan {i}" for i in range(10))
            times = [m.time for m in api.messages]
            assert all(later - earlier >= 1.0 for earlier, later in zip(times, times[3:], strict=False))
        finally:
            await env.notifier.close()
            env.db.close()


async def test_two_dispatchers_on_one_sqlite_file_claim_each_row_once(env: Env) -> None:
    for i in range(40):
        put(env, f"k{i}", f"pesan {i}", audience=("it_staff", "head_of_office", "ministry_liaison")[i % 3])
    other_db = open_db(env.settings)  # a second engine: another process's view of the same file
    other_notifier = TelegramNotifier(TOKEN, api_base_url=env.api.url)
    try:
        first = env.dispatcher
        second = make_dispatcher(env.settings, other_db, env.clock, other_notifier, name="second")
        for _ in range(6):
            await asyncio.gather(first.run_once(), second.run_once())
            env.clock.advance(61)
        texts = Counter(m.text for m in env.api.messages)
        assert texts == Counter({f"pesan {i}": 1 for i in range(40)})
        claimed_by = Counter(r.claimed_by for r in env.rows())
        assert set(claimed_by) <= {first.name, "second"} and sum(claimed_by.values()) == 40
        per_row = env.db.call(lambda s: Counter(a.outbox_id for a in s.scalars(select(DeliveryAttemptRow))))
        assert set(per_row.values()) == {1}
    finally:
        await other_notifier.close()
        other_db.close()


async def test_a_row_claimed_by_one_dispatcher_cannot_be_claimed_by_another(env: Env) -> None:
    """Both dispatchers read the same due rows; the conditional UPDATE lets exactly one claim each."""
    for i in range(5):
        put(env, f"k{i}", f"pesan {i}")
    other_db = open_db(env.settings)
    try:
        second = make_dispatcher(env.settings, other_db, env.clock, env.notifier, name="second")
        now = env.clock.now()
        seen_by_first, seen_by_second = env.rows(), other_db.call(lambda s: list(s.scalars(select(OutboxRow))))
        with env.db.transaction() as s:
            won_first = [env.dispatcher._claim_row(s, r, now) for r in seen_by_first[:3]]
        with other_db.transaction() as s:
            won_second = [second._claim_row(s, r, now) for r in seen_by_second]
        assert won_first == [True] * 3
        assert won_second == [False] * 3 + [True] * 2
        assert Counter(r.claimed_by for r in env.rows()) == Counter({env.dispatcher.name: 3, "second": 2})
    finally:
        other_db.close()


async def test_outbox_on_sqlite_and_postgresql(db_url: str, tmp_path: Path) -> None:
    """enqueue's ON CONFLICT DO NOTHING and the conditional claims on both databases."""
    from monitor.sandbox.telegram_api import TelegramApiServer
    from monitor.settings import load_settings
    from monitor.storage import Database
    from monitor.storage import db as dbmod
    from monitor.storage.inventory import sync_inventory
    from tests.fakes import FakeClock

    from .conftest import write_config

    async with TelegramApiServer(TOKEN) as api:
        settings = load_settings(write_config(tmp_path, api.url))
        engine = dbmod.create_db_engine(db_url)
        dbmod.upgrade(engine)
        db = Database(engine)
        clock = FakeClock()
        notifier = TelegramNotifier(TOKEN, api_base_url=api.url)
        try:
            db.call(lambda s: sync_inventory(s, settings, clock.now()))

            def add(s: Session) -> list[int | None]:
                out = []
                for key, text in (("a", "satu"), ("a", "dua"), ("b", "tiga")):
                    r = enqueue(s, key=key, audience="it_staff", site_id="kantor", kind="note", now=clock.now(),
                                payload={"text": text})
                    out.append(r.id if r else None)
                return out
            first, dup, second = db.call(add)
            assert first and second and dup is None
            a, b = make_dispatcher(settings, db, clock, notifier, name="a"), make_dispatcher(settings, db, clock,
                                                                                              notifier, name="b")
            await asyncio.gather(a.run_once(), b.run_once())
            assert sorted(m.text or "" for m in api.messages) == ["satu", "tiga"]
        finally:
            await notifier.close()
            db.close()
