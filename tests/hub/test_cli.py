"""The hub's command line and the office's ``hub:`` config: site codes, clear errors, exit codes (usage 2,
failure 1, not in this version 3), read-only commands that never create a database, secrets never shown."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from monitor.areas import check_code, contains, province_of
from monitor.errors import ConfigError
from monitor.hub.tokens import hash_token
from monitor.settings import load_settings

from .conftest import BIN, Office, hub_yaml, office_yaml

SITE = '  - id: mura\n    name: "Disdukcapil Murung Raya"\n    code: "{code}"\n    devices: []\n'


def run(*argv: str, **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN), *argv], capture_output=True, text=True, timeout=60, **kw)  # type: ignore[call-overload]


@pytest.mark.parametrize(("code", "ok"), [
    ("62", True), ("62.12", True), ("62.12.01", True), ("62.12.01.2001", True), (" 62.71 ", True),
    ("96.01", True), ("6212", False), ("62.1", False), ("62.12.1", False), ("99.01", False), ("20", False),
    ("62.00", False), ("62.12.00", False), ("62.12.01.0000", False), ("62-12", False), ("", False)])
def test_kemendagri_area_codes(code: str, ok: bool) -> None:
    if ok:
        assert check_code(code) == code.strip()
    else:
        with pytest.raises(ValueError):
            check_code(code)


def test_province_names_and_containment() -> None:
    assert province_of("62.12") == "Kalimantan Tengah" and province_of("96.01") == "Papua Barat Daya"
    assert contains("62.12", "62.12.01") and contains("62", "62.12") and not contains("62.1", "62.12")


def test_the_office_config_needs_codes_when_hub_is_set(tmp_path: Path) -> None:
    office = Office("mura", ["62.12"])
    body = office_yaml(tmp_path / "o.db", hub_url="https://hub.example.go.id", office=office,
                       ca_file=tmp_path / "ca.pem", sites=SITE.format(code="62.12") + SITE.replace(
                           "mura", "kec").replace('    code: "{code}"\n', ""))
    path = tmp_path / "office.yaml"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_settings(path)
    line = body.splitlines().index("  - id: kec") + 1
    assert f"{path}:{line}: sites[1].code: a site needs its Kemendagri area code" in str(err.value)
    path.write_text(body.replace("https://hub.example.go.id", "http://hub.example.go.id").replace(
        "  - id: kec", '  - id: kec\n    code: "62.12"\n    province: Jawa Barat'), encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_settings(path)
    text = str(err.value)
    assert "hub.url: hub url must start with https://" in text
    assert "sites[1].province: Value error, province 'Jawa Barat' does not match code 62.12" in text or \
        "province 'Jawa Barat' does not match code 62.12 (Kalimantan Tengah)" in text
    path.write_text(body.replace(f"token_file: {tmp_path / 'o.token'}", "token: short"), encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_settings(path)
    assert "hub.token: hub token is too short" in str(err.value)
    path.write_text(body.replace("  - id: kec", '  - id: kec\n    code: "62.12"'), encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_settings(path)
    assert "duplicate site code '62.12'" in str(err.value)
    ok = body.replace("  - id: kec", '  - id: kec\n    code: "62.12.01"')
    path.write_text(ok, encoding="utf-8")
    settings = load_settings(path)
    assert settings.hub is not None and settings.hub.token.get_secret_value() == office.token
    assert settings.sites[1].province == "Kalimantan Tengah"
    assert office.token in settings.secrets
    shown = run("config", "show", str(path))
    assert shown.returncode == 0 and office.token not in shown.stdout


def test_hub_token_new_prints_the_token_once_and_the_hash_for_hub_yaml(tmp_path: Path) -> None:
    out = run("hub", "token", "new", "--office", "mura")
    assert out.returncode == 0, out.stderr
    token = next(w for w in out.stdout.split() if w.startswith("ektp_"))
    assert f'tokens: ["{hash_token(token)}"]' in out.stdout and "- id: mura" in out.stdout
    cfg = hub_yaml(tmp_path / "HUB.yaml", "postgresql+psycopg://x@127.0.0.1:1/hub", [Office("mura", ["62.12"])])
    out = run("hub", "token", "new", "--office", "mura", "-c", str(cfg))
    token2 = next(w for w in out.stdout.split() if w.startswith("ektp_"))
    assert token2 != token and f'- "{hash_token(token2)}"' in out.stdout and "offices[id=mura].tokens" in out.stdout
    bad = run("hub", "token", "new", "--office", "Not An Id")
    assert bad.returncode == 2 and "--office" in bad.stderr


def test_office_side_commands_never_create_a_database_and_report_clearly(tmp_path: Path) -> None:
    office = Office("mura", ["62.12"])
    db = tmp_path / "o.db"
    path = tmp_path / "office.yaml"
    path.write_text(office_yaml(db, hub_url="https://127.0.0.1:9", office=office, ca_file=tmp_path / "ca.pem",
                                sites=SITE.format(code="62.12")), encoding="utf-8")
    out = run("hub", "status", "-c", str(path))
    assert out.returncode == 1 and "no database" in out.stderr and not db.exists()
    assert run("db", "upgrade", "-c", str(path)).returncode == 0
    out = run("hub", "status", "-c", str(path), "--json")
    info = json.loads(out.stdout)
    assert (info["backlog_records"], info["acked_seq"], info["last_contact_at"], info["configured"]) == \
        (0, 0, None, True)
    out = run("hub", "status", "-c", str(path))
    assert "backlog:        0 record(s)" in out.stdout and "last contact:   never" in out.stdout
    assert run("hub", "resync", "-c", str(path)).returncode == 0


def test_hub_commands_exit_codes(tmp_path: Path) -> None:
    cfg = hub_yaml(tmp_path / "HUB.yaml", "postgresql+psycopg://x@127.0.0.1:1/hub", [Office("mura", ["62.12"])])
    assert run("hub", "report", "-c", str(cfg)).returncode == 3
    out = run("hub", "outages", "-c", str(cfg), "--since", "yesterday")
    assert out.returncode == 2 and "--since" in out.stderr
    out = run("hub", "outages", "-c", str(cfg), "--site", "99")
    assert out.returncode == 2 and "not a province code" in out.stderr
    out = run("hub", "serve")
    assert out.returncode == 2 and "-c HUB.yaml" in out.stderr
    broken = tmp_path / "broken.yaml"
    broken.write_text('listen: "127.0.0.1:8443"\nbehind_proxy: true\ndatabase: {url: "postgresql://x@y/z"}\n'
                      'offices:\n  - {id: a, name: A, sites: ["62.12"], tokens: ["ektp_plaintext"]}\n',
                      encoding="utf-8")
    out = run("hub", "serve", "-c", str(broken))
    assert out.returncode == 2 and f"{broken}:5: offices[0].tokens[0]" in out.stderr
    assert "ektp_plaintext" not in out.stderr or "never put the token itself here" in out.stderr


def test_hub_outages_prints_the_national_list(hub_engine: object, pg_url: str, tmp_path: Path) -> None:
    cfg = hub_yaml(tmp_path / "HUB.yaml", pg_url, [Office("mura", ["62.12"])])
    out = run("hub", "outages", "-c", str(cfg))
    assert out.returncode == 0 and out.stdout.strip() == "no outages"
    closed = subprocess.run(f"{BIN} hub outages -c {cfg} --json | head -c 0", shell=True, capture_output=True,
                            text=True, timeout=60)
    assert closed.returncode == 0 and "Traceback" not in closed.stderr
    assert run("hub", "db", "current", "-c", str(cfg)).stdout.startswith("hub0002 (up to date)")


def test_the_example_hub_yaml_is_valid() -> None:
    from monitor.hub.config import load_hub_config
    config = load_hub_config(Path(__file__).resolve().parents[2] / "config" / "hub.example.yaml", environ={})
    assert [o.id for o in config.offices] == ["mura", "barsel"] and config.behind_proxy
    secret = load_hub_config(Path(__file__).resolve().parents[2] / "config" / "hub.example.yaml",
                             environ={"HUB_DB_PASSWORD": "rahasia"})
    assert secret.database.sqlalchemy_url().password == "rahasia"
