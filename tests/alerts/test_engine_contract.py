"""The contract with the detection engine, end to end: check results go through the real engine and recorder
(monitor.daemon.pipeline / monitor.daemon.recorder), the events they write are routed here and reach the local
Bot API."""

from __future__ import annotations

import textwrap
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select

from alerts.service import drain, make_dispatcher
from alerts.telegram import TelegramNotifier
from monitor.domain import ObservationKind, Status
from monitor.sandbox.telegram_api import TelegramApiServer
from monitor.storage import Database
from monitor.storage import db as dbmod
from monitor.storage.models import OutboxRow
from tests.engine.conftest import OFFICE, SRV, UPS, Office, office_settings, ups_result
from tests.fakes import T0, FakeClock

from .conftest import TOKEN

IT = -1002001
G, D, U = Status.DEGRADED, Status.DOWN, Status.UP


def office_with_telegram(url: str) -> str:
    return textwrap.dedent(OFFICE).replace("telegram: {enabled: false}", textwrap.dedent(f"""
        telegram:
          bot_token: "{TOKEN}"
          api_base_url: "{url}"
          allowed_users: [5001]
          audiences:
            it_staff: {{chat_id: {IT}}}
            head_of_office: {{chat_id: -1002002}}
            ministry_liaison: {{chat_id: -1002003}}
        alerts: {{group_wait: 30s, daily_alive: null}}"""))


@pytest.fixture
async def wired(tmp_path: Path) -> AsyncIterator[tuple[Office, TelegramApiServer, TelegramNotifier]]:
    async with TelegramApiServer(TOKEN) as api:
        settings = office_settings(tmp_path, office_with_telegram(api.url))
        engine = dbmod.create_db_engine(f"sqlite:///{tmp_path / 'office.db'}")
        dbmod.upgrade(engine)
        db = Database(engine)
        office = Office(settings, db, FakeClock(T0))
        await office.start()
        notifier = TelegramNotifier.from_settings(settings)
        try:
            yield office, api, notifier
        finally:
            await office.stop()
            await notifier.close()
            db.close()


async def test_power_cut_from_check_results_to_telegram(wired: tuple[Office, TelegramApiServer,
                                                                     TelegramNotifier]) -> None:
    office, api, notifier = wired
    pl = office.pipeline
    assert pl is not None
    dispatcher = make_dispatcher(office.settings, office.db, office.clock, notifier)

    async def alerts() -> None:  # the router and dispatcher loops, at this instant
        await drain(office.settings, office.db, office.clock, notifier, dispatcher=dispatcher)

    for minute in range(3):  # the UPS goes on battery: confirmed after three polls
        t = office.at(minute)
        office.clock.set(t)
        pl.submit_result(UPS, ups_result(G, t, ObservationKind.ON_BATTERY,
                                         **{"battery.charge": 90 - minute, "battery.runtime": 1500 - 60 * minute}))
        await pl.drain()
        await alerts()
    office.clock.advance(31)
    await alerts()
    [first] = api.messages_to(IT)
    lines = (first.text or "").split("\n")
    assert lines[0] == "🟡 <b>GANGGUAN #1</b> · Disdukcapil Murung Raya"
    assert lines[1] == "🟡 UPS Ruang Server: <b>pakai baterai</b> sejak 08:00 WIB"
    assert lines[2] == "🔋 Baterai UPS Ruang Server: 88%, <b>sisa ±23 menit</b>"
    assert lines[3].startswith("Penyebab: <b>listrik padam</b> — UPS Ruang Server: UPS pakai baterai 08:00 WIB")
    assert first.buttons[0][0]["callback_data"] == "ack:1"

    for minute in (5, 6, 7):  # the server stops answering: joins the power incident
        await office.feed(SRV, D, minute)
        await alerts()
    office.clock.advance(31)
    await alerts()
    update = api.messages_to(IT)[-1]
    assert (update.text or "").startswith("🔴 <b>PEMBARUAN GANGGUAN #1</b>")
    assert "🔴 Server Perekaman: <b>mati</b> sejak 08:05 WIB (ping: tidak ada jawaban)" in (update.text or "")

    for minute in (40, 41):  # power back: the UPS on mains, the server answers
        t = office.at(minute)
        office.clock.set(t)
        pl.submit_result(UPS, ups_result(U, t, **{"battery.charge": 60, "battery.runtime": 1200}))
        await pl.drain()
        await office.feed(SRV, U, minute)
        await alerts()
    texts = [m.text or "" for m in api.messages_to(IT)]
    recovery = texts[-1]
    assert recovery.startswith("✅ <b>PULIH #1</b> · Disdukcapil Murung Raya")
    assert "Penyebab: <b>listrik padam</b>" in recovery and "Durasi: <b>40 menit</b>" in recovery
    assert api.messages_to(-1002002) and (api.messages_to(-1002002)[-1].text or "").startswith("✅ <b>PULIH #1</b>")
    statuses = office.db.call(lambda s: set(s.scalars(select(OutboxRow.status))))
    assert statuses == {"sent"}
