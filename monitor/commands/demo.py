"""``ektp-monitor demo [--out DIR] [--speed N] [--keep-running] [--plain]``: the simulated office (issue 7).

A lightning storm at a regency office, played on loopback simulators against the real monitor (``db upgrade``
and ``run`` as subprocesses with ``config/demo.yaml``), narrated as it happens, then checked: exit 0 only when
everything the demo expected is in the record and the chats. See :mod:`monitor.sandbox.demo`.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def main(args: argparse.Namespace) -> int:
    from monitor.sandbox.demo.runner import DemoOptions, run_demo

    return run_demo(DemoOptions(out=Path(args.out) if args.out else None, speed=float(args.speed),
                                keep_running=bool(args.keep_running), plain=bool(args.plain)))
