"""The simulated office: one SNMP agent per device address, two TCP services, the local Telegram Bot API.

Every device listens on its own loopback address (taken from ``config/demo.yaml``: 127.0.0.11 the router,
.12 the Riello UPS, .13 the APC UPS whose card carries the surge protector's contact, .14 the strike counter,
.15 the recording server, .20 the central data center), so traps can be sent *from* the right device (the
monitor attributes a trap by its source address) and a device can lose power on its own (its agent process
is stopped). All SNMP agents share one UDP port, chosen free on every address at start.

The world changes only the way a real office changes: SNMP SET on an agent (what the device reports), a
real ``snmptrap`` from the device's address, an agent or a TCP service stopped and started. Nothing here
touches the monitor.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from monitor.sandbox import ChildProcess, SandboxError, free_udp_port, require_loopback, wait_until
from monitor.sandbox.demo.recordings import ADAPTATIONS, write_agent_data
from monitor.sandbox.demo.tcpservice import TcpService
from monitor.sandbox.snmpsim import SnmpsimAgent
from monitor.sandbox.telegram_api import ControlClient
from monitor.settings import Settings

__all__ = ["TRAP_COMMUNITY", "BotApi", "Office"]

TRAP_COMMUNITY = "demo-traps"
SERVICE_DEVICE, UPSTREAM_DEVICE = "rec-srv-1", "dc-pusat"


@dataclass
class BotApi:
    """The local Telegram Bot API server, run as a subprocess (``python -m monitor.sandbox.telegram_api``)."""

    proc: ChildProcess
    url: str
    port: int
    control: ControlClient

    @property
    def control_url(self) -> str:
        return self.control.control_url


class Office:
    """Starts, changes and stops the simulated devices of the demo site (see the module docstring)."""

    def __init__(self, settings: Settings, site_id: str, work: Path) -> None:
        self.settings = settings
        self.site = settings.site(site_id)
        self.work = work
        self.addresses: dict[str, str] = {}
        for device in [*ADAPTATIONS, SERVICE_DEVICE, UPSTREAM_DEVICE]:
            address = self.site.device(device).address
            if address is None:
                raise SandboxError(f"config: device {device} has no address")
            self.addresses[device] = require_loopback(address)
        self._check_communities()
        self.snmp_port = 0
        self.agents: dict[str, SnmpsimAgent | None] = {}
        self.boots: dict[str, int] = dict.fromkeys(ADAPTATIONS, 0)
        self.service = TcpService("recording-service", self.addresses[SERVICE_DEVICE], banner=b"SIAK-REKAM 2.3\r\n")
        self.upstream = TcpService("data-center", self.addresses[UPSTREAM_DEVICE], banner=b"DC-DUKCAPIL\r\n")
        self.trap_port = 0
        self.bot_token = f"{secrets.randbelow(9 * 10**8) + 10**8}:demo-{secrets.token_urlsafe(18)}"
        self.bot: BotApi | None = None
        self._bot_proc: ChildProcess | None = None
        self._snmptrap = shutil.which("snmptrap")

    def _check_communities(self) -> None:
        for device, a in ADAPTATIONS.items():
            for check in self.site.device(device).checks:
                community = getattr(getattr(check, "snmp", None), "community", None)
                if community is not None and community.get_secret_value() != a.community:
                    raise SandboxError(f"config: {device} must use the SNMP community {a.community!r} "
                                       "(the name of its simulated agent's data)")

    # ------------------------------------------------------------------------------------------ start

    def start(self) -> None:
        """Start every simulator; the ports are free ones chosen now. Raises SandboxError."""
        if self._snmptrap is None:
            raise SandboxError("snmptrap not found: install the Debian package 'snmp' (scripts/setup does)")
        self.work.mkdir(parents=True, exist_ok=True)
        self.service.start()
        self.upstream.start()
        self.trap_port = free_udp_port("127.0.0.1")
        self._start_agents()
        self.bot = self._start_bot_api()

    def _start_agents(self) -> None:
        last: Exception | None = None
        for _ in range(3):
            self.snmp_port = self._common_udp_port(self.addresses[d] for d in ADAPTATIONS)
            with ThreadPoolExecutor(max_workers=len(ADAPTATIONS)) as pool:
                futures = {d: pool.submit(self._new_agent, d) for d in ADAPTATIONS}
                errors = []
                for device, fut in futures.items():
                    try:
                        self.agents[device] = fut.result()
                    except Exception as exc:  # a port taken in between: try another one
                        errors.append(exc)
                        self.agents[device] = None
            if not errors:
                return
            last = errors[0]
            self.stop_agents()
        raise SandboxError(f"the simulated SNMP agents did not start: {last}")

    @staticmethod
    def _common_udp_port(hosts: Iterable[str]) -> int:
        """A UDP port free on every address of ``hosts`` (they share it: one ``snmp.port`` in the config)."""
        hosts = list(hosts)
        for _ in range(50):
            port = free_udp_port(hosts[0])
            socks: list[socket.socket] = []
            try:
                for h in hosts:
                    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                    socks.append(s)
                    s.bind((h, port))
                return port
            except OSError:
                continue
            finally:
                for s in socks:
                    s.close()
        raise SandboxError("no UDP port free on every device address")

    def _new_agent(self, device: str) -> SnmpsimAgent:
        self.boots[device] += 1
        boot = self.boots[device]
        folder = self.work / device
        data = folder / f"data-boot{boot}"
        write_agent_data(data, device, boot=boot)
        agent = SnmpsimAgent(data, host=self.addresses[device], port=self.snmp_port,
                             writecache=[ADAPTATIONS[device].alias], work_dir=folder / f"agent-boot{boot}",
                             startup_timeout=60.0)
        # registered before it starts: an interrupt during the start still finds it to stop
        self.agents[device] = agent
        return agent.start()

    def _start_bot_api(self) -> BotApi:
        port_file = self.work / "telegram-api.json"
        port_file.unlink(missing_ok=True)
        env = {**os.environ, "EKTP_SANDBOX_BOT_TOKEN": self.bot_token}
        proc = self._bot_proc = ChildProcess(
            [sys.executable, "-m", "monitor.sandbox.telegram_api", "--port-file", str(port_file)],
            env=env, log=self.work / "telegram-api.log")
        if not wait_until(lambda: port_file.exists() or not proc.alive(), 60, 0.1) or not port_file.exists():
            raise SandboxError(f"the local Telegram Bot API server did not start:\n{proc.log_tail()}")
        info = json.loads(port_file.read_text())
        return BotApi(proc, str(info["url"]), int(info["port"]), ControlClient(str(info["control_url"])))

    # ---------------------------------------------------------------------------------------- config

    def env(self, out: Path) -> dict[str, str]:
        """The EKTP_DEMO_* variables that point ``config/demo.yaml`` at these simulators and ``out``."""
        assert self.bot is not None
        return {"EKTP_DEMO_DIR": str(out), "EKTP_DEMO_SNMP_PORT": str(self.snmp_port),
                "EKTP_DEMO_TRAP_PORT": str(self.trap_port), "EKTP_DEMO_TELEGRAM_PORT": str(self.bot.port),
                "EKTP_DEMO_BOT_TOKEN": self.bot_token, "EKTP_DEMO_SERVICE_PORT": str(self.service.port),
                "EKTP_DEMO_UPSTREAM_PORT": str(self.upstream.port)}

    # ------------------------------------------------------------------------------- changing the world

    def agent(self, device: str) -> SnmpsimAgent:
        agent = self.agents.get(device)
        if agent is None:
            raise SandboxError(f"{device} has no power (its agent is stopped)")
        return agent

    def set(self, device: str, values: Sequence[tuple[str, int, str]]) -> None:
        """SNMP SET each ``(oid, value, type)`` on ``device``'s agent (``type``: i, c, g, t)."""
        agent = self.agent(device)
        community = ADAPTATIONS[device].community
        for oid, value, type_ in values:
            agent.set(community, oid, value, type_)

    def trap(self, device: str, trap_oid: str, varbinds: Sequence[tuple[str, str, str | int]] = ()) -> None:
        """Send an SNMPv2c trap with net-snmp's ``snmptrap`` from ``device``'s address to the monitor."""
        assert self._snmptrap is not None
        argv = [self._snmptrap, "-v2c", "-c", TRAP_COMMUNITY, f"--clientaddr={self.addresses[device]}",
                f"127.0.0.1:{self.trap_port}", "", trap_oid]
        for oid, type_, value in varbinds:
            argv += [oid, type_, str(value)]
        result = subprocess.run(argv, capture_output=True, text=True, timeout=20, check=False)
        if result.returncode != 0:
            raise SandboxError(f"snmptrap failed: {result.stderr.strip()}")

    def bot_press(self, chat_id: int, user_id: int, message_id: int, data: str, first_name: str) -> None:
        """A person pressed an inline button in Telegram: the Bot API server queues the callback query."""
        assert self.bot is not None
        self.bot.control.call("press", chat_id=chat_id, user_id=user_id, message_id=message_id, data=data,
                              first_name=first_name)

    def power_off(self, device: str) -> None:
        """The device loses power: its agent process stops (it no longer answers)."""
        agent = self.agents.get(device)
        if agent is not None:
            agent.stop()
            self.agents[device] = None

    def power_on(self, device: str) -> None:
        """The device boots again: a new agent on the same address and port, uptime starting from seconds."""
        if self.agents.get(device) is None:
            self.agents[device] = self._new_agent(device)

    # ------------------------------------------------------------------------------------------ stop

    def pids(self) -> dict[str, int]:
        """PIDs of the processes this office started (and that are still running)."""
        out = {f"snmpsim {d}": a.pid for d, a in self.agents.items() if a is not None and a.pid is not None}
        if self._bot_proc is not None and self._bot_proc.alive():
            out["telegram-api"] = self._bot_proc.pid
        return out

    def stop_agents(self) -> None:
        for device, agent in list(self.agents.items()):
            if agent is not None:
                with contextlib.suppress(Exception):
                    agent.stop()
            self.agents[device] = None

    def stop(self) -> None:
        """Stop everything this office started, each by its own PID (idempotent)."""
        self.stop_agents()
        self.service.stop()
        self.upstream.stop()
        if self._bot_proc is not None:
            self._bot_proc.stop()

    def poke_commands(self, env: Mapping[str, str]) -> list[str]:
        """Shell commands a person can use to poke the running simulators (``--keep-running``)."""
        assert self.bot is not None
        ups = self.addresses["ups-1"]
        return [
            f"snmpget -v2c -c demo-ups {ups}:{self.snmp_port} 1.3.6.1.2.1.33.1.4.1.0"
            "   # UPS output source (3 mains, 5 battery)",
            f"python -c \"from monitor.sandbox import snmp_set; print(snmp_set('{ups}', {self.snmp_port}, 'demo-ups', "
            f"'1.3.6.1.2.1.33.1.4.1.0', 5))\"   # put the UPS on battery",
            f"snmptrap -v2c -c {TRAP_COMMUNITY} --clientaddr={ups} 127.0.0.1:{self.trap_port} '' 1.3.6.1.2.1.33.2.0.1"
            "   # and tell the monitor by trap",
            f"curl -s -X POST {self.bot.control_url}/_control/messages | head -c 600   # what the bot sent",
            f"curl -s -X POST {self.bot.control_url}/_control/command -H 'Content-Type: application/json' "
            "-d '{\"chat_id\": -1009000000001, \"user_id\": 5001, \"text\": \"/status\"}'   # ask the bot",
        ]

