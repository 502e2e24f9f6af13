"""Device profiles as data: ``<name>.yaml`` files in this folder (built-in) or in ``profile_dirs``.

A user adds a vendor by adding a file, no code (the format is documented in :mod:`checks.profile`
and by the built-in files, each of which names the MIB and object behind every OID it reads).

This module finds profile files by name, loads them into a :class:`ProfileCatalog`, and validates a
config against it: unknown profile names (with a suggestion), profile files that do not load, and
``params`` the profile (or one of its fallbacks) does not accept or that have the wrong type.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from checks.profile import Profile
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


class ProfileCatalog:
    """Every profile available to one config, loaded lazily and cached by file modification time."""

    _cache: ClassVar[dict[Path, tuple[float, Profile]]] = {}

    def __init__(self, extra_dirs: Iterable[Path] = ()) -> None:
        self.files = profile_files(extra_dirs)

    @property
    def names(self) -> list[str]:
        return sorted(self.files)

    def get(self, name: str) -> Profile:
        """The compiled profile; raises KeyError (unknown name) or ProfileError (invalid file)."""
        from checks.profile import load_profile

        path = self.files.get(name)
        if path is None:
            close = difflib.get_close_matches(name, self.names, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise KeyError(f"unknown profile {name!r}{hint}")
        from checks.profile import ProfileError

        try:
            mtime = path.stat().st_mtime
        except OSError as exc:   # a symlink to nothing, a file removed since the folder was listed
            raise ProfileError(f"cannot read profile {path}: {exc.strerror or exc}") from None
        cached = self._cache.get(path)
        if cached is not None and cached[0] == mtime:
            return cached[1]
        profile = load_profile(path)
        self._cache[path] = (mtime, profile)
        return profile

    def candidates(self, kind: str) -> list[Profile]:
        """Profiles ``profile: auto`` may choose for a device of ``kind`` (those with ``match:``)."""
        out = []
        for name in self.names:
            try:
                profile = self.get(name)
            except (KeyError, ValueError):
                continue       # a broken file is reported by config validation, not here
            if profile.definition.match is not None and kind in profile.definition.kinds:
                out.append(profile)
        return out

    def for_spec(self, profile: str, kind: str) -> list[Profile]:
        """Every profile a check's ``profile`` may read: ``auto`` -> the kind's candidates; ``a+b`` -> a (with
        its fallbacks) and b. Raises KeyError / ProfileError like :meth:`get`."""
        from monitor.domain import AUTO_PROFILE

        if profile == AUTO_PROFILE:
            return self.candidates(kind)
        names = profile.split("+")
        out = self.chain(names[0])
        for name in names[1:]:
            if name not in {p.name for p in out}:
                out.append(self.get(name))
        return out

    def chain(self, name: str) -> list[Profile]:
        """The profile and its fallbacks, in the order they are tried (each once)."""
        first = self.get(name)
        out = [first]
        for other in first.definition.fallback:
            if other not in {p.name for p in out}:
                out.append(self.get(other))
        return out

    def param_problems(self, name: str, params: Mapping[str, Any]) -> list[tuple[str, str]]:
        """``(param, message)`` for each param the profile chain rejects."""
        chain = self.chain(name)
        accepted = {p for prof in chain for p in prof.definition.params}
        problems = chain[0].check_params(params, known=accepted - set(chain[0].definition.params))
        first = set(chain[0].definition.params)
        for prof in chain[1:]:   # params only a fallback declares are checked against that fallback
            own = {k: v for k, v in params.items() if k in prof.definition.params and k not in first}
            problems += [(k, m) for k, m in prof.check_params(own) if "needs the parameter" not in m]
        return list(dict.fromkeys(problems))


def catalog_for(settings: Settings) -> ProfileCatalog:
    return ProfileCatalog(settings.resolve_path(d) for d in settings.profile_dirs)


def validate_settings(settings: Settings) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """Config check for the loader: unknown profiles, broken profile files, wrong params."""
    from checks.profile import ProfileError
    from monitor.domain import AUTO_PROFILE

    catalog = catalog_for(settings)
    for di, folder in enumerate(settings.profile_dirs):
        if not settings.resolve_path(folder).is_dir():
            yield ("profile_dirs", di), f"profile folder {folder!r} does not exist"
    for si, site in enumerate(settings.sites):
        for di, dev in enumerate(site.devices):
            for ci, chk in enumerate(dev.checks):
                if chk.type != "snmp":
                    continue
                loc: tuple[str | int, ...] = ("sites", si, "devices", di, "checks", ci)
                if chk.profile == AUTO_PROFILE:
                    yield from _auto_problems(catalog, dev.kind, chk.params, loc)
                    continue
                unknown = [n for n in chk.profile.split("+") if n not in catalog.files]
                if unknown:
                    close = difflib.get_close_matches(unknown[0], catalog.names, n=1)
                    hint = f" (did you mean {close[0]!r}?)" if close else ""
                    yield (*loc, "profile"), f"unknown profile {unknown[0]!r}{hint}"
                    continue
                if "+" in chk.profile:
                    yield from _composed_problems(catalog, chk.profile, chk.params, loc)
                    continue
                if chk.profile not in catalog.files:
                    close = difflib.get_close_matches(chk.profile, catalog.names, n=1)
                    hint = f" (did you mean {close[0]!r}?)" if close else ""
                    yield (*loc, "profile"), f"unknown profile {chk.profile!r}{hint}"
                    continue
                try:
                    problems = catalog.param_problems(chk.profile, chk.params)
                except (ProfileError, KeyError) as exc:
                    yield (*loc, "profile"), str(exc).strip("'\"")
                    continue
                for param, message in problems:
                    where = (*loc, "params", param) if param in chk.params else (*loc, "params")
                    yield where, message


def _auto_problems(catalog: ProfileCatalog, kind: Any, params: Mapping[str, Any],
                   loc: tuple[str | int, ...]) -> Iterator[tuple[tuple[str | int, ...], str]]:
    kind = str(getattr(kind, "value", kind))
    candidates = catalog.candidates(kind)
    if not candidates:
        yield (*loc, "profile"), (f"no profile chooses itself for a device of kind {kind!r}: name one "
                                  f"(profile: NAME; known: {', '.join(catalog.names)})")
        return
    accepted = {p for prof in candidates for p in prof.definition.params}
    for key in params:
        if key not in accepted:
            close = difflib.get_close_matches(key, sorted(accepted), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            yield (*loc, "params", key), (f"no profile for a {kind} accepts the parameter {key!r}{hint}")
    for prof in candidates:   # a param of the right name but the wrong type is wrong for every profile
        own = {k: v for k, v in params.items() if k in prof.definition.params}
        for key, message in prof.check_params(own):
            if "needs the parameter" not in message:
                yield (*loc, "params", key), message


def _composed_problems(catalog: ProfileCatalog, profile: str, params: Mapping[str, Any],
                       loc: tuple[str | int, ...]) -> Iterator[tuple[tuple[str | int, ...], str]]:
    from checks.profile import ProfileError

    try:
        parts = catalog.for_spec(profile, "")
    except (ProfileError, KeyError) as exc:
        yield (*loc, "profile"), str(exc).strip("'\"")
        return
    if parts[0].definition.role == "extension":
        yield (*loc, "profile"), f"{parts[0].name!r} is an extension: name the base profile first"
    accepted = {p for prof in parts for p in prof.definition.params}
    for key in params:
        if key not in accepted:
            yield (*loc, "params", key), f"none of {profile} accepts the parameter {key!r}"
