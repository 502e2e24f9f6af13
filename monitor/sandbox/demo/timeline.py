"""The demo's timeline on the terminal: what the simulator did, what the monitor recorded, what the chats got.

Rich (colours, bold, a progress spinner while waiting) when stdout is a terminal, plain text otherwise or with
``--plain`` (no escape codes at all, so a log file or a CI transcript stays readable). Telegram messages are
shown as the chat shows them: the HTML rendered (bold, line breaks, entities), the inline buttons under the
text, a document as its file name and size.
"""

from __future__ import annotations

import html
import re
import shutil
import sys
import time
from collections.abc import Sequence
from datetime import datetime
from typing import TextIO

from monitor.clock import to_local, zone_label

__all__ = ["Timeline", "render_html"]

_TAG = re.compile(r"<(/?)([a-zA-Z-]+)([^<>]*)>")
_HREF = re.compile(r"""href\s*=\s*["']([^"']*)["']""")

# ANSI styles (rich mode only)
BOLD, DIM, RESET = "\x1b[1m", "\x1b[2m", "\x1b[0m"
ITALIC, UNDERLINE = "\x1b[3m", "\x1b[4m"
COLOURS = {"sim": "\x1b[35m", "monitor": "\x1b[36m", "telegram": "\x1b[34m", "ok": "\x1b[32m", "fail": "\x1b[31m",
           "note": "\x1b[33m", "chapter": "\x1b[1;37m"}
SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"


def render_html(text: str, *, rich: bool) -> str:
    """Telegram HTML -> terminal text: ``<b>`` bold (rich) or plain, links as ``text (url)``, entities decoded."""
    out: list[str] = []
    pos = 0
    href_stack: list[str | None] = []
    for m in _TAG.finditer(text):
        out.append(html.unescape(text[pos:m.start()]))
        pos = m.end()
        closing, tag = m.group(1) == "/", m.group(2).lower()
        if tag == "a":
            if closing:
                url = href_stack.pop() if href_stack else None
                if url:
                    out.append(f" ({url})")
            else:
                h = _HREF.search(m.group(3))
                href_stack.append(html.unescape(h.group(1)) if h else None)
            continue
        if not rich:
            continue
        if closing:
            out.append(RESET)
        elif tag in ("b", "strong"):
            out.append(BOLD)
        elif tag in ("i", "em"):
            out.append(ITALIC)
        elif tag in ("u", "ins"):
            out.append(UNDERLINE)
        elif tag in ("code", "pre"):
            out.append(DIM)
    out.append(html.unescape(text[pos:]))
    return "".join(out)


class Timeline:
    """Prints the demo as it happens (see the module docstring). Times are the site's local time."""

    def __init__(self, zone: str, *, stream: TextIO | None = None, plain: bool = False) -> None:
        self.stream = stream or sys.stdout
        self.zone = zone
        self.label = zone_label(zone)
        self.rich = not plain and self.stream.isatty()
        self.t0 = time.monotonic()
        self._status = ""
        self._spin = 0
        self.width = max(72, min(110, shutil.get_terminal_size((100, 20)).columns))

    # ---------------------------------------------------------------------------------------- pieces

    def elapsed(self) -> str:
        s = int(time.monotonic() - self.t0)
        return f"+{s // 60}:{s % 60:02d}"

    def _c(self, style: str, text: str) -> str:
        return f"{COLOURS.get(style, '')}{text}{RESET}" if self.rich else text

    def _b(self, text: str) -> str:
        return f"{BOLD}{text}{RESET}" if self.rich else text

    def _write(self, text: str) -> None:
        self.clear_status()
        self.stream.write(text + "\n")
        self.stream.flush()

    def clock(self, when: datetime | None = None) -> str:
        return to_local(when or datetime.now().astimezone(), self.zone).strftime("%H:%M:%S")

    # ---------------------------------------------------------------------------------------- lines

    def banner(self, lines: Sequence[str]) -> None:
        rule = "═" * min(self.width, 96)
        self._write(self._c("chapter", rule))
        for line in lines:
            self._write(self._b(line) if line is lines[0] else line)
        self._write(self._c("chapter", rule))

    def chapter(self, number: str, title: str, story: str = "") -> None:
        head = f"── {number} · {title} "
        self._write("")
        self._write(self._c("chapter", head + "─" * max(4, min(self.width, 96) - len(head) - 7) + f" {self.elapsed()}"))
        if story:
            self._write(self._c("note", f"   {story}") if self.rich else f"   {story}")

    def line(self, who: str, text: str, when: datetime | None = None, *, strong: bool = False) -> None:
        tag = {"sim": "simulator", "monitor": "monitor", "telegram": "telegram", "ok": "ok", "fail": "MISSING",
               "note": "note"}.get(who, who)
        prefix = f" {self.clock(when)}  {tag:<9} "
        indent = " " * len(prefix)
        body = text.replace("\n", "\n" + indent)
        if who == "fail":
            body = self._c("fail", body)
        elif strong:
            body = self._b(body)
        self._write(self._c(who, prefix) + body)

    def sim(self, text: str) -> None:
        self.line("sim", text)

    def monitor(self, text: str, when: datetime | None = None) -> None:
        """A line about the record; the ones that open or close something stand out (bold on a terminal)."""
        self.line("monitor", text, when, strong=text.startswith(("OUTAGE", "INCIDENT", "MONITOR GAP")))

    def note(self, text: str) -> None:
        self.line("note", text)

    def telegram(self, chat: str, text_html: str, buttons: list[list[dict[str, object]]], *, message_id: int,
                 edited: bool = False, document: str | None = None, when: datetime | None = None) -> None:
        what = "edited message" if edited else "message"
        self.line("telegram", f"→ {chat}: {what} #{message_id}", when)
        pad = " " * 12
        bar = self._c("telegram", "│")
        width = min(self.width, 96) - 14
        self._write(pad + self._c("telegram", "┌" + "─" * width))
        for row in render_html(text_html, rich=self.rich).split("\n"):
            self._write(f"{pad}{bar} {row}")
        if document:
            self._write(f"{pad}{bar} 📎 {self._b(document)}")
        for brow in buttons:
            labels = "  ".join(f"[ {b.get('text', '?')} ]" for b in brow)
            self._write(f"{pad}{bar} {self._b(labels)}")
        self._write(pad + self._c("telegram", "└" + "─" * width))

    def result(self, ok: bool, text: str) -> None:
        mark = "✔" if ok else "✘"
        self._write(self._c("ok" if ok else "fail", f"   {mark} {text}"))

    def plain_line(self, text: str = "") -> None:
        self._write(text)

    # ---------------------------------------------------------------------------------------- progress

    def status(self, text: str) -> None:
        """A one-line progress indicator while waiting (only on a terminal; replaced by the next line)."""
        if not self.rich:
            return
        self._spin = (self._spin + 1) % len(SPINNER)
        line = f" {SPINNER[self._spin]} {self.elapsed()}  {text}"[: self.width - 1]
        self.stream.write("\r\x1b[2K" + DIM + line + RESET)
        self.stream.flush()
        self._status = line

    def clear_status(self) -> None:
        if self._status and self.rich:
            self.stream.write("\r\x1b[2K")
            self.stream.flush()
        self._status = ""
