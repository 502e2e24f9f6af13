"""Runs checks inside a network namespace for the tests (``ip netns exec NS python -m tests.checks.ns_helper
JSON``) and prints the results as one JSON line. The pinging side lives in its own namespace with no route
out of it (library-findings §4), so nothing here can reach a real network.

Payload: ``{"mode": null|true|false, "shared": false, "checks": [{"type": "ping", "address": "198.18.0.2", ...},
...]}`` (``shared``: every ping through one :class:`~checks.ping.IcmpSweeper`, as the daemon does).
With ``{"setup": true}`` it only reports what :func:`checks.ping.icmp_mode` decides (or its error).
"""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import UTC, datetime
from typing import Any

from checks.ping import IcmpSweeper, PingCheck, icmp_mode
from checks.tcp import TcpCheck
from monitor.domain import Device, DeviceKind, PingSpec, TcpSpec, jsonable
from monitor.errors import CheckSetupError


async def run(payload: dict[str, Any]) -> list[dict[str, Any]]:
    privileged = icmp_mode(payload.get("mode"))
    sweeper = IcmpSweeper(privileged) if payload.get("shared") else None
    dev = Device(id="d", name="d", kind=DeviceKind.ROUTER, address="198.18.0.2", confirm_down=1, confirm_up=1)
    runs = []
    for spec in payload["checks"]:
        spec = dict(spec)
        kind = spec.pop("type")
        spec.setdefault("interval", "60s")
        spec.setdefault("retries", 0)
        if kind == "ping":
            runs.append(PingCheck(PingSpec(**spec), privileged=privileged, sweeper=sweeper).run(dev,
                                                                                               now=datetime.now(UTC)))
        else:
            runs.append(TcpCheck(TcpSpec(**spec)).run(dev, now=datetime.now(UTC)))
    started = asyncio.get_running_loop().time()
    results = await asyncio.gather(*runs)
    wall = asyncio.get_running_loop().time() - started
    if sweeper is not None:
        await sweeper.close()
    return [{**jsonable(r), "wall_s": round(wall, 3), "privileged": privileged} for r in results]


def main() -> None:
    payload = json.loads(sys.argv[1])
    if payload.get("setup"):
        try:
            print(json.dumps({"privileged": icmp_mode(payload.get("mode"))}))
        except CheckSetupError as exc:
            print(json.dumps({"error": str(exc)}))
        return
    print(json.dumps(asyncio.run(run(payload))))


if __name__ == "__main__":
    main()
