"""``ektp-monitor config validate|show|schema``.

The JSON Schema (``config schema``) describes the file as people write it: durations as ``30s``/``5m``/``2h``
(its defaults too — pydantic would write them as ISO 8601 ``PT30S``, which the schema's own duration
pattern refuses), and it validates its own defaults and both example configs (tests/test_cli_conventions.py
checks that with the independent ``jsonschema`` validator).
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import timedelta
from typing import Any

import yaml
from pydantic.json_schema import GenerateJsonSchema

from monitor.app import config_warnings, load_config
from monitor.domain import format_duration
from monitor.settings import Settings
from monitor.yamlsource import SECRET_KEYS


class _Schema(GenerateJsonSchema):
    """Defaults in the form the file takes: a duration is ``30s``, not ``PT30S``."""

    def encode_default(self, dft: Any) -> Any:
        if isinstance(dft, timedelta):
            return format_duration(dft)
        return super().encode_default(dft)


PLACEHOLDER = {"type": "string", "pattern": r"\$\{[A-Za-z_][A-Za-z0-9_]*(:-[^}]*)?\}",
               "description": "${VAR} or ${VAR:-default}: filled from the environment when the file is read"}
FROM_DEFAULTS = {"Device": ("confirm_down", "confirm_up"), "SnmpSpec": ("interval", "timeout", "retries", "snmp"),
                 "PingSpec": ("interval", "timeout", "retries"), "TcpSpec": ("interval", "timeout", "retries"),
                 "HostSpec": ("interval", "timeout", "retries")}
"""Keys the loader fills from ``defaults`` (monitor/settings.py:_apply_defaults): optional in the file."""
_META = ("title", "description", "default", "examples", "deprecated")


def _leaf(schema: dict[str, Any]) -> bool:
    if any(k in schema for k in ("$ref", "properties", "items", "additionalProperties", "prefixItems")):
        return False
    alternatives = schema.get("anyOf") or schema.get("oneOf")
    if alternatives is not None:
        return all(isinstance(a, dict) and _leaf(a) for a in alternatives)
    return "type" in schema or "enum" in schema or "const" in schema


def _allow_placeholders(schema: Any) -> None:
    """Every scalar may be written as ``${VAR}`` in the file (expanded before validation)."""
    if isinstance(schema, list):
        for item in schema:
            _allow_placeholders(item)
        return
    if not isinstance(schema, dict):
        return
    for key in ("properties", "$defs"):
        for name, sub in list((schema.get(key) or {}).items()):
            if key == "properties" and isinstance(sub, dict) and _leaf(sub):
                meta = {k: sub.pop(k) for k in _META if k in sub}
                schema[key][name] = {**meta, "anyOf": [sub, PLACEHOLDER]}
            else:
                _allow_placeholders(sub)
    for key in ("items", "anyOf", "oneOf", "allOf", "additionalProperties"):
        if key in schema:
            _allow_placeholders(schema[key])


def _file_form(schema: dict[str, Any]) -> dict[str, Any]:
    """The runtime model's schema made the schema of the file: keys filled from ``defaults`` are optional
    (devices may set ``interval``/``timeout``/``retries`` for their checks), secrets may come from a
    ``<key>_file``, and any scalar may be a ``${VAR}``."""
    defs = schema.get("$defs", {})
    for name, optional in FROM_DEFAULTS.items():
        model = defs.get(name)
        if model is None:
            continue
        model["required"] = [k for k in model.get("required", []) if k not in optional]
        if not model["required"]:
            model.pop("required")
    device = defs.get("Device", {}).get("properties", {})
    for key, sub in (("interval", defs.get("PingSpec", {}).get("properties", {}).get("interval")),
                     ("timeout", defs.get("PingSpec", {}).get("properties", {}).get("timeout")),
                     ("retries", {"type": "integer", "minimum": 0, "maximum": 10})):
        if sub is not None:
            device.setdefault(key, {**sub, "description": f"{key} of this device's checks"})
    version = defs.get("SnmpCredentials", {}).get("properties", {}).get("version")
    if version is not None:   # YAML reads `version: 3` as a number; the loader takes both spellings
        meta = {k: version.pop(k) for k in _META if k in version}
        defs["SnmpCredentials"]["properties"]["version"] = {**meta, "anyOf": [version, {"enum": [1, 2, 3]}]}
    for model in defs.values():
        props = model.get("properties", {})
        for secret in SECRET_KEYS:
            if secret in props:
                props.setdefault(f"{secret}_file", {"type": "string", "description": f"file holding {secret}"})
    _allow_placeholders(schema)
    return schema


def json_schema() -> dict[str, Any]:
    """The JSON Schema of the config file (draft 2020-12)."""
    schema = _file_form(Settings.model_json_schema(schema_generator=_Schema))
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "ektp-monitor configuration"
    schema.setdefault("properties", {})["env_file"] = {
        "type": "string", "description": "KEY=VALUE file with secrets (systemd EnvironmentFile style)"}
    return schema


def main(args: argparse.Namespace) -> int:
    if args.config_command == "schema":
        print(json.dumps(json_schema(), indent=2, ensure_ascii=False))
        return 0
    settings = load_config(args.file)  # ConfigError -> exit 2 with every issue (cli.main)
    for warning in config_warnings(settings):
        print(f"warning: {warning}", file=sys.stderr)
    if args.config_command == "validate":
        devices = sum(len(s.devices) for s in settings.sites)
        checks = sum(len(d.checks) for s in settings.sites for d in s.devices)
        print(f"{args.file}: OK ({len(settings.sites)} site(s), {devices} device(s), {checks} check(s))")
        return 0
    data = settings.redacted()
    if args.json:
        print(json.dumps(data, indent=2, ensure_ascii=False))
    else:
        print(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), end="")
    return 0
