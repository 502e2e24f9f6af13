"""Composition root: the one place (with the CLI) that knows the concrete checks, alert channels and
simulators, and wires them into the core through constructors.

Everything else receives its collaborators; nothing reaches for a global.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from pathlib import Path

from sqlalchemy import Engine

import checks.profiles
import monitor.maintenance
from monitor.settings import Settings, load_settings
from monitor.storage.db import create_db_engine


def load_config(path: str | os.PathLike[str], environ: Mapping[str, str] | None = None) -> Settings:
    """Load the config with every validation the installed parts add (the profile catalogue, the
    maintenance crons)."""
    return load_settings(path, extra_checks=[checks.profiles.validate_settings,
                                             monitor.maintenance.validate_settings], environ=environ)


def config_warnings(settings: Settings) -> list[str]:
    """Non-fatal problems worth telling the operator (e.g. a config holding secrets is world-readable)."""
    warnings: list[str] = []
    if settings.source:
        try:
            mode = Path(settings.source).stat().st_mode
        except OSError:
            mode = 0
        if mode & stat.S_IROTH and _file_holds_secret(settings):
            warnings.append(f"{settings.source} is readable by every user and holds secrets; "
                            f"run: chmod 600 {settings.source}")
    return warnings


def _file_holds_secret(settings: Settings) -> bool:
    try:
        text = Path(settings.source).read_text(encoding="utf-8")
    except OSError:
        return False
    return any(s in text for s in settings.secrets if len(s) >= 4)


def open_database(settings: Settings) -> Engine:
    return create_db_engine(settings.database_url,
                            busy_timeout_s=settings.database.busy_timeout.total_seconds())
