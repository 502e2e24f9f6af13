"""Reading what happened: the record the daemon writes (SQLite, read-only) and the chats of the Bot API server.

The demo never asks the monitor anything; it reads the database file the daemon writes (WAL mode: a reader
never blocks the writer) and the messages the local Bot API server accepted, like a person looking at the
database and at the phones.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from monitor.sandbox.telegram_api import ControlClient

__all__ = ["Chat", "ChatMessage", "Event", "Record"]


def _time(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    text = str(value).replace("Z", "+00:00")
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _json(value: Any) -> Any:
    if value is None or value == "":
        return None
    if isinstance(value, bytes | str):
        return json.loads(value)
    return value


@dataclass(frozen=True)
class Event:
    """One ``events`` row."""

    id: int
    time: datetime
    kind: str
    device: str | None
    incident_id: int | None
    payload: dict[str, Any]


class Record:
    """Read-only queries on the monitor's SQLite database (opened per query: no lock is ever held)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _rows(self, sql: str, args: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        if not self.path.exists():
            return []
        conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=10)
        try:
            conn.row_factory = sqlite3.Row
            return list(conn.execute(sql, args).fetchall())
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return []
            raise
        finally:
            conn.close()

    def events_after(self, last_id: int) -> list[Event]:
        rows = self._rows("SELECT e.id, e.time, e.kind, e.incident_id, e.payload, d.key AS device FROM events e "
                          "LEFT JOIN devices d ON d.id = e.device_id WHERE e.id > ? ORDER BY e.id", (last_id,))
        out = []
        for r in rows:
            t = _time(r["time"])
            assert t is not None
            out.append(Event(int(r["id"]), t, str(r["kind"]), r["device"], r["incident_id"], _json(r["payload"]) or {}))
        return out

    def statuses(self) -> dict[str, str]:
        """Device id -> current status (devices not checked yet are missing)."""
        return {str(r["key"]): str(r["status"]) for r in self._rows(
            "SELECT d.key, s.status FROM device_states s JOIN devices d ON d.id = s.device_id")}

    def metrics(self, device: str) -> dict[str, Any]:
        rows = self._rows("SELECT s.metrics FROM device_states s JOIN devices d ON d.id = s.device_id "
                          "WHERE d.key = ?", (device,))
        return dict(_json(rows[0]["metrics"]) or {}) if rows else {}

    def outages(self, device: str | None = None) -> list[dict[str, Any]]:
        sql = ("SELECT o.id, d.key AS device, d.name AS device_name, o.incident_id, o.started_at, o.ended_at, "
               "o.status, o.cause, o.evidence, o.gaps, o.reason FROM outages o JOIN devices d ON d.id = o.device_id")
        args: tuple[Any, ...] = ()
        if device is not None:
            sql += " WHERE d.key = ?"
            args = (device,)
        return [{"id": r["id"], "device": r["device"], "device_name": r["device_name"], "incident": r["incident_id"],
                 "started_at": _time(r["started_at"]), "ended_at": _time(r["ended_at"]), "status": r["status"],
                 "cause": r["cause"], "evidence": _json(r["evidence"]) or [], "gaps": _json(r["gaps"]) or [],
                 "reason": r["reason"]}
                for r in self._rows(sql + " ORDER BY o.id", args)]

    def open_outage(self, device: str) -> dict[str, Any] | None:
        found = [o for o in self.outages(device) if o["ended_at"] is None]
        return found[-1] if found else None

    def incidents(self) -> list[dict[str, Any]]:
        return [{"id": r["id"], "started_at": _time(r["started_at"]), "ended_at": _time(r["ended_at"]),
                 "cause": r["cause"], "acknowledged_by": r["acknowledged_by"],
                 "acknowledged_at": _time(r["acknowledged_at"]), "evidence": _json(r["evidence"]) or [],
                 "escalation": _json(r["escalation"]) or {}}
                for r in self._rows("SELECT * FROM incidents ORDER BY id")]

    def acknowledgements(self) -> list[dict[str, Any]]:
        return [{"incident": r["incident_id"], "time": _time(r["time"]), "user_id": r["user_id"],
                 "user_name": r["user_name"], "source": r["source"]}
                for r in self._rows("SELECT * FROM acknowledgements ORDER BY id")]

    def gaps(self) -> list[dict[str, Any]]:
        return [{"started_at": _time(r["started_at"]), "ended_at": _time(r["ended_at"]), "reason": r["reason"]}
                for r in self._rows("SELECT * FROM monitor_gaps ORDER BY id")]

    def evidence(self) -> list[dict[str, Any]]:
        return [{"time": _time(r["time"]), "device": r["device"], "kind": r["kind"], "source": r["source"],
                 "text": r["text"]}
                for r in self._rows("SELECT e.time, d.key AS device, e.kind, e.source, e.text FROM evidence e "
                                    "LEFT JOIN devices d ON d.id = e.device_id ORDER BY e.id")]

    def outbox(self) -> list[dict[str, Any]]:
        return [{"id": r["id"], "kind": r["kind"], "audience": r["audience"], "status": r["status"],
                 "incident": r["incident_id"], "chat_id": r["chat_id"], "message_id": r["message_id"]}
                for r in self._rows("SELECT * FROM outbox ORDER BY id")]


