"""``ektp-monitor mute -c FILE DEVICE DURATION [--reason TEXT]`` and ``ektp-monitor unmute -c FILE DEVICE``.

The command-line twins of Telegram's ``/mute`` and ``/unmute`` (see :mod:`monitor.commands.operator` for who
may and what is recorded): ``DEVICE`` is ``device``, ``site/device`` or ``site/*`` (the whole site);
``DURATION`` like ``30m``, ``2h``, ``1d`` (at most 7 days). A mute holds the alerts about the device; the
outage is still recorded and reported. Exit 0 done; 2 a device, site or duration that does not exist or fit.
"""

from __future__ import annotations

import argparse
import logging
from datetime import UTC, datetime

from alerts import messages, mutes
from monitor.app import load_config
from monitor.clock import format_local
from monitor.commands.operator import explain, open_for_writing, operator_name, tell_it_staff, usage_error

log = logging.getLogger("monitor.operator")


def main(args: argparse.Namespace) -> int:
    settings = load_config(args.config)
    who = operator_name()
    now = datetime.now(UTC)
    command = args.command
    if command == "mute":
        try:
            duration = mutes.window_duration(args.duration)
        except mutes.TargetError as exc:
            return usage_error(command, explain(exc))
    db = open_for_writing(settings, args.config)
    sites = [s.id for s in settings.sites]
    try:
        with db.transaction(f"{command} {args.device}") as session:
            try:
                target = mutes.resolve_target(session, settings, sites, args.device)
            except mutes.TargetError as exc:
                return usage_error(command, explain(exc))
            site = settings.site(target.site_id)
            what = target.device_name or f"{site.name} (whole site)"
            if command == "mute":
                lang = site.language
                reason = args.reason or messages.phrase(lang, "op.mute_reason", name=who)
                row = mutes.add_mute(session, site_id=target.site_id, device_id=target.device_id,
                                     until=now + duration, reason=reason, by=who, now=now)
                tell_it_staff(session, settings, site_id=target.site_id, key=f"mute:{row.id}", now=now,
                              phrase="op.muted", what=target.device_name or (
                                  lambda lg: messages.phrase(lg, "bot.whole_site", site=site.name)),
                              by=who, until=lambda lg: messages.format_time(row.ends_at, site.timezone, now, lg),
                              reason=reason)
                message = (f"muted {args.device} ({what}) until "
                           f"{format_local(row.ends_at, site.timezone)} as #{row.id}: {reason}")
            else:
                count = mutes.cancel_mutes(session, site_id=target.site_id, device_id=target.device_id, now=now)
                if count:
                    tell_it_staff(session, settings, site_id=target.site_id,
                                  key=f"unmute:{target.site_id}:{target.device_id}:{now.isoformat()}", now=now,
                                  phrase="op.unmuted", what=target.device_name or (
                                      lambda lg: messages.phrase(lg, "bot.whole_site", site=site.name)),
                                  by=who, count=count)
                message = f"{what}: {count} mute(s) ended" if count else f"{what} is not muted"
    finally:
        db.close()
    log.info("%s: %s", who, message)
    print(message)
    return 0
