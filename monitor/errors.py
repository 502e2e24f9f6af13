"""The error tree of ektp-monitor.

Every error the project raises on purpose is a :class:`MonitorError`. Each one carries the
*decision* the caller has to make, so callers never parse messages:

* ``permanent`` — retrying the same thing cannot succeed (bad config, chat gone, schema too old);
* ``retry_after`` — seconds to wait before the next attempt, when the other side told us.

Library exceptions (pysnmp, python-telegram-bot, SQLAlchemy, OS errors) are translated into this tree
at the boundary that called the library, never further in.

::

    MonitorError
    ├── ConfigError                 config file unreadable or invalid (carries every issue found)
    ├── StorageError                database unavailable (locked, disk full, I/O); retry later
    │   └── SchemaOutdatedError     database schema older than the code; run `db upgrade`
    ├── CheckSetupError             a check cannot work on this machine at all (e.g. ICMP not permitted)
    ├── NotifyError                 a message could not be delivered; transient unless stated
    │   ├── RateLimited             the API asked us to wait `retry_after` seconds
    │   ├── NotifyTimeout           no answer in time; transient
    │   ├── ReceiverGone            bot blocked / chat not found / kicked; permanent
    │   └── ChatMigrated            group became a supergroup; resend to `new_chat_id`
    ├── ReportError                 a report could not be built or rendered
    └── NotReadyError               a command whose capability is not built in this version
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class MonitorError(Exception):
    """Base of every deliberate error; carries the retry decision."""

    permanent: bool = False
    retry_after: float | None = None

    def __init__(self, message: str, *, permanent: bool | None = None,
                 retry_after: float | None = None) -> None:
        super().__init__(message)
        if permanent is not None:
            self.permanent = permanent
        if retry_after is not None:
            self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class ConfigIssue:
    """One problem in a config file, located by file, line and key path.

    ``path`` uses the dotted/indexed notation users see in error messages, e.g.
    ``sites[0].devices[2].checks[0].profile``. ``line`` is 1-based, or None when the key is absent
    (then the line of the nearest present parent is used by the loader when it can).
    """

    file: str
    line: int | None
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class ConfigError(MonitorError):
    """The configuration cannot be used; ``issues`` lists every problem found (several at once)."""

    permanent = True

    def __init__(self, issues: Sequence[ConfigIssue]) -> None:
        self.issues: tuple[ConfigIssue, ...] = tuple(issues)
        super().__init__("\n".join(str(i) for i in self.issues) or "invalid configuration")


class StorageError(MonitorError):
    """The database could not be read or written (locked, disk full, connection lost).

    Transient by default: the caller keeps state in memory and retries after ``retry_after``.
    """

    retry_after: float | None = 5.0


class SchemaOutdatedError(StorageError):
    """The database schema is older (or newer) than this code expects."""

    permanent = True

    def __init__(self, message: str) -> None:
        super().__init__(message, permanent=True)
        self.retry_after = None


class CheckSetupError(MonitorError):
    """A check kind cannot work on this machine at all; the message says how to fix it."""

    permanent = True


class NotifyError(MonitorError):
    """A notification was not delivered. Transient (retry with backoff) unless a subclass says so."""


class RateLimited(NotifyError):
    """The messaging API asked us to wait exactly ``retry_after`` seconds."""

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message, retry_after=retry_after)


class NotifyTimeout(NotifyError):
    """The API did not answer in time; the message may or may not have been delivered."""


class ReceiverGone(NotifyError):
    """The chat cannot receive messages any more (bot blocked, kicked, chat not found)."""

    permanent = True


class ChatMigrated(NotifyError):
    """The group was upgraded to a supergroup; store ``new_chat_id`` and resend there."""

    def __init__(self, message: str, *, new_chat_id: int) -> None:
        super().__init__(message, retry_after=0.0)
        self.new_chat_id = new_chat_id


class ReportError(MonitorError):
    """A report could not be built or rendered."""


class UsageError(MonitorError):
    """The command line asks for something that cannot be (a malformed date, an unknown site or format): the
    command does nothing and exits 2, like an argparse error."""

    permanent = True


class NotReadyError(MonitorError):
    """A command or feature that this version does not provide yet."""

    permanent = True
