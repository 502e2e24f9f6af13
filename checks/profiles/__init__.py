"""Device profiles as data: ``<name>.yaml`` files in this folder (built-in) or in ``profile_dirs``.

A user adds a vendor by adding a file, no code. This module finds profile files by name and
validates that every ``snmp`` check in a config names an existing profile.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from monitor.settings import Settings

BUILTIN_DIR = Path(__file__).resolve().parent


def profile_files(extra_dirs: Iterable[Path] = ()) -> dict[str, Path]:
    """Profile name -> file. Files in ``extra_dirs`` override built-ins of the same name."""
    found: dict[str, Path] = {}
    for folder in (BUILTIN_DIR, *extra_dirs):
        if folder.is_dir():
            for path in sorted(folder.glob("*.yaml")):
                found[path.stem] = path
    return found


def validate_settings(settings: Settings) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """Config check for the loader: unknown profile names, with a suggestion."""
    names = profile_files(settings.resolve_path(d) for d in settings.profile_dirs)
    for di, folder in enumerate(settings.profile_dirs):
        if not settings.resolve_path(folder).is_dir():
            yield ("profile_dirs", di), f"profile folder {folder!r} does not exist"
    for si, site in enumerate(settings.sites):
        for di, dev in enumerate(site.devices):
            for ci, chk in enumerate(dev.checks):
                if chk.type == "snmp" and chk.profile not in names:
                    close = difflib.get_close_matches(chk.profile, list(names), n=1)
                    hint = f" (did you mean {close[0]!r}?)" if close else ""
                    yield (("sites", si, "devices", di, "checks", ci, "profile"),
                           f"unknown profile {chk.profile!r}{hint}")
