"""The storyline: a lightning storm at a regency office, told through the real monitor.

It retells the case in ``CONTEXT.md`` (Murung Raya, 2017: lightning, the UPS runs down, recording stops) on the
simulated office of :mod:`monitor.sandbox.demo.office`. Every step changes the world only as the world changes
(SNMP SET, a real trap, a device losing power, a button pressed in the chat, the monitor PC losing power) and
then *waits for the monitor to notice*, reading the database the daemon writes and the chats of the local Bot
API server. Waits are conditions with generous timeouts (a loaded machine is slower, never wrong); the
pauses that only give a reader time (``hold``) shrink with ``--speed``.

A step that the rest of the story needs (e.g. the server's outage) raises :class:`DemoFailed` when it does not
happen; a step the story can do without (e.g. a message to the head of office) is recorded as missed and the
story goes on. The final verdict is :mod:`monitor.sandbox.demo.verify`'s.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from monitor.domain import Audience
from monitor.sandbox.demo.describe import describe_event
from monitor.sandbox.demo.monitorproc import MonitorProcess
from monitor.sandbox.demo.office import Office
from monitor.sandbox.demo.recordings import OID
from monitor.sandbox.demo.timeline import Timeline
from monitor.sandbox.demo.watch import Chat, ChatMessage, Record
from monitor.settings import Settings

__all__ = ["STAFF_ID", "STAFF_NAME", "Demo", "DemoFailed", "after_stop", "storyline"]

STAFF_ID, STAFF_NAME = 5001, "Budi"
LIGHTNING_KINDS = frozenset({"strike", "spd_tripped"})
POWER_KINDS = frozenset({"on_battery", "low_battery", "voltage_abnormal", "line_bad", "transfer"})
STORM_DEVICES = ("spd-1", "ups-1", "ups-apc", "rec-srv-1", "router", "dc-pusat")


class DemoFailed(Exception):
    """Something the rest of the story needs did not happen (the message names it)."""


@dataclass
class Demo:
    """The running demo: the world, the monitor, what is read back, and the narration."""

    settings: Settings
    site_id: str
    office: Office
    monitor: MonitorProcess
    record: Record
    chat: Chat
    timeline: Timeline
    speed: float = 1.0
    missed: list[str] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)
    monitor_should_run: bool = True
    _last_event: int = 0
    _answers: int = 0
    _shown: dict[tuple[str, int], str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        site = self.settings.site(self.site_id)
        self.names = {d.id: d.name for d in site.devices}
        self.chats: dict[str, str] = {}
        labels = {Audience.IT_STAFF: "IT staff group", Audience.HEAD_OF_OFFICE: "Head of office (Kepala Dinas)",
                  Audience.MINISTRY_LIAISON: "Ministry liaison (Kemendagri)"}
        for audience, label in labels.items():
            target = self.settings.audience_target(self.site_id, audience)
            if target is not None:
                self.chats[str(target.chat_id)] = label
        self.chat_of = {a: str(t.chat_id) for a in Audience
                        if (t := self.settings.audience_target(self.site_id, a)) is not None}

    # ------------------------------------------------------------------------------------ narration

    def tick(self) -> None:
        """Print what the monitor recorded and what the chats received since the last tick."""
        for ev in self.record.events_after(self._last_event):
            self._last_event = ev.id
            text = describe_event(ev.kind, ev.payload, ev.device)
            if text:
                self.timeline.monitor(text, ev.time)
        for msg, edited in self.chat.changes():
            self.show_message(msg, edited)

    def show_message(self, msg: ChatMessage, edited: bool) -> None:
        chat = self.chats.get(msg.chat_id, f"chat {msg.chat_id}")
        if edited and self._shown.get(msg.key) == msg.text:
            # only the buttons changed (an acknowledgement): show just them, not the whole message again
            labels = "  ".join(f"[ {b.get('text', '?')} ]" for row in msg.buttons for b in row) or "(none)"
            self.timeline.line("telegram", f"→ {chat}: message #{msg.message_id} edited, buttons now {labels}")
            return
        self._shown[msg.key] = msg.text
        doc = None
        if msg.filename:
            doc = f"{msg.filename} ({(msg.document_size or 0) / 1024:.0f} KB)"
        self.timeline.telegram(chat, msg.text, msg.buttons, message_id=msg.message_id, edited=edited, document=doc,
                               when=datetime.fromtimestamp(msg.date, UTC) if msg.date and not edited else None)

    def _check_monitor(self) -> None:
        if self.monitor_should_run and not self.monitor.alive():
            raise DemoFailed(f"the monitor stopped on its own (exit code {self.monitor.returncode}); its log ends:\n"
                             + self.monitor.log_tail())

    def wait(self, what: str, cond: Callable[[], object], *, timeout: float = 60.0, required: bool = True) -> bool:
        """Tick until ``cond()`` holds. On timeout: :class:`DemoFailed` when ``required``, else a recorded miss."""
        deadline = time.monotonic() + timeout
        while True:
            self.tick()
            if cond():
                self.tick()
                return True
            self._check_monitor()
            left = deadline - time.monotonic()
            if left <= 0:
                if required:
                    raise DemoFailed(f"{what}: did not happen within {timeout:.0f} s")
                self.missed.append(what)
                self.timeline.line("fail", f"{what}: did not happen within {timeout:.0f} s")
                return False
            self.timeline.status(f"waiting for {what} … ({left:.0f} s at most)")
            time.sleep(0.25)

    def hold(self, seconds: float, why: str, *, minimum: float = 0.0) -> None:
        """Let ``seconds / speed`` (at least ``minimum``) pass; the narration keeps running."""
        end = time.monotonic() + max(minimum, seconds / self.speed)
        while (left := end - time.monotonic()) > 0:
            self.tick()
            self._check_monitor()
            self.timeline.status(f"{why} … {left:.0f} s")
            time.sleep(min(0.25, max(0.01, left)))

    # ----------------------------------------------------------------------------------- the world

    def sim(self, text: str) -> None:
        self.tick()  # what the monitor did before this action is printed before it
        self.timeline.sim(text)

    def addr(self, device: str) -> str:
        return self.office.addresses[device]

    def outage_open(self, device: str, status: str | None = None) -> bool:
        o = self.record.open_outage(device)
        return o is not None and (status is None or o["status"] == status)

    def messages_to(self, audience: Audience) -> list[ChatMessage]:
        chat_id = self.chat_of.get(audience)
        return [] if chat_id is None else sorted(self.chat.to(chat_id), key=lambda m: m.message_id)

    def incident_of(self, device: str) -> int | None:
        o = self.record.open_outage(device)
        return None if o is None else o["incident"]

    def callback_toasts(self) -> None:
        answers = self.chat.callback_answers()
        for a in answers[self._answers:]:
            self.timeline.line("telegram", f"→ {STAFF_NAME}'s phone shows: “{a.get('text')}”")
        self._answers = len(answers)


# ------------------------------------------------------------------------------------------ the story


def storyline(d: Demo) -> None:
    """Play the storm (chapters 1–11). Raises :class:`DemoFailed` when a needed step does not happen.

    Each action is narrated first, then done, then waited for: the lines that follow it are what the monitor
    made of it."""
    tl, office = d.timeline, d.office
    devices = list(d.names)
    d.facts["staff_name"] = STAFF_NAME

    every = d.settings.defaults.interval.total_seconds()
    tl.chapter("1", "A normal afternoon at the office",
               f"The monitor polls every device every {every:g} s: the router's WAN uplink, two UPS cards, the "
               "surge arrester's alarm contact, the strike counter, the recording server and its service, "
               "the Ministry's data center over the VPN.")
    d.wait("the monitor to see every device up",
           lambda: (st := d.record.statuses()) and all(st.get(x) == "up" for x in devices), timeout=120)
    st = d.record.statuses()
    for dev in devices:
        tl.monitor(f"{d.names[dev]} ({dev}, {d.settings.site(d.site_id).device(dev).address}): {st.get(dev)}")
    ups = d.record.metrics("ups-1")
    if ups.get("battery.runtime") is not None:
        tl.monitor(f"UPS Server (Riello) on mains: {ups.get('battery.charge')} % charge, "
                   f"{float(ups['battery.runtime']) / 60:.0f} min of battery runtime (the recorded values)")
    d.hold(2, "all quiet")

    # -- 2. lightning
    tl.chapter("2", "Lightning strikes", "A strike near the office: the counter counts it, the arrester takes the "
                                          "surge and its alarm contact (wired to the APC card) trips.")
    d.facts["storm_start"] = datetime.now(UTC)
    d.sim(f"strike counter {d.addr('spd-count')}: 12 → 13 (SNMP SET)")
    office.set("spd-count", [(OID.strikes, 13, "c")])
    d.sim(f"APC card {d.addr('ups-apc')}: contact 1 'Arrester Petir (SPD)' → fault, last transfer cause → "
          "largeMomentarySpike (SET); the card sends the trap contactFault (snmptrap)")
    office.set("ups-apc", [(OID.iemStatusContactStatus1, 2, "i"), (OID.upsAdvInputLineFailCause, 8, "i")])
    office.trap("ups-apc", OID.apcContactFault, [(OID.mtrapargsString, "s", "Contact Fault: Arrester Petir (SPD)")])
    d.wait("the arrester's outage (cause lightning)", lambda: d.outage_open("spd-1"), timeout=60)
    d.wait("the strike to be recorded", lambda: any(e["kind"] == "strike" for e in d.record.evidence()),
           timeout=30, required=False)
    d.facts["storm_incident"] = d.incident_of("spd-1")
    d.hold(2, "the storm goes on")

    # -- 3. mains fails
    tl.chapter("3", "The mains power fails", "PLN power drops out with the storm: both UPS switch to battery "
                                              "and their cards send traps.")
    d.sim(f"Riello UPS {d.addr('ups-1')}: upsOutputSource normal → battery, input 242 V → 0 V (SET) + trap "
          "upsTrapOnBattery")
    office.set("ups-1", [(OID.upsOutputSource, 5, "i"), (OID.upsInputVoltage1, 0, "i"),
                         (OID.upsInputFrequency1, 0, "i"), (OID.upsSecondsOnBattery, 5, "i")])
    office.trap("ups-1", OID.upsTrapOnBattery, [(OID.upsEstimatedMinutesRemaining, "i", 135),
                                                (OID.upsSecondsOnBattery, "i", 5)])
    d.sim(f"APC UPS {d.addr('ups-apc')}: onLine → onBattery, input 223 V → 0 V, last transfer cause → blackout (SET) "
          "+ trap upsOnBattery")
    office.set("ups-apc", [(OID.upsBasicOutputStatus, 3, "i"), (OID.upsHighPrecInputLineVoltage, 0, "g"),
                           (OID.upsHighPrecInputFrequency, 0, "g"), (OID.upsAdvInputLineFailCause, 4, "i")])
    office.trap("ups-apc", OID.apcUpsOnBattery,
                [(OID.mtrapargsString, "s", "UPS: On battery power in response to an input power problem.")])
    d.wait("both UPS on battery in the record", lambda: d.outage_open("ups-1") and d.outage_open("ups-apc"),
           timeout=60)
    d.wait("the first alert in the IT staff group", lambda: d.messages_to(Audience.IT_STAFF), timeout=60)

    # -- 4. batteries drain
    tl.chapter("4", "The batteries run down", "The Riello behind the server has an old battery: its runtime "
                                              "falls fast.")
    d.sim("Riello UPS: runtime 135 → 9 min, charge 100 → 31 % (SET)")
    office.set("ups-1", [(OID.upsEstimatedMinutesRemaining, 9, "i"), (OID.upsEstimatedChargeRemaining, 31, "i"),
                         (OID.upsSecondsOnBattery, 600, "i")])
    d.sim("APC UPS: runtime 325 → 41 min, charge 100 → 62 % (SET)")
    office.set("ups-apc", [(OID.upsAdvBatteryRunTimeRemaining, 41 * 60 * 100, "t"),
                           (OID.upsHighPrecBatteryCapacity, 620, "g")])
    d.wait("the low runtime to be noted", lambda: any(e["kind"] == "low_runtime" for e in d.record.evidence()),
           timeout=30, required=False)

    # -- 5. the server's UPS runs out
    tl.chapter("5", "The server's UPS runs out", "The Riello reaches low battery; the recording server loses "
                                                 "power, and e-KTP recording stops.")
    d.sim("Riello UPS: battery low, 1 min left (SET)")
    office.set("ups-1", [(OID.upsBatteryStatus, 3, "i"), (OID.upsEstimatedMinutesRemaining, 1, "i"),
                         (OID.upsEstimatedChargeRemaining, 4, "i")])
    d.hold(2, "the battery gives out")
    d.sim(f"recording server {d.addr('rec-srv-1')}: power lost — its SNMP agent and the recording service "
          "(TCP) stop answering")
    office.power_off("rec-srv-1")
    office.service.stop()
    d.sim("Riello UPS: output off (upsOutputSource none) (SET)")
    office.set("ups-1", [(OID.upsOutputSource, 2, "i"), (OID.upsEstimatedMinutesRemaining, 0, "i"),
                         (OID.upsEstimatedChargeRemaining, 0, "i")])
    d.wait("the recording server's outage (down)", lambda: d.outage_open("rec-srv-1", "down"), timeout=60)
    d.hold(1, "the network UPS still holds")

    # -- 6. the router's UPS runs out
    tl.chapter("6", "The network goes dark", "The APC UPS shuts down too: the router loses power, and with it the "
                                             "VPN to the Ministry's data center.")
    d.sim("APC UPS: battery exhausted, output off (sleepingUntilPowerReturn) (SET)")
    office.set("ups-apc", [(OID.upsBasicOutputStatus, 11, "i"), (OID.upsAdvBatteryRunTimeRemaining, 0, "t"),
                           (OID.upsHighPrecBatteryCapacity, 0, "g")])
    d.sim(f"router {d.addr('router')}: power lost — SNMP stops answering; the data center "
          f"{d.addr('dc-pusat')} can no longer be reached through it")
    office.power_off("router")
    office.upstream.stop()
    d.wait("the router's outage and the data center unreachable (not down)",
           lambda: d.outage_open("router", "down") and d.outage_open("dc-pusat", "unreachable"), timeout=60)

    # -- 7. escalation and acknowledgement
    tl.chapter("7", "Escalation, and the IT staff take it",
               "Budi (IT) is serving applicants at the counter and has not pressed “Tangani” yet, so the ladder "
               "tells the head of office; then Budi takes the incident from his phone.")
    d.wait("the escalation to the head of office", lambda: d.messages_to(Audience.HEAD_OF_OFFICE), timeout=60,
           required=False)
    incident = d.facts.get("storm_incident")
    ack_data = f"ack:{incident}"
    target = next((m for m in d.messages_to(Audience.IT_STAFF) if ack_data in m.button_data), None)
    if target is None:
        raise DemoFailed(f"an alert with the “Tangani” button ({ack_data}) in the IT staff group")
    d.sim(f"{STAFF_NAME} (Telegram user {STAFF_ID}) presses “✋ Tangani” under message #{target.message_id} "
          f"({ack_data}) — injected into the Bot API server as a callback query")
    office.bot_press(int(target.chat_id), STAFF_ID, target.message_id, ack_data, STAFF_NAME)
    d.wait("the acknowledgement in the record",
           lambda: any(a["user_name"] == STAFF_NAME for a in d.record.acknowledgements()), timeout=60)
    d.wait("the bot's answer on Budi's phone", lambda: d.chat.callback_answers(), timeout=20, required=False)
    d.callback_toasts()
    d.hold(1, "Budi is on his way")

    # -- 8. the monitor PC loses power
    tl.chapter("8", "The monitor PC loses power too", "The monitor is killed without warning (SIGKILL): no clean "
                                                      "shutdown, no last words. Nobody knows what happens meanwhile.")
    d.monitor_should_run = False
    d.sim(f"ektp-monitor run (pid {d.monitor.pid}) killed with SIGKILL")
    d.monitor.kill9()
    d.facts["killed_at"] = datetime.now(UTC)
    # at least a few heartbeats, or there is no gap to record
    d.hold(10, "the monitor is off", minimum=5 * d.settings.monitor.heartbeat_interval.total_seconds())
    d.monitor.start()
    d.monitor_should_run = True
    d.sim(f"the monitor PC boots: `ektp-monitor run` started again (pid {d.monitor.pid})")
    d.wait("the monitor gap in the record", lambda: d.record.gaps(), timeout=60)
    d.wait("the gap note in the IT staff group",
           lambda: any("⏸" in m.text for m in d.messages_to(Audience.IT_STAFF)), timeout=45, required=False)

    # -- 9. power returns
    tl.chapter("9", "The power comes back", "PLN power returns: the UPS go back on mains, the router and the "
                                            "server boot, recording can resume.")
    d.facts["power_back"] = datetime.now(UTC)
    d.sim("Riello UPS: back on mains, input 228 V, charging (SET) + trap upsTrapAlarmEntryRemoved(upsAlarmOnBattery)")
    office.set("ups-1", [(OID.upsOutputSource, 3, "i"), (OID.upsBatteryStatus, 2, "i"),
                         (OID.upsInputVoltage1, 228, "i"), (OID.upsInputFrequency1, 500, "i"),
                         (OID.upsSecondsOnBattery, 0, "i"), (OID.upsEstimatedMinutesRemaining, 38, "i"),
                         (OID.upsEstimatedChargeRemaining, 28, "i")])
    office.trap("ups-1", OID.upsTrapAlarmEntryRemoved, [(OID.upsAlarmDescr + ".1", "o", OID.upsAlarmOnBattery)])
    d.sim("APC UPS: back onLine, input 226 V (SET) + trap powerRestored")
    office.set("ups-apc", [(OID.upsBasicOutputStatus, 2, "i"), (OID.upsHighPrecInputLineVoltage, 2260, "g"),
                           (OID.upsHighPrecInputFrequency, 500, "g"),
                           (OID.upsAdvBatteryRunTimeRemaining, 95 * 60 * 100, "t"),
                           (OID.upsHighPrecBatteryCapacity, 300, "g")])
    office.trap("ups-apc", OID.apcPowerRestored,
                [(OID.mtrapargsString, "s", "UPS: Returned from battery backup power.")])
    d.sim(f"router {d.addr('router')} boots (uptime 20 s): the VPN to the data center is up again")
    office.power_on("router")
    office.upstream.start()
    d.sim(f"recording server {d.addr('rec-srv-1')} boots (uptime 20 s) and the recording service starts")
    office.power_on("rec-srv-1")
    office.service.start()
    d.wait("every device except the arrester to recover",
           lambda: all(d.record.open_outage(x) is None for x in ("ups-1", "ups-apc", "router", "dc-pusat",
                                                                  "rec-srv-1")), timeout=90)

    # -- 10. the arrester is replaced
    tl.chapter("10", "The technician replaces the arrester module", "The arrester did its job and is spent; "
                                                                     "a new module clears the alarm contact.")
    d.sim("APC card: contact 1 → noFault (SET) + trap contactFaultResolved")
    office.set("ups-apc", [(OID.iemStatusContactStatus1, 1, "i")])
    office.trap("ups-apc", OID.apcContactFaultResolved,
                [(OID.mtrapargsString, "s", "Contact Normal: Arrester Petir (SPD)")])
    d.wait("the storm incident to close",
           lambda: all(i["ended_at"] is not None for i in d.record.incidents()), timeout=60)
    d.wait("the recovery message in the IT staff group",
           lambda: any(o["kind"] == "recovery" and o["status"] == "sent" and o["audience"] == "it_staff"
                       for o in d.record.outbox()), timeout=45, required=False)
    service_outage(d)


def _windows_clear_at(d: Demo) -> datetime:
    """When no storm evidence is inside the cause windows any more (so a new outage is judged on its own)."""
    causes = d.settings.causes
    ev = d.record.evidence()
    last_l = max((e["time"] for e in ev if e["kind"] in LIGHTNING_KINDS), default=None)
    last_p = max((e["time"] for e in ev if e["kind"] in POWER_KINDS), default=None)
    at = datetime.now(UTC)
    if last_l is not None:
        at = max(at, last_l + causes.lightning_window)
    if last_p is not None:
        at = max(at, last_p + causes.power_window)
    return at + timedelta(seconds=2)


def service_outage(d: Demo) -> None:
    """Chapter 11: a short outage of the recording application alone (cause ``service``)."""
    tl, office = d.timeline, d.office
    tl.chapter("11", "Later: the recording application hangs",
               "A quiet spell (the storm's evidence leaves the cause windows), then the e-KTP recording "
               "application stops while the server itself keeps answering.")
    clear = _windows_clear_at(d)
    wait_s = (clear - datetime.now(UTC)).total_seconds()
    if wait_s > 1:
        causes = d.settings.causes
        d.timeline.note(f"{wait_s:.0f} s of quiet first: the storm's evidence must be older than the cause windows "
                        f"(lightning {causes.lightning_window.total_seconds():.0f} s, power "
                        f"{causes.power_window.total_seconds():.0f} s) before a new outage is judged on its own")
    d.wait("the storm to leave the cause windows", lambda: datetime.now(UTC) >= clear,
           timeout=max(5.0, (clear - datetime.now(UTC)).total_seconds() + 30))
    d.facts["service_stop"] = datetime.now(UTC)
    d.sim(f"recording service {d.addr('rec-srv-1')}:{office.service.port} stops (TCP refused); the server's "
          "SNMP agent still answers")
    office.service.stop()
    d.wait("the service outage (cause service)",
           lambda: (o := d.record.open_outage("rec-srv-1")) is not None and o["cause"] == "service", timeout=60)
    d.facts["service_incident"] = d.incident_of("rec-srv-1")
    before = len(d.messages_to(Audience.IT_STAFF))
    d.wait("the alert about it in the IT staff group", lambda: len(d.messages_to(Audience.IT_STAFF)) > before,
           timeout=45, required=False)
    d.sim(f"{STAFF_NAME} restarts the recording application: the service answers again")
    office.service.start()
    d.wait("the service outage to close", lambda: d.record.open_outage("rec-srv-1") is None and all(
        i["ended_at"] is not None for i in d.record.incidents()), timeout=60)
    d.wait("the recovery message for it", lambda: any(
        o["kind"] in ("recovery", "short") and o["status"] == "sent" and o["incident"] == d.facts["service_incident"]
        for o in d.record.outbox()), timeout=45, required=False)


def current_week(now: datetime, zone: str) -> str:
    from zoneinfo import ZoneInfo

    iso = now.astimezone(ZoneInfo(zone)).isocalendar()
    return f"{iso.year}-W{iso.week:02d}"


def reports(d: Demo, out_dir: Path) -> dict[str, list[Path]]:
    """Chapter 12: the weekly report (this week so far) and the storm's escalation report, built and sent with
    the real ``ektp-monitor report --send`` (the outbox, then the Bot API server)."""
    from monitor.sandbox.demo.monitorproc import split_paths

    tl = d.timeline
    tl.chapter("12", "Reports for the head of office and the Ministry",
               "The weekly downtime report (this week so far) and the escalation report of the lightning incident, "
               "built from the record and sent through the outbox.")
    d.facts["reports_at"] = time.time()
    zone = d.settings.site(d.site_id).timezone
    week = current_week(datetime.now(UTC), zone)
    files: dict[str, list[Path]] = {}
    pdfs_before = {a: _pdfs(d, a) for a in (Audience.HEAD_OF_OFFICE, Audience.MINISTRY_LIAISON)}
    jobs = [("weekly", ["report", "--week", week, "--format", "pdf,html,csv", "--out", str(out_dir), "--send"])]
    incident = d.facts.get("storm_incident")
    if incident is not None:
        jobs.append(("escalation", ["report", "--incident", str(incident), "--format", "pdf,html", "--out",
                                    str(out_dir), "--send"]))
    for name, args in jobs:
        d.sim("$ " + d.monitor.command_line(*args))
        started = time.monotonic()
        result = d.monitor.cli(*args, timeout=300)
        d.tick()
        if result.returncode != 0:
            d.missed.append(f"the {name} report (ektp-monitor report exited {result.returncode})")
            tl.line("fail", f"ektp-monitor report exited {result.returncode}: {result.stderr.strip()[-800:]}")
            continue
        files[name] = list(split_paths(result.stdout))
        tl.monitor(f"{name} report built in {time.monotonic() - started:.1f} s: "
                   + ", ".join(p.name for p in files[name]))
    # the weekly PDF to both officials, the escalation PDF once more to the Ministry
    want = {a: pdfs_before[a] + n for a, n in ((Audience.HEAD_OF_OFFICE, 1), (Audience.MINISTRY_LIAISON, 2))}
    d.wait("the reports in the chats of the head of office and the Ministry",
           lambda: all(_pdfs(d, a) >= n for a, n in want.items()), timeout=60, required=False)
    return files


def _pdfs(d: Demo, audience: Audience) -> int:
    return sum(1 for m in d.messages_to(audience) if (m.filename or "").endswith(".pdf"))


def show_record(d: Demo) -> None:
    """Chapter 13: the outage record, as ``ektp-monitor outages`` prints it for an office."""
    d.timeline.chapter("13", "The record", "Every outage with its cause, in site-local time; the time the monitor "
                                           "itself was off is stated, never counted as up.")
    d.sim("$ " + d.monitor.command_line("outages"))
    result = d.monitor.cli("outages", timeout=120)
    for line in (result.stdout or result.stderr).rstrip().splitlines():
        d.timeline.plain_line("  " + line)


def after_stop(d: Demo, out_dir: Path, *, pause: float = 5.0) -> None:
    """Chapter 15: with the monitor stopped, the same report built twice a few seconds apart
    (``ektp-monitor report --format json``). The record's figures must not move; only the tail after the last
    heartbeat grows, as *monitor not running* — the figures of a monitor killed by the storm stay true."""
    import json

    tl = d.timeline
    tl.chapter("15", "A report built after the monitor stopped",
               "The same report twice, a few seconds apart, with the monitor stopped: the figures stay, the time "
               "since its last heartbeat is counted as not running, never as up.")
    # the stop wrote a last heartbeat; silence longer than two heartbeat intervals means "not running"
    d.hold(max(3.0, 3 * d.settings.monitor.heartbeat_interval.total_seconds()), "the monitor's silence begins",
           minimum=3.0)
    today = datetime.now(UTC).astimezone(ZoneInfo(d.settings.site(d.site_id).timezone)).date().isoformat()
    builds: list[dict[str, Any]] = []
    for n in (1, 2):
        args = ["report", "--from", today, "--format", "json", "--out", str(out_dir / f"after-stop-{n}")]
        d.sim("$ " + d.monitor.command_line(*args))
        result = d.monitor.cli(*args, timeout=300)
        paths = [p for p in result.stdout.split() if p.endswith(".json")]
        if result.returncode != 0 or not paths:
            tl.line("fail", f"ektp-monitor report exited {result.returncode}: {result.stderr.strip()[-800:]}")
            d.facts["after_stop"] = {"error": f"report exited {result.returncode}"}
            return
        built = json.loads(Path(paths[0]).read_text(encoding="utf-8"))
        builds.append(built)
        fig = built["figures"]
        tl.monitor(f"report {n} at {built['now']}: availability {fig['availability']}, not running "
                   f"{fig['seconds']['not_running']:.1f} s, monitor running: {built['monitor']['running']}")
        if n == 1:
            d.hold(pause, "a little later, the same report again", minimum=pause)
    first, second = builds
    d.facts["after_stop"] = {
        "running": [b["monitor"]["running"] for b in builds],
        "availability": [b["figures"]["availability"] for b in builds],
        "not_running_s": [b["figures"]["seconds"]["not_running"] for b in builds],
        "elapsed_s": (datetime.fromisoformat(second["now"].replace("Z", "+00:00"))
                      - datetime.fromisoformat(first["now"].replace("Z", "+00:00"))).total_seconds(),
        "same_figures": _monitored(first) == _monitored(second),
        "same_outages": first["outages"] == second["outages"]}


def _monitored(built: dict[str, Any]) -> list[Any]:
    """Every figure of a JSON report except the two that move with ``now`` (not running, future)."""
    def strip(parts: dict[str, Any]) -> dict[str, Any]:
        seconds = {k: v for k, v in parts["seconds"].items() if k not in ("not_running", "future")}
        return {**{k: v for k, v in parts.items() if k != "seconds"}, "seconds": seconds}

    return [strip(built["figures"]), [strip(s) for s in built["services"]], [strip(x) for x in built["devices"]]]
