"""Issue 5, "Done when" (the part reachable without the daemon): with the alerting components running on the
real clock against the local Bot API server, a UPS switching to battery reaches Telegram within
group_wait + 2 s, and a press of its button acknowledges it."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path

from alerts.service import build_alert_components
from monitor.clock import SystemClock
from monitor.sandbox.telegram_api import TelegramApiServer

from .conftest import ALLOWED, IT, TOKEN, World, make_env


async def test_ups_on_battery_reaches_telegram_within_group_wait_plus_2s_and_a_button_acknowledges_it(
        tmp_path: Path) -> None:
    group_wait = 1.0
    async with TelegramApiServer(TOKEN) as api:
        env = await make_env(tmp_path, api, start=datetime.now(UTC), group_wait="1s")
        clock = SystemClock()
        world = World(env.db, env.settings, env.world.ids, clock)
        components = build_alert_components(env.settings, env.db, clock, env.notifier, poll_interval=0.2,
                                            tick_interval=1.0)
        assert [c.name for c in components] == ["alerts.router", "alerts.dispatcher", "alerts.escalation",
                                                "alerts.bot"]
        for c in components:
            await c.start()
        try:
            started = time.monotonic()
            world.state("ups-1", "degraded", {"snmp:ups-apc": {"ups.status": "OB", "battery.charge": 97,
                                                               "battery.runtime": 2460}}, reason="on battery")
            _, inc = world.open("ups-1", status="degraded", cause="power", reason="on battery",
                                evidence=[world.evidence("ups-1", "on_battery", input_voltage=0)])
            assert await api.wait_for_messages(1, within=group_wait + 10, chat_id=IT)
            elapsed = api.messages_to(IT)[0].time - started  # the server's monotonic clock is ours (same process)
            print(f"UPS on battery -> Telegram message: {elapsed:.2f} s (group_wait {group_wait:.0f} s)")
            assert elapsed <= group_wait + 2.0, f"took {elapsed:.2f} s"
            msg = api.messages_to(IT)[0]
            assert "🟡 UPS Ruang Server: <b>pakai baterai</b>" in (msg.text or "")
            assert "🔋 Baterai UPS Ruang Server: 97 %, <b>sisa ±41 menit</b>" in (msg.text or "")
            api.press_button(chat_id=IT, user_id=ALLOWED, message_id=msg.message_id, data=f"ack:{inc}",
                             first_name="Budi")
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and not (env.incident(inc).acknowledged_at and api.edits):
                await asyncio.sleep(0.05)
            assert env.incident(inc).acknowledged_by == "Budi"
            assert api.messages_to(IT)[0].buttons[0][0]["callback_data"] == f"acked:{inc}"
            assert api.callback_answers and api.callback_answers[0]["text"].startswith("✅ Dicatat: Budi")
            assert api.commands  # setMyCommands at start
        finally:
            for c in reversed(components):
                await c.stop()
            await env.notifier.close()
            env.db.close()


async def test_components_take_a_new_config_on_reload(tmp_path: Path) -> None:
    from monitor.lifecycle import Reloadable
    from monitor.settings import load_settings

    async with TelegramApiServer(TOKEN) as api:
        env = await make_env(tmp_path, api)
        try:
            components = build_alert_components(env.settings, env.db, SystemClock(), env.notifier)
            new = load_settings(env.path)
            assert new is not env.settings
            for c in components:
                assert isinstance(c, Reloadable)
                await c.reload(new)
            bot = components[-1]
            assert bot.bot.settings is new  # type: ignore[attr-defined]
        finally:
            await env.notifier.close()
            env.db.close()
