"""A light office for the hub's end-to-end test: the real daemon core (pipeline, recorder, self-watch,
housekeeping) and the real shipper on its own SQLite file, with synthetic checks instead of agents.

    python -m tests.hub.light_office CONFIG STOP_FILE

Its devices fail and recover on a seeded random schedule (each check run is a coin toss with memory), and
an "operator" acknowledges open incidents and mutes devices now and then — until ``STOP_FILE`` exists:
then every device answers up, the operator stops, and the office only ships what it has. SIGTERM stops it
cleanly; the test also kills it with SIGKILL (the next start records the monitor gap and ships it).
"""

from __future__ import annotations

import asyncio
import logging
import random
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any, ClassVar

from sqlalchemy import select

from alerts import escalation, mutes
from monitor.clock import SystemClock
from monitor.daemon.core import Daemon
from monitor.daemon.shipper import Shipper
from monitor.domain import CheckResult, Device, DeviceRef, ReasonCode, Status
from monitor.logs import setup_logging
from monitor.settings import Settings, load_settings
from monitor.storage import Database
from monitor.storage import db as dbmod
from monitor.storage.models import IncidentRow


class Flaky:
    """Up most of the time; a failure lasts a few runs. Always up once the stop file exists."""

    kind: ClassVar[str] = "fake"

    def __init__(self, key: str, seed: str, stop: Path) -> None:
        self.key = key
        self.rng = random.Random(seed)
        self.stop = stop
        self.down_left = 0

    async def run(self, device: Device, *, now: Any) -> CheckResult:
        if self.stop.exists():
            self.down_left = 0
        elif self.down_left == 0 and self.rng.random() < 0.06:
            self.down_left = self.rng.randint(2, 6)
        if self.down_left:
            self.down_left -= 1
            return CheckResult(check=self.key, type="fake", status=Status.DOWN, time=now, reason="timeout",
                               reason_code=ReasonCode.TIMEOUT)
        return CheckResult(check=self.key, type="fake", status=Status.UP, time=now)


def checks_for(stop: Path) -> Any:
    def build(settings: Settings) -> dict[tuple[DeviceRef, str], Any]:
        out: dict[tuple[DeviceRef, str], Any] = {}
        for site, dev in settings.iter_devices():
            for spec in dev.checks:
                out[(DeviceRef(site.id, dev.id), spec.key)] = Flaky(spec.key, f"{site.id}/{dev.id}", stop)
        return out
    return build


async def operator(db: Database, stop: Path, settings: Settings) -> None:
    """Acknowledge open incidents and mute/unmute a device, like people at the office would."""
    rng = random.Random(settings.sites[0].id)
    clock = SystemClock()
    while True:
        await asyncio.sleep(rng.uniform(0.5, 1.5))
        if stop.exists():
            return
        now = clock.now()

        def act(s: Any, now: Any = now) -> None:
            inc = s.scalars(select(IncidentRow).where(IncidentRow.ended_at.is_(None),
                                                      IncidentRow.acknowledged_at.is_(None))).first()
            if inc is not None:
                escalation.acknowledge(s, inc, user_id=5001, user_name="Petugas IT", note=None, source="button",
                                       now=now)
            site = settings.sites[0].id
            if rng.random() < 0.3:
                mutes.add_mute(s, site_id=site, device_id=None, until=now + timedelta(minutes=30), reason="uji",
                               by="Petugas IT", now=now)
            elif rng.random() < 0.3:
                mutes.cancel_mutes(s, site_id=site, device_id=None, now=now)
        try:
            await db.run(act, "operator")
        except Exception as exc:  # the database may be briefly busy; people try again
            logging.getLogger("operator").warning("%s", exc)


async def main(config: str, stop_file: str) -> int:
    settings = load_settings(config)
    setup_logging("INFO", settings.secrets)
    engine = dbmod.create_db_engine(settings.database_url)
    dbmod.upgrade(engine)
    db = Database(engine)
    stop = Path(stop_file)
    clock = SystemClock()
    shipper = Shipper(settings, db, clock, poll_interval=0.5)
    daemon = Daemon(settings, db, build_checks=checks_for(stop), clock=clock, extra=[shipper], batch_delay=0.05,
                    sweep_interval=2.0)
    people = asyncio.create_task(operator(db, stop, settings))
    try:
        return await daemon.run()
    finally:
        people.cancel()
        db.close()


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1], sys.argv[2])))
