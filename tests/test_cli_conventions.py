"""The conventions every command keeps (issue 12, Deliver 5), with the installed ``ektp-monitor`` as a
subprocess: ``check`` exits as a Nagios plugin does, usage errors exit 2 in every command, a closed stdout ends
quietly, read-only commands never create a database, the JSON Schema validates its own defaults and both
example configs (checked with the independent ``jsonschema``), and the demo writes its config owner-only.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from monitor.commands.check import EXIT_DEGRADED, EXIT_DOWN, EXIT_OK, EXIT_UNKNOWN, exit_code
from monitor.commands.config import json_schema
from monitor.domain import CheckResult, ReasonCode, Status

from .conftest import ROOT
from .fakes import T0

EXE = shutil.which("ektp-monitor") or str(Path(sys.executable).with_name("ektp-monitor"))


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([EXE, *args], capture_output=True, text=True, timeout=120, check=False, cwd=cwd)


@pytest.fixture
def listener() -> Iterator[int]:
    """A TCP port on loopback that accepts connections."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(16)
        yield s.getsockname()[1]


@pytest.fixture
def closed_port() -> int:
    """A loopback port nobody listens on (connection refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def office(tmp: Path, checks: list[str], *, db: str = "record.db") -> Path:
    devices = "\n".join(f"      - {{id: d{i}, name: Perangkat {i}, kind: recording_server, address: 127.0.0.1, "
                        f"checks: [{c}]}}" for i, c in enumerate(checks))
    path = tmp / "office.yaml"
    path.write_text(textwrap.dedent(f"""\
        database: {{url: "sqlite:///{tmp / db}"}}
        telegram: {{enabled: false}}
        defaults: {{timeout: 1s, retries: 0}}
        sites:
          - id: kantor
            name: Kantor Uji
            devices:
        """) + devices + "\n", encoding="utf-8")
    return path


# -------------------------------------------------------------------------------------------------- check


def test_check_exits_0_when_all_is_up(tmp_path: Path, listener: int) -> None:
    result = run("check", "-c", str(office(tmp_path, [f"{{type: tcp, port: {listener}}}"])))
    assert result.returncode == EXIT_OK == 0, result.stdout + result.stderr


def test_check_exits_1_when_something_is_degraded(tmp_path: Path, listener: int) -> None:
    cfg = office(tmp_path, [f"{{type: tcp, port: {listener}}}",
                            f"{{type: tcp, port: {listener}, degraded_connect_ms: 0.0001}}"])
    result = run("check", "-c", str(cfg))
    assert result.returncode == EXIT_DEGRADED == 1, result.stdout + result.stderr
    assert "degraded" in result.stdout


def test_check_exits_2_when_every_check_is_down(tmp_path: Path, closed_port: int) -> None:
    cfg = office(tmp_path, [f"{{type: tcp, port: {closed_port}}}", f"{{type: tcp, port: {closed_port}}}"])
    result = run("check", "-c", str(cfg), "--json")
    assert result.returncode == EXIT_DOWN == 2, result.stdout + result.stderr
    assert {json.loads(line)["status"] for line in result.stdout.splitlines()} == {"down"}


def test_check_exits_3_when_it_could_not_run_or_decide() -> None:
    def r(status: Status, code: ReasonCode | None = None) -> CheckResult:
        return CheckResult("c", "snmp", status, T0, reason=None if status is Status.UP else "x", reason_code=code)

    assert exit_code([r(Status.UP)], ran_all=False) == EXIT_UNKNOWN == 3                 # our side failed
    assert exit_code([r(Status.UP), r(Status.UNKNOWN, ReasonCode.AUTH_FAILED)], True) == 3
    assert exit_code([r(Status.UNKNOWN, ReasonCode.GARBAGE), r(Status.DOWN)], True) == 2   # down outranks it
    assert exit_code([r(Status.DEGRADED), r(Status.UNREACHABLE)], True) == 2
    assert exit_code([r(Status.DEGRADED), r(Status.UP)], True) == 1
    assert exit_code([], True) == 0


# ------------------------------------------------------------------------------------------- usage errors


@pytest.mark.parametrize("argv", [
    ["check", "--device", "nope"],
    ["outages", "--since", "kemarin"],
    ["outages", "--site", "nowhere"],
    ["report", "--week", "47"],
    ["report", "--from", "2026-11-31"],
    ["report", "--format", "docx"],
    ["report", "--site", "nowhere"],
    ["report", "--incident", "1", "--week", "2026-W47"],
    ["report", "--incident", "1", "--format", "csv"],
    ["report", "--no-such-option"],
    ["outages", "--json", "extra"],
])
def test_usage_errors_exit_2_in_every_command(tmp_path: Path, listener: int, argv: list[str]) -> None:
    cfg = office(tmp_path, [f"{{type: tcp, port: {listener}}}"])
    result = run(argv[0], "-c", str(cfg), *argv[1:])
    assert result.returncode == 2, (argv, result.stdout, result.stderr)
    assert result.stderr.strip() and "Traceback" not in result.stderr
    assert not (tmp_path / "record.db").exists()              # nothing was done


# ------------------------------------------------------------------------------------------ closed stdout


def _closed_early(argv: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess[bytes]:
    """``ektp-monitor … | head -c 10``: the reader closes the pipe after a few bytes."""
    proc = subprocess.Popen([EXE, *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=cwd)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.read(10)
    proc.stdout.close()
    err = proc.stderr.read()
    proc.wait(timeout=120)
    return subprocess.CompletedProcess(argv, proc.returncode, b"", err)


def test_a_closed_stdout_ends_quietly(tmp_path: Path, listener: int) -> None:
    result = _closed_early(["config", "schema"])
    assert b"Traceback" not in result.stderr and b"BrokenPipe" not in result.stderr, result.stderr.decode()
    assert result.returncode in (0, 141)

    cfg = office(tmp_path, [f"{{type: tcp, port: {listener}}}"])
    assert run("db", "upgrade", "-c", str(cfg)).returncode == 0
    from monitor.app import load_config, open_database
    from monitor.storage import Database
    from tests.reports.scenario import EngineWriter

    settings = load_config(cfg)
    db = Database(open_database(settings))
    try:
        def fill(s: Any) -> None:
            w = EngineWriter(s, settings, T0)
            for i in range(3000):   # far more than a pipe buffer holds
                start = T0 - (i + 1) * (T0 - T0.replace(hour=0))
                w.outage("kantor", "d0", start, start + (T0 - T0.replace(hour=0)) / 2)
        db.call(fill)
    finally:
        db.close()
    result = _closed_early(["outages", "-c", str(cfg), "--json"])
    assert b"Traceback" not in result.stderr and b"BrokenPipe" not in result.stderr, result.stderr.decode()
    assert result.returncode == 141


# ----------------------------------------------------------------------------------- no database created


@pytest.mark.parametrize("argv", [["outages"], ["outages", "--json"], ["report", "--week", "2026-W47"],
                                  ["report", "--incident", "3"], ["db", "current"]])
def test_read_only_commands_never_create_a_database(tmp_path: Path, listener: int, argv: list[str]) -> None:
    cfg = office(tmp_path, [f"{{type: tcp, port: {listener}}}"])
    result = run(argv[0], *argv[1:], "-c", str(cfg))
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert f"there is no database at {tmp_path / 'record.db'}; run: ektp-monitor db upgrade -c {cfg}" \
        in result.stderr
    assert not (tmp_path / "record.db").exists()
    assert run("db", "upgrade", "-c", str(cfg)).returncode == 0 and (tmp_path / "record.db").exists()
    assert run("outages", "-c", str(cfg)).returncode == 0


# -------------------------------------------------------------------------------------------- the schema


def _defaults(node: Any, path: str = "") -> Iterator[tuple[str, dict[str, Any], Any]]:
    if isinstance(node, dict):
        if "default" in node:
            yield path, {k: v for k, v in node.items() if k != "default"}, node["default"]
        for key, value in node.items():
            yield from _defaults(value, f"{path}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _defaults(value, f"{path}/{i}")


def test_the_json_schema_validates_its_own_defaults_and_both_example_configs() -> None:
    schema = json.loads(run("config", "schema").stdout)
    assert schema == json.loads(json.dumps(json_schema()))
    validator = jsonschema.Draft202012Validator
    validator.check_schema(schema)
    defaults = list(_defaults(schema))
    assert len(defaults) > 50
    for path, sub, default in defaults:
        errors = list(validator({**sub, "$defs": schema.get("$defs", {})}).iter_errors(default))
        assert not errors, f"{path}: default {default!r}: {errors[0].message}"
    assert ("/$defs/AlertSettings/properties/group_wait", "30s") in [(p, d) for p, _, d in defaults]
    for name in ("demo.yaml", "office.example.yaml"):
        document = yaml.safe_load((ROOT / "config" / name).read_text(encoding="utf-8"))
        errors = sorted(validator(schema).iter_errors(document), key=lambda e: list(e.path))
        assert not errors, f"{name}: {[(list(e.path), e.message[:120]) for e in errors[:5]]}"
    # and it still refuses what the loader refuses
    wrong = {"alerts": {"group_wait": "soon"}, "sites": [{"id": "Kantor!", "name": "x", "devices": []}]}
    assert len(list(validator(schema).iter_errors(wrong))) >= 2


# ------------------------------------------------------------------------------------------------ the demo


def test_the_demo_writes_its_config_owner_only(tmp_path: Path) -> None:
    from monitor.app import config_warnings
    from monitor.sandbox.demo.runner import default_config, owner_only_copy
    from monitor.settings import load_settings

    copy = owner_only_copy(default_config(), tmp_path / "config.yaml")
    assert stat.S_IMODE(copy.stat().st_mode) == 0o600
    assert copy.read_bytes() == default_config().read_bytes()
    settings = load_settings(copy, environ={**os.environ, "EKTP_DEMO_DIR": str(tmp_path)})
    assert config_warnings(settings) == []
    # the shipped file alone would be warned about (it is world-readable and holds the simulators' secrets)
    source = load_settings(default_config(), environ={**os.environ, "EKTP_DEMO_DIR": str(tmp_path)})
    if stat.S_IMODE(default_config().stat().st_mode) & stat.S_IROTH:
        assert any("readable by every user" in w for w in config_warnings(source))


def test_the_outage_table_cuts_notes_at_a_word_with_an_ellipsis() -> None:
    from monitor.commands.outages import clip_words

    note = "not monitored 12s; tcp:40153: port 40153: connection refused (service not running) (answering: snmp)"
    cut = clip_words(note, 60)
    assert len(cut) <= 60 and cut.endswith("…") and note.startswith(cut[:-1])
    assert cut[:-1].split()[-1] in note.split()              # no word cut in half
    assert clip_words("short note", 60) == "short note"
