"""``ektp-monitor db upgrade|downgrade|current``."""

from __future__ import annotations

import argparse

from monitor.app import load_config, open_database
from monitor.storage import db


def main(args: argparse.Namespace) -> int:
    settings = load_config(args.config)
    engine = open_database(settings, create=args.db_command != "current")   # reading never creates one
    try:
        if args.db_command == "upgrade":
            before, after = db.upgrade(engine, args.revision)
            if before == after:
                print(f"database already at {after} ({_safe(engine.url)})")
            else:
                print(f"database upgraded {before or 'empty'} -> {after} ({_safe(engine.url)})")
        elif args.db_command == "downgrade":
            before, down_to = db.downgrade(engine, args.revision)
            print(f"database downgraded {before} -> {down_to or 'empty'}")
        else:
            current_rev = db.current_revision(engine)
            head = db.head_revision()
            state = "up to date" if current_rev == head else f"code expects {head}: run ektp-monitor db upgrade"
            print(f"{current_rev or 'empty'} ({state})")
    finally:
        engine.dispose()
    return 0


def _safe(url: object) -> str:
    from sqlalchemy.engine import URL
    return url.render_as_string(hide_password=True) if isinstance(url, URL) else str(url)
