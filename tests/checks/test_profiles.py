"""Profiles are data: every built-in loads and documents its OIDs; config params are validated against
the profile (file, line, key); a user adds a vendor by dropping a file into ``profile_dirs``."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from checks.profile import ProfileError, load_profile
from checks.profiles import BUILTIN_DIR, ProfileCatalog, profile_files
from checks.resources import CheckResources
from checks.snmp import SnmpCheck
from monitor.app import load_config
from monitor.errors import ConfigError
from monitor.sandbox.snmpsim import SnmpsimAgent

from .conftest import device, snmp_spec

BUILTINS = sorted(profile_files())
REQUIRED = {"ups-rfc1628", "ups-apc", "ups-xups", "ups-xppc", "ups-cyberpower", "ups-socomec", "ups-sinetica",
            "host-resources", "if-uplink", "spd-contact", "spd-contact-poseidon", "spd-counter"}


def test_the_builtin_catalogue() -> None:
    assert set(BUILTINS) >= REQUIRED


@pytest.mark.parametrize("name", BUILTINS)
def test_builtin_profile_loads_and_documents_every_oid(name: str) -> None:
    profile = load_profile(BUILTIN_DIR / f"{name}.yaml")
    assert profile.name == name and profile.definition.mibs
    for obj_name, obj in profile.definition.objects.items():
        assert "::" in obj.mib, (name, obj_name)                     # MODULE::object
    chain = ProfileCatalog().chain(name)                               # fallbacks exist
    assert chain[0].name == name
    text = (BUILTIN_DIR / f"{name}.yaml").read_text()
    assert text.startswith("#")                                        # a comment says what the device is


def _office(write_config: Callable[..., Path], check: str) -> Path:
    return write_config(f"""
        telegram: {{enabled: false}}
        sites:
          - id: s
            name: S
            devices:
              - id: d
                name: D
                kind: spd
                address: 127.0.0.1
                checks:
                  - {check}
        """)


@pytest.mark.parametrize(("check", "path", "words"), [
    ("{type: snmp, profile: if-uplink, snmp: {community: c}, params: {interface: [WAN]}}",
     "sites[0].devices[0].checks[0].params.interface", "has no parameter 'interface' (did you mean 'interfaces'?"),
    ("{type: snmp, profile: if-uplink, snmp: {community: c}}",
     "sites[0].devices[0].checks[0].params", "needs the parameter 'interfaces'"),
    ("{type: snmp, profile: spd-contact, snmp: {community: c}, params: {contact: one}}",
     "sites[0].devices[0].checks[0].params.contact", "expected a whole number"),
    ("{type: snmp, profile: spd-counter, snmp: {community: c}, params: {oid: 'not an oid'}}",
     "sites[0].devices[0].checks[0].params.oid", "expected a numeric OID"),
    ("{type: snmp, profile: spd-counter, snmp: {community: c}}",
     "sites[0].devices[0].checks[0].params", "needs the parameter 'oid'"),
])
def test_bad_params_are_config_errors_with_file_line_and_key(check: str, path: str, words: str,
                                                             write_config: Callable[..., Path]) -> None:
    cfg = _office(write_config, check)
    with pytest.raises(ConfigError) as info:
        load_config(cfg, environ={})
    issue = next(i for i in info.value.issues if i.path == path)
    assert words in issue.message
    assert issue.file == str(cfg) and issue.line == 11


def test_params_of_a_fallback_profile_are_accepted(write_config: Callable[..., Path]) -> None:
    cfg = _office(write_config, "{type: snmp, profile: spd-contact, snmp: {community: c}, "
                                "params: {contact: 2, tripped_value: 1, trap_oid: '1.3.6.1.4.1.21796.3.3.0.1'}}")
    load_config(cfg, environ={})


USER_PROFILE = """
    # Minuteman / Delta "UPS SNMP Agent" identification, added by the office (a user profile).
    name: ups-delta-ident
    title: Delta UPS agent identification
    mibs: ["DELTA-UPS-MIB (vendor)"]
    kinds: [ups]
    objects:
      model: {oid: 1.3.6.1.4.1.2254.2.4.1.2.0, mib: "DELTA-UPS-MIB::dupsIdentModel", type: string, required: true}
      source: {oid: 1.3.6.1.2.1.33.1.4.1.0, mib: "UPS-MIB::upsOutputSource", type: enum, values: {5: battery}}
    metrics:
      ups.model: {from: model, type: string}
    conditions:
      - {when: "source == 5", status: degraded, reason: "on battery ({ups.model})", observe: on_battery}
    """


async def test_a_user_adds_a_vendor_with_a_file(write_config: Callable[..., Path], tmp_path: Path,
                                                sim: SnmpsimAgent) -> None:
    folder = tmp_path / "profiles"
    folder.mkdir()
    (folder / "ups-delta-ident.yaml").write_text(textwrap.dedent(USER_PROFILE))
    cfg = write_config(f"""
        telegram: {{enabled: false}}
        profile_dirs: [profiles]
        sites:
          - id: s
            name: S
            devices:
              - {{id: u, name: U, kind: ups, address: 127.0.0.1,
                 checks: [{{type: snmp, profile: ups-delta-ident, snmp: {{community: deltaups, port: {sim.port}}}}}]}}
        """)
    settings = load_config(cfg, environ={})
    from monitor.app import build_check_resources, build_checks

    resources = build_check_resources(settings)
    try:
        checks = build_checks(settings, resources)
        [(ref, key)] = checks
        result = await checks[ref, key].run(settings.device(ref), now=datetime.now(UTC))
    finally:
        await resources.close()
    assert key == "snmp:ups-delta-ident"
    assert result.metrics["ups.model"] == "E1500RTXL2U"


def test_a_broken_user_profile_is_named(write_config: Callable[..., Path], tmp_path: Path) -> None:
    folder = tmp_path / "profiles"
    folder.mkdir()
    (folder / "my-ups.yaml").write_text("name: my-ups\ntitle: x\nmibs: [X]\nobjects:\n"
                                        "  a: {oid: 1.3.6.1.2.1.1.3.0, mib: 'X::a'}\n"
                                        "conditions:\n  - {when: 'a >', status: down, reason: r}\n")
    cfg = write_config("""
        telegram: {enabled: false}
        profile_dirs: [profiles]
        sites:
          - id: s
            name: S
            devices:
              - {id: u, name: U, kind: ups, address: 127.0.0.1, checks: [{type: snmp, profile: my-ups,
                 snmp: {community: c}}]}
        """)
    with pytest.raises(ConfigError) as info:
        load_config(cfg, environ={})
    assert "my-ups.yaml" in str(info.value) and "invalid expression" in str(info.value)


@pytest.mark.parametrize(("yaml_text", "words"), [
    ("name: x\ntitle: t\nmibs: [M]\nobjects: {a: {oid: '1.3.6', mib: 'M::a'}}\n"
     "metrics: {m: {expr: 'b + 1'}}\n", "unknown name(s) b"),
    ("name: x\ntitle: t\nmibs: [M]\nobjects: {a: {oid: 'abc', mib: 'M::a'}}\n", "not a numeric OID"),
    ("name: x\ntitle: t\nmibs: [M]\nobjects: {a: {oid: '1.3.6', column: '1.3.6', mib: 'M::a'}}\n", "exactly one"),
    ("name: y\ntitle: t\nmibs: [M]\nobjects: {a: {oid: '1.3.6', mib: 'M::a'}}\n", "must equal the file name"),
    ("name: x\ntitle: t\nmibs: [M]\nobjects: {a: {oid: '1.3.6', mib: 'M::a'}}\n"
     "conditions: [{when: 'a > 1', status: degraded}]\n", "needs a reason"),
])
def test_invalid_profiles_are_rejected_with_a_reason(yaml_text: str, words: str, tmp_path: Path) -> None:
    path = tmp_path / "x.yaml"
    path.write_text(yaml_text)
    with pytest.raises(ProfileError) as info:
        load_profile(path)
    assert words in str(info.value)


async def test_snmp_check_with_profile_params_bound(sim: SnmpsimAgent) -> None:
    resources = CheckResources()
    try:
        check = SnmpCheck(snmp_spec("spd-contact", sim.port, community="apc_surt3000xl", params={"contact": 2}),
                          resources)
        result = await check.run(device(), now=datetime.now(UTC))
    finally:
        await resources.close()
    assert "Int Contact 2" in (result.reason or "")
