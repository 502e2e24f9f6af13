"""Promise 1 — crash safety: ``kill -9`` the daemon at random points, again and again, while outages start
and end on a script; afterwards the outage record equals the scripted truth, the database is intact, no
alert is lost and a kill costs at most one duplicate message.

The office: three recording servers (TCP services on loopback the test switches off and on) and a UPS
(snmpsim serving a real UPS-MIB recording; the test switches it to battery with an SNMP SET), each at its
own site with its own IT-staff chat on the local Bot API server, which answers every sendMessage 0.3 s
late so that kills often land *mid-send* (Telegram has the message, the database does not know yet).

The loop, ``KILLS`` times: start ``ektp-monitor run``; as soon as it checks again, switch one device whose
previous change the record already shows (so every scripted state lasts long enough to be observable) at
a random moment, and ``SIGKILL`` the daemon at another random moment (before or after the switch: mid-check,
mid-confirmation, mid-transaction, mid-send); ``PRAGMA integrity_check`` after every kill. Finally every
device comes back, the daemon drains and stops with SIGTERM.

What is compared:

* per device, the recorded outages equal the scripted ones, one to one, each start and end within the
  detection tolerance: one interval plus the confirmation time after the scripted change — extended by
  the time the monitor was dead when a kill fell inside that window (a dead monitor cannot see, and the
  record says so with a monitor gap);
* every outage has its alert and its recovery message, sent and delivered (the outbox row's message id is
  the message the Bot API received), every outbox row is ``sent``;
* messages the Bot API received that the database never recorded are the duplicates (a message in flight
  at the kill, resent after the restart): at most one per kill.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from bisect import bisect_left
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from itertools import pairwise
from pathlib import Path

import pytest

from monitor.sandbox.snmpsim import SnmpsimAgent, make_recording
from monitor.sandbox.telegram_api import TelegramApiServer
from tests.conftest import RECORDINGS

from .conftest import Daemon, TcpService, await_until, integrity, query, report, size, upgrade, write

TOKEN = "4242424242:reliability-crash-token-abcdef0123"
UPS_OUTPUT_SOURCE = "1.3.6.1.2.1.33.1.4.1.0"
INTERVAL, CONFIRM = 0.5, 2
CHATS = {"srv-1": -1009100001, "srv-2": -1009100002, "srv-3": -1009100003, "ups-1": -1009100004}
# detection tolerance (s): the first failing check runs within one interval (+ jitter, scheduling slack) of
# the change; the outage row is written after CONFIRM results plus the pipeline's batch delay
OBSERVE = INTERVAL + 0.1 + 0.6
CONFIRM_SPAN = INTERVAL * CONFIRM + 0.2 + 1.0
MODES = ("random", "mid-confirmation", "mid-send")


@pytest.fixture
def ups(tmp_path: Path) -> Iterator[SnmpsimAgent]:
    data = tmp_path / "snmp"
    make_recording(data, "ups-crash", base=RECORDINGS / "snmprec" / "riello.snmprec",
                   writable={UPS_OUTPUT_SOURCE: "wccrash"})
    with SnmpsimAgent(data, writecache=["wccrash"], work_dir=tmp_path / "snmpsim") as agent:
        yield agent


def _config(tmp_path: Path, api_url: str, services: dict[str, TcpService], snmp_port: int) -> Path:
    sites = []
    for i, (dev, svc) in enumerate(services.items(), start=1):
        sites.append(f"""
              - id: s{i}
                name: "Kantor {i}"
                audiences: {{it_staff: {{chat_id: {CHATS[dev]}}}}}
                devices: [{{id: {dev}, name: "Server {i}", kind: recording_server, address: 127.0.0.1,
                            checks: [{{type: tcp, port: {svc.port}}}]}}]""")
    sites.append(f"""
              - id: s4
                name: "Kantor 4"
                audiences: {{it_staff: {{chat_id: {CHATS['ups-1']}}}}}
                devices: [{{id: ups-1, name: "UPS 4", kind: ups, address: 127.0.0.1,
                            checks: [{{type: snmp, profile: ups-rfc1628,
                                       snmp: {{community: ups-crash, port: {snmp_port}}}}}]}}]""")
    return write(tmp_path / "office.yaml", f"""
        database: {{url: "sqlite:///{tmp_path}/monitor.db"}}
        defaults: {{interval: {INTERVAL}s, timeout: 300ms, retries: 0, confirm_down: {CONFIRM},
                   confirm_up: {CONFIRM}}}
        telegram: {{bot_token: "{TOKEN}", api_base_url: "{api_url}", allowed_users: [5001],
                   per_chat_per_minute: 60, request_timeout: 5s}}
        monitor: {{heartbeat_interval: 1s, jitter: 100ms, misfire_grace: 10s}}
        alerts: {{group_wait: 0s, daily_alive: null, digest_after: 1h, repeat_interval: 4h}}
        escalation: {{steps: [{{audience: it_staff}}]}}
        flapping: {{window: 1m, max_changes: 1000}}
        reports: {{weekly: {{enabled: false}}}}
        sites:{"".join(sites)}
        """)


def _ts(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


@dataclass
class Script:
    """The scripted truth: per device, [down_at, up_at] wall times (up_at None while down)."""

    truth: dict[str, list[list[float | None]]] = field(default_factory=dict)

    def down(self, dev: str) -> bool:
        spans = self.truth.get(dev, [])
        return bool(spans) and spans[-1][1] is None

    def switch(self, dev: str, at: float) -> None:
        if self.down(dev):
            self.truth[dev][-1][1] = at
        else:
            self.truth.setdefault(dev, []).append([at, None])


def _bound(change: float, dead: list[tuple[float, float]]) -> tuple[float, float]:
    """[earliest, latest] acceptable recorded time of a change at ``change`` (see the module docstring)."""
    hi = change + OBSERVE
    confirm_by = hi + CONFIRM_SPAN
    for start, end in dead:
        if start < confirm_by and end > change - 1.0:
            hi = max(hi, end + OBSERVE)
            confirm_by = max(confirm_by, end + OBSERVE + CONFIRM_SPAN)
    return change - 1.0, hi


async def test_kill_9_at_random_points_keeps_the_record_and_every_alert(tmp_path: Path, ups: SnmpsimAgent) -> None:
    kills = size(12, 100)
    seed = int(os.environ.get("EKTP_SEED", time.time_ns() % 10**6))
    rng = random.Random(seed)
    services = {d: TcpService() for d in ("srv-1", "srv-2", "srv-3")}
    db = tmp_path / "monitor.db"
    script = Script()
    runs: list[tuple[float, float | None]] = []          # (start wall time, kill wall time)
    kill_mono: list[float] = []
    modes = Counter[str]()
    daemon: Daemon | None = None

    def monitoring_since(t: float) -> bool:
        rows = query(db, "SELECT MAX(time) FROM check_samples")
        return bool(rows and rows[0][0] and _ts(rows[0][0]) > t)

    def observed(dev: str) -> bool:
        """The record shows the device's scripted state (so it may change again)."""
        rows = query(db, "SELECT s.status, (SELECT COUNT(*) FROM outages o WHERE o.device_id = d.id AND "
                         "o.ended_at IS NULL) FROM devices d JOIN device_states s ON s.device_id = d.id "
                         "WHERE d.key = ?", dev)
        if not rows:
            return False
        status, open_ = rows[0]
        return bool((status != "up" and open_ == 1) if script.down(dev) else (status == "up" and open_ == 0))

    def switch(dev: str) -> None:
        going_down = not script.down(dev)
        if dev == "ups-1":
            ups.set("ups-crash", UPS_OUTPUT_SOURCE, 5 if going_down else 3)   # battery(5) / normal(3)
        elif going_down:
            services[dev].down()
        else:
            services[dev].up()
        script.switch(dev, time.time())

    async with TelegramApiServer(TOKEN) as api:
        api.slow(0.3, "sendMessage")   # Telegram takes the message at once and answers late: kills land mid-send
        cfg = _config(tmp_path, api.url, services, ups.port)
        upgrade(cfg)
        log = tmp_path / "monitor.log"
        try:
            daemon = Daemon(cfg, log).start()
            runs.append((time.time(), None))
            await await_until(lambda: query(db, "SELECT COUNT(*) FROM device_states WHERE status = 'up'")
                              == [(4,)], 60, "all four devices up", proc=daemon)
            for n in range(kills):
                if n:
                    daemon = Daemon(cfg, log).start()
                    runs.append((time.time(), None))
                started = runs[-1][0]
                await await_until(partial(monitoring_since, started), 60, "checks after the restart", proc=daemon)
                t_mon = time.time()
                candidates = [d for d in CHATS if observed(d)]
                target = rng.choice(candidates) if candidates and rng.random() < 0.9 else None
                mode = rng.choice(MODES) if target is not None else "random"
                modes[mode] += 1
                if mode == "random":             # switch and kill at independent random moments
                    switch_at = t_mon + rng.uniform(0.0, 2.0)
                    kill_at = t_mon + rng.uniform(0.0, 2.5)
                    for when, what in sorted([(switch_at, "switch"), (kill_at, "kill")]):
                        await asyncio.sleep(max(0.0, when - time.time()))
                        if what == "switch" and target is not None:
                            switch(target)
                        elif what == "kill":
                            kill_mono.append(time.monotonic())
                            runs[-1] = (started, daemon.kill9())
                else:
                    assert target is not None
                    await asyncio.sleep(rng.uniform(0.0, 1.0))
                    before = len(api.messages)
                    switch(target)
                    if mode == "mid-confirmation":   # while failures are counted / the outage is written
                        await asyncio.sleep(rng.uniform(0.2, 1.4))
                    else:                            # mid-send: Telegram has the alert, its answer is on the way
                        await await_until(partial(lambda b: len(api.messages) > b, before), 15,
                                          "the alert at the Bot API", proc=daemon, every=0.01)
                        await asyncio.sleep(rng.uniform(0.0, 0.2))
                    kill_mono.append(time.monotonic())
                    runs[-1] = (started, daemon.kill9())
                check = integrity(db)
                assert check == "ok", f"integrity_check after kill {n + 1}: {check}"
            assert len(kill_mono) == kills
            # the end: everything recovers, the last daemon drains and stops cleanly
            daemon = Daemon(cfg, log).start()
            runs.append((time.time(), None))
            await await_until(partial(monitoring_since, runs[-1][0]), 60, "checks after the last restart",
                              proc=daemon)
            for dev in CHATS:
                if script.down(dev):
                    await await_until(partial(observed, dev), 60, f"{dev} recorded down", proc=daemon)
                    switch(dev)
            await await_until(lambda: all(observed(d) for d in CHATS), 60, "every recovery recorded", proc=daemon)
            await await_until(lambda: query(db, "SELECT COUNT(*) FROM outbox WHERE status != 'sent'") == [(0,)]
                              and query(db, "SELECT COUNT(*) FROM events WHERE kind IN ('incident_opened', "
                                            "'incident_closed') AND claimed_at IS NULL") == [(0,)],
                              120, "every message sent", proc=daemon)
            await asyncio.sleep(1.0)
            code = daemon.stop()
            assert code == 0, daemon.tail()
        finally:
            if daemon is not None:
                daemon.stop(10)
            for svc in services.values():
                svc.down()

        assert integrity(db) == "ok"
        # ---- the record equals the scripted truth
        first_sample = [_ts(t) for (t,) in query(db, "SELECT time FROM check_samples ORDER BY time")]
        dead: list[tuple[float, float]] = []
        for (_s, killed), (nxt, _k) in pairwise(runs):
            assert killed is not None
            i = bisect_left(first_sample, nxt)
            dead.append((killed, first_sample[i] if i < len(first_sample) else float("inf")))
        outages = Counter[str]()
        worst = {"start": 0.0, "end": 0.0}
        problems: list[str] = []
        for dev in CHATS:
            recorded = query(db, "SELECT o.id, o.started_at, o.ended_at, o.incident_id FROM outages o JOIN devices d "
                                 "ON d.id = o.device_id WHERE d.key = ? ORDER BY o.started_at", dev)
            truth = script.truth.get(dev, [])
            outages[dev] = len(truth)
            if len(recorded) != len(truth):
                problems.append(f"{dev}: {len(recorded)} outages recorded, {len(truth)} scripted")
                continue
            for (oid, start, end, _inc), (down_at, up_at) in zip(recorded, truth, strict=True):
                assert down_at is not None and up_at is not None and end is not None
                for what, got, want in (("start", _ts(start), down_at), ("end", _ts(end), up_at)):
                    worst[what] = max(worst[what], got - want)
                    lo, hi = _bound(want, dead)
                    if not lo <= got <= hi:
                        problems.append(f"{dev} outage {oid} {what}: recorded {got - want:+.2f} s from the script "
                                        f"(allowed {lo - want:+.2f}..{hi - want:+.2f})")
        assert not problems, "\n".join(problems) + f"\nseed {seed}\n{daemon.tail() if daemon else ''}"

        # ---- every alert and recovery sent and delivered; the rest of what Telegram got is duplicates
        delivered = {(str(m.chat_id), m.message_id): m for m in api.messages}
        rows = query(db, "SELECT id, kind, incident_id, status, chat_id, message_id FROM outbox")
        assert rows and {r[3] for r in rows} == {"sent"}
        recorded_ids = {(str(chat), mid) for _i, _k, _inc, _s, chat, mid in rows if mid is not None}
        assert recorded_ids <= set(delivered), "a row says sent but the Bot API never got it"
        incidents = query(db, "SELECT i.id, d.key FROM incidents i JOIN outages o ON o.incident_id = i.id "
                              "JOIN devices d ON d.id = o.device_id")
        assert len(incidents) == sum(outages.values())
        for inc, dev in incidents:
            # messages are rendered when sent: an alert that waited (a kill, a loaded machine) until its outage
            # had ended is the short-outage form, "GANGGUAN SINGKAT, SUDAH PULIH #n" — still this incident's alert
            for kind, words in (("alert", ("GANGGUAN", "GANGGUAN SINGKAT, SUDAH PULIH")), ("recovery", ("PULIH",))):
                sent = [r for r in rows if r[2] == inc and r[1] == kind]
                assert sent, f"incident {inc} ({dev}) has no {kind} message"
                msg = delivered[(str(sent[0][4]), sent[0][5])]
                assert str(msg.chat_id) == str(CHATS[dev]), (msg.chat_id, dev)
                assert any(f"{w} #{inc}" in (msg.text or "") for w in words), (kind, msg.text)
        duplicates = [m for key, m in delivered.items() if key not in recorded_ids]
        per_kill = Counter(bisect_left(kill_mono, m.time) for m in duplicates)
        assert all(count <= 1 for count in per_kill.values()), f"duplicates per kill: {per_kill}"
        assert len(duplicates) <= kills
        recovered = query(db, "SELECT COUNT(*) FROM delivery_attempts WHERE error_kind = 'lease_expired'")[0][0]
        mid_send = sum(1 for k in kill_mono if any(k - 0.35 <= m.time <= k for m in api.messages))
        report(f"crash safety (seed {seed}): {kills} kills, {sum(outages.values())} outages "
               f"({dict(outages)}), {len(api.messages)} messages ({len(rows)} outbox rows), "
               f"{len(duplicates)} duplicates, max {max(per_kill.values(), default=0)} per kill, kill modes "
               f"{dict(modes)}, worst lateness start {worst['start']:.2f} s / end {worst['end']:.2f} s, "
               f"{recovered} in-flight sends resent after a kill, {mid_send} kills within 0.35 s of a delivery, "
               f"integrity_check ok after every kill")
