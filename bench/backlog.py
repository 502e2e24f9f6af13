"""Benchmark 7 — the backlog after a simulated offline day: 10,000 undelivered messages in the durable outbox
(200 offices: 40 for each IT group, 9 for each head of office, and 200 escalations in the one Ministry
liaison chat), events spread over the 24 hours before the link returns. The real dispatcher
(:func:`alerts.service.make_dispatcher`: digests, per-chat and overall rate limits) sends them through
python-telegram-bot to the local Bot API server, which **enforces 20 messages a minute per chat** and answers
429 above it. Targets: everything delivered (as digests), zero 429 answers, nothing lost, ≤ 2 minutes.
Bounded: at most 3 minutes of dispatching.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import Outcome, bot_api_server

NAME = "backlog"
SITES, IT_PER_SITE, HEAD_PER_SITE, MINISTRY = 200, 40, 9, 200
MINISTRY_CHAT = -1009000000003


def _config(db: Path, api_url: str) -> str:
    lines = [f'database: {{url: "sqlite:///{db}"}}',
             f'telegram:\n  bot_token: "100000003:bench-backlog-local"\n  api_base_url: "{api_url}"\n'
             f"  polling: false\n  audiences: {{ministry_liaison: {{chat_id: {MINISTRY_CHAT}}}}}",
             "alerts: {group_wait: 0s, digest_after: 10m, daily_alive: null}",
             "sites:"]
    for i in range(SITES):
        lines.append(f"  - id: kab-{i:03d}\n    name: Disdukcapil Kabupaten {i:03d}\n"
                     f"    audiences: {{it_staff: {{chat_id: {-1003000000 - i}}}, "
                     f"head_of_office: {{chat_id: {-1004000000 - i}}}}}\n    devices:\n"
                     f"      - {{id: srv, name: Server Perekaman, kind: recording_server}}")
    return "\n".join(lines) + "\n"


def _fill(db: Any, now: Any) -> int:
    from alerts.outbox import enqueue

    def write(session: Any) -> int:
        n = 0
        rows: list[tuple[str, str, int]] = []
        for i in range(SITES):
            rows += [(f"kab-{i:03d}", "it_staff", k) for k in range(IT_PER_SITE)]
            rows += [(f"kab-{i:03d}", "head_of_office", k) for k in range(HEAD_PER_SITE)]
        rows += [(f"kab-{k % SITES:03d}", "ministry_liaison", k) for k in range(MINISTRY)]
        for j, (site, audience, k) in enumerate(rows):
            at = now - timedelta(hours=24) + timedelta(seconds=(j * 8.64) % 86400)
            summary = (f"🔴 #{j} Server Perekaman mati (listrik) — {site}" if k % 2 == 0
                       else f"🟢 #{j} Server Perekaman pulih setelah {5 + k % 50} menit — {site}")
            enqueue(session, key=f"bench-backlog-{j}", audience=audience, site_id=site, kind="alert",
                    payload={"text": f"<b>{summary}</b>\nRincian gangguan {j}", "summary": summary},
                    now=at, event_time=at)
            n += 1
        return n

    return db.call(write)


async def _dispatch(cfg: Path, limit_s: float) -> dict[str, Any]:
    from sqlalchemy import func, select

    from alerts.service import make_dispatcher
    from alerts.telegram import TelegramNotifier
    from monitor.app import load_config
    from monitor.clock import SystemClock
    from monitor.storage import Database
    from monitor.storage import db as dbmod
    from monitor.storage.models import OutboxRow

    settings = load_config(cfg, environ={})
    engine = dbmod.create_db_engine(settings.database_url)
    dbmod.upgrade(engine)
    db = Database(engine)
    clock = SystemClock()
    from monitor.storage.inventory import sync_inventory

    db.call(lambda s: sync_inventory(s, settings, clock.now()))
    filled = _fill(db, clock.now())
    notifier = TelegramNotifier.from_settings(settings)
    dispatcher = make_dispatcher(settings, db, clock, notifier)
    t0 = time.monotonic()
    cycles = sent = 0

    def waiting(s: Any) -> int:
        return int(s.scalar(select(func.count()).select_from(OutboxRow).where(
            OutboxRow.status.in_(("pending", "retry", "sending")))) or 0)

    try:
        while time.monotonic() - t0 < limit_s:
            result = await dispatcher.run_once()
            cycles += 1
            sent += result.sent
            if db.call(waiting) == 0:
                break
            if not result.sent:
                await asyncio.sleep(0.25)   # the rate limiter holds the rest: look again shortly
        elapsed = time.monotonic() - t0
        counts = dict(db.call(lambda s: list(s.execute(select(OutboxRow.status, func.count())
                                                       .group_by(OutboxRow.status)))))
        digests = db.call(lambda s: int(s.scalar(select(func.count()).select_from(OutboxRow).where(
            OutboxRow.kind == "digest")) or 0))
    finally:
        await notifier.close()
        db.close()
    return {"filled": filled, "elapsed": elapsed, "cycles": cycles, "messages_sent": sent, "by_status": counts,
            "digest_rows": digests}


def run(opts: argparse.Namespace) -> Outcome:
    from monitor.sandbox.telegram_api import ControlClient

    out = Outcome(NAME)
    with tempfile.TemporaryDirectory(prefix="ektp-bench-backlog-") as tmp:
        work = Path(tmp)
        with bot_api_server(work, "--rate-limit", "20/60") as info:
            cfg = work / "backlog.yaml"
            cfg.write_text(_config(work / "backlog.db", info["url"]))
            res = asyncio.run(_dispatch(cfg, 180.0))
            control = ControlClient(info["control_url"])
            state = control.state()
            messages = control.messages()
    by_status = res["by_status"]
    member_rows = res["filled"]
    delivered = by_status.get("sent", 0) - res["digest_rows"]
    lost = member_rows - delivered
    violations = int(state.get("rate_limit_violations") or 0)
    per_chat: dict[int, int] = {}
    for m in messages:
        per_chat[int(m["chat_id"])] = per_chat.get(int(m["chat_id"]), 0) + 1
    lines = sum((m.get("text") or "").count("\n• ") for m in messages)
    ok = lost == 0 and violations == 0 and res["elapsed"] <= 120.0
    print(f"  {member_rows:,} rows → {len(messages)} messages in {res['elapsed']:.1f} s; 429s {violations}; "
          f"lost {lost}; statuses {by_status}", flush=True)
    out.add(f"backlog of {member_rows:,} messages after a day offline", res["elapsed"], "s",
            target="≤ 120 s, 0 × 429, none lost", ok=ok,
            note=f"{len(messages)} Telegram messages (digests) to {len(per_chat)} chats, max "
                 f"{max(per_chat.values()) if per_chat else 0} to one chat; {lines:,} digest lines; "
                 f"429 answers {violations}; rows not sent {lost}")
    out.details.update(res)
    out.details["messages"] = len(messages)
    out.details["rate_limit_violations"] = violations
    return out


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    o = run(ap.parse_args())
    print(json.dumps(o.to_json(), indent=1, default=str))
