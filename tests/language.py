"""One language per text: the checker the language tests use (tests/test_language.py, tests/test_demo.py).

The word lists are *derived from the vocabulary itself* — every table of :mod:`monitor.vocabulary`, the
report labels (:mod:`monitor.reports.i18n`), the chat phrases (:mod:`alerts.messages`), the CSV headers and
the narrative's own tables — so a word someone adds later (a new device kind, the hub's answers from the
Ministry, a web page's label) is checked the same way without touching this file:

* an *English-only* word is a word of the English catalogue that the Indonesian catalogue never uses; it
  must not appear in an Indonesian text (and the other way round);
* a *raw key* is a metric or value key as the code spells it (``runtime_s``, ``input_voltage``,
  ``battery.charge``, ``recording_server``): never in a text a person reads;
* an *ISO/UTC time* (``2026-11-23T07:00``, ``07:26:34Z``, ``UTC``, ``+00:00``) never appears either.

User data is not language: device, site and person names and ids, the letterhead, notes people typed, the
check keys and config keys (``tcp:42473``, ``chat_id``) and the bot's commands (``/gangguan``) are removed
before the words are compared.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import yaml

ISO_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d|\b\d\d:\d\d:\d\d(?:\.\d+)?Z\b|\bUTC\b|\+00:00|\bGMT\b")
SNAKE = re.compile(r"\b[a-z][a-z0-9]*_[a-z0-9_]+\b")
CHECK_KEY = re.compile(r"\b(?:ping|tcp|snmp|host)(?::[\w.-]+)?(?=:|\)|;|,|\s|$)")
_WORD = re.compile(r"[A-Za-zÀ-ÿ]{3,}")
_PLACEHOLDER = re.compile(r"\{[^{}]*\}")
SHARED = frozenset({"snmp", "trap", "ups", "spd", "vpn", "siak", "apbn", "apbd", "mttr", "mtbf", "telegram", "nip",
                    "pdf", "html", "csv", "ktp"})
"""Technical names both languages use as they are."""


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from _strings(v)


def catalog(lang: str) -> list[str]:
    """Every text the code owns in ``lang``."""
    from alerts import messages, selfwarn
    from monitor import vocabulary
    from monitor.reports import csvout, i18n, narrative

    tables: list[Any] = [t[lang] for t in vocabulary.TABLES.values()]
    tables += [i18n.LABELS[lang], i18n.MONTHS[lang], i18n.DAYS[lang], i18n.DAYS_SHORT[lang], i18n.FUNDING[lang],
               messages.PHRASES[lang], csvout.HEADERS[lang], narrative.MINISTRY_ADDRESSEE[lang],
               narrative._FAILURE_PHRASE[lang], narrative._REQUEST_SUBJECT[lang], selfwarn._TEXT[lang]]
    return [_PLACEHOLDER.sub(" ", s) for t in tables for s in _strings(t)]


def _words(texts: Iterable[str]) -> set[str]:
    return {w.lower() for s in texts for w in _WORD.findall(s)}


@cache
def foreign_words() -> dict[str, frozenset[str]]:
    """``{lang: words of the other language's catalogue that this language's catalogue never uses}``."""
    id_words, en_words = _words(catalog("id")), _words(catalog("en"))
    return {"id": frozenset(en_words - id_words - SHARED), "en": frozenset(id_words - en_words - SHARED)}


@cache
def raw_keys() -> frozenset[str]:
    """Metric names of every device profile (``battery.charge``, ``input.voltage``), the engine's codes
    (statuses, causes, kinds) as codes."""
    from monitor import vocabulary

    keys: set[str] = set()
    profiles = Path(__file__).resolve().parents[1] / "checks" / "profiles"
    for path in profiles.glob("*.yaml"):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        keys.update(k for k in (data.get("metrics") or {}) if "." in k)
    for table in vocabulary.TABLES.values():
        keys.update(k for k in table["id"] if "_" in k)
    return frozenset(keys)


@cache
def config_keys() -> tuple[str, ...]:
    """The config file's keys: an instruction to the admin names them as they are (``chat_id``)."""
    from monitor import settings

    return tuple(sorted((k for k in settings._known_keys() if "_" in k), key=len, reverse=True))


def plain(text: str) -> str:
    """The words a person reads: tags, styles and embedded images removed, entities decoded."""
    text = re.sub(r"<style.*?</style>", " ", text, flags=re.S | re.I)
    text = re.sub(r"data:[\w/+.-]+;base64,[A-Za-z0-9+/=]+", " ", text)
    text = re.sub(r"<[^>]+>", " ", text)
    return html.unescape(text)


def problems(text: str, lang: str, names: Iterable[str] = ()) -> list[str]:
    """What is wrong with ``text`` as a text in ``lang`` (empty when it is wholly that language)."""
    words = plain(text)
    for name in sorted({n for n in names if n}, key=len, reverse=True):
        words = words.replace(name, " ")
    words = CHECK_KEY.sub(" ", words)
    words = re.sub(r"(?<![\w/])/[a-z_]+\b", " ", words)                   # bot commands: /gangguan, /outages
    words = re.sub(r"\b(?:telegram\.)?(?:" + "|".join(config_keys()) + r")\b", " ", words)
    words = re.sub(r"\S+@\S+|\S+\.(?:pdf|html|csv|json|yaml)\b|https?://\S+", " ", words)
    found: list[str] = []
    found += [f"ISO/UTC time {m!r}" for m in ISO_TIME.findall(words)]
    found += [f"raw key {k!r}" for k in SNAKE.findall(words)]
    found += [f"raw key {k!r}" for k in raw_keys() if re.search(rf"(?<![\w.]){re.escape(k)}(?![\w])", words)]
    foreign = foreign_words()[lang]
    found += [f"{'English' if lang == 'id' else 'Indonesian'} word {w!r}" for w in _WORD.findall(words)
              if w.lower() in foreign]
    return found


def assert_one_language(text: str, lang: str, names: Iterable[str] = (), where: str = "") -> None:
    found = problems(text, lang, names)
    if found:
        context = re.sub(r"\s+", " ", plain(text))
        term = re.search(r"'(.+)'", found[0])
        at = context.find(term.group(1)) if term else -1
        snippet = context[max(0, at - 160): at + 160] if at >= 0 else context[:1500]
        raise AssertionError(f"{where or 'text'} ({lang}): {sorted(set(found))[:12]}\n--- …{snippet}…")
