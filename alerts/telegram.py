"""Telegram channel: :class:`TelegramNotifier`, built on python-telegram-bot 22's ``Bot``.

Transport only. Formatting lives in :mod:`alerts.messages`, retries and rate limits in :mod:`alerts.outbox`:
``send`` makes exactly one attempt and turns every failure into a :class:`monitor.errors.NotifyError` that
carries the decision (Alertmanager's Retry/Unrecoverable verdicts, healthchecks' ``permanent`` flag):

=============================================  =========================================================
python-telegram-bot                            ours (``error_kind``)
=============================================  =========================================================
``RetryAfter`` (int or timedelta)              ``RateLimited(retry_after=seconds)`` (``rate_limited``)
``ChatMigrated``                               ``ChatMigrated(new_chat_id)`` (``chat_migrated``)
``Forbidden`` (blocked, kicked)                ``ReceiverGone``, permanent (``receiver_gone``)
``BadRequest`` chat not found / deactivated /  ``ReceiverGone``, permanent (``receiver_gone``)
thread not found / not a member
``BadRequest`` can't parse entities            ``NotifyError`` permanent (``bad_markup``): resend as text
other ``BadRequest``                           ``NotifyError`` permanent (``bad_request``)
``TimedOut``                                   ``NotifyTimeout``, transient (``timeout``)
``NetworkError`` (refused, 5xx, reset)         ``NotifyError``, transient (``network``)
``InvalidToken`` (401/404)                     ``NotifyError``, transient but logged loudly
                                               (``unauthorized``): a config error must not drop alerts
=============================================  =========================================================

The bot token is part of every request URL. It never reaches an error text, a stored error or a log
line: error texts are redacted here, and a redacting filter is put on the loggers that print URLs
(``httpx`` at INFO, ``telegram.Bot`` at DEBUG) before the ``Bot`` is built. ``Bot.initialize`` is never
called: it calls getMe (which fails while the link is down) and puts the token into its InvalidToken
message.
"""

from __future__ import annotations

import asyncio
import logging
import math
import warnings
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from telegram import Bot, BotCommand, InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram import error as tg
from telegram.request import HTTPXRequest

from monitor.domain import Button, Delivery, OutgoingMessage
from monitor.errors import ChatMigrated, NotifyError, NotifyTimeout, RateLimited, ReceiverGone
from monitor.logs import RedactingFilter, redact

if TYPE_CHECKING:
    from monitor.settings import Settings

log = logging.getLogger(__name__)

CAPTION_LIMIT = 1024
_GONE_MARKERS = ("chat not found", "group chat was deactivated", "chat was deleted", "bot was kicked",
                 "bot is not a member", "message thread not found", "topic_deleted", "topic closed",
                 "have no rights to send", "not enough rights to send", "user is deactivated",
                 "peer_id_invalid")
_URL_LOGGERS = ("httpx", "httpcore", "telegram", "telegram.Bot", "telegram.ext", "telegram.request",
                "telegram.ext.Updater", "telegram.ext.Application")


def error_kind(exc: BaseException) -> str:
    """The short name of an error stored in ``delivery_attempts.error_kind``."""
    kind = getattr(exc, "kind", None)
    if isinstance(kind, str):
        return kind
    if isinstance(exc, RateLimited):
        return "rate_limited"
    if isinstance(exc, ChatMigrated):
        return "chat_migrated"
    if isinstance(exc, ReceiverGone):
        return "receiver_gone"
    if isinstance(exc, NotifyTimeout):
        return "timeout"
    return "network" if isinstance(exc, NotifyError) else "error"


def _with_kind(exc: NotifyError, kind: str) -> NotifyError:
    exc.kind = kind  # type: ignore[attr-defined]
    return exc


def _seconds(value: int | float | timedelta) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def map_error(exc: tg.TelegramError, action: str, secrets: Iterable[str] = ()) -> NotifyError:
    """Translate a python-telegram-bot error into our tree (see the module table). ``action`` says what
    was attempted, e.g. ``sendMessage to -1001``; the token (``secrets``) is removed from the text."""
    text = redact(str(exc), secrets)
    where = f"{action}: {text}"
    if isinstance(exc, tg.RetryAfter):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # PTB warns that the int form is deprecated; we take both
            seconds = _seconds(exc.retry_after)
        return RateLimited(f"{action}: rate limited, retry after {seconds:g} s", retry_after=seconds)
    if isinstance(exc, tg.ChatMigrated):
        return ChatMigrated(f"{action}: chat migrated to {exc.new_chat_id}", new_chat_id=int(exc.new_chat_id))
    if isinstance(exc, tg.Forbidden):
        return ReceiverGone(where)
    if isinstance(exc, tg.InvalidToken):
        return _with_kind(NotifyError(f"{action}: the bot token was rejected (check telegram.bot_token)"),
                          "unauthorized")
    if isinstance(exc, tg.BadRequest):
        low = text.lower()
        if any(marker in low for marker in _GONE_MARKERS):
            return ReceiverGone(where)
        if "can't parse entities" in low or "can't find end tag" in low or "unsupported start tag" in low:
            return _with_kind(NotifyError(where, permanent=True), "bad_markup")
        return _with_kind(NotifyError(where, permanent=True), "bad_request")
    if isinstance(exc, tg.TimedOut):
        return NotifyTimeout(where)
    if isinstance(exc, tg.Conflict):
        return _with_kind(NotifyError(where), "conflict")
    return NotifyError(where)


