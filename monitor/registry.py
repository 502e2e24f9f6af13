"""A plain dict that refuses duplicate names and says what exists when a name is missing."""

from __future__ import annotations

from typing import TypeVar

T = TypeVar("T")


class Registry(dict[str, T]):
    """``checks.REGISTRY`` and ``alerts.REGISTRY`` are instances of this (Uptime Kuma / healthchecks style)."""

    def __init__(self, what: str) -> None:
        super().__init__()
        self.what = what

    def __setitem__(self, name: str, value: T) -> None:
        if name in self:
            raise ValueError(f"duplicate {self.what} {name!r}")
        super().__setitem__(name, value)

    def register(self, name: str, value: T) -> T:
        self[name] = value
        return value

    def __missing__(self, name: str) -> T:
        raise KeyError(f"unknown {self.what} {name!r}; known: {', '.join(sorted(self)) or 'none'}")
