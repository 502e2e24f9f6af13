"""Reading a file the configuration points at without trusting it.

The config names files the monitor reads: the config itself, secret files (``*_file`` keys, ``env_file``)
and device profiles (``profile_dirs``). A mistake or a hostile hand can point one of them at something that
is not a small text file the user wrote: ``/dev/zero`` (reading never ends), a FIFO (opening blocks for
ever), a directory, a 50 MB file, ``/etc/shadow`` through a symlink, a file anyone on the machine may
rewrite. :func:`read_limited` refuses each of these with :class:`FileRefused` — one line that names the
file and what is wrong with it, and **never any of its content** — before reading more than ``limit`` bytes:

* the file must be a regular file (checked on the open descriptor, ``fstat``; opened non-blocking, so a
  FIFO cannot stall the open);
* at most ``limit`` bytes (the size is checked before reading, and the read stops at ``limit + 1`` bytes
  for files that do not report their size, like ``/proc`` files);
* not writable by every user unless it is the monitor's own (another user could swap a secret or a
  profile under it);
* with ``within``: the path, after following symlinks, must lie inside that folder (a profile folder may
  hold symlinks to profiles kept elsewhere in it, never to ``/etc/shadow``).

This module imports nothing of the project, so every layer may use it (``checks`` included).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

__all__ = ["FileRefused", "human_size", "read_limited", "read_text_limited"]


class FileRefused(ValueError):
    """A file the config names cannot be used; the message is one line and quotes none of its content.

    ``str()`` names the file (``secret file /x is a directory, not a regular file``); :meth:`unlocated`
    leaves the path out, for messages that are already located at the file (``file:line: ...``)."""

    def __init__(self, what: str, path: object, problem: str, *, unreadable: bool = False) -> None:
        self.what, self.path, self.problem, self.unreadable = what, str(path), problem, unreadable
        super().__init__(f"cannot read {what} {path}: {problem}" if unreadable else f"{what} {path} {problem}")

    def unlocated(self) -> str:
        return f"cannot read {self.what}: {self.problem}" if self.unreadable else f"{self.what} {self.problem}"


_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"))


def human_size(n: int) -> str:
    """``50 MB``, ``4 KB``, ``1.5 MB``, ``12 bytes`` (units of 1024, as ``ls -lh`` shows them)."""
    for unit, size in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if n >= size:
            value = n / size
            return f"{value:.1f} {unit}" if value < 100 and value != int(value) else f"{value:.0f} {unit}"
    return f"{n} bytes"


def _kind(mode: int) -> str:
    for test, name in _KINDS:
        if test(mode):
            return name
    return "not a regular file"


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.relative_to(folder)
    except ValueError:
        return False
    return True


def read_limited(path: str | os.PathLike[str], *, limit: int, what: str = "file",
                 within: str | os.PathLike[str] | None = None) -> bytes:
    """The bytes of ``path`` (see the module docstring); :class:`FileRefused` for anything else.

    ``what`` names the file in messages ("secret file", "profile"); ``limit`` is in bytes. OS errors
    (missing, permission denied) are FileRefused too, with the system's reason.
    """
    p = Path(path)
    target = p
    if within is not None:
        folder = Path(within).resolve()
        try:
            target = p.resolve(strict=True)
        except (OSError, RuntimeError) as exc:  # RuntimeError: a symlink loop on older Pythons
            raise FileRefused(what, p, str(getattr(exc, "strerror", None) or exc), unreadable=True) from None
        if not _inside(target, folder):
            raise FileRefused(what, p, f"leads outside {folder} (a symlink to {target}); only files inside the "
                                       "folder are read")
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOCTTY", 0)
    if within is not None:
        flags |= getattr(os, "O_NOFOLLOW", 0)   # the resolved path: a symlink swapped in now is refused
    try:
        fd = os.open(target, flags)
    except OSError as exc:
        raise FileRefused(what, p, str(exc.strerror or exc), unreadable=True) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise FileRefused(what, p, f"is {_kind(st.st_mode)}, not a regular file")
        if st.st_size > limit:
            raise FileRefused(what, p, f"is {human_size(st.st_size)}; at most {human_size(limit)} is read")
        if st.st_mode & stat.S_IWOTH and st.st_uid != os.geteuid():
            raise FileRefused(what, p, f"is writable by every user and belongs to another user (uid {st.st_uid}): "
                                       f"anyone could change it; run chmod o-w {p}")
        os.set_blocking(fd, True)
        chunks: list[bytes] = []
        got = 0
        while got <= limit:
            chunk = os.read(fd, min(65536, limit + 1 - got))
            if not chunk:
                break
            chunks.append(chunk)
            got += len(chunk)
        if got > limit:
            raise FileRefused(what, p, f"is larger than {human_size(limit)}; at most that is read")
        return b"".join(chunks)
    except OSError as exc:
        raise FileRefused(what, p, str(exc.strerror or exc), unreadable=True) from None
    finally:
        os.close(fd)


def read_text_limited(path: str | os.PathLike[str], *, limit: int, what: str = "file",
                      within: str | os.PathLike[str] | None = None) -> str:
    """:func:`read_limited` decoded as UTF-8; text that is not UTF-8 is refused by line, not quoted."""
    raw = read_limited(path, limit=limit, what=what, within=within)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise FileRefused(what, path, f"is not UTF-8 text (line {line}, byte {exc.start + 1})") from None
