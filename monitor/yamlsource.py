"""Read a YAML config file into plain data while remembering where every key was written.

The loader in :mod:`monitor.settings` validates the data; this module only reads it, so that every
later error can name the file, the line and the key path (``sites[0].devices[2].checks[0].profile``).

It also brings secrets in without putting them in the file:

* ``${VAR}`` in any string is replaced by the environment variable ``VAR`` (``$$`` is a literal ``$``;
  ``${VAR:-text}`` uses ``text`` when ``VAR`` is unset or empty). A missing variable is an issue
  naming it.
* A key ``<name>_file`` for a secret key (``bot_token``, ``community``, ``auth_key``, ``priv_key``,
  ``token`` and ``password`` of the hub link and the hub's database)
  is replaced by ``<name>`` holding the file's content without the trailing newline.
* ``env_file: PATH`` at the top level reads ``KEY=VALUE`` lines (systemd EnvironmentFile style) that
  fill variables the process environment does not already set.

Relative paths are resolved against the config file's directory.

Files are not trusted (:mod:`monitor.safefile`): the config, secret files and the env file must be regular
files of bounded size (:data:`MAX_CONFIG_BYTES`, :data:`MAX_SECRET_BYTES`, :data:`MAX_ENV_BYTES`); a secret
or env file that is a symlink is followed only within its own folder; an error names the file and the
problem and never quotes a secret or env file's content. A secret — from a file, the environment or the
YAML — that holds a line break or another control character is an error at its key: such a token would be
sent in every request and refused for ever. A config with more than :data:`MAX_OWN_VALUES` values is
refused by size while it is being read (streamed, so the refusal needs neither the time nor the memory a
full parse would).
"""

from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from monitor.errors import ConfigIssue
from monitor.safefile import FileRefused, human_size, read_limited, read_text_limited

Loc = tuple[str | int, ...]

SECRET_KEYS = frozenset({"bot_token", "community", "auth_key", "priv_key", "heartbeat_url", "token", "password"})
SECRET_LISTS = frozenset({"communities"})
"""Keys whose list items are secrets (``traps.communities``)."""
MAX_CONFIG_BYTES = 16 << 20
"""A config file larger than this is refused before it is parsed (a national config of 10,000 devices is
about 1.5 MB)."""
MAX_OWN_VALUES = 1_000_000
"""Keys and values a config may hold (10,000 devices are about 230,000)."""
MAX_SECRET_BYTES = 4096
MAX_ENV_BYTES = 64 << 10
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
        """Line of ``loc``, or of its nearest ancestor that is in the file (for missing keys); line 1 for
        the top level. (A key written as a number, ``0:``, is found under either spelling.)"""
        for n in range(len(loc), 0, -1):
            line = self.lines.get(tuple(loc[:n]))
            if line is None:
                line = self.lines.get(tuple(str(p) if isinstance(p, int) else p for p in loc[:n]))
            if line is not None:
                return line
        return 1

    def issue(self, loc: Loc, message: str) -> ConfigIssue:
        return ConfigIssue(self.file, self.line_of(loc), format_loc(loc), message)


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """SafeLoader that rejects duplicate keys instead of silently keeping the last one. libyaml's parser when
    PyYAML has it (issue 8: the pure-Python scanner took 20 s for a 10,000-device config)."""


