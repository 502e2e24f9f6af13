"""ektp-monitor: infrastructure health monitor for e-KTP recording server rooms."""

from __future__ import annotations

__version__ = "0.1.0"
