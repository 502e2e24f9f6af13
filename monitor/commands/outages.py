"""``ektp-monitor outages``: the outage record (issue 4)."""

from __future__ import annotations

import argparse

from monitor.errors import NotReadyError


def main(args: argparse.Namespace) -> int:
    raise NotReadyError("the outage record is not built yet in this version (tracked in issue 4)")
