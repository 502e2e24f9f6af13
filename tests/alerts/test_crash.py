"""kill -9 in the middle of sending, then restart: no message lost, at most one sent twice.

The dispatcher runs as a real subprocess (``python -m alerts.service dispatch``) against the local Bot API
server, which accepts each message at once but answers it late — so the kill lands between "Telegram has it"
and "the database knows". The restarted dispatcher finds that row still claimed, waits out the lease and
sends it again.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from alerts.outbox import enqueue
from monitor.sandbox.telegram_api import TelegramApiServer
from monitor.storage.models import DeliveryAttemptRow, OutboxRow

from .conftest import IT, TOKEN, make_env

ROOT = Path(__file__).resolve().parents[2]


def start_dispatcher(config: Path, log: Path, name: str) -> subprocess.Popen[bytes]:
    out = log.open("ab")
    try:
        return subprocess.Popen([sys.executable, "-m", "alerts.service", "dispatch", "-c", str(config), "--name", name,
                                 "--lease", "2", "--interval", "0.1"], cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
    finally:
        out.close()


def stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, sig)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(10)


async def wait_for(predicate: object, within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        await asyncio.sleep(0.02)
    return False


async def test_kill_9_while_sending_loses_nothing_and_duplicates_at_most_one(tmp_path: Path) -> None:
    async with TelegramApiServer(TOKEN) as api:
        env = await make_env(tmp_path, api, start=datetime.now(UTC))
        await env.notifier.close()
        n = 8
        now = datetime.now(UTC)
        env.db.call(lambda s: [enqueue(s, key=f"crash:{i}", audience="it_staff", site_id="kantor", kind="note",
                                       payload={"text": f"pesan {i}"}, now=now) for i in range(n)])
        api.slow(0.8, "sendMessage")  # accepted at once, answered late
        log = tmp_path / "dispatch.log"
        first = start_dispatcher(env.path, log, "first")
        try:
            assert await wait_for(lambda: len(api.messages) >= 3, 30), log.read_text()
            await asyncio.sleep(0.1)  # the third message is with Telegram; its answer is still on the way
            os.kill(first.pid, signal.SIGKILL)
            first.wait(10)
        finally:
            stop(first, signal.SIGKILL)
        in_flight = env.db.call(lambda s: list(s.scalars(select(OutboxRow).where(OutboxRow.status == "sending"))))
        assert len(in_flight) == 1 and in_flight[0].claimed_by == "first"
        second = start_dispatcher(env.path, log, "second")
        try:
            def all_sent() -> bool:
                rows = env.db.call(lambda s: list(s.scalars(select(OutboxRow.status))))
                return rows.count("sent") == n
            assert await wait_for(all_sent, 60), log.read_text()
        finally:
            stop(second)
        delivered = Counter(m.text for m in api.messages_to(IT))
        assert set(delivered) == {f"pesan {i}" for i in range(n)}  # nothing lost
        assert sum(delivered.values()) - n <= 1  # at most one duplicate ...
        twice = [t for t, c in delivered.items() if c > 1]
        assert twice == [in_flight[0].payload["text"]]  # ... and it is the one that was in flight
        expired = env.db.call(lambda s: list(s.scalars(select(DeliveryAttemptRow).where(
            DeliveryAttemptRow.error_kind == "lease_expired"))))
        assert [a.outbox_id for a in expired] == [in_flight[0].id]
        assert TOKEN not in log.read_text() and TOKEN.split(":")[1] not in log.read_text()
        env.db.close()