@dataclass
class ChatMessage:
    """A message as the Bot API server holds it now (an edit changes text or buttons in place)."""

    chat_id: str
    message_id: int
    method: str
    text: str
    parse_mode: str | None
    buttons: list[list[dict[str, Any]]]
    filename: str | None = None
    document_size: int | None = None
    document_sha256: str | None = None
    date: int = 0
    edits: int = 0
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def key(self) -> tuple[str, int]:
        return self.chat_id, self.message_id

    @property
    def button_data(self) -> list[str]:
        return [str(b.get("callback_data", "")) for row in self.buttons for b in row]

    def to_json(self) -> dict[str, Any]:
        return {"chat_id": self.chat_id, "message_id": self.message_id, "method": self.method, "text": self.text,
                "parse_mode": self.parse_mode, "buttons": self.buttons, "filename": self.filename,
                "document": None if self.document_size is None else
                {"size": self.document_size, "sha256": self.document_sha256},
                "date": self.date, "edited": self.edits > 0}


class Chat:
    """The local Bot API server's chats; :meth:`changes` yields new and edited messages since the last call."""

    def __init__(self, control: ControlClient) -> None:
        self.control = control
        self.messages: dict[tuple[str, int], ChatMessage] = {}
        self._seen: dict[tuple[str, int], tuple[str, str]] = {}

    def refresh(self) -> list[ChatMessage]:
        for raw in self.control.messages():
            doc = raw.get("document") or raw.get("photo")
            markup = raw.get("reply_markup") or {}
            msg = ChatMessage(chat_id=str(raw["chat_id"]), message_id=int(raw["message_id"]),
                              method=str(raw["method"]), text=str(raw.get("text") or ""),
                              parse_mode=raw.get("parse_mode"), buttons=list(markup.get("inline_keyboard") or []),
                              filename=raw.get("filename"), document_size=doc["size"] if doc else None,
                              document_sha256=doc["sha256"] if doc else None, date=int(raw.get("date") or 0))
            old = self.messages.get(msg.key)
            if old is not None:
                msg.edits = old.edits
            self.messages[msg.key] = msg
        return list(self.messages.values())

    def changes(self) -> Iterator[tuple[ChatMessage, bool]]:
        """``(message, edited)`` for each message that is new or changed since the last call."""
        self.refresh()
        for key, msg in self.messages.items():
            sig = (msg.text, json.dumps(msg.buttons, sort_keys=True))
            before = self._seen.get(key)
            if before == sig:
                continue
            edited = before is not None
            if edited:
                msg.edits += 1
            self._seen[key] = sig
            yield msg, edited

    def to(self, chat_id: int | str) -> list[ChatMessage]:
        return [m for m in self.messages.values() if m.chat_id == str(chat_id)]

    def callback_answers(self) -> list[dict[str, Any]]:
        answers: list[dict[str, Any]] = self.control.state().get("callback_answers", [])
        return answers
