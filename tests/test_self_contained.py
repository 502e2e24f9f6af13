"""The suite reads nothing outside the checkout: the real-device recordings it uses live in
``tests/data/librenms`` with their licence notice, unmodified (checked by their SHA-256 sums)."""

from __future__ import annotations

import hashlib
import re

from .conftest import RECORDINGS, ROOT


def test_every_recording_in_the_project_is_listed_unmodified_in_its_notice() -> None:
    notice = (RECORDINGS / "NOTICE.txt").read_text(encoding="utf-8")
    assert "GPL-3.0" in notice and "UNMODIFIED" in notice and "github.com/librenms/librenms" in notice
    listed = dict(reversed(line.split()) for line in notice.splitlines() if re.match(r"^\s+[0-9a-f]{64}\s", line))
    files = sorted(p.relative_to(RECORDINGS).as_posix() for p in RECORDINGS.rglob("*")
                   if p.is_file() and p.suffix in (".snmprec", ".json"))
    assert files and sorted(listed) == files
    for name in files:
        assert hashlib.sha256((RECORDINGS / name).read_bytes()).hexdigest() == listed[name], name


def test_no_test_reaches_outside_the_checkout() -> None:
    outside = re.compile(r"\.\./shared|ROOT\.parent\b|parents\[[3-9]\]|EKTP_SHARED_DIR|['\"]/work/")
    offenders = []
    for path in (ROOT / "tests").rglob("*.py"):
        if path.name == "test_self_contained.py":
            continue
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if outside.search(line):
                offenders.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert not offenders, "\n".join(offenders)