@dataclass(frozen=True, slots=True)
class Incoming:
    """One update from getUpdates, reduced to what the bot acts on.

    ``kind`` is ``command`` (a message whose text starts with ``/``), ``text`` (any other message) or
    ``callback`` (an inline button press: ``text`` is the button's data, ``message_id`` the message the
    button is under, ``callback_id`` what answerCallbackQuery needs).
    """

    update_id: int
    kind: Literal["command", "text", "callback"]
    chat_id: int | None
    user_id: int | None
    user_name: str
    text: str
    message_id: int | None = None
    callback_id: str | None = None
    thread_id: int | None = None


def _incoming(update: Update) -> Incoming | None:
    cq = update.callback_query
    if cq is not None:
        msg = cq.message if isinstance(cq.message, Message) else None
        chat = cq.message.chat.id if cq.message is not None else None
        return Incoming(update.update_id, "callback", chat, cq.from_user.id, _name(cq.from_user), cq.data or "",
                        message_id=cq.message.message_id if cq.message is not None else None,
                        callback_id=cq.id, thread_id=msg.message_thread_id if msg is not None else None)
    msg = update.message or update.edited_message
    if msg is None or msg.text is None:
        return None
    user = msg.from_user
    kind: Literal["command", "text"] = "command" if msg.text.startswith("/") else "text"
    return Incoming(update.update_id, kind, msg.chat.id, user.id if user else None, _name(user) if user else "?",
                    msg.text, message_id=msg.message_id, thread_id=msg.message_thread_id)


def _name(user: Any) -> str:
    full = " ".join(p for p in (user.first_name, user.last_name) if p)
    if user.username:
        return f"{full} (@{user.username})" if full else f"@{user.username}"
    return full or str(user.id)


def _markup(buttons: Sequence[Sequence[Button]]) -> InlineKeyboardMarkup | None:
    rows = [[InlineKeyboardButton(b.text, callback_data=b.data) for b in row] for row in buttons if row]
    return InlineKeyboardMarkup(rows) if rows else None


def install_log_redaction(secrets: Iterable[str]) -> None:
    """Put a redacting filter on every logger that prints request URLs (which hold the token).

    Logger filters only see records made on that very logger, so each URL-printing logger gets one; the
    filter is shared and only gains secrets, so calling this again is harmless.
    """
    names = set(_URL_LOGGERS) | {n for n in logging.root.manager.loggerDict
                                 if n.startswith(("httpx", "httpcore", "telegram"))}
    new = frozenset(s for s in secrets if s)
    for name in sorted(names):
        logger = logging.getLogger(name)
        existing = next((f for f in logger.filters if isinstance(f, RedactingFilter)), None)
        if existing is None:
            logger.addFilter(RedactingFilter(new))
        elif not new <= existing.secrets:
            existing.secrets = existing.secrets | new


