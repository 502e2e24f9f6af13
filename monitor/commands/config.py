"""``ektp-monitor config validate|show|schema``."""

from __future__ import annotations

import argparse
import json
import sys

import yaml

from monitor.app import config_warnings, load_config
from monitor.settings import Settings


def main(args: argparse.Namespace) -> int:
    if args.config_command == "schema":
        schema = Settings.model_json_schema()
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        schema["title"] = "ektp-monitor configuration"
        schema.setdefault("properties", {})["env_file"] = {
            "type": "string", "description": "KEY=VALUE file with secrets (systemd EnvironmentFile style)"}
        print(json.dumps(schema, indent=2, ensure_ascii=False))
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
