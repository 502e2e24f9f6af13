"""One vocabulary for every text a person reads: Telegram messages, reports (PDF, HTML, CSV) and pages.

Everything is rendered from codes and values in the audience's language (Bahasa Indonesia by default,
English available): statuses, causes, device kinds, facts of evidence (:mod:`.facts`), check reasons
(:mod:`.reasons`), numbers with units, durations and times in the site's zone (:mod:`.formats`). The words
themselves are data (:mod:`.words`); ``tests/test_language.py`` derives from them the words each language
must not contain, so text added later (new device kinds, the hub's answers, web pages) is checked the same
way.
"""

from __future__ import annotations

from monitor.vocabulary.facts import fact
from monitor.vocabulary.formats import (
    format_clock,
    format_duration,
    format_number,
    format_quantity,
    format_time,
)
from monitor.vocabulary.reasons import localize_reason
from monitor.vocabulary.words import (
    ACK_SOURCES,
    AUDIENCES,
    CAUSES,
    CAUSES_SHORT,
    DEVICE_KINDS,
    GAP_REASONS,
    LANGS,
    OBSERVATIONS,
    SOURCES,
    STATUSES,
    TABLES,
    WORDS,
    Lang,
    audience_name,
    cause_name,
    gap_reason_name,
    kind_name,
    lang_of,
    lookup,
    observation_name,
    source_name,
    status_name,
    unit_name,
    word,
)

__all__ = [
    "ACK_SOURCES",
    "AUDIENCES",
    "CAUSES",
    "CAUSES_SHORT",
    "DEVICE_KINDS",
    "GAP_REASONS",
    "LANGS",
    "OBSERVATIONS",
    "SOURCES",
    "STATUSES",
    "TABLES",
    "WORDS",
    "Lang",
    "audience_name",
    "cause_name",
    "fact",
    "format_clock",
    "format_duration",
    "format_number",
    "format_quantity",
    "format_time",
    "gap_reason_name",
    "kind_name",
    "lang_of",
    "localize_reason",
    "lookup",
    "observation_name",
    "source_name",
    "status_name",
    "unit_name",
    "word",
]
