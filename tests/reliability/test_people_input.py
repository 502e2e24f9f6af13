"""Promise 4 — bad input from people: a mangled config file is always a clear error with its location
(file and line, and the key when there is one), never a traceback; Telegram commands with malformed
arguments always get a helpful reply.
"""

from __future__ import annotations

import io
import os
import random
import shutil
import subprocess
from collections import Counter
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alerts.bot import TelegramBot
from monitor import app, cli
from monitor.errors import ConfigError
from monitor.reports.runner import ReportService
from monitor.sandbox.telegram_api import TelegramApiServer
from tests.alerts.conftest import ALLOWED, IT, make_env

from .conftest import EXE, ROOT, report, size

EXAMPLES = [ROOT / "config" / "office.example.yaml", ROOT / "config" / "demo.yaml"]
# demo.yaml's variables have defaults; office.example.yaml's come from its env_file
ENV = {"EKTP_DEMO_DIR": "/nonexistent-demo-dir"}

# values that have broken YAML loaders and validators elsewhere
NASTY = ["", "~", "null", "[", "]", "{", "}", "-", "- -", ":", "::", "? x", "&a x", "*a", "*undefined",
         "!!python/object:os.system", "!!binary Zm9v", "yes", "no", "on", "0x1F", "0o17", "1e309", "-1", "-0", "nan",
         ".inf", "99999999999999999999999",
         "'", '"', "'unterminated", '"\\x"', "${UNSET_VARIABLE}", "${A:-${B}}", "$${X}", "${", "\t", "a\tb", "\u202e",
         "é", "日本", "\x00", "|", ">", "%TAG ! tag:x", "---", "...", "[1, [2, [3]]]", "{a: {b: {c: d}}}",
         "x" * 5000, "2026-13-45", "25:61", "07:30:99", "1s2m", "-5s", "0s", "1000000d", "P1D", "'*/5 * * * *'",
         "'60 25 * * *'", "'@reboot'", "127.0.0.1:99999", "[::1]:0", "256.1.1.1", "sqlite:///", "sqlite:////dev/null/x.db",
         "postgresql+psycopg://", "http://", "ftp://x", "javascript:alert(1)", "<script>", "v3", "4", "sha1024"]


def _mutate(rng: random.Random, text: str) -> str:
    lines = text.splitlines(keepends=True)
    for _ in range(rng.randint(1, 3)):
        if not lines:
            lines = ["\n"]
        i = rng.randrange(len(lines))
        op = rng.randrange(9)
        if op == 0:                                             # drop a line
            del lines[i]
        elif op == 1:                                           # duplicate a line (duplicate keys)
            lines.insert(i, lines[i])
        elif op == 2:                                           # re-indent a line
            lines[i] = " " * rng.choice([0, 1, 3, 5, 9]) + lines[i].lstrip(" ")
        elif op == 3 and ":" in lines[i]:                       # replace a value
            key, _, _rest = lines[i].partition(":")
            lines[i] = f"{key}: {rng.choice(NASTY)}\n"
        elif op == 4:                                           # replace a key
            indent = len(lines[i]) - len(lines[i].lstrip(" "))
            _key, sep, rest = lines[i].strip().partition(":")
            key = rng.choice(["", "sites", "id", "checks", "x-y", "Interval", "bot_token_file", "community_file",
                              "env_file", "0", "- id"])
            lines[i] = " " * indent + key + (sep or ":") + rest + "\n"
        elif op == 5:                                           # flip characters
            chars = list(lines[i])
            for _ in range(rng.randint(1, 4)):
                if chars:
                    chars[rng.randrange(len(chars))] = rng.choice(list("{}[]:,-&*!|>'\"#%@`\t\\ 0a"))
            lines[i] = "".join(chars)
        elif op == 6:                                           # truncate the file here
            lines = [*lines[:i], lines[i][: rng.randrange(len(lines[i]) + 1)]]
        elif op == 7:                                           # insert a random line
            lines.insert(i, rng.choice(["foo: bar\n", "- x\n", "  - {id: a}\n", "sites: []\n", "defaults: 5\n",
                                        "telegram: {bot_token_file: /nonexistent}\n", "env_file: /nonexistent\n",
                                        "a: &x [*x]\n", "? [a, b]\n: c\n", "<<: *a\n"]))
        else:                                                   # swap two lines
            j = rng.randrange(len(lines))
            lines[i], lines[j] = lines[j], lines[i]
    return "".join(lines)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("fuzzcfg")
    shutil.copy(ROOT / "config" / "office.example.env", d / "office.example.env")
    return d


