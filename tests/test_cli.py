"""The installed ``ektp-monitor`` command, run as a subprocess."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from .conftest import MINIMAL, ROOT

EXE = shutil.which("ektp-monitor") or str(Path(sys.executable).with_name("ektp-monitor"))


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([EXE, *args], capture_output=True, text=True, timeout=120, env=env, check=False)


@pytest.mark.parametrize("command", ["demo", "run", "check", "config", "db", "outages", "report"])
def test_every_command_has_help(command: str) -> None:
    result = run(command, "--help")
    assert result.returncode == 0
    assert "usage: ektp-monitor " + command in result.stdout


@pytest.mark.parametrize("name", ["office.example.yaml", "demo.yaml"])
def test_config_validate_examples_exit_0(name: str) -> None:
    result = run("config", "validate", str(ROOT / "config" / name))
    assert result.returncode == 0, result.stderr
    assert "OK" in result.stdout


def test_config_validate_bad_file_exits_2_with_location(write_config: Callable[..., Path]) -> None:
    cfg = write_config(MINIMAL.replace("kind: router", "kind: routr"))
    result = run("config", "validate", str(cfg))
    assert result.returncode == 2
    assert f"{cfg}:7: sites[0].devices[0].kind: invalid value 'routr'" in result.stderr


def test_config_show_redacts_secrets() -> None:
    import os
    env = dict(os.environ, TELEGRAM_BOT_TOKEN="777777:TOPSECRETTOKENVALUE123456")
    result = run("config", "show", str(ROOT / "config" / "office.example.yaml"), "--json", env=env)
    assert result.returncode == 0, result.stderr
    assert "TOPSECRETTOKENVALUE" not in result.stdout and "ganti-community" not in result.stdout
    data = json.loads(result.stdout)
    assert data["telegram"]["bot_token"] == "***"
    assert data["sites"][0]["id"] == "mura"


def test_config_schema_is_json_schema() -> None:
    result = run("config", "schema")
    schema = json.loads(result.stdout)
    assert schema["title"] == "ektp-monitor configuration"
    assert "sites" in schema["properties"] and "telegram" in schema["properties"]


def test_db_upgrade_and_current(write_config: Callable[..., Path]) -> None:
    cfg = write_config(MINIMAL)
    first = run("db", "upgrade", "-c", str(cfg))
    assert first.returncode == 0 and "upgraded empty -> " in first.stdout
    again = run("db", "upgrade", "-c", str(cfg))
    assert again.returncode == 0 and "already at" in again.stdout
    current = run("db", "current", "-c", str(cfg))
    assert "up to date" in current.stdout


def test_missing_config_argument_is_a_usage_error() -> None:
    import os
    env = {k: v for k, v in os.environ.items() if k != "EKTP_MONITOR_CONFIG"}
    result = run("check", env=env)
    assert result.returncode == 2 and "-c FILE" in result.stderr
