"""``ektp-monitor demo``: the demo (issue 7)."""

from __future__ import annotations

import argparse

from monitor.errors import NotReadyError


def main(args: argparse.Namespace) -> int:
    raise NotReadyError("the demo is not built yet in this version (tracked in issue 7)")
