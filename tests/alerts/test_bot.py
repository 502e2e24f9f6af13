"""The two-way bot against the local Bot API server: buttons and commands, who may act, stored offsets."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from alerts.bot import OFFSET_KEY, TelegramBot
from alerts.escalation import EscalationState
from monitor.storage.models import AcknowledgementRow, KeyValueRow, MaintenanceRow

from .conftest import ALLOWED, HEAD, IT, IT_THREAD, STRANGER, Env


@pytest.fixture
async def bot(env: Env) -> AsyncIterator[TelegramBot]:
    yield TelegramBot(env.settings, env.db, env.clock, env.notifier, limiter=env.dispatcher.limiter, poll_timeout=0)


async def alert(env: Env, key: str = "router", cause: str = "network") -> tuple[int, int]:
    """An incident whose first alert reached the IT chat: (incident id, message id)."""
    _, inc = env.world.open(key, cause=cause)
    await env.advance(31)
    msg = env.api.messages_to(IT)[-1]
    return inc, msg.message_id


def acks(env: Env) -> list[AcknowledgementRow]:
    return env.db.call(lambda s: list(s.scalars(select(AcknowledgementRow).order_by(AcknowledgementRow.id))))


def replies(env: Env, chat: int = IT) -> list[str]:
    return [m.text or "" for m in env.api.messages_to(chat)]


async def test_setup_registers_the_commands(env: Env, bot: TelegramBot) -> None:
    await bot.setup()
    assert env.api.calls_of("deleteWebhook")
    ind, eng = env.api.commands
    assert [c["command"] for c in ind["commands"]] == ["status", "gangguan", "outages", "ack", "mute", "unmute",
                                                      "laporan", "report", "help"]
    assert ind["commands"][0]["description"] == "status semua perangkat sekarang"
    assert eng["language_code"] == "en" and eng["commands"][3]["description"].startswith("NUMBER [note]")


async def test_ack_by_button_records_who_and_stops_escalation(env: Env, bot: TelegramBot) -> None:
    inc, message_id = await alert(env)
    env.clock.advance(5 * 60)
    cq = env.api.press_button(chat_id=IT, user_id=ALLOWED, message_id=message_id, data=f"ack:{inc}",
                              first_name="Budi", username="budi")
    assert await bot.poll_once(wait=0) == 1
    [ack] = acks(env)
    assert (ack.incident_id, ack.user_id, ack.user_name, ack.source, ack.note) == \
        (inc, ALLOWED, "Budi (@budi)", "button", None)
    row = env.incident(inc)
    assert row.acknowledged_by == "Budi (@budi)" and row.acknowledged_at == env.clock.now()
    assert env.api.callback_answers == [{"callback_query_id": cq, "text": f"✅ Dicatat: Budi (@budi) menangani "
                                                                          f"gangguan #{inc}.", "show_alert": False}]
    assert env.api.messages_to(IT)[0].buttons == [[{"text": "✅ Ditangani: Budi (@budi) (08:05 WIB)",
                                                    "callback_data": f"acked:{inc}"}]]
    for _ in range(6):
        await env.advance(600)
    assert replies(env, HEAD) == []  # 30 minutes passed: acknowledged, so no escalation
    kv = env.db.call(lambda s: s.get(KeyValueRow, OFFSET_KEY))
    assert kv is not None and kv.value["offset"] > 0
    assert EscalationState.load(env.incident(inc).escalation).skipped == {
        "1:head_of_office": "acknowledged by Budi (@budi) before it was due"}
    # pressing the label again only says who has it
    env.api.press_button(chat_id=IT, user_id=ALLOWED, message_id=message_id, data=f"acked:{inc}")
    await bot.poll_once(wait=0)
    assert env.api.callback_answers[-1]["text"].startswith(f"ℹ️ Gangguan #{inc} sudah ditangani oleh Budi (@budi)")
    assert len(acks(env)) == 1


async def test_ack_by_command_with_a_note(env: Env, bot: TelegramBot) -> None:
    inc, _ = await alert(env)
    env.api.send_command(chat_id=IT, user_id=ALLOWED, text=f"/ack@ektp_monitor_bot #{inc} sedang ke lokasi",
                         first_name="Sari", thread_id=IT_THREAD)
    await bot.poll_once(wait=0)
    [ack] = acks(env)
    assert (ack.source, ack.note, ack.user_name) == ("command", "sedang ke lokasi", "Sari")
    reply = env.api.messages_to(IT)[-1]
    assert (reply.text, reply.thread_id) == (f"✅ Dicatat: Sari menangani gangguan #{inc}.", IT_THREAD)
    assert env.api.messages_to(IT)[0].buttons[0][0]["text"].startswith("✅ Ditangani: Sari")
    for _ in range(4):
        await env.advance(600)
    assert replies(env, HEAD) == []
    await env.advance(4 * 3600)  # the reminder shows who is on it, silently
    reminder = [m for m in env.api.messages_to(IT) if (m.text or "").startswith("🔁")][-1]
    assert "👤 Ditangani: Sari (08:00 WIB) — “sedang ke lokasi”" in (reminder.text or "")
    assert reminder.silent and not reminder.buttons


async def test_a_stranger_in_the_group_is_refused_and_logged(env: Env, bot: TelegramBot,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    inc, message_id = await alert(env)
    caplog.set_level(logging.WARNING, logger="alerts.bot")
    env.api.press_button(chat_id=IT, user_id=STRANGER, message_id=message_id, data=f"ack:{inc}",
                         first_name="Orang Lain")
    env.api.send_command(chat_id=IT, user_id=STRANGER, text=f"/ack {inc} saya", first_name="Orang Lain")
    env.api.send_command(chat_id=IT, user_id=STRANGER, text="/mute srv 1d", first_name="Orang Lain")
    await bot.poll_once(wait=0)
    assert acks(env) == [] and env.incident(inc).acknowledged_at is None
    assert env.db.call(lambda s: list(s.scalars(select(MaintenanceRow)))) == []
    refusal = ("⛔ Maaf, Orang Lain (id 6666) tidak berwenang memakai bot ini. Minta admin menambahkan id Anda ke "
               "telegram.allowed_users.")
    assert env.api.callback_answers[0]["text"] == refusal and env.api.callback_answers[0]["show_alert"]
    # one refusal message per outsider per chat per 10 minutes (issue 13): the second command is only counted
    assert replies(env)[1:] == [refusal]
    assert bot.counters["refused"] == 3 and bot.counters["refusals_sent"] == 1
    refused = [r for r in caplog.records if "refused" in r.getMessage()]
    assert len(refused) == 1 and "6666" in refused[0].getMessage()     # one WARNING per outsider per window
    assert env.api.messages_to(IT)[0].buttons[0][0]["callback_data"] == f"ack:{inc}"  # still unacknowledged
    for _ in range(4):
        await env.advance(600)
    assert len(replies(env, HEAD)) == 1  # escalation went on
    env.api.send_command(chat_id=IT, user_id=STRANGER, text="/status", first_name="Orang Lain")
    await bot.poll_once(wait=0)           # 40 minutes later: told again
    assert replies(env)[-1] == refusal and bot.counters["refusals_sent"] == 2


async def test_status_and_open_outages(env: Env, bot: TelegramBot) -> None:
    w = env.world
    for key in ("router", "srv", "ws-1", "ws-2", "ws-3", "spd", "evil"):
        w.state(key, "up")
    w.state("ups-1", "degraded", {"snmp:ups": {"ups.status": "OB", "battery.charge": 55, "battery.runtime": 900}},
            reason="on battery")
    w.state("srv", "down", reason="timeout")
    _, inc = w.open("srv", cause="power")
    env.clock.advance(3 * 60)
    env.api.send_command(chat_id=IT, user_id=ALLOWED, text="/status")
    env.api.send_command(chat_id=IT, user_id=ALLOWED, text="/gangguan")
    env.api.send_command(chat_id=HEAD, user_id=ALLOWED, text="/outages")
    await bot.poll_once(wait=0)
    status, outages = replies(env)
    assert status.split("\n") == [
        "📋 <b>STATUS</b> · Disdukcapil Kab. Contoh · 08:03 WIB",
        "6 dari 8 normal",
        "🟢 Router VPN: <b>normal</b>",
        "🟡 UPS Ruang Server: <b>pakai baterai</b> sejak 08:00 WIB · 🔋 55% sisa ±15 menit",
        "🔴 Server Perekaman e-KTP: <b>mati</b> sejak 08:00 WIB (tidak ada jawaban)",
        "🟢 Workstation 1: <b>normal</b>",
        "🟢 Workstation 2: <b>normal</b>",
        "🟢 Workstation 3: <b>normal</b>",
        "🟢 Arrester Petir: <b>normal</b>",
        "🟢 Server &lt;b&gt;&amp;&#34;Jahat&#34;&lt;/b&gt; &lt;script&gt;: <b>normal</b>"]
    assert outages == ("🚨 <b>GANGGUAN TERBUKA</b> · 08:03 WIB\n"
                       f"🔴 <b>#{inc}</b> Disdukcapil Kab. Contoh · Server Perekaman e-KTP: mati sejak 08:00 WIB "
                       "(3 menit) · listrik padam")
    assert replies(env, HEAD) == [outages]


async def test_mute_and_unmute_commands(env: Env, bot: TelegramBot) -> None:
    env.api.send_command(chat_id=IT, user_id=ALLOWED, text="/mute srv 2h ganti disk", first_name="Budi")
    await bot.poll_once(wait=0)
    [mute] = env.db.call(lambda s: list(s.scalars(select(MaintenanceRow))))
    assert (mute.kind, mute.device_id, mute.ends_at - mute.starts_at, mute.reason, mute.created_by) == \
        ("mute", env.world.dev("srv"), timedelta(hours=2), "ganti disk", "Budi")
    assert replies(env)[-1] == "🔕 Server Perekaman e-KTP dibisukan sampai 10:00 WIB: ganti disk"
    env.world.open("srv", cause="service")
    await env.advance(31)
    assert len(replies(env)) == 1  # the alert was suppressed
    env.api.send_command(chat_id=IT, user_id=ALLOWED, text="/unmute srv")
    env.api.send_command(chat_id=IT, user_id=ALLOWED, text="/unmute srv")
    env.api.send_command(chat_id=IT, user_id=ALLOWED, text="/mute kantor/* 1h pindah ruang server")
    await bot.poll_once(wait=0)
    assert replies(env)[-3:] == ["🔔 Server Perekaman e-KTP: 1 pembisuan diakhiri.",
                                 "Server Perekaman e-KTP tidak sedang dibisukan.",
                                 "🔕 seluruh Disdukcapil Kab. Contoh dibisukan sampai 09:00 WIB: pindah ruang server"]
    site = env.db.call(lambda s: s.scalars(select(MaintenanceRow).where(MaintenanceRow.device_id.is_(None))).one())
    assert site.site_id == "kantor" and site.kind == "mute"


async def test_mute_button_mutes_the_incident_devices(env: Env, bot: TelegramBot) -> None:
    inc, message_id = await alert(env, "srv", "service")
    env.world.open("ws-1", status="unreachable", cause="service", incident=inc)
    env.api.press_button(chat_id=IT, user_id=ALLOWED, message_id=message_id, data=f"mute:{inc}", first_name="Budi")
    await bot.poll_once(wait=0)
    assert env.api.callback_answers[-1]["text"] == \
        "🔕 Dibisukan 2 jam: Server Perekaman e-KTP, Workstation 1"
    await env.advance(31)
    assert len(replies(env)) == 1  # the update about Workstation 1 was muted
    assert env.rows(kind="update")[0].status == "suppressed"


@pytest.mark.parametrize(("text", "reply"), [
    ("/ack", "Cara pakai: /ack NOMOR [catatan], contoh: /ack 12 sedang ke lokasi"),
    ("/ack duabelas", "Cara pakai: /ack NOMOR [catatan], contoh: /ack 12 sedang ke lokasi"),
    ("/ack 999", "Gangguan #999 tidak ditemukan. Nomor gangguan ada di /gangguan."),
    ("/mute srv", "Cara pakai: /mute PERANGKAT DURASI [alasan], contoh: /mute rec-srv-1 2h ganti baterai. "
                  "DURASI: 30m, 2h, 1d (paling lama 7 hari). PERANGKAT: id perangkat, kantor/perangkat, atau "
                  "kantor/* untuk seluruh kantor."),
    ("/mute srv selamanya", "Durasi selamanya tidak dikenali: pakai 30m, 2h atau 1d (paling lama 7 hari)."),
    ("/mute srv 30d", "Durasi 30d tidak dikenali: pakai 30m, 2h atau 1d (paling lama 7 hari)."),
    ("/mute servr 1h", "Perangkat servr tidak ditemukan. Pilihan: evil, router, spd, srv, ups-1, ws-1, ws-2, ws-3"),
    ("/mute lain/* 1h", "Kantor lain tidak ada. Pilihan: kantor"),
    ("/unmute", "Cara pakai: /unmute PERANGKAT, contoh: /unmute rec-srv-1"),
    ("/apa", "Perintah /apa tidak dikenal. Ketik /help."),
    ("/laporan", "Laporan belum tersedia di versi ini."),
])
async def test_malformed_arguments_get_a_helpful_reply(env: Env, bot: TelegramBot, text: str, reply: str) -> None:
    env.api.send_command(chat_id=IT, user_id=ALLOWED, text=text)
    await bot.poll_once(wait=0)
    assert replies(env) == [reply]
    assert env.db.call(lambda s: list(s.scalars(select(MaintenanceRow)))) == []


async def test_help(env: Env, bot: TelegramBot) -> None:
    env.api.send_command(chat_id=IT, user_id=ALLOWED, text="/help")
    await bot.poll_once(wait=0)
    lines = replies(env)[0].split("\n")
    assert lines[0] == "ℹ️ <b>Bot monitor e-KTP. Perintah:</b>"
    assert "/ack — NOMOR [catatan]: saya tangani gangguan ini" in lines


async def test_report_command_uses_the_injected_builder(env: Env, tmp_path: Path) -> None:
    pdf = tmp_path / "laporan-sejauh-ini.pdf"
    pdf.write_bytes(b"%PDF-1.7 minggu ini")
    asked: list[str] = []

    async def report_now(site_id: str) -> Path:
        asked.append(site_id)
        return pdf

    bot = TelegramBot(env.settings, env.db, env.clock, env.notifier, report_now=report_now, poll_timeout=0)
    env.api.send_command(chat_id=HEAD, user_id=ALLOWED, text="/report")
    await bot.poll_once(wait=0)
    [doc] = env.api.messages_to(HEAD)
    assert asked == ["kantor"]
    assert doc.method == "senddocument" and doc.document == pdf.read_bytes()
    assert doc.text == "📄 Laporan minggu ini sejauh ini · Disdukcapil Kab. Contoh"


async def test_the_offset_survives_a_restart(env: Env, bot: TelegramBot) -> None:
    inc, message_id = await alert(env)
    env.api.press_button(chat_id=IT, user_id=ALLOWED, message_id=message_id, data=f"ack:{inc}")
    await bot.poll_once(wait=0)
    restarted = TelegramBot(env.settings, env.db, env.clock, env.notifier, poll_timeout=0)
    await restarted.poll_once(wait=0)  # the server would hand the update out again without the stored offset
    assert len(acks(env)) == 1
    env.api.send_command(chat_id=IT, user_id=ALLOWED, text="/gangguan")
    assert await restarted.poll_once(wait=0) == 1