_SEEN: Counter[str] = Counter()


def _check_loader(path: Path) -> str:
    """Load ``path``; a failure must be a ConfigError whose every issue names the file and a line."""
    try:
        app.load_config(path, environ=ENV)
    except ConfigError as exc:
        assert exc.issues, "a ConfigError without issues"
        for issue in exc.issues:
            assert issue.file == str(path), (issue, path.read_text(errors="replace")[:2000])
            assert issue.line is not None and issue.line >= 1, (str(issue), path.read_text(errors="replace")[:3000])
            assert issue.message.strip()
        return "config_error"
    return "valid"


@settings(max_examples=size(600, 10000), deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(st.sampled_from(EXAMPLES), st.randoms(use_true_random=False))
def test_fuzzed_configs_are_clear_errors_with_a_location(workdir: Path, example: Path, rng: random.Random) -> None:
    text = _mutate(rng, example.read_text(encoding="utf-8"))
    path = workdir / "office.example.yaml"              # beside its env_file, as the original
    data = text.encode("utf-8", "surrogatepass")
    if rng.random() < 0.05:
        data = data[: rng.randrange(len(data) + 1)] + bytes([0xFF, 0xFE, 0x80])   # not UTF-8 at all
    path.write_bytes(data)
    _SEEN[_check_loader(path)] += 1


def test_fuzzed_configs_count() -> None:
    total = sum(_SEEN.values())
    assert total >= size(600, 10000) and _SEEN["config_error"] > total // 3
    report(f"config loader fuzz: {total} mutated example configs, {_SEEN['config_error']} refused with located "
           f"errors, {_SEEN['valid']} still valid, 0 other exceptions")


def test_config_loader_edge_cases(tmp_path: Path) -> None:
    """Hand-made cases a random mutation rarely finds."""
    cases = {
        "alias bomb": "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                      "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
                      "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
                      "sites: *f\n",
        "python tag": "sites: !!python/object/apply:os.system ['true']\n",
        "deep nesting": "sites: " + "[" * 2000 + "]" * 2000 + "\n",
        "not a mapping": "- just\n- a list\n",
        "binary": "\x00\x01\x02sites: []\n",
        "tabs": "sites:\n\t- id: x\n",
        "huge key": "x" * 100000 + ": 1\n",
        "env var loop": "database: {url: '${EKTP_LOOP_A}'}\nsites: []\n",
        "secret file is a directory": "telegram: {bot_token_file: /}\nsites: []\n",
        "env_file missing": "env_file: /nonexistent/secrets.env\nsites: []\n",
        "duplicate key": "sites: []\nsites: []\n",
        "a zone folder": "sites:\n  - {id: a, name: A, timezone: Asia #Jakarta}\n",   # found by the long run
        "an endless interval": "defaults: {interval: .inf}\nsites: []\n",                # found by the long run
    }
    for name, text in cases.items():
        path = tmp_path / f"{name.replace(' ', '_')}.yaml"
        path.write_text(text, encoding="utf-8", errors="surrogateescape")
        outcome = _check_loader(path)
        assert outcome == "config_error", name


def _validate_in_process(path: Path) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = cli.main(["config", "validate", str(path)])
    return code, out.getvalue() + err.getvalue()


def test_config_validate_on_fuzzed_files_exits_2_without_a_traceback(workdir: Path) -> None:
    rng = random.Random(20261128)
    in_process, subproc = size(300, 3000), size(8, 60)
    codes: Counter[int] = Counter()
    samples: list[Path] = []
    for i in range(in_process):
        example = EXAMPLES[i % len(EXAMPLES)]
        path = workdir / f"fuzz-{i}.yaml"
        path.write_text(_mutate(rng, example.read_text(encoding="utf-8")), encoding="utf-8")
        code, output = _validate_in_process(path)   # an unexpected exception would fail this test right here
        codes[code] += 1
        assert code in (0, 2), (code, output)
        assert "Traceback" not in output
        if code == 2:
            assert f"{path}:" in output, output
            if len(samples) < subproc:
                samples.append(path)
    for path in samples:                                # the installed command, as an operator runs it
        r = subprocess.run([EXE, "config", "validate", str(path)], capture_output=True, text=True, timeout=60,
                           env={**os.environ, **ENV})
        assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
        assert "Traceback" not in r.stdout + r.stderr and f"{path}:" in r.stderr
    report(f"config validate: {in_process} fuzzed files in-process ({codes[2]} exit 2, {codes[0]} exit 0) and "
           f"{len(samples)} through the installed command: every failure exit 2 with file:line, no traceback")


# ============================================================================ Telegram commands


MALFORMED = [
    "/ack", "/ack abc", "/ack #", "/ack -5", "/ack 999999999999999999999", "/ack 424242", "/ack 1.5",
    "/mute", "/mute srv", "/mute srv forever", "/mute srv -1h", "/mute srv 0s", "/mute srv 99999d",
    "/mute nosuchdevice 1h", "/mute /* 1h", "/mute nosite/* 1h", "/mute ../../etc 1h", "/mute <b>x</b> 1h",
    "/unmute", "/unmute nosuchdevice", "/unmute <script>",
    "/laporan nosuchsite", "/report ../../../etc/passwd", "/status extra words", "/gangguan ???",
    "/nosuchcommand", "/", "/ack@other_bot 1", "/" + "x" * 300, "/mute srv 1h " + "alasan " * 500,
    "/help me", "/start",
    # Unicode digits: str.isdigit() is true for them but int() refuses some (issue 13: "/ack ²" got no reply)
    "/ack ²", "/ack ³ catatan", "/ack ١٢", "/ack 𝟙𝟚", "/mute srv ²h", "/mute srv ١h", "/ack ¹²³",
]


@pytest.fixture
async def bot_env(tmp_path: Path) -> Iterator[tuple[object, TelegramApiServer, TelegramBot]]:  # type: ignore[misc]
    async with TelegramApiServer() as api:
        env = await make_env(tmp_path, api)
        reports = ReportService(env.settings, env.db, env.clock)   # /laporan with a wrong site never renders
        bot = TelegramBot(env.settings, env.db, env.clock, env.notifier, report_now=reports.report_now)
        try:
            yield env, api, bot
        finally:
            await env.notifier.close()
            env.db.close()


async def test_malformed_commands_get_a_helpful_reply(bot_env: tuple[object, TelegramApiServer, TelegramBot]) -> None:
    _env, api, bot = bot_env
    await bot.setup()
    replies: dict[str, str] = {}
    for text in MALFORMED:
        before = len(api.messages_to(IT))
        api.send_command(chat_id=IT, user_id=ALLOWED, text=text, first_name="Budi")
        handled = await bot.poll_once(wait=0)
        assert handled == 1, text
        got = api.messages_to(IT)[before:]
        assert len(got) == 1, (text, [m.text for m in got])
        reply = got[0].text or ""
        replies[text] = reply
        assert reply.strip(), text
        assert "Traceback" not in reply and "Exception" not in reply and "Error" not in reply, (text, reply)
        assert len(reply) <= 4096
    usage_words = ("/ack", "/mute", "/unmute", "/laporan", "/help", "contoh", "Contoh", "gunakan", "Gunakan",
                   "tidak", "Tidak", "perangkat", "durasi", "dibisukan")
    unhelpful = {t: r for t, r in replies.items() if not any(w in r for w in usage_words)
                 and t not in ("/status extra words", "/gangguan ???")}
    assert not unhelpful, unhelpful
    # the replies are valid Telegram HTML (the local server refuses broken markup with 400: none was refused)
    assert not [c for c in api.calls if c.status >= 400 and c.method == "sendmessage"]
    report(f"telegram commands: {len(MALFORMED)} malformed commands, each answered once with a usage hint "
           f"or an explanation; no error leaked, no broken HTML")
