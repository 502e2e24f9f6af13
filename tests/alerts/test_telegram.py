"""TelegramNotifier through python-telegram-bot 22 against the local Bot API server: the exact requests,
documents and photos, the error mapping table, and the token never leaking."""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from pathlib import Path

import pytest
from telegram import error as tg

from alerts.telegram import TelegramNotifier, error_kind, map_error
from monitor.domain import Button, OutgoingMessage
from monitor.errors import ChatMigrated, NotifyError, NotifyTimeout, RateLimited, ReceiverGone
from monitor.sandbox.telegram_api import TelegramApiServer

from .conftest import TOKEN


@pytest.fixture
async def notifier(api: TelegramApiServer) -> TelegramNotifier:
    n = TelegramNotifier(TOKEN, api_base_url=api.url, timeout=1.0)
    yield n  # type: ignore[misc]
    await n.close()


async def test_send_message_exact_request(api: TelegramApiServer, notifier: TelegramNotifier) -> None:
    msg = OutgoingMessage(chat_id=-1001001, text="🔴 <b>GANGGUAN #1</b> · Kantor &amp; Co", thread_id=7,
                          buttons=((Button("✋ Tangani", "ack:1"), Button("🔕 Bisukan 2 jam", "mute:1")),),
                          silent=True)
    delivery = await notifier.send(msg)
    assert delivery.message_id == 1 and delivery.chat_id == -1001001
    call = api.calls_of("sendMessage")[0]
    assert call.path == "/bot<token>/sendMessage"  # the server saw /bot<TOKEN>/...; it hides the token itself
    assert call.content_type == "application/x-www-form-urlencoded"
    assert call.params == {
        "chat_id": -1001001, "text": "🔴 <b>GANGGUAN #1</b> · Kantor &amp; Co", "parse_mode": "HTML",
        "message_thread_id": 7, "disable_notification": True,
        "reply_markup": {"inline_keyboard": [[{"text": "✋ Tangani", "callback_data": "ack:1"},
                                              {"text": "🔕 Bisukan 2 jam", "callback_data": "mute:1"}]]},
    }
    sent = api.messages[0]
    assert (sent.chat_id, sent.thread_id, sent.silent) == (-1001001, 7, True)
    assert sent.buttons[0][0]["callback_data"] == "ack:1"


async def test_send_message_without_options_sends_only_what_is_set(api: TelegramApiServer,
                                                                   notifier: TelegramNotifier) -> None:
    await notifier.send(OutgoingMessage(chat_id=42, text="plain", parse_mode=None))
    assert api.calls_of("sendMessage")[0].params == {"chat_id": 42, "text": "plain"}


async def test_document_and_photo_are_uploaded_with_caption(api: TelegramApiServer, notifier: TelegramNotifier,
                                                            tmp_path: Path) -> None:
    pdf = tmp_path / "laporan-2026-W47.pdf"
    pdf.write_bytes(b"%PDF-1.7\n" + bytes(range(256)) * 40)
    png = tmp_path / "chart.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 100)
    await notifier.send(OutgoingMessage(chat_id=-1002, text="<b>Laporan</b> mingguan", document=str(pdf)))
    await notifier.send(OutgoingMessage(chat_id=-1002, text="grafik", photo=str(png), filename="grafik.png"))
    doc, photo = api.messages
    assert doc.method == "senddocument" and doc.document == pdf.read_bytes()
    assert doc.filename == "laporan-2026-W47.pdf" and doc.content_type == "application/pdf"
    assert doc.text == "<b>Laporan</b> mingguan" and doc.parse_mode == "HTML"
    assert api.calls_of("sendDocument")[0].content_type == "multipart/form-data"
    assert photo.method == "sendphoto" and photo.photo == png.read_bytes() and photo.filename == "grafik.png"


async def test_long_caption_goes_out_as_a_message_before_the_document(api: TelegramApiServer,
                                                                      notifier: TelegramNotifier,
                                                                      tmp_path: Path) -> None:
    pdf = tmp_path / "r.pdf"
    pdf.write_bytes(b"%PDF")
    await notifier.send(OutgoingMessage(chat_id=5, text="x" * 1500, document=str(pdf)))
    assert [m.method for m in api.messages] == ["sendmessage", "senddocument"]
    assert api.messages[1].text is None


async def test_missing_document_is_a_permanent_error(notifier: TelegramNotifier, tmp_path: Path) -> None:
    with pytest.raises(NotifyError) as err:
        await notifier.send(OutgoingMessage(chat_id=5, text="x", document=str(tmp_path / "gone.pdf")))
    assert err.value.permanent and error_kind(err.value) == "missing_file"