def _timestamp(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> Any:
    """PyYAML raises a bare ValueError (no line) for an impossible date like 2026-13-45."""
    try:
        return yaml.SafeLoader.construct_yaml_timestamp(loader, node)
    except (ValueError, OverflowError) as exc:
        raise yaml.constructor.ConstructorError(None, None, f"invalid date or time {node.value!r}: {exc}",
                                                node.start_mark) from None


_Loader.add_constructor("tag:yaml.org,2002:timestamp", _timestamp)


MAX_VALUES = 100_000
"""YAML aliases may expand a config to at most this many values (an alias bomb multiplies a small file) —
unless the file itself holds that many: a national config of 10,000 devices has ~150,000 values of its
own and expands to no more (issue 8). Expansion beyond :data:`ALIAS_RATIO` × the file's own values
counts as a bomb, and beyond :data:`MAX_TOTAL` always."""
ALIAS_RATIO = 4
MAX_TOTAL = 5_000_000


def _shape_problem(node: yaml.Node) -> tuple[int, str] | None:
    """(line, message) when the document cannot be a config: an alias that contains itself, or an
    expansion through aliases past :data:`MAX_VALUES` (see there). None when it is fine."""
    sizes: dict[int, int] = {}
    active: set[int] = set()

    def size(n: yaml.Node) -> int:
        key = id(n)
        if key in sizes:
            return sizes[key]
        if key in active:
            raise _Cycle(n.start_mark.line + 1)
        active.add(key)
        children: list[yaml.Node] = []
        if isinstance(n, yaml.MappingNode):
            children = [c for pair in n.value for c in pair]
        elif isinstance(n, yaml.SequenceNode):
            children = list(n.value)
        total = 1
        for child in children:
            total += size(child)
            if total > MAX_TOTAL:
                break
        active.discard(key)
        sizes[key] = total
        return total

    try:
        expanded = size(node)
    except _Cycle as cycle:
        return cycle.line, "a YAML alias refers to the value that contains it (a loop)"
    own = len(sizes)   # distinct nodes: what the file itself holds (an alias adds no node)
    # (the file's own size is bounded before this, by _too_many_values: what is left is alias expansion)
    if expanded > MAX_TOTAL or (expanded > MAX_VALUES and expanded > ALIAS_RATIO * own):
        return 1, f"the file expands to more than {MAX_VALUES:,} values through YAML aliases"
    return None


def _too_many_values(text: str) -> tuple[int, str] | None:
    """(line, message) when the document holds more than :data:`MAX_OWN_VALUES` keys and values. Counted on
    the parser's event stream, which is cheap and keeps nothing: a file of millions of tiny values is refused
    in about a second instead of being built into millions of objects first. Syntax errors are left to the
    full parse that follows."""
    loader = _Loader(text)
    count = 0
    try:
        while loader.check_event():
            event = loader.get_event()
            if isinstance(event, yaml.ScalarEvent | yaml.MappingStartEvent | yaml.SequenceStartEvent):
                count += 1
                if count > MAX_OWN_VALUES:
                    mark = event.start_mark
                    return ((mark.line + 1) if mark is not None else 1,
                            f"the file holds more than {MAX_OWN_VALUES:,} keys and values ({human_size(len(text))}); "
                            "a config this large is not supported")
    except yaml.YAMLError:
        return None
    finally:
        loader.dispose()
    return None


def secret_problem(value: str) -> str | None:
    """Why ``value`` cannot be a secret (a line break or another control character), or None. Never quotes it."""
    for i, ch in enumerate(value):
        if ch in "\r\n":
            return f"holds a line break (character {i + 1}); a secret is one line"
        if unicodedata.category(ch) == "Cc":
            return f"holds a control character (U+{ord(ch):04X} at character {i + 1})"
    return None


class _Cycle(Exception):
    def __init__(self, line: int) -> None:
        self.line = line


def _walk(node: yaml.Node, loc: Loc, lines: dict[Loc, int], issues: list[ConfigIssue], file: str) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: dict[object, int] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                _walk(value_node, loc, lines, issues, file)
                continue
            line = key_node.start_mark.line + 1
            if not isinstance(key_node, yaml.ScalarNode):  # `? [a, b]`: a list or mapping used as a key
                issues.append(ConfigIssue(file, line, format_loc(loc), "a key must be a plain name"))
                continue
            key = key_node.value
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
    """``KEY=VALUE`` lines; raises :class:`FileRefused` (never quoting the file) when it cannot be used."""
    env: dict[str, str] = {}
    text = read_text_limited(path, limit=MAX_ENV_BYTES, what="env file", within=path.parent)
    for raw in text.splitlines():
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
                if self.is_secret(loc):
                    self.src.secrets.add(got)
                return got
            if default is not None:
                return default
            self.issues.append(self.src.issue(loc, f"environment variable {name} is not set"))
            return ""
        return _VAR.sub(repl, value)

    @staticmethod
    def is_secret(loc: Loc) -> bool:
        return bool(loc) and (loc[-1] in SECRET_KEYS or (len(loc) >= 2 and isinstance(loc[-1], int)
                                                          and loc[-2] in SECRET_LISTS))

    def value(self, value: Any, loc: Loc) -> Any:
        if isinstance(value, str):
            text = self.string(value, loc)
            if self.is_secret(loc):
                problem = secret_problem(text)
                if problem is not None:
                    self.issues.append(self.src.issue(loc, f"the secret {problem}"))
                    return ""
            return text
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
            secret = read_text_limited(path, limit=MAX_SECRET_BYTES, what="secret file",
                                       within=path.parent).rstrip("\r\n")
        except FileRefused as exc:
            self.issues.append(self.src.issue(loc, str(exc)))
            return ""
        if not secret:
            self.issues.append(self.src.issue(loc, f"secret file {path} is empty"))
        problem = secret_problem(secret)
        if problem is not None:
            self.issues.append(self.src.issue(loc, f"secret file {path} {problem}"))
            return ""
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
        raw = read_limited(path, limit=MAX_CONFIG_BYTES, what="config file")
    except FileRefused as exc:
        return Source(file, None), [ConfigIssue(file, None, "", exc.unlocated())]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        bad_line = raw[:exc.start].count(b"\n") + 1
        return Source(file, None), [ConfigIssue(file, bad_line, "", f"not UTF-8 text (byte {exc.start + 1}); save "
                                                                    "the file as UTF-8")]
    crowded = _too_many_values(text)
    if crowded is not None:
        return Source(file, None), [ConfigIssue(file, crowded[0], "", crowded[1])]
    try:
        node = yaml.compose(text, Loader=_Loader)
    except RecursionError:
        return Source(file, None), [ConfigIssue(file, 1, "", "YAML nested too deeply")]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        position = getattr(exc, "position", None)  # a ReaderError (a control character) has no mark
        line = (mark.line + 1 if mark is not None
                else text[:position].count("\n") + 1 if isinstance(position, int) else 1)
        problem = getattr(exc, "problem", None) or str(exc).split("\n", 1)[0]
        return Source(file, None), [ConfigIssue(file, line, "", f"YAML syntax error: {problem}")]
    if node is None:
        return Source(file, {}), [ConfigIssue(file, 1, "", "config file is empty")]
    shape = _shape_problem(node)
    if shape is not None:
        return Source(file, None), [ConfigIssue(file, shape[0], "", shape[1])]
    src = Source(file, None)
    _walk(node, (), src.lines, issues, file)
    try:
        loader = _Loader("")
        try:
            data = loader.construct_document(node)   # from the tree composed above: the text is parsed once
        finally:
            loader.dispose()
    except RecursionError:
        return src, [*issues, ConfigIssue(file, 1, "", "YAML nested too deeply")]
    except yaml.YAMLError as exc:  # e.g. a bad tag that compose accepted
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        return src, [*issues, ConfigIssue(file, mark.line + 1 if mark is not None else 1, "",
                                          f"YAML error: {getattr(exc, 'problem', None) or exc}")]
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
        except FileRefused as exc:
            issues.append(src.issue(("env_file",), str(exc)))
    env.update(os.environ if environ is None else environ)
    src.data = _Expander(src, env, base, issues).value(data, ())
    return src, issues
