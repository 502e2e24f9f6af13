"""Logging set-up: one line per event, UTC timestamps, secrets never printed.

:class:`RedactingFilter` replaces every secret value the config loaded (bot token, communities, v3
keys, heartbeat URL) and anything that looks like a Telegram bot token in a URL with ``***`` — in the
message *and* in formatted exceptions — before any handler writes it.
"""

from __future__ import annotations

import logging
import re
import sys
import time
from collections.abc import Iterable

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


def setup_logging(level: str = "INFO", secrets: Iterable[str] = (), stream: object = None) -> RedactingFilter:
    """Configure the root logger once; returns the filter so a config reload can update its secrets."""
    root = logging.getLogger()
    for h in list(root.handlers):
        if getattr(h, "_ektp", False):
            root.removeHandler(h)
    handler = logging.StreamHandler(stream or sys.stderr)  # type: ignore[arg-type]
    handler._ektp = True  # type: ignore[attr-defined]
    handler.setFormatter(_UTCFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    flt = RedactingFilter(secrets)
    handler.addFilter(flt)
    root.addHandler(handler)
    root.setLevel(level)
    for noisy in ("httpx", "httpcore", "apscheduler.executors.default", "apscheduler.scheduler", "pysnmp", "asyncio",
                  "telegram.ext"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))
    return flt
