"""``ektp-monitor ack -c FILE INCIDENT [--note TEXT]``: "I'm on it", from the server console.

The command-line twin of Telegram's ✋ button and ``/ack`` (see :mod:`monitor.commands.operator`): an
``acknowledgements`` row (source ``cli``, the person ``cli:<user>``), and the first acknowledgement also sets
``incidents.acknowledged_at/by`` and stops the escalation steps that wait for one — through
:func:`alerts.escalation.acknowledge`, as the bot does. The IT staff chat is told. Exit 0 recorded (also when
someone had acknowledged it before: the note is kept); 2 no such incident.
"""

from __future__ import annotations

import argparse
import logging
from datetime import UTC, datetime

from alerts import escalation
from monitor.app import load_config
from monitor.clock import format_local
from monitor.commands.operator import open_for_writing, operator_name, tell_it_staff, usage_error
from monitor.storage.models import IncidentRow

log = logging.getLogger("monitor.operator")


def main(args: argparse.Namespace) -> int:
    number = str(args.incident).lstrip("#")
    if not number.isdigit() or len(number) > 18:
        return usage_error("ack", f"INCIDENT must be an incident number like 12, not {args.incident!r}")
    settings = load_config(args.config)
    who = operator_name()
    now = datetime.now(UTC)
    note = (args.note or "").strip() or None
    db = open_for_writing(settings, args.config)
    try:
        with db.transaction("recording an acknowledgement") as session:
            inc = session.get(IncidentRow, int(number))
            if inc is None:
                return usage_error("ack", f"no incident #{number} (the numbers are in `ektp-monitor outages`)")
            first = escalation.acknowledge(session, inc, user_id=None, user_name=who, note=note, source="cli",
                                           now=now)
            session.flush()
            tell_it_staff(session, settings, site_id=inc.site_id, key=f"ack:{inc.id}:{now.isoformat()}", now=now,
                          phrase="op.acked_note" if note else "op.acked", id=inc.id, by=who,
                          **({"note": note} if note else {}))
            try:
                zone = settings.site(inc.site_id).timezone
            except KeyError:
                zone = "Asia/Jakarta"
            if first:
                message = f"incident #{inc.id} acknowledged by {who}"
            else:
                message = (f"incident #{inc.id} was already acknowledged by {inc.acknowledged_by} at "
                           f"{format_local(inc.acknowledged_at or now, zone)}; your acknowledgement is recorded too")
            if inc.ended_at is not None:
                message += " (it has already recovered)"
    finally:
        db.close()
    log.info("%s: %s", who, message)
    print(message)
    return 0