class TelegramNotifier:
    """Sends :class:`OutgoingMessage` to Telegram and talks to the Bot API for the two-way bot.

    One attempt per call; failures raise :class:`NotifyError` subclasses (module table). ``api_base_url``
    selects the server (``https://api.telegram.org`` or the local sandbox). Call :meth:`close` at the end.
    """

    name: ClassVar[str] = "telegram"

    def __init__(self, token: str, *, api_base_url: str = "https://api.telegram.org", timeout: float = 10.0,
                 poll_timeout: float = 25.0, media_timeout: float = 60.0) -> None:
        if not token:
            raise ValueError("a Telegram bot token is required")
        self._token = token
        self._secrets = (token,)
        install_log_redaction(self._secrets)
        base = api_base_url.rstrip("/")
        self.api_base_url = base
        self.poll_timeout = poll_timeout
        self._request = HTTPXRequest(connection_pool_size=8, read_timeout=timeout, write_timeout=timeout,
                                     connect_timeout=timeout, pool_timeout=timeout, media_write_timeout=media_timeout)
        self._updates_request = HTTPXRequest(connection_pool_size=1, read_timeout=poll_timeout + timeout,
                                             write_timeout=timeout, connect_timeout=timeout, pool_timeout=timeout)
        self._bot = Bot(token, base_url=f"{base}/bot", base_file_url=f"{base}/file/bot", request=self._request,
                        get_updates_request=self._updates_request)
        self._started = False
        self._start_lock = asyncio.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> TelegramNotifier:
        tgs = settings.telegram
        if tgs.bot_token is None:
            raise ValueError("telegram.bot_token is not set")
        return cls(tgs.bot_token.get_secret_value(), api_base_url=tgs.api_base_url,
                   timeout=tgs.request_timeout.total_seconds())

    def __repr__(self) -> str:
        return f"TelegramNotifier(api_base_url={self.api_base_url!r})"

    async def _ensure_started(self) -> None:
        async with self._start_lock:
            if not self._started:
                await self._request.initialize()
                await self._updates_request.initialize()
                self._started = True

    async def close(self) -> None:
        """Release the HTTP connections (idempotent)."""
        if self._started:
            self._started = False
            await self._request.shutdown()
            await self._updates_request.shutdown()

    @asynccontextmanager
    async def _mapped(self, action: str) -> AsyncIterator[None]:
        await self._ensure_started()
        try:
            yield
        except tg.TelegramError as exc:
            mapped = map_error(exc, action, self._secrets)
            raise mapped from None
        except OSError as exc:  # a file that vanished, a socket error outside httpx
            raise NotifyError(redact(f"{action}: {exc}", self._secrets)) from None

    # ------------------------------------------------------------------------------------------ sending

    async def send(self, message: OutgoingMessage) -> Delivery:
        """Deliver ``message`` once: a text message, or a document/photo with ``text`` as its caption (a
        caption longer than Telegram's 1024 characters goes out as a text message first)."""
        markup = _markup(message.buttons)
        common: dict[str, Any] = {"chat_id": message.chat_id, "message_thread_id": message.thread_id,
                                  "disable_notification": message.silent or None}
        if message.document is None and message.photo is None:
            async with self._mapped(f"sendMessage to {message.chat_id}"):
                sent = await self._bot.send_message(text=message.text, parse_mode=message.parse_mode,
                                                    reply_markup=markup, **common)
            return Delivery(sent.message_id, sent.chat.id)
        path = Path(message.document or message.photo or "")
        method = "sendDocument" if message.document is not None else "sendPhoto"
        try:
            data = await asyncio.to_thread(path.read_bytes)
        except OSError as exc:
            raise _with_kind(NotifyError(f"{method}: cannot read {path}: {exc.strerror or exc}", permanent=True),
                             "missing_file") from None
        caption: str | None = message.text or None
        if caption is not None and len(caption) > CAPTION_LIMIT:
            async with self._mapped(f"sendMessage to {message.chat_id}"):
                await self._bot.send_message(text=caption, parse_mode=message.parse_mode, **common)
            caption = None
        filename = message.filename or path.name
        async with self._mapped(f"{method} to {message.chat_id}"):
            if message.document is not None:
                sent = await self._bot.send_document(document=data, filename=filename, caption=caption,
                                                     parse_mode=message.parse_mode if caption else None,
                                                     reply_markup=markup, **common)
            else:
                sent = await self._bot.send_photo(photo=data, filename=filename, caption=caption,
                                                  parse_mode=message.parse_mode if caption else None,
                                                  reply_markup=markup, **common)
        return Delivery(sent.message_id, sent.chat.id)

    # ---------------------------------------------------------------------------------------- two-way bot

    async def get_updates(self, offset: int | None, wait: float | None = None) -> list[Incoming]:
        """Long-poll (up to ``wait`` seconds) for button presses and messages after ``offset``
        (``update_id`` + 1 of the last one handled; earlier updates are confirmed and never returned again)."""
        wait = self.poll_timeout if wait is None else wait
        async with self._mapped("getUpdates"):
            updates = await self._bot.get_updates(offset=offset, timeout=max(0, math.ceil(wait)),
                                                  allowed_updates=["message", "callback_query"],
                                                  read_timeout=wait + 10)
        out: list[Incoming] = []
        for update in updates:
            item = _incoming(update)
            out.append(item if item is not None else
                       Incoming(update.update_id, "text", None, None, "?", ""))
        return out

    async def answer_callback(self, callback_id: str, text: str, *, alert: bool = False) -> None:
        async with self._mapped("answerCallbackQuery"):
            await self._bot.answer_callback_query(callback_id, text=text[:200], show_alert=alert)

    async def edit_buttons(self, chat_id: int | str, message_id: int,
                           buttons: Sequence[Sequence[Button]]) -> None:
        """Replace the inline keyboard under a message ("message is not modified" counts as done)."""
        try:
            async with self._mapped(f"editMessageReplyMarkup in {chat_id}"):
                await self._bot.edit_message_reply_markup(chat_id=chat_id, message_id=message_id,
                                                          reply_markup=_markup(buttons))
        except NotifyError as exc:
            if "not modified" not in str(exc):
                raise

    async def set_commands(self, commands: Sequence[tuple[str, str]], *, language: str | None = None) -> None:
        async with self._mapped("setMyCommands"):
            await self._bot.set_my_commands([BotCommand(c, d) for c, d in commands], language_code=language)

    async def delete_webhook(self) -> None:
        """getUpdates fails while a webhook is set; long polling needs none (no public endpoint)."""
        async with self._mapped("deleteWebhook"):
            await self._bot.delete_webhook(drop_pending_updates=False)
