"""A trap flood from strangers, for the tests and the benchmark (loopback only).

``python -m monitor.sandbox.trapflood --port P --rate 10000 --seconds 10 --size 60000 --sources 127.0.0.2-9``
sends well-formed SNMPv2c traps (``--community``; the right one is the worst case: a receiver that decoded
before checking the source would decode every one) padded to ``--size`` bytes, round robin from each
source address (every one of 127.0.0.0/8 is routed to ``lo``, no set-up needed), at ``--rate`` per second
for ``--seconds``. It paces itself (bursts of at most 1,000 every millisecond), never blocks (a full send
buffer counts as "not sent") and prints one JSON line: ``{"sent", "not_sent", "seconds", "bytes"}``.
The destination and every source must be loopback addresses.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import socket
import sys
import time
from collections.abc import Sequence

from monitor.sandbox import require_loopback

__all__ = ["flood", "parse_sources", "trap_packet"]


def trap_packet(community: str, size: int, trap_oid: str = "1.3.6.1.4.1.99999.0.42") -> bytes:
    """A v2c SNMPv2-Trap of about ``size`` bytes (one OctetString varbind carries the padding)."""
    from pyasn1.codec.ber import encoder
    from pysnmp.proto import api, rfc1902

    p = api.PROTOCOL_MODULES[api.SNMP_VERSION_2C]

    def build(pad: int) -> bytes:
        pdu = p.SNMPv2TrapPDU()
        p.apiTrapPDU.set_defaults(pdu)
        p.apiTrapPDU.set_varbinds(pdu, [("1.3.6.1.2.1.1.3.0", rfc1902.TimeTicks(0)),
                                        ("1.3.6.1.6.3.1.1.4.1.0", rfc1902.ObjectName(trap_oid)),
                                        ("1.3.6.1.4.1.99999.1.1.0", rfc1902.OctetString(b"x" * pad))])
        msg = p.Message()
        p.apiMessage.set_defaults(msg)
        p.apiMessage.set_community(msg, community)
        p.apiMessage.set_pdu(msg, pdu)
        return bytes(encoder.encode(msg))

    base = len(build(0))
    return build(max(0, size - base - 4))


def parse_sources(text: str) -> list[str]:
    """``127.0.0.2-9`` (a range of the last octet) or ``127.0.0.2,127.0.0.7``; loopback only."""
    out: list[str] = []
    for part in text.split(","):
        part = part.strip()
        if "-" in part:
            first, _, last = part.partition("-")
            head, _, low = first.rpartition(".")
            out += [f"{head}.{i}" for i in range(int(low), int(last) + 1)]
        elif part:
            out.append(part)
    for address in out:
        if not ipaddress.ip_address(address).is_loopback:
            raise ValueError(f"flood sources must be loopback addresses, not {address}")
    return out


def flood(port: int, *, rate: int, seconds: float, packet: bytes, sources: Sequence[str],
          host: str = "127.0.0.1") -> dict[str, float]:
    require_loopback(host)
    socks = []
    for src in sources:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setblocking(False)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
        s.bind((src, 0))
        socks.append(s)
    sent = not_sent = 0
    start = time.monotonic()
    try:
        while (elapsed := time.monotonic() - start) < seconds:
            due = int(elapsed * rate) - sent - not_sent
            for _ in range(min(due, 1000)):
                s = socks[(sent + not_sent) % len(socks)]
                try:
                    s.sendto(packet, (host, port))
                    sent += 1
                except (BlockingIOError, OSError):
                    not_sent += 1
            time.sleep(0.001)
    finally:
        for s in socks:
            s.close()
    took = time.monotonic() - start
    return {"sent": sent, "not_sent": not_sent, "seconds": round(took, 3), "bytes": len(packet)}


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m monitor.sandbox.trapflood", description=__doc__.split("\n")[0])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--rate", type=int, default=10000)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--size", type=int, default=60000)
    p.add_argument("--community", default="public")
    p.add_argument("--sources", default="127.0.0.2-9")
    args = p.parse_args(argv)
    result = flood(args.port, rate=args.rate, seconds=min(args.seconds, 600.0),
                   packet=trap_packet(args.community, min(args.size, 65000)), sources=parse_sources(args.sources),
                   host=args.host)
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
