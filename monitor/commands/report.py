"""``ektp-monitor report``: reports (issue 6)."""

from __future__ import annotations

import argparse

from monitor.errors import NotReadyError


def main(args: argparse.Namespace) -> int:
    raise NotReadyError("reports is not built yet in this version (tracked in issue 6)")
