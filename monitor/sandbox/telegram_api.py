"""A local Telegram Bot API server on loopback, for the tests and the demo (never the real API).

It speaks the real Bot API shapes that python-telegram-bot 22 sends and expects (``POST
/bot<TOKEN>/<method>`` with form, multipart or JSON bodies; ``{"ok": true, "result": ...}`` or
``{"ok": false, "error_code": ..., "description": ..., "parameters": {...}}``) for the methods the monitor
uses: getMe, sendMessage, sendDocument, sendPhoto, getUpdates (long polling with ``offset``/``timeout``),
answerCallbackQuery, editMessageText, editMessageReplyMarkup, setMyCommands, getMyCommands, deleteWebhook,
logOut, close.

What it is for:

* **records** every call and every message (chat, topic, text/caption, parse mode, buttons, silent flag,
  a document's or photo's bytes and file name) — :attr:`TelegramApiServer.messages`;
* lets a test **inject updates**: a button press (``callback_query`` from a user in a chat) or a command
  message — :meth:`press_button`, :meth:`send_command`;
* lets a test **inject faults**: the server down (connection refused, open connections dropped), 429 with
  ``retry_after``, 500, 403 blocked, 400 chat not found, ``migrate_to_chat_id``, slow answers —
  :meth:`go_down`, :meth:`fail`, :meth:`block_chat`, :meth:`forget_chat`, :meth:`migrate_chat`,
  :meth:`slow`;
* **enforces a per-chat rate limit** like Telegram's (20 messages a minute in a group), answering 429 with
  ``retry_after`` when exceeded and counting each violation — so a test can prove the client never
  exceeded it.

Use it in-process (``async with TelegramApiServer(token) as api: ...``) or as a subprocess
(``python -m monitor.sandbox.telegram_api --port-file F``), which writes ``{"url", "port", "control_url",
"pid"}`` as JSON to F and takes the same injections over a small JSON control API on a second loopback
port (:class:`ControlClient`). Both bind 127.0.0.1 (or another loopback address) on a port the OS picks.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import ipaddress
import itertools
import json
import math
import os
import signal
import sys
import time
import urllib.request
from collections import deque
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import BodyPartReader, web

__all__ = ["ApiCall", "ControlClient", "Fault", "SentMessage", "TelegramApiServer"]

BOT_ID = 4242
BOT_USER = {"id": BOT_ID, "is_bot": True, "first_name": "eKTP Monitor", "username": "ektp_monitor_bot",
            "can_join_groups": True, "can_read_all_group_messages": False, "supports_inline_queries": False}
SEND_METHODS = frozenset({"sendmessage", "senddocument", "sendphoto"})
_INT_FIELDS = frozenset({"chat_id", "message_id", "message_thread_id", "offset", "limit", "timeout",
                         "cache_time", "user_id"})
_JSON_FIELDS = frozenset({"reply_markup", "commands", "allowed_updates", "entities", "caption_entities",
                          "scope", "link_preview_options", "reply_parameters"})
_BOOL_FIELDS = frozenset({"disable_notification", "show_alert", "drop_pending_updates", "protect_content"})


def _loopback(host: str) -> str:
    """``host`` if it is a loopback IP address, else ValueError (network-safety rule)."""
    if not ipaddress.ip_address(host).is_loopback:
        raise ValueError(f"the Telegram sandbox binds to loopback only, not {host}")
    return host


# ---------------------------------------------------------------------------------------------- records


@dataclass
class ApiCall:
    """One request as received (after parsing), with the HTTP status we answered."""

    method: str
    path: str
    content_type: str
    params: dict[str, Any]
    time: float
    status: int = 200


@dataclass
class SentMessage:
    """A message the server accepted (sendMessage / sendDocument / sendPhoto)."""

    message_id: int
    method: str
    chat_id: int | str
    thread_id: int | None
    text: str | None               # the text, or the caption of a document/photo
    parse_mode: str | None
    reply_markup: dict[str, Any] | None
    silent: bool
    date: int
    time: float                    # monotonic, when accepted
    document: bytes | None = None
    photo: bytes | None = None
    filename: str | None = None
    content_type: str | None = None
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def buttons(self) -> list[list[dict[str, Any]]]:
        """The inline keyboard rows (empty without one)."""
        if not self.reply_markup:
            return []
        rows: list[list[dict[str, Any]]] = self.reply_markup.get("inline_keyboard", [])
        return rows

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("document", "photo"):
            raw = data.pop(key)
            data[key] = None if raw is None else {"size": len(raw), "sha256": hashlib.sha256(raw).hexdigest(),
                                                  "base64": base64.b64encode(raw).decode()}
        return data


@dataclass
class Fault:
    """An injected failure: requests matching ``method`` (lower-case, ``None`` = any) and ``chat_id``
    (``None`` = any) get ``status`` with ``description`` (and ``parameters``), ``times`` times (None =
    until cleared). ``delay`` is waited before answering; ``hang`` never answers (until the client gives
    up). ``drop`` closes the connection without an answer."""

    method: str | None = None
    chat_id: str | None = None
    status: int = 500
    description: str = "Internal Server Error"
    parameters: dict[str, Any] | None = None
    times: int | None = 1
    delay: float = 0.0
    hang: bool = False
    drop: bool = False

    def matches(self, method: str, chat_id: str | None) -> bool:
        return (self.method is None or self.method == method) and (self.chat_id is None or self.chat_id == chat_id)


# ------------------------------------------------------------------------------------------------ server


class TelegramApiServer:
    """The local Bot API. ``token`` None accepts any token (the subprocess default prints none)."""

    def __init__(self, token: str | None = None, *, host: str = "127.0.0.1", port: int = 0,
                 rate_limit: tuple[int, float] | None = None, control: bool = False) -> None:
        self.token = token
        self.host = _loopback(host)
        self._want_port = port
        self.port = 0
        self.rate_limit = rate_limit
        self.calls: list[ApiCall] = []
        self.messages: list[SentMessage] = []
        self.callback_answers: list[dict[str, Any]] = []
        self.edits: list[dict[str, Any]] = []
        self.commands: list[dict[str, Any]] = []
        self.rate_limit_violations = 0
        self.faults: list[Fault] = []
        self._blocked: dict[str, str] = {}
        self._missing: set[str] = set()
        self._migrated: dict[str, int] = {}
        self._delays: dict[str | None, float] = {}
        self._sent_times: dict[str, deque[float]] = {}
        self._message_ids: dict[str, itertools.count[int]] = {}
        self._updates: list[dict[str, Any]] = []
        self._update_ids = itertools.count(100001)
        self._callback_ids = itertools.count(900001)
        self._open_callbacks: set[str] = set()
        self._updates_changed = asyncio.Event()
        self._down = False
        self._closing = False
        self._app = web.Application(client_max_size=60 * 1024 * 1024)
        self._app.router.add_route("*", "/bot{token}/{method}", self._handle)
        self._app.router.add_route("*", "/file/bot{token}/{path:.*}", self._file)
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self._control_runner: web.AppRunner | None = None
        self.control_port = 0
        self._with_control = control

    # ---------------------------------------------------------------------------------------- lifecycle

    @property
    def url(self) -> str:
        """The ``api_base_url`` to configure (``telegram.api_base_url``)."""
        return f"http://{self.host}:{self.port}"

    @property
    def control_url(self) -> str:
        return f"http://{self.host}:{self.control_port}"

    async def start(self) -> TelegramApiServer:
        self._runner = web.AppRunner(self._app, access_log=None, handle_signals=False)
        await self._runner.setup()
        await self._bind(self._want_port)
        if self._with_control:
            capp = web.Application()
            capp.router.add_route("*", "/_control/{action}", self._control)
            self._control_runner = web.AppRunner(capp, access_log=None, handle_signals=False)
            await self._control_runner.setup()
            csite = web.TCPSite(self._control_runner, self.host, 0)
            await csite.start()
            self.control_port = _bound_port(csite)
        return self

    async def _bind(self, port: int) -> None:
        assert self._runner is not None
        site = web.TCPSite(self._runner, self.host, port, reuse_address=True)
        await site.start()
        self._site = site
        self.port = _bound_port(site)

    async def stop(self) -> None:
        self._closing = True
        self._updates_changed.set()
        if self._control_runner is not None:
            await self._control_runner.cleanup()
            self._control_runner = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
            self._site = None

    async def __aenter__(self) -> TelegramApiServer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ------------------------------------------------------------------------------------------- faults

    async def go_down(self) -> None:
        """Refuse new connections (the port is closed) and drop requests on open keep-alive connections."""
        self._down = True
        if self._site is not None:
            await self._site.stop()
            self._site = None

    async def come_up(self) -> None:
        """Serve again on the same port."""
        self._down = False
        if self._site is None:
            await self._bind(self.port)

    @property
    def is_down(self) -> bool:
        return self._down

    def fail(self, method: str | None = None, *, status: int = 500, description: str | None = None,
             times: int | None = 1, retry_after: int | None = None, chat_id: int | str | None = None,
             delay: float = 0.0, hang: bool = False, drop: bool = False) -> Fault:
        """Inject a fault for ``method`` (e.g. ``"sendMessage"``; None = every method)."""
        params = {"retry_after": retry_after} if retry_after is not None else None
        if description is None:
            description = {429: f"Too Many Requests: retry after {retry_after or 1}", 403: "Forbidden",
                           400: "Bad Request", 502: "Bad Gateway"}.get(status, "Internal Server Error")
        if status == 429 and params is None:
            params = {"retry_after": 1}
        fault = Fault(method.lower() if method else None, None if chat_id is None else str(chat_id), status,
                      description, params, times, delay, hang, drop)
        self.faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        self.faults.clear()
        self._delays.clear()

    def block_chat(self, chat_id: int | str, description: str = "Forbidden: bot was blocked by the user") -> None:
        """Answer 403 for messages to ``chat_id`` (bot blocked / kicked)."""
        self._blocked[str(chat_id)] = description

    def unblock_chat(self, chat_id: int | str) -> None:
        self._blocked.pop(str(chat_id), None)

    def forget_chat(self, chat_id: int | str) -> None:
        """Answer 400 "Bad Request: chat not found" for ``chat_id``."""
        self._missing.add(str(chat_id))

    def migrate_chat(self, old: int | str, new: int) -> None:
        """``old`` became the supergroup ``new``: 400 with ``migrate_to_chat_id``."""
        self._migrated[str(old)] = new

    def slow(self, seconds: float, method: str | None = None) -> None:
        """Answer every request (or those of ``method``) ``seconds`` late, after acting on it."""
        self._delays[method.lower() if method else None] = seconds

    # ---------------------------------------------------------------------------------------- injection

    def press_button(self, *, chat_id: int, user_id: int, message_id: int, data: str,
                     first_name: str = "Petugas", username: str | None = None) -> str:
        """A user pressed an inline button under ``message_id``: queue a ``callback_query`` update.
        Returns the callback query id."""
        original = self._find_message(chat_id, message_id)
        message = self._message_json(original) if original else {
            "message_id": message_id, "date": int(time.time()), "chat": _chat(chat_id)}
        cq_id = str(next(self._callback_ids))
        self._open_callbacks.add(cq_id)
        self._push_update({"callback_query": {
            "id": cq_id, "from": _user(user_id, first_name, username), "message": message,
            "chat_instance": f"ci{abs(hash(str(chat_id))) % 10**9}", "data": data}})
        return cq_id

    def send_command(self, *, chat_id: int, user_id: int, text: str, first_name: str = "Petugas",
                     username: str | None = None, thread_id: int | None = None) -> int:
        """A user wrote ``text`` (e.g. ``/ack 12 on my way``) in ``chat_id``: queue a message update."""
        entities = []
        if text.startswith("/"):
            length = len(text.split()[0]) if text.split() else 1
            entities.append({"type": "bot_command", "offset": 0, "length": length})
        msg: dict[str, Any] = {"message_id": 700000 + len(self._updates), "date": int(time.time()),
                               "chat": _chat(chat_id), "from": _user(user_id, first_name, username), "text": text}
        if entities:
            msg["entities"] = entities
        if thread_id is not None:
            msg["message_thread_id"] = thread_id
            msg["is_topic_message"] = True
        return self._push_update({"message": msg})

    def _push_update(self, body: dict[str, Any]) -> int:
        update_id = next(self._update_ids)
        self._updates.append({"update_id": update_id, **body})
        self._updates_changed.set()
        return update_id

    # ------------------------------------------------------------------------------------------ queries

    def messages_to(self, chat_id: int | str) -> list[SentMessage]:
        return [m for m in self.messages if str(m.chat_id) == str(chat_id)]

    def calls_of(self, method: str) -> list[ApiCall]:
        return [c for c in self.calls if c.method == method.lower()]

    @property
    def pending_updates(self) -> int:
        return len(self._updates)

    @property
    def unanswered_callbacks(self) -> int:
        """Button presses no answerCallbackQuery answered yet (the user's button still spins)."""
        return len(self._open_callbacks)

    async def wait_for_messages(self, count: int, within: float = 10.0, chat_id: int | str | None = None) -> bool:
        """Wait (bounded by ``within`` seconds) until at least ``count`` messages (to ``chat_id``) were accepted."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            got = self.messages if chat_id is None else self.messages_to(chat_id)
            if len(got) >= count:
                return True
            await asyncio.sleep(0.02)
        return False

    # ------------------------------------------------------------------------------------------ handler

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"].lower()
        if self._down:
            _drop(request)
            return web.Response(status=503)
        params, files = await _parse(request)
        call = ApiCall(method, request.path.replace(request.match_info["token"], "<token>"),
                       request.content_type, params, time.monotonic())
        self.calls.append(call)
        if self.token is not None and request.match_info["token"] != self.token:
            return self._error(call, 401, "Unauthorized")
        chat = None if params.get("chat_id") is None else str(params["chat_id"])
        delay = self._delays.get(method, self._delays.get(None, 0.0)) if method != "getupdates" else 0.0
        for fault in list(self.faults):
            if fault.matches(method, chat):
                if fault.times is not None:
                    fault.times -= 1
                    if fault.times <= 0:
                        self.faults.remove(fault)
                if fault.hang:
                    await asyncio.sleep(3600)
                if fault.delay:
                    await asyncio.sleep(fault.delay)
                if fault.drop:
                    _drop(request)
                    return web.Response(status=503)
                return self._error(call, fault.status, fault.description, fault.parameters)
        handler = getattr(self, f"_m_{method}", None)
        if handler is None:
            return self._error(call, 404, "Not Found")
        try:
            result = await handler(params, files, call)
        except _ApiError as exc:
            return self._error(call, exc.status, exc.description, exc.parameters)
        if delay:
            # a slow answer: Telegram accepted the message but the reply arrives late (or never, when the
            # client gives up first) - exactly the case that makes a resend a duplicate
            await asyncio.sleep(delay)
            if self.is_down:  # went down while answering
                _drop(request)
                return web.Response(status=503)
        return web.json_response({"ok": True, "result": result})

    def _error(self, call: ApiCall, status: int, description: str,
               parameters: dict[str, Any] | None = None) -> web.Response:
        call.status = status
        body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
        if parameters:
            body["parameters"] = parameters
        return web.json_response(body, status=status)

    async def _file(self, request: web.Request) -> web.StreamResponse:
        return web.Response(status=404, text="file downloads are not simulated")

    # -------------------------------------------------------------------------------------- bot methods

    async def _m_getme(self, params: dict[str, Any], files: dict[str, Any], call: ApiCall) -> Any:
        return BOT_USER

    async def _m_deletewebhook(self, params: dict[str, Any], files: dict[str, Any], call: ApiCall) -> Any:
        if params.get("drop_pending_updates"):
            self._updates.clear()
        return True

    async def _m_logout(self, params: dict[str, Any], files: dict[str, Any], call: ApiCall) -> Any:
        return True

    async def _m_close(self, params: dict[str, Any], files: dict[str, Any], call: ApiCall) -> Any:
        return True

    async def _m_setmycommands(self, params: dict[str, Any], files: dict[str, Any], call: ApiCall) -> Any:
        commands = params.get("commands")
        if not isinstance(commands, list) or not all(isinstance(c, dict) and c.get("command") for c in commands):
            raise _ApiError(400, "Bad Request: commands must be a non-empty array of BotCommand")
        self.commands.append({"commands": commands, "scope": params.get("scope"),
                              "language_code": params.get("language_code")})
        return True

    async def _m_getmycommands(self, params: dict[str, Any], files: dict[str, Any], call: ApiCall) -> Any:
        return self.commands[-1]["commands"] if self.commands else []

    async def _m_sendmessage(self, params: dict[str, Any], files: dict[str, Any], call: ApiCall) -> Any:
        text = params.get("text")
        if not isinstance(text, str) or not text.strip():
            raise _ApiError(400, "Bad Request: message text is empty")
        if len(text) > 4096:
            raise _ApiError(400, "Bad Request: message is too long")
        return self._accept("sendmessage", params, text, call)

    async def _m_senddocument(self, params: dict[str, Any], files: dict[str, Any], call: ApiCall) -> Any:
        return self._accept_media("senddocument", "document", params, files, call)

    async def _m_sendphoto(self, params: dict[str, Any], files: dict[str, Any], call: ApiCall) -> Any:
        return self._accept_media("sendphoto", "photo", params, files, call)

    def _accept_media(self, method: str, kind: str, params: dict[str, Any], files: dict[str, Any],
                      call: ApiCall) -> Any:
        caption = params.get("caption")
        if isinstance(caption, str) and len(caption) > 1024:
            raise _ApiError(400, "Bad Request: message caption is too long")
        part = files.get(kind)
        if part is None and not params.get(kind):
            raise _ApiError(400, f"Bad Request: there is no {kind} in the request")
        return self._accept(method, params, caption, call, kind=kind, part=part)

    def _accept(self, method: str, params: dict[str, Any], text: str | None, call: ApiCall, *,
                kind: str | None = None, part: tuple[bytes, str | None, str | None] | None = None) -> Any:
        chat = params.get("chat_id")
        if chat is None or chat == "":
            raise _ApiError(400, "Bad Request: chat_id is empty")
        key = str(chat)
        if key in self._migrated:
            raise _ApiError(400, "Bad Request: group chat was upgraded to a supergroup chat",
                            {"migrate_to_chat_id": self._migrated[key]})
        if key in self._missing:
            raise _ApiError(400, "Bad Request: chat not found")
        if key in self._blocked:
            raise _ApiError(403, self._blocked[key])
        parse_mode = params.get("parse_mode")
        if parse_mode == "HTML" and text is not None:
            problem = _html_problem(text)
            if problem:
                raise _ApiError(400, f"Bad Request: can't parse entities: {problem}")
        if self.rate_limit is not None:
            limit, window = self.rate_limit
            now = time.monotonic()
            sent = self._sent_times.setdefault(key, deque())
            while sent and sent[0] <= now - window:
                sent.popleft()
            if len(sent) >= limit:
                self.rate_limit_violations += 1
                retry = max(1, math.ceil(sent[0] + window - now))
                raise _ApiError(429, f"Too Many Requests: retry after {retry}", {"retry_after": retry})
            sent.append(now)
        counter = self._message_ids.setdefault(key, itertools.count(1))
        thread = params.get("message_thread_id")
        msg = SentMessage(
            message_id=next(counter), method=method, chat_id=chat, thread_id=thread, text=text,
            parse_mode=parse_mode, reply_markup=params.get("reply_markup"),
            silent=bool(params.get("disable_notification")), date=int(time.time()), time=time.monotonic(),
            params={k: v for k, v in params.items() if k not in ("document", "photo")})
        if part is not None:
            data, filename, ctype = part
            msg.filename, msg.content_type = filename, ctype
            if kind == "document":
                msg.document = data
            else:
                msg.photo = data
        self.messages.append(msg)
        return self._message_json(msg)

    async def _m_getupdates(self, params: dict[str, Any], files: dict[str, Any], call: ApiCall) -> Any:
        offset = int(params.get("offset") or 0)
        limit = max(1, min(100, int(params.get("limit") or 100)))
        timeout = max(0.0, min(50.0, float(params.get("timeout") or 0)))
        allowed = params.get("allowed_updates")
        if offset:
            # getUpdates with an offset confirms every earlier update: they are never returned again
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        deadline = time.monotonic() + timeout
        while True:
            ready = [u for u in self._updates
                     if not allowed or any(k in u for k in allowed)][:limit]
            if ready or self._closing or self._down:
                return ready
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return []
            self._updates_changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._updates_changed.wait(), remaining)

    async def _m_answercallbackquery(self, params: dict[str, Any], files: dict[str, Any], call: ApiCall) -> Any:
        cq = str(params.get("callback_query_id", ""))
        if cq not in self._open_callbacks:
            raise _ApiError(400, "Bad Request: query is too old and response timeout expired or query ID is "
                                 "invalid")
        self._open_callbacks.discard(cq)
        self.callback_answers.append({"callback_query_id": cq, "text": params.get("text"),
                                      "show_alert": bool(params.get("show_alert"))})
        return True

    async def _m_editmessagereplymarkup(self, params: dict[str, Any], files: dict[str, Any],
                                        call: ApiCall) -> Any:
        msg = self._editable(params)
        markup = params.get("reply_markup")
        if markup == msg.reply_markup:
            raise _ApiError(400, "Bad Request: message is not modified: specified new message content and "
                                 "reply markup are exactly the same as a current content and reply markup of "
                                 "the message")
        msg.reply_markup = markup
        self.edits.append({"method": "editmessagereplymarkup", "chat_id": msg.chat_id,
                           "message_id": msg.message_id, "reply_markup": markup})
        return self._message_json(msg)

    async def _m_editmessagetext(self, params: dict[str, Any], files: dict[str, Any], call: ApiCall) -> Any:
        msg = self._editable(params)
        text = params.get("text")
        if not isinstance(text, str) or not text:
            raise _ApiError(400, "Bad Request: message text is empty")
        markup = params.get("reply_markup")
        if text == msg.text and markup == msg.reply_markup:
            raise _ApiError(400, "Bad Request: message is not modified")
        msg.text, msg.reply_markup, msg.parse_mode = text, markup, params.get("parse_mode")
        self.edits.append({"method": "editmessagetext", "chat_id": msg.chat_id, "message_id": msg.message_id,
                           "text": text, "reply_markup": markup})
        return self._message_json(msg)

    def _editable(self, params: dict[str, Any]) -> SentMessage:
        chat, mid = params.get("chat_id"), params.get("message_id")
        if chat is None or mid is None:
            raise _ApiError(400, "Bad Request: chat_id and message_id are required")
        if str(chat) in self._blocked:
            raise _ApiError(403, self._blocked[str(chat)])
        msg = self._find_message(chat, int(mid))
        if msg is None:
            raise _ApiError(400, "Bad Request: message to edit not found")
        return msg

    def _find_message(self, chat_id: int | str, message_id: int) -> SentMessage | None:
        for m in reversed(self.messages):
            if str(m.chat_id) == str(chat_id) and m.message_id == message_id:
                return m
        return None

    def _message_json(self, msg: SentMessage) -> dict[str, Any]:
        out: dict[str, Any] = {"message_id": msg.message_id, "date": msg.date, "chat": _chat(msg.chat_id),
                               "from": {k: BOT_USER[k] for k in ("id", "is_bot", "first_name", "username")}}
        if msg.thread_id is not None:
            out["message_thread_id"] = msg.thread_id
            out["is_topic_message"] = True
        if msg.method == "sendmessage":
            out["text"] = _visible_text(msg.text or "") if msg.parse_mode == "HTML" else msg.text
        elif msg.text is not None:
            out["caption"] = _visible_text(msg.text) if msg.parse_mode == "HTML" else msg.text
        if msg.reply_markup:
            out["reply_markup"] = msg.reply_markup
        size = len(msg.document or msg.photo or b"")
        uid = hashlib.sha1(msg.document or msg.photo or b"").hexdigest()[:16]
        if msg.method == "senddocument":
            out["document"] = {"file_id": f"DOC{uid}", "file_unique_id": f"U{uid}",
                               "file_name": msg.filename or "document", "file_size": size,
                               **({"mime_type": msg.content_type} if msg.content_type else {})}
        elif msg.method == "sendphoto":
            out["photo"] = [{"file_id": f"PH{uid}", "file_unique_id": f"P{uid}", "width": 800, "height": 400,
                             "file_size": size}]
        return out

    # ------------------------------------------------------------------------------------- control API

    async def _control(self, request: web.Request) -> web.StreamResponse:
        action = request.match_info["action"]
        body: dict[str, Any] = {}
        if request.can_read_body:
            body = await request.json()
        try:
            result = await self._control_action(action, body)
        except (KeyError, TypeError, ValueError) as exc:
            return web.json_response({"ok": False, "error": f"{type(exc).__name__}: {exc}"}, status=400)
        return web.json_response({"ok": True, "result": result})

    async def _control_action(self, action: str, body: dict[str, Any]) -> Any:
        if action == "messages":
            return [m.to_json() for m in self.messages]
        if action == "state":
            return {"calls": [asdict(c) for c in self.calls], "callback_answers": self.callback_answers,
                    "edits": self.edits, "commands": self.commands, "pending_updates": self.pending_updates,
                    "rate_limit_violations": self.rate_limit_violations, "down": self._down}
        if action == "press":
            return self.press_button(**body)
        if action == "command":
            return self.send_command(**body)
        if action == "fail":
            self.fail(**body)
            return True
        if action == "clear":
            self.clear_faults()
            return True
        if action == "down":
            await self.go_down()
            return True
        if action == "up":
            await self.come_up()
            return True
        if action == "block":
            self.block_chat(**body)
            return True
        if action == "unblock":
            self.unblock_chat(**body)
            return True
        if action == "forget":
            self.forget_chat(**body)
            return True
        if action == "migrate":
            self.migrate_chat(**body)
            return True
        if action == "slow":
            self.slow(**body)
            return True
        if action == "rate_limit":
            self.rate_limit = (int(body["count"]), float(body["window"])) if body.get("count") else None
            return True
        raise KeyError(f"unknown control action {action!r}")


class ControlClient:
    """Synchronous client of a subprocess server's control API (for tests and the demo)."""

    def __init__(self, control_url: str) -> None:
        self.control_url = control_url.rstrip("/")

    def call(self, action: str, **body: Any) -> Any:
        data = json.dumps(body).encode() if body else None
        req = urllib.request.Request(f"{self.control_url}/_control/{action}", data=data, method="POST",
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as rsp:
            answer = json.loads(rsp.read())
        if not answer.get("ok"):
            raise RuntimeError(answer.get("error", "control call failed"))
        return answer["result"]

    def messages(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.call("messages")
        return result

    def state(self) -> dict[str, Any]:
        result: dict[str, Any] = self.call("state")
        return result


# ------------------------------------------------------------------------------------------------ helpers


class _ApiError(Exception):
    def __init__(self, status: int, description: str, parameters: dict[str, Any] | None = None) -> None:
        super().__init__(description)
        self.status, self.description, self.parameters = status, description, parameters


def _bound_port(site: web.TCPSite) -> int:
    server: Any = site._server
    assert server is not None and getattr(server, "sockets", None)
    port: int = server.sockets[0].getsockname()[1]
    return port


def _drop(request: web.Request) -> None:
    """Close the connection without an answer: the client sees a network error."""
    if request.transport is not None:
        request.transport.close()


def _chat(chat_id: int | str) -> dict[str, Any]:
    if isinstance(chat_id, str) and not chat_id.lstrip("-").isdigit():
        return {"id": -(10**12 + abs(hash(chat_id)) % 10**9), "type": "channel", "title": chat_id,
                "username": chat_id.lstrip("@")}
    cid = int(chat_id)
    if cid > 0:
        return {"id": cid, "type": "private", "first_name": f"User {cid}"}
    kind = "supergroup" if str(cid).startswith("-100") else "group"
    return {"id": cid, "type": kind, "title": f"Group {cid}"}


def _user(user_id: int, first_name: str, username: str | None) -> dict[str, Any]:
    user: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": first_name, "language_code": "id"}
    if username:
        user["username"] = username
    return user


def _coerce(name: str, value: str) -> Any:
    if name in _JSON_FIELDS:
        try:
            return json.loads(value)
        except ValueError:
            return value
    if name in _INT_FIELDS and value.lstrip("-").isdigit():
        return int(value)
    if name in _BOOL_FIELDS:
        return value.lower() in ("true", "1")
    return value


async def _parse(request: web.Request) -> tuple[dict[str, Any], dict[str, tuple[bytes, str | None, str | None]]]:
    """Parameters of a Bot API request: JSON, form-urlencoded, multipart or the query string."""
    params: dict[str, Any] = {k: _coerce(k, v) for k, v in request.query.items()}
    files: dict[str, tuple[bytes, str | None, str | None]] = {}
    ctype = request.content_type
    if ctype == "application/json":
        raw = await request.read()
        if raw:
            body = json.loads(raw)
            if isinstance(body, dict):
                params.update(body)
    elif ctype == "multipart/form-data":
        reader = await request.multipart()
        async for part in reader:
            if not isinstance(part, BodyPartReader) or part.name is None:
                continue
            data = await part.read(decode=False)
            if part.filename is not None:
                files[part.name] = (bytes(data), part.filename, part.headers.get("Content-Type"))
            else:
                params[part.name] = _coerce(part.name, bytes(data).decode("utf-8"))
    elif ctype == "application/x-www-form-urlencoded":
        form = await request.post()
        for k, v in form.items():
            if isinstance(v, str):
                params[k] = _coerce(k, v)
    else:
        await request.read()
    return params, files


_ALLOWED_TAGS = frozenset({"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code", "pre",
                           "tg-spoiler", "span", "blockquote", "tg-emoji"})


def _html_problem(text: str) -> str | None:
    """Telegram's HTML parse-mode rules, the part that matters: only the supported tags, balanced, and a
    bare ``<`` or ``&`` that is not an entity is an error. Returns the problem or None."""
    import re

    stack: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "<":
            m = re.match(r"<(/?)([a-zA-Z-]+)([^<>]*)>", text[i:])
            if not m:
                return f"unsupported start tag at byte offset {i}"
            closing, tag = m.group(1) == "/", m.group(2).lower()
            if tag not in _ALLOWED_TAGS:
                return f'unsupported start tag "{tag}" at byte offset {i}'
            if closing:
                if not stack or stack[-1] != tag:
                    return f'unmatched end tag at byte offset {i}, expected "</{stack[-1] if stack else ""}>"'
                stack.pop()
            else:
                stack.append(tag)
            i += m.end()
            continue
        if ch == "&":
            m = re.match(r"&(#\d+|#x[0-9a-fA-F]+|lt|gt|amp|quot);", text[i:])
            if not m:
                return f"character entity expected at byte offset {i}"
            i += m.end()
            continue
        i += 1
    if stack:
        return f'can\'t find end tag corresponding to start tag "{stack[-1]}"'
    return None


def _visible_text(html_text: str) -> str:
    import html
    import re

    return html.unescape(re.sub(r"<[^<>]+>", "", html_text))


# ---------------------------------------------------------------------------------------------- subprocess


def _parse_args(argv: Iterable[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m monitor.sandbox.telegram_api",
                                description="Local Telegram Bot API server on loopback (tests and demo).")
    p.add_argument("--host", default="127.0.0.1", help="loopback address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    p.add_argument("--port-file", type=Path, required=True,
                   help="write {url, port, control_url, pid} as JSON here once serving")
    p.add_argument("--token", default=None, help="accept only this token (default: any); read "
                                                 "EKTP_SANDBOX_BOT_TOKEN when unset")
    p.add_argument("--rate-limit", default=None, metavar="N/SECONDS",
                   help="per-chat limit, e.g. 20/60 (answers 429 above it)")
    return p.parse_args(list(argv) if argv is not None else None)


async def _serve(args: argparse.Namespace) -> None:
    rate = None
    if args.rate_limit:
        count, _, window = args.rate_limit.partition("/")
        rate = (int(count), float(window or 60))
    token = args.token or os.environ.get("EKTP_SANDBOX_BOT_TOKEN") or None
    server = TelegramApiServer(token, host=args.host, port=args.port, rate_limit=rate, control=True)
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    tmp = args.port_file.with_name(args.port_file.name + ".tmp")
    tmp.write_text(json.dumps({"url": server.url, "port": server.port, "control_url": server.control_url,
                               "pid": os.getpid()}))
    tmp.replace(args.port_file)  # atomic: a reader never sees half a file
    try:
        await stop.wait()
    finally:
        await server.stop()


def main(argv: Iterable[str] | None = None) -> int:
    args = _parse_args(argv)
    try:
        _loopback(args.host)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    asyncio.run(_serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
