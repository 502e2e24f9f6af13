"""Read a YAML config file into plain data while remembering where every key was written.

The loader in :mod:`monitor.settings` validates the data; this module only reads it, so that every
later error can name the file, the line and the key path (``sites[0].devices[2].checks[0].profile``).

It also brings secrets in without putting them in the file:

* ``${VAR}`` in any string is replaced by the environment variable ``VAR`` (``$$`` is a literal ``$``;
  ``${VAR:-text}`` uses ``text`` when ``VAR`` is unset or empty). A missing variable is an issue
  naming it.
* A key ``<name>_file`` for a secret key (``bot_token``, ``community``, ``auth_key``, ``priv_key``)
  is replaced by ``<name>`` holding the file's content without the trailing newline.
* ``env_file: PATH`` at the top level reads ``KEY=VALUE`` lines (systemd EnvironmentFile style) that
  fill variables the process environment does not already set.

Relative paths are resolved against the config file's directory.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from monitor.errors import ConfigIssue

Loc = tuple[str | int, ...]

SECRET_KEYS = frozenset({"bot_token", "community", "auth_key", "priv_key", "heartbeat_url"})
_VAR = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def format_loc(loc: Loc) -> str:
    """``("sites", 0, "devices", 2, "id")`` -> ``sites[0].devices[2].id``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


@dataclass
class Source:
    """A parsed YAML file: the data, and the 1-based line of every key and list item."""

    file: str
    data: Any
    lines: dict[Loc, int] = field(default_factory=dict)
    secrets: set[str] = field(default_factory=set)

    def line_of(self, loc: Loc) -> int | None:
        """Line of ``loc``, or of its nearest ancestor that is in the file (for missing keys)."""
        for n in range(len(loc), -1, -1):
            line = self.lines.get(tuple(loc[:n]))
            if line is not None:
                return line
        return None

    def issue(self, loc: Loc, message: str) -> ConfigIssue:
        return ConfigIssue(self.file, self.line_of(loc), format_loc(loc), message)


class _Loader(yaml.SafeLoader):
    """SafeLoader that rejects duplicate keys instead of silently keeping the last one."""


def _walk(node: yaml.Node, loc: Loc, lines: dict[Loc, int], issues: list[ConfigIssue], file: str) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: dict[object, int] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                _walk(value_node, loc, lines, issues, file)
                continue
            key = key_node.value
            line = key_node.start_mark.line + 1
            if key in seen:
                issues.append(ConfigIssue(file, line, format_loc((*loc, key)),
                                          f"duplicate key (first written on line {seen[key]})"))
            seen[key] = line
            lines.setdefault((*loc, key), line)
            _walk(value_node, (*loc, key), lines, issues, file)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            lines.setdefault((*loc, i), item.start_mark.line + 1)
            _walk(item, (*loc, i), lines, issues, file)


def _read_env_file(path: Path) -> dict[str, str]:
    env: dict[str, str] = {}
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[7:]
        key, sep, value = line.partition("=")
        if not sep:
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        env[key.strip()] = value
    return env


class _Expander:
    def __init__(self, src: Source, env: Mapping[str, str], base: Path, issues: list[ConfigIssue]) -> None:
        self.src, self.env, self.base, self.issues = src, env, base, issues

    def string(self, value: str, loc: Loc) -> str:
        def repl(m: re.Match[str]) -> str:
            if m.group(0) == "$$":
                return "$"
            name, default = m.group(1), m.group(2)
            got = self.env.get(name)
            if got:
                if loc and loc[-1] in SECRET_KEYS:
                    self.src.secrets.add(got)
                return got
            if default is not None:
                return default
            self.issues.append(self.src.issue(loc, f"environment variable {name} is not set"))
            return ""
        return _VAR.sub(repl, value)

    def value(self, value: Any, loc: Loc) -> Any:
        if isinstance(value, str):
            return self.string(value, loc)
        if isinstance(value, list):
            return [self.value(v, (*loc, i)) for i, v in enumerate(value)]
        if isinstance(value, dict):
            out: dict[Any, Any] = {}
            for key, item in value.items():
                if isinstance(key, str) and key.endswith("_file") and key[:-5] in SECRET_KEYS:
                    name = key[:-5]
                    if name in value:
                        self.issues.append(self.src.issue((*loc, key), f"give {name} or {key}, not both"))
                        continue
                    out[name] = self.secret_file(item, (*loc, key))
                    # errors about the secret itself point at the *_file line
                    self.src.lines.setdefault((*loc, name), self.src.lines.get((*loc, key), 0))
                else:
                    out[key] = self.value(item, (*loc, key))
            return out
        return value

    def secret_file(self, item: Any, loc: Loc) -> str:
        if not isinstance(item, str) or not item:
            self.issues.append(self.src.issue(loc, "expected a file path"))
            return ""
        path = Path(self.string(item, loc))
        if not path.is_absolute():
            path = self.base / path
        try:
            secret = path.read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as exc:
            self.issues.append(self.src.issue(loc, f"cannot read secret file {path}: {exc.strerror or exc}"))
            return ""
        if not secret:
            self.issues.append(self.src.issue(loc, f"secret file {path} is empty"))
        self.src.secrets.add(secret)
        return secret


def read_source(path: str | os.PathLike[str],
                environ: Mapping[str, str] | None = None) -> tuple[Source, list[ConfigIssue]]:
    """Parse ``path``; return the source (data with secrets expanded) and the issues found.

    Never raises for a bad file: unreadable files and YAML syntax errors become issues.
    """
    file = str(path)
    issues: list[ConfigIssue] = []
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return Source(file, None), [ConfigIssue(file, None, "", f"cannot read config file: {exc}")]
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        return Source(file, None), [ConfigIssue(file, line, "", f"YAML syntax error: {problem}")]
    if node is None:
        return Source(file, {}), [ConfigIssue(file, 1, "", "config file is empty")]
    src = Source(file, None)
    _walk(node, (), src.lines, issues, file)
    try:
        loader = _Loader(text)
        try:
            data = loader.get_single_data()
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:  # e.g. a bad tag that compose accepted
        return src, [*issues, ConfigIssue(file, None, "", f"YAML error: {exc}")]
    if not isinstance(data, dict):
        return src, [*issues, ConfigIssue(file, 1, "", "the top level must be a mapping of keys")]

    base = Path(path).resolve().parent
    env: dict[str, str] = {}
    env_file = data.pop("env_file", None)
    if env_file is not None:
        env_path = Path(str(env_file))
        env_path = env_path if env_path.is_absolute() else base / env_path
        try:
            env.update(_read_env_file(env_path))
        except OSError as exc:
            issues.append(src.issue(("env_file",), f"cannot read env file {env_path}: {exc.strerror or exc}"))
    env.update(os.environ if environ is None else environ)
    src.data = _Expander(src, env, base, issues).value(data, ())
    return src, issues
