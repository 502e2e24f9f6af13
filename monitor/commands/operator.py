"""What the operator commands (``maintenance``, ``ack``, ``mute``, ``unmute``) share: who acts, the database
they may write, and the note that tells the IT staff in Telegram.

**Who may.** In Telegram, only ``telegram.allowed_users``. On the command line, whoever can read the config
(with its secrets) and write the database — under the systemd unit of docs/install.md that is root and the
``ektp-monitor`` user (``sudo -u ektp-monitor ektp-monitor mute …``): the operating system decides, and an
allow-list in the config would add nothing a person who can write the database could not remove. The same
limits as Telegram hold (a device must exist and be active, a mute or ad-hoc window lasts at most 7 days).

**What is recorded.** The same rows as the Telegram path, written by the same functions (``alerts.mutes``,
``alerts.escalation.acknowledge``), with ``cli:<user>`` as the person — the login name behind ``sudo``
(``$SUDO_USER``), else the user running the command. When Telegram is enabled, a note in the site's IT staff
chat says what was done, by whom, from the server console (kind ``operator``, never muted): a mute set at the
console must not silently stop the alerts the group expects.

The running daemon needs no signal: it reads mutes when it sends each message and maintenance windows when an
outage starts (from the database).
"""

from __future__ import annotations

import os
import pwd
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from markupsafe import escape
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from alerts import messages, mutes
from alerts.escalation import audience_language
from alerts.outbox import enqueue
from monitor.app import open_database
from monitor.errors import MonitorError
from monitor.settings import Settings
from monitor.storage import Database
from monitor.storage.db import require_current_schema

EXIT_USAGE = 2


class OperatorError(MonitorError):
    """The operator command cannot run (no database yet, wrong user); the message says what to do."""


def operator_name(environ: dict[str, str] | None = None) -> str:
    """``cli:<login>``: the person behind ``sudo`` when there is one, else the user running the command."""
    env = os.environ if environ is None else environ
    user = env.get("SUDO_USER") or ""
    if not user:
        try:
            user = pwd.getpwuid(os.getuid()).pw_name
        except KeyError:
            user = str(os.getuid())
    return f"cli:{user}"


def open_for_writing(settings: Settings, config_path: str) -> Database:
    """The database, current schema, for a command that writes to it. Never creates one, and refuses to write
    a SQLite database owned by another user as root (the files root would create beside it — the journal —
    could no longer be written by the daemon)."""
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        path = Path(url.database)
        if not path.exists():
            raise OperatorError(f"no database at {path}: run `ektp-monitor db upgrade -c {config_path}` first")
        owner = path.stat().st_uid
        if os.geteuid() == 0 and owner != 0:
            try:
                name = pwd.getpwuid(owner).pw_name
            except KeyError:
                name = str(owner)
            raise OperatorError(f"{path} belongs to {name}: run this as that user, e.g. "
                                f"sudo -u {name} ektp-monitor {' '.join(sys.argv[1:])}")
    engine = open_database(settings)
    db = Database(engine)
    try:
        require_current_schema(engine, config_path)
    except MonitorError:
        db.close()
        raise
    return db


def usage_error(command: str, text: str) -> int:
    print(f"ektp-monitor {command}: {text}", file=sys.stderr)
    return EXIT_USAGE


def explain(exc: mutes.TargetError) -> str:
    """The shared phrase of a refused request, in English (the command line's language)."""
    return messages.phrase("en", exc.key, **exc.values)


def tell_it_staff(session: Session, settings: Settings, *, site_id: str, key: str, now: datetime, phrase: str,
                  **values: Any) -> None:
    """Queue a note about an operator action for the site's IT staff, in their language (only when Telegram
    is enabled: otherwise nothing would ever send it)."""
    if not settings.telegram.enabled:
        return
    lang = audience_language(settings, site_id, "it_staff")
    filled = {k: str(v(lang) if callable(v) else v) for k, v in values.items()}
    via = messages.phrase(lang, "op.console")
    html = messages.phrase(lang, phrase, via=via, **{k: str(escape(v)) for k, v in filled.items()})
    plain = messages.phrase(lang, phrase, via=via, **filled)
    enqueue(session, key=f"operator:{key}", audience="it_staff", site_id=site_id, kind="operator", now=now,
            payload={"text": html, "parse_mode": "HTML",
                     "summary": messages.summary_line("sum.operator", lang=lang, emoji="🛠", text=plain)})


def local_time(settings: Settings, site_id: str, when: datetime, now: datetime) -> Any:
    """A function of the language giving ``when`` in the site's zone (for :func:`tell_it_staff`)."""
    zone = settings.site(site_id).timezone
    return lambda lang: messages.format_time(when, zone, now, lang)
