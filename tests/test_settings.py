"""Config loading: examples load; every kind of mistake is reported with file:line and key path."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from monitor.app import load_config
from monitor.domain import SnmpSpec, parse_duration
from monitor.errors import ConfigError
from monitor.settings import load_settings

from .conftest import MINIMAL, ROOT

EXAMPLES = sorted(p for p in (ROOT / "config").glob("*.yaml")
                  if not p.name.startswith("hub."))  # the hub's HUB.yaml: tests/hub/test_cli.py


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_every_example_config_loads(path: Path) -> None:
    settings = load_config(path, environ={})
    assert settings.sites
    for _site, dev in settings.iter_devices():
        for chk in dev.checks:
            assert chk.interval > timedelta(0)


def test_demo_config_polls_only_loopback() -> None:
    settings = load_config(ROOT / "config" / "demo.yaml", environ={})
    for _site, dev in settings.iter_devices():
        if dev.address:
            assert dev.address.startswith("127.") or dev.address == "::1", dev.id
    assert settings.telegram.api_base_url.startswith("http://127.")


def test_office_example_secrets_come_from_env_file_and_env_wins() -> None:
    path = ROOT / "config" / "office.example.yaml"
    settings = load_settings(path, environ={"TELEGRAM_BOT_TOKEN": "123:from-env"})
    assert settings.telegram.bot_token is not None
    assert settings.telegram.bot_token.get_secret_value() == "123:from-env"
    assert "123:from-env" in settings.secrets
    rec = settings.site("mura").device("rec-srv-1")
    snmp = next(c for c in rec.checks if isinstance(c, SnmpSpec))
    assert snmp.snmp.version == "3" and snmp.snmp.community is None      # v3 drops the default community
    assert snmp.snmp.auth_protocol == "sha256" and snmp.snmp.priv_protocol == "aes128"
    ups = settings.site("mura").device("ups-1")
    ups_snmp = next(c for c in ups.checks if isinstance(c, SnmpSpec))
    assert ups_snmp.snmp.community is not None
    assert ups_snmp.snmp.community.get_secret_value() == "ganti-community-ups"


def _errors(path: Path, **env: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(path, environ=env)
    return [str(i) for i in info.value.issues]


# (description, yaml, expected line, expected key path, expected words in the message)
BAD_CONFIGS = [
    ("misspelled key", """
        telegram: {enabled: false}
        sites:
          - id: a
            name: A
            devices:
              - id: r
                name: R
                kind: router
                adress: 127.0.0.1
        """, 9, "sites[0].devices[0].adress", "unknown key (did you mean 'address'?)"),
    ("bad duration", """
        telegram: {enabled: false}
        defaults:
          interval: 60x
        sites: [{id: a, name: A}]
        """, 3, "defaults.interval", "invalid duration '60x'"),
    ("unknown profile", """
        telegram: {enabled: false}
        defaults: {snmp: {community: public}}
        sites:
          - id: a
            name: A
            devices:
              - id: u
                name: U
                kind: ups
                address: 127.0.0.1
                checks:
                  - type: snmp
                    profile: ups-rfc
        """, 13, "sites[0].devices[0].checks[0].profile", "unknown profile 'ups-rfc'"),
    ("depends_on names no device", """
        telegram: {enabled: false}
        sites:
          - id: a
            name: A
            devices:
              - {id: r, name: R, kind: router, address: 127.0.0.1}
              - id: s
                name: S
                kind: switch
                address: 127.0.0.2
                depends_on: [routr]
        """, 11, "sites[0].devices[1].depends_on[0]", "no device 'routr' in this site"),
    ("dependency cycle", """
        telegram: {enabled: false}
        sites:
          - id: a
            name: A
            devices:
              - {id: r, name: R, kind: router, address: 127.0.0.1, depends_on: [s]}
              - id: s
                name: S
                kind: switch
                address: 127.0.0.2
                depends_on: [r]
        """, 11, "sites[0].devices[1].depends_on", "dependency cycle: r -> s -> r"),
    ("missing environment variable", """
        telegram:
          bot_token: "${EKTP_TEST_SURELY_UNSET}"
        sites: [{id: a, name: A}]
        """, 2, "telegram.bot_token", "environment variable EKTP_TEST_SURELY_UNSET is not set"),
    ("unknown check type", """
        telegram: {enabled: false}
        sites:
          - id: a
            name: A
            devices:
              - id: r
                name: R
                kind: router
                address: 127.0.0.1
                checks: [{type: pong}]
        """, 10, "sites[0].devices[0].checks[0]", "unknown check type 'pong'"),
    ("bad time zone", """
        telegram: {enabled: false}
        sites: [{id: a, name: A, timezone: Asia/Jakrta}]
        """, 2, "sites[0].timezone", "unknown time zone 'Asia/Jakrta'"),
    ("powered_by a non-UPS", """
        telegram: {enabled: false}
        sites:
          - id: a
            name: A
            devices:
              - {id: r, name: R, kind: router, address: 127.0.0.1}
              - {id: s, name: S, kind: recording_server, address: 127.0.0.2, powered_by: r}
        """, 7, "sites[0].devices[1].powered_by", "'r' is not a ups"),
    ("duplicate key", """
        telegram: {enabled: false}
        sites: [{id: a, name: A}]
        sites: [{id: b, name: B}]
        """, 3, "sites", "duplicate key (first written on line 2)"),
    ("v3 without user", """
        telegram: {enabled: false}
        sites:
          - id: a
            name: A
            devices:
              - id: u
                name: U
                kind: ups
                address: 127.0.0.1
                checks: [{type: snmp, profile: ups-rfc1628, snmp: {version: 3}}]
        """, 10, "sites[0].devices[0].checks[0].snmp", "SNMP v3 needs a user"),
    ("escalation audience without a chat", """
        telegram: {bot_token: "1:x", audiences: {it_staff: {chat_id: 1}}}
        sites: [{id: a, name: A}]
        """, 2, "sites[0].audiences", "no chat for audience 'head_of_office'"),
]


@pytest.mark.parametrize(("body", "line", "path", "words"),
                         [c[1:] for c in BAD_CONFIGS], ids=[c[0] for c in BAD_CONFIGS])
def test_bad_config_names_file_line_and_key(write_config: Callable[..., Path], body: str, line: int,
                                            path: str, words: str) -> None:
    cfg = write_config(body)
    errors = _errors(cfg)
    expected = f"{cfg}:{line}: {path}: "
    assert any(e.startswith(expected) and words in e for e in errors), errors


def test_several_errors_are_reported_at_once(write_config: Callable[..., Path]) -> None:
    cfg = write_config("""
        telegram: {enabled: false}
        sites:
          - id: a
            name: A
            devices:
              - {id: r, name: R, kind: routr, address: 127.0.0.1}
              - {id: s, name: S, kind: switch, address: 127.0.0.2, interval: 5q, checks: [{type: ping, cuont: 2}]}
        """)
    errors = _errors(cfg)
    joined = "\n".join(errors)
    assert "sites[0].devices[0].kind: invalid value 'routr'" in joined
    assert "sites[0].devices[1].checks[0].interval: invalid duration '5q'" in joined
    assert "sites[0].devices[1].checks[0].cuont: unknown key (did you mean 'count'?)" in joined


def test_yaml_syntax_error_has_a_line(write_config: Callable[..., Path]) -> None:
    cfg = write_config("sites:\n  - id: a\n    name: [unclosed\n")
    errors = _errors(cfg)
    assert errors[0].startswith(f"{cfg}:") and "YAML syntax error" in errors[0]


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    errors = _errors(tmp_path / "nope.yaml")
    assert "cannot read config file" in errors[0]


@pytest.mark.parametrize(("text", "seconds"), [
    ("30s", 30), ("5m", 300), ("2h", 7200), ("3d", 259200), ("1h30m", 5400), ("250ms", 0.25), (45, 45),
])
def test_durations(text: str | int, seconds: float) -> None:
    assert parse_duration(text).total_seconds() == seconds


@pytest.mark.parametrize("text", ["", "5", "-3s", "5 minutes", "1y", True])
def test_bad_durations(text: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


def test_defaults_flow_into_devices_and_checks(write_config: Callable[..., Path]) -> None:
    cfg = write_config("""
        telegram: {enabled: false}
        defaults: {interval: 30s, timeout: 1s, retries: 2, confirm_down: 4, snmp: {community: "x$$y"}}
        sites:
          - id: a
            name: A
            devices:
              - {id: u, name: U, kind: ups, address: 127.0.0.1, interval: 10s,
                 checks: [{type: snmp, profile: ups-rfc1628}, {type: ping, timeout: 3s}]}
        """)
    s = load_config(cfg, environ={})
    dev = s.site("a").device("u")
    snmp, ping = dev.checks
    assert isinstance(snmp, SnmpSpec)
    assert snmp.interval == timedelta(seconds=10) and snmp.timeout == timedelta(seconds=1) and snmp.retries == 2
    assert ping.timeout == timedelta(seconds=3)
    assert dev.confirm_down == 4 and dev.confirm_up == 2
    assert snmp.snmp.community is not None and snmp.snmp.community.get_secret_value() == "x$y"  # $$ escape


def test_secret_files_and_redaction(write_config: Callable[..., Path], tmp_path: Path) -> None:
    (tmp_path / "token").write_text("4242:SECRET-TOKEN-VALUE\n")
    (tmp_path / "comm").write_text("s3cret-community")
    cfg = write_config("""
        telegram: {bot_token_file: token, audiences: {it_staff: {chat_id: 1}, head_of_office: {chat_id: 2},
                   ministry_liaison: {chat_id: 3}}}
        defaults: {snmp: {community_file: comm}}
        sites:
          - {id: a, name: A, devices: [{id: u, name: U, kind: ups, address: 127.0.0.1,
                                        checks: [{type: snmp, profile: ups-rfc1628}]}]}
        """)
    s = load_config(cfg, environ={})
    assert s.telegram.bot_token is not None
    assert s.telegram.bot_token.get_secret_value() == "4242:SECRET-TOKEN-VALUE"
    dumped = json.dumps(s.redacted())
    assert "SECRET-TOKEN-VALUE" not in dumped and "s3cret-community" not in dumped
    assert "***" in dumped
    assert "SECRET" not in repr(s)


def test_relative_sqlite_path_is_beside_the_config(write_config: Callable[..., Path], tmp_path: Path) -> None:
    s = load_config(write_config(MINIMAL), environ={})
    assert s.database_url == f"sqlite:///{tmp_path / 'ektp-monitor.db'}"


def test_timezone_aliases(write_config: Callable[..., Path]) -> None:
    s = load_config(write_config(MINIMAL.replace("Asia/Jakarta", "WITA")), environ={})
    assert s.sites[0].timezone == "Asia/Makassar"


def test_environment_is_not_read_when_environ_given(write_config: Callable[..., Path]) -> None:
    os.environ["EKTP_TEST_ONLY_IN_PROCESS_ENV"] = "1"
    try:
        cfg = write_config(MINIMAL.replace('"Kantor Uji"', '"${EKTP_TEST_ONLY_IN_PROCESS_ENV}"'))
        assert "environment variable" in _errors(cfg)[0]
    finally:
        del os.environ["EKTP_TEST_ONLY_IN_PROCESS_ENV"]


def test_empty_file_is_one_clear_error(write_config: Callable[..., Path]) -> None:
    cfg = write_config("# nothing here\n")
    assert _errors(cfg) == [f"{cfg}:1: config file is empty"]
