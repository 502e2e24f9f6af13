"""The wire between an office's shipper and the hub: ``POST /api/v1/ingest``.

Request (JSON, ``Content-Encoding: gzip``, ``Authorization: Bearer <office token>``)::

    {"office": "mura",                                   # must be the token's office
     "sent_at": "2026-12-03T01:02:03.000000Z",
     "baseline": {"first": 1, "last": 5230} | null,      # where the office's current stream begins
     "records": [{"seq": 5231, "entity": "outage", "local_id": "17", "version": 5231, "schema_version": 1,
                  "site_code": "62.12", "snapshot": {...}}, ...],   # contiguous seqs, oldest first
     "status": {"at": ..., "software": "0.1.0", "monitor_started_at": ..., "backlog_records": 0,
                "backlog_oldest_at": null, "open_incidents": [...],
                "sites": [{"code": "62.12", "devices": [{"device": "srv", "status": "down", "since": ...,
                                                         "reason": ..., "flapping": false, "last_check_at": ...}]}]}
               | null,                                    # every status_interval (60 s): liveness + current state
     "answers_received": [41, 42]}                        # Ministry answers the office has recorded

Replies (JSON):

* **200** ``{"acknowledged_seq": N, "expected_seq": N+1, "applied": a, "duplicates": d, "answers": [...],
  "server_time": ...}`` — every seq up to N is safely stored; ``answers`` are the Ministry's answers not
  yet confirmed by the office (it records them and lists their ids in ``answers_received`` next time);
* **401** unknown or revoked token; **403** a record or status about a site the office does not own;
* **409** ``{"error": "seq_gap" | "already_stored", "expected_seq": N+1}`` — the batch does not continue
  the cursor (a gap), or holds nothing new (a replay): the office continues from ``expected_seq``;
* **413** body or record count over the limits (``limit_bytes``, ``limit_records``);
* **422** malformed, or an unsupported ``schema_version`` (``accepted_schema_versions``): the office keeps
  its backlog until it (or the hub) is upgraded;
* **503** the hub's database is unavailable, or every connection is busy (``retry_after`` seconds).

**The cursor.** The hub stores per office the highest seq applied (``acknowledged_seq``). Records with a seq
at or below it are duplicates (skipped; a batch of nothing but duplicates is answered 409 ``already_stored``
with the cursor). The rest must begin at ``acknowledged_seq + 1``
— or exactly at ``baseline.first`` when that is above the cursor (a new baseline: a full snapshot of the
office's record that supersedes everything before it). When the cursor reaches ``baseline.last``, rows of
the office older than the baseline are removed (the office no longer has them: it was restored from an
older backup). Each record is applied "newer version wins", so replays, reorders and duplicates change
nothing; the cursor only advances over a contiguous run.

**Schema versions.** A record's ``schema_version`` is the shape of its snapshot. The hub accepts
:data:`FEED_SCHEMA_VERSION` and the version before it when :data:`UPGRADERS` can lift it.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from monitor.storage.feed import FEED_SCHEMA_VERSION

INGEST_PATH = "/api/v1/ingest"

UPGRADERS: dict[int, Callable[[str, dict[str, Any]], dict[str, Any]]] = {}
"""previous schema version -> function(entity, snapshot) giving the snapshot in the current shape. When
FEED_SCHEMA_VERSION is bumped, the lift from the old shape is added here, so offices not yet upgraded keep
shipping."""


def accepted_schema_versions() -> tuple[int, ...]:
    previous = FEED_SCHEMA_VERSION - 1
    return (FEED_SCHEMA_VERSION, previous) if previous in UPGRADERS else (FEED_SCHEMA_VERSION,)


def current_shape(schema_version: int, entity: str, snapshot: dict[str, Any]) -> dict[str, Any]:
    """``snapshot`` lifted to :data:`FEED_SCHEMA_VERSION` (it must be an accepted version)."""
    if schema_version == FEED_SCHEMA_VERSION:
        return snapshot
    return UPGRADERS[schema_version](entity, snapshot)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Record(_Strict):
    seq: int = Field(ge=1)
    entity: str = Field(min_length=1, max_length=32)
    local_id: str = Field(min_length=1, max_length=64)
    version: int = Field(ge=1)
    schema_version: int
    site_code: str | None = Field(None, max_length=16)
    snapshot: dict[str, Any]


class Baseline(_Strict):
    first: int = Field(ge=1)
    last: int = Field(ge=0)


class DeviceState(_Strict):
    device: str = Field(min_length=1, max_length=64)
    status: Literal["up", "degraded", "down", "unreachable", "unknown"]
    since: str | None = None
    reason: str | None = Field(None, max_length=2000)
    flapping: bool = False
    last_check_at: str | None = None


class SiteState(_Strict):
    code: str = Field(min_length=1, max_length=16)
    devices: list[DeviceState] = Field(default_factory=list, max_length=100_000)


class StatusMessage(_Strict):
    at: str
    software: str | None = Field(None, max_length=32)
    monitor_started_at: str | None = None
    backlog_records: int = Field(0, ge=0)
    backlog_oldest_at: str | None = None
    open_incidents: list[dict[str, Any]] = Field(default_factory=list, max_length=10_000)
    sites: list[SiteState] = Field(default_factory=list, max_length=10_000)


class IngestRequest(_Strict):
    office: str = Field(min_length=1, max_length=64)
    sent_at: str | None = None
    baseline: Baseline | None = None
    records: list[Record] = Field(default_factory=list)
    status: StatusMessage | None = None
    answers_received: list[int] = Field(default_factory=list, max_length=10_000)


class Answer(_Strict):
    """One answer of the Ministry about an office's incident (see ``monitor.hub.models.HubAnswer``)."""

    id: int
    site_code: str
    incident_id: int
    status: str
    note: str | None = None
    answered_by: str
    answered_at: str


class IngestReply(_Strict):
    acknowledged_seq: int
    expected_seq: int
    applied: int = 0
    duplicates: int = 0
    answers: list[Answer] = Field(default_factory=list)
    server_time: str


class Refusal(Exception):
    """An ingest request refused with an HTTP status and a JSON body saying why."""

    def __init__(self, status: int, error: str, detail: str, **extra: Any) -> None:
        super().__init__(f"{status} {error}: {detail}")
        self.status = status
        self.body: dict[str, Any] = {"error": error, "detail": detail, **extra}
        self.headers: dict[str, str] = {}
        if status == 401:
            self.headers["WWW-Authenticate"] = 'Bearer realm="ektp-hub"'
        if status == 503 and "retry_after" in extra:
            self.headers["Retry-After"] = str(int(extra["retry_after"]))


def encode(data: dict[str, Any]) -> bytes:
    """A request body: compact UTF-8 JSON, gzip-compressed."""
    return gzip.compress(json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8"), 6)
