"""Logging set-up: one line per event, UTC timestamps, secrets never printed.

Under systemd, when stderr is the journal (``$JOURNAL_STREAM`` names stderr's device and inode, as
systemd.exec(5) advises to check), lines carry no timestamp of their own — the journal stamps each one —
and start with the syslog priority (``<4>`` for WARNING), so ``journalctl -p warning`` filters them.
``$INVOCATION_ID`` alone is not enough: a unit may send stderr to a file, which wants the timestamps.

:class:`RedactingFilter` replaces every secret value the config loaded (bot token, communities, v3
keys, heartbeat URL) and anything that looks like a Telegram bot token in a URL with ``***`` — in the
message *and* in formatted exceptions — before any handler writes it.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import time
from collections.abc import Iterable, Mapping

_BOT_URL = re.compile(r"/bot\d+:[A-Za-z0-9_-]+")
_BOT_TOKEN = re.compile(r"\b\d{6,}:[A-Za-z0-9_-]{20,}\b")
_HUB_TOKEN = re.compile(r"\bektp_[A-Za-z0-9_-]{40,}")  # an office's hub token (monitor/hub/tokens.py)


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with each secret (and any Telegram bot token or hub token) replaced by ``***``."""
    for secret in sorted((s for s in secrets if s and len(s) >= 3), key=len, reverse=True):
        text = text.replace(secret, "***")
    text = _BOT_URL.sub("/bot***", text)
    return _HUB_TOKEN.sub("***", _BOT_TOKEN.sub("***", text))


class RedactingFilter(logging.Filter):
    """Rewrites records so no secret reaches a handler."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets: frozenset[str] = frozenset(secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad %-format in a third-party log call must not kill logging
            message = str(record.msg)
        record.msg = redact(message, self.secrets)
        record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            text = logging.Formatter().formatException(record.exc_info)
            record.exc_text = redact(text, self.secrets)
            record.exc_info = None
        return True


class _UTCFormatter(logging.Formatter):
    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(record.created))


class _JournalFormatter(logging.Formatter):
    """``<priority>LEVEL logger: message`` — journald strips the prefix into the entry's PRIORITY."""

    def format(self, record: logging.LogRecord) -> str:
        prefix = f"<{_syslog_priority(record.levelno)}>"
        return "\n".join(prefix + line for line in super().format(record).splitlines() or [""])


def _syslog_priority(levelno: int) -> int:
    if levelno >= logging.CRITICAL:
        return 2
    if levelno >= logging.ERROR:
        return 3
    if levelno >= logging.WARNING:
        return 4
    return 6 if levelno >= logging.INFO else 7


def writes_to_journal(stream: object, environ: Mapping[str, str] | None = None) -> bool:
    """True when ``stream`` is the systemd journal's stream socket (``$JOURNAL_STREAM`` = ``dev:inode``)."""
    value = (os.environ if environ is None else environ).get("JOURNAL_STREAM", "")
    dev, sep, ino = value.partition(":")
    if not sep or not dev.isdigit() or not ino.isdigit():
        return False
    try:
        st = os.fstat(stream.fileno())  # type: ignore[attr-defined]
    except (AttributeError, OSError, ValueError):
        return False
    return (st.st_dev, st.st_ino) == (int(dev), int(ino))


def setup_logging(level: str = "INFO", secrets: Iterable[str] = (), stream: object = None,
                  environ: Mapping[str, str] | None = None) -> RedactingFilter:
    """Configure the root logger once; returns the filter so a config reload can update its secrets."""
    root = logging.getLogger()
    for h in list(root.handlers):
        if getattr(h, "_ektp", False):
            root.removeHandler(h)
    out = stream or sys.stderr
    handler = logging.StreamHandler(out)  # type: ignore[arg-type]
    handler._ektp = True  # type: ignore[attr-defined]
    if writes_to_journal(out, environ):
        handler.setFormatter(_JournalFormatter("%(levelname)s %(name)s: %(message)s"))
    else:
        handler.setFormatter(_UTCFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    flt = RedactingFilter(secrets)
    handler.addFilter(flt)
    root.addHandler(handler)
    root.setLevel(level)
    for noisy in ("httpx", "httpcore", "apscheduler.executors.default", "apscheduler.scheduler", "pysnmp", "asyncio",
                  "telegram.ext"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))
    return flt
