"""A real wall-clock step for one process tree: an ``LD_PRELOAD`` shim on ``CLOCK_REALTIME``, built here.

NTP steps only the wall clock; the monotonic and boot-time clocks go on. To test the daemon against exactly
that, :func:`build_shim` compiles (with the machine's ``gcc``) a tiny shared library that wraps
``clock_gettime``, ``gettimeofday`` and ``time``: for ``CLOCK_REALTIME`` (and ``_COARSE``) it adds an offset
read from a file mapped into memory (``WALL_OFFSET_FILE``, 8 bytes, signed nanoseconds), and leaves every
other clock untouched. :class:`WallOffset` writes that file; a step takes effect at once in every process
started with :meth:`WallOffset.env` — Python's ``time.time()`` and ``datetime.now()``, SQLite and pysnmp
alike, without touching the machine's real clock.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
from pathlib import Path

__all__ = ["SHIM_SOURCE", "WallOffset", "build_shim"]

SHIM_SOURCE = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static volatile int64_t *offset_ns;
static int (*real_clock_gettime)(clockid_t, struct timespec *);

static void shim_init(void) {
    if (!real_clock_gettime)
        real_clock_gettime = (int (*)(clockid_t, struct timespec *))dlsym(RTLD_NEXT, "clock_gettime");
    if (!offset_ns) {
        const char *path = getenv("WALL_OFFSET_FILE");
        if (path) {
            int fd = open(path, O_RDONLY);
            if (fd >= 0) {
                void *p = mmap(0, 8, PROT_READ, MAP_SHARED, fd, 0);
                close(fd);
                if (p != MAP_FAILED) offset_ns = (volatile int64_t *)p;
            }
        }
    }
}

static void shift(struct timespec *ts) {
    int64_t off = offset_ns ? *offset_ns : 0;
    int64_t ns = (int64_t)ts->tv_sec * 1000000000LL + ts->tv_nsec + off;
    int64_t sec = ns / 1000000000LL, rem = ns % 1000000000LL;
    if (rem < 0) { rem += 1000000000LL; sec -= 1; }
    ts->tv_sec = (time_t)sec;
    ts->tv_nsec = (long)rem;
}

int clock_gettime(clockid_t id, struct timespec *ts) {
    shim_init();
    int r = real_clock_gettime(id, ts);
    if (r == 0 && (id == CLOCK_REALTIME || id == CLOCK_REALTIME_COARSE)) shift(ts);
    return r;
}

int gettimeofday(struct timeval *tv, void *tz) {
    struct timespec ts;
    (void)tz;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (tv) { tv->tv_sec = ts.tv_sec; tv->tv_usec = ts.tv_nsec / 1000; }
    return 0;
}

time_t time(time_t *t) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (t) *t = ts.tv_sec;
    return ts.tv_sec;
}
"""


def build_shim(workdir: Path) -> Path:
    """Compile the shim into ``workdir``; raises RuntimeError when no C compiler is installed."""
    cc = shutil.which("gcc") or shutil.which("cc")
    if cc is None:
        raise RuntimeError("no C compiler (install gcc: scripts/setup does)")
    src = workdir / "wallclock_shim.c"
    out = workdir / "wallclock_shim.so"
    src.write_text(SHIM_SOURCE, encoding="utf-8")
    subprocess.run([cc, "-shared", "-fPIC", "-O2", "-o", str(out), str(src), "-ldl"], check=True,
                   capture_output=True, timeout=120)
    return out


class WallOffset:
    """The offset file of one test: :meth:`set` steps the wall clock of every process started with
    :meth:`env` (at once, also for running ones)."""

    def __init__(self, shim: Path, path: Path) -> None:
        self.shim = shim
        self.path = path
        self.seconds = 0.0
        path.write_bytes(struct.pack("<q", 0))

    def env(self) -> dict[str, str]:
        preload = " ".join(p for p in (str(self.shim), os.environ.get("LD_PRELOAD", "")) if p)
        return {"LD_PRELOAD": preload, "WALL_OFFSET_FILE": str(self.path)}

    def set(self, seconds: float) -> None:
        self.seconds = seconds
        fd = os.open(self.path, os.O_WRONLY)
        try:
            os.pwrite(fd, struct.pack("<q", int(seconds * 1e9)), 0)
        finally:
            os.close(fd)

    def step(self, seconds: float) -> None:
        self.set(self.seconds + seconds)
