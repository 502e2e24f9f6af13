"""How often someone outside ``telegram.allowed_users`` is told so (issue 13).

A refusal is a message in the chat, and every message spends the chat's rate budget (20 a minute in a
Telegram group). Answering each of a stranger's 60 commands spent three minutes of budget and delayed the
next real alert by 180 s. So the bot tells an outsider once per chat per :data:`REFUSAL_EVERY` (and only
when the chat has room at :attr:`alerts.outbox.Priority.REFUSAL`); the other attempts are counted and logged
quietly. Button presses are always answered (answerCallbackQuery is no chat message).
"""

from __future__ import annotations

__all__ = ["REFUSAL_EVERY", "RefusalGate"]

REFUSAL_EVERY = 600.0
"""Seconds between two refusal messages to one outsider in one chat."""


class RefusalGate:
    """Who outside ``allowed_users`` gets a refusal message now: once per (chat, user) per ``every`` seconds,
    on the monotonic clock. Bounded memory: entries older than ``every`` are forgotten, and at most
    ``max_entries`` are kept (a flood of new user ids cannot grow it without limit)."""

    def __init__(self, every: float = REFUSAL_EVERY, max_entries: int = 10000) -> None:
        self.every = every
        self.max_entries = max_entries
        self._last: dict[tuple[int, int], tuple[float, int]] = {}

    def due(self, chat: int, user: int, now: float) -> bool:
        """True when this outsider may be told again (the caller then calls :meth:`told`)."""
        last = self._last.get((chat, user))
        return last is None or now - last[0] >= self.every

    def told(self, chat: int, user: int, now: float) -> None:
        if len(self._last) >= self.max_entries:
            self._last = {k: v for k, v in self._last.items() if now - v[0] < self.every}
            if len(self._last) >= self.max_entries:
                self._last.clear()
        self._last[(chat, user)] = (now, 0)

    def quiet(self, chat: int, user: int) -> int:
        """Count one attempt not answered by a message; returns how many since the last refusal."""
        at, n = self._last.get((chat, user), (float("-inf"), 0))
        if at != float("-inf"):
            self._last[(chat, user)] = (at, n + 1)
        return n + 1
