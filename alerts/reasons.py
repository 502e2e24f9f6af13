"""Check reasons in the reader's language — the table lives in :mod:`monitor.vocabulary.reasons` (one
vocabulary for chats and reports); this name stays for the alerting side."""

from __future__ import annotations

from monitor.vocabulary.reasons import UNKNOWN_PART, localize_reason

__all__ = ["UNKNOWN_PART", "localize_reason"]