@pytest.mark.parametrize(("setup", "chat", "expected", "kind", "permanent"), [
    (lambda api: api.fail("sendMessage", status=429, retry_after=3), 1, RateLimited, "rate_limited", False),
    (lambda api: api.block_chat(2), 2, ReceiverGone, "receiver_gone", True),
    (lambda api: api.block_chat(2, "Forbidden: bot was kicked from the supergroup chat"), 2, ReceiverGone,
     "receiver_gone", True),
    (lambda api: api.forget_chat(3), 3, ReceiverGone, "receiver_gone", True),
    (lambda api: api.migrate_chat(4, -1004), 4, ChatMigrated, "chat_migrated", False),
    (lambda api: api.fail("sendMessage", status=500), 1, NotifyError, "network", False),
    (lambda api: api.fail("sendMessage", status=502, description="Bad Gateway"), 1, NotifyError, "network", False),
    (lambda api: api.fail("sendMessage", status=400, description="Bad Request: message text is empty"), 1,
     NotifyError, "bad_request", True),
    (lambda api: api.fail("sendMessage", status=401, description="Unauthorized"), 1, NotifyError, "unauthorized",
     False),
    (lambda api: api.fail("sendMessage", drop=True), 1, NotifyError, "network", False),
])
async def test_error_mapping(api: TelegramApiServer, notifier: TelegramNotifier, setup: object, chat: int,
                             expected: type[Exception], kind: str, permanent: bool,
                             caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    setup(api)  # type: ignore[operator]
    with pytest.raises(expected) as err:
        await notifier.send(OutgoingMessage(chat_id=chat, text="x"))
    exc = err.value
    assert type(exc) is expected
    assert error_kind(exc) == kind
    assert bool(getattr(exc, "permanent", False)) is permanent
    if isinstance(exc, RateLimited):
        assert exc.retry_after == 3.0
    if isinstance(exc, ChatMigrated):
        assert exc.new_chat_id == -1004
    assert TOKEN not in str(exc) and TOKEN.split(":")[1] not in repr(exc)
    assert TOKEN not in caplog.text and TOKEN.split(":")[1] not in caplog.text


async def test_timeout_and_server_down(api: TelegramApiServer, notifier: TelegramNotifier,
                                       caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    api.slow(2.0, "sendMessage")
    with pytest.raises(NotifyTimeout) as err:
        await notifier.send(OutgoingMessage(chat_id=1, text="slow"))
    assert not err.value.permanent and error_kind(err.value) == "timeout"
    api.clear_faults()
    await api.go_down()
    with pytest.raises(NotifyError) as err2:
        await notifier.send(OutgoingMessage(chat_id=1, text="down"))
    assert type(err2.value) is NotifyError and error_kind(err2.value) == "network"
    await api.come_up()
    assert (await notifier.send(OutgoingMessage(chat_id=1, text="back"))).message_id >= 1
    assert TOKEN not in caplog.text and TOKEN.split(":")[1] not in caplog.text
    assert "/bot***/" in caplog.text  # httpx's request log line is there, redacted


def test_retry_after_as_int_or_timedelta() -> None:
    """PTB 22 gives retry_after as int (deprecated) or timedelta (PTB_TIMEDELTA); both map exactly."""
    assert map_error(tg.RetryAfter(7), "send").retry_after == 7.0
    assert map_error(tg.RetryAfter(timedelta(seconds=2.5)), "send").retry_after == 2.5
    gone = map_error(tg.BadRequest("Chat not found"), "sendMessage to -5")
    assert isinstance(gone, ReceiverGone) and gone.permanent
    markup = map_error(tg.BadRequest("Can't parse entities: unsupported start tag"), "x")
    assert error_kind(markup) == "bad_markup" and markup.permanent
    leaked = map_error(tg.NetworkError(f"httpx.ConnectError: http://h/bot{TOKEN}/sendMessage"), "x", [TOKEN])
    assert TOKEN not in str(leaked)


async def test_bot_api_methods(api: TelegramApiServer, notifier: TelegramNotifier) -> None:
    await notifier.delete_webhook()
    await notifier.set_commands([("status", "status semua perangkat")])
    await notifier.set_commands([("status", "every device")], language="en")
    assert api.commands[0]["commands"] == [{"command": "status", "description": "status semua perangkat"}]
    assert api.commands[1]["language_code"] == "en"
    sent = await notifier.send(OutgoingMessage(chat_id=-100, text="alert",
                                               buttons=((Button("Tangani", "ack:9"),),)))
    assert sent.message_id is not None
    cq = api.press_button(chat_id=-100, user_id=5001, message_id=sent.message_id, data="ack:9",
                          first_name="Budi", username="budi")
    api.send_command(chat_id=-100, user_id=5001, text="/ack 9 sedang ke lokasi", thread_id=7)
    updates = await notifier.get_updates(None, wait=0)
    assert [u.kind for u in updates] == ["callback", "command"]
    press, cmd = updates
    assert (press.chat_id, press.user_id, press.user_name, press.text, press.message_id, press.callback_id) == \
        (-100, 5001, "Budi (@budi)", "ack:9", sent.message_id, cq)
    assert (cmd.text, cmd.thread_id) == ("/ack 9 sedang ke lokasi", 7)
    await notifier.answer_callback(cq, "Dicatat")
    assert api.callback_answers == [{"callback_query_id": cq, "text": "Dicatat", "show_alert": False}]
    await notifier.edit_buttons(-100, sent.message_id, [[Button("✅ Ditangani: Budi", "acked:9")]])
    await notifier.edit_buttons(-100, sent.message_id, [[Button("✅ Ditangani: Budi", "acked:9")]])  # not modified
    assert api.messages[0].buttons == [[{"text": "✅ Ditangani: Budi", "callback_data": "acked:9"}]]
    # the offset confirms: nothing comes back twice
    assert await notifier.get_updates(updates[-1].update_id + 1, wait=0) == []
    call = api.calls_of("getUpdates")[0]
    assert call.params["allowed_updates"] == ["message", "callback_query"]


async def test_long_poll_waits_for_an_update(api: TelegramApiServer, notifier: TelegramNotifier) -> None:
    import asyncio

    async def later() -> None:
        await asyncio.sleep(0.3)
        api.send_command(chat_id=1, user_id=5001, text="/status")

    task = asyncio.create_task(later())
    updates = await notifier.get_updates(None, wait=5)
    await task
    assert [u.text for u in updates] == ["/status"]


async def test_token_never_in_logs_with_debug(api: TelegramApiServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    n = TelegramNotifier(TOKEN, api_base_url=api.url)  # PTB logs the base URL with the token at DEBUG
    try:
        await n.send(OutgoingMessage(chat_id=1, text="hello"))
    finally:
        await n.close()
    assert caplog.records, "expected library log lines to inspect"
    assert TOKEN not in caplog.text and TOKEN.split(":")[1] not in caplog.text
    assert TOKEN not in repr(n)


async def test_sandbox_subprocess_with_control_api(tmp_path: Path) -> None:
    """The server also runs as a subprocess for the demo and the daemon tests."""
    import asyncio
    import os
    import signal
    import subprocess
    import sys
    import time

    from monitor.sandbox.telegram_api import ControlClient

    port_file = tmp_path / "tg.json"
    proc = subprocess.Popen([sys.executable, "-m", "monitor.sandbox.telegram_api", "--port-file", str(port_file),
                             "--token", TOKEN, "--rate-limit", "2/60"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 15
        while not port_file.exists() and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        info = json.loads(port_file.read_text())
        assert info["pid"] == proc.pid and info["url"].startswith("http://127.0.0.1:")
        control = ControlClient(info["control_url"])
        n = TelegramNotifier(TOKEN, api_base_url=info["url"])
        try:
            await n.send(OutgoingMessage(chat_id=-9, text="satu"))
            await n.send(OutgoingMessage(chat_id=-9, text="dua"))
            with pytest.raises(RateLimited):
                await n.send(OutgoingMessage(chat_id=-9, text="tiga"))
            control.call("press", chat_id=-9, user_id=5001, message_id=1, data="ack:1")
            updates = await n.get_updates(None, wait=0)
            assert updates[0].text == "ack:1"
        finally:
            await n.close()
        assert [m["text"] for m in control.messages()] == ["satu", "dua"]
        assert control.state()["rate_limit_violations"] == 1
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(10)


def test_registered_as_the_telegram_channel() -> None:
    import alerts
    from monitor.domain import Notifier

    assert alerts.REGISTRY["telegram"] is TelegramNotifier
    assert isinstance(TelegramNotifier(TOKEN, api_base_url="http://127.0.0.1:9"), Notifier)
