"""The layout of DESIGN.md and issue 15 item 6, checked on the import statements themselves:

* nothing in ``monitor/`` except ``app.py``, ``cli.py`` and ``monitor/commands/`` imports ``checks``,
  ``alerts`` or ``monitor.sandbox`` (the demo's sandbox may use its own package);
* the hub (``monitor/hub/``) imports storage, reports and the core — never ``checks``, ``alerts``,
  ``monitor.sandbox`` nor the office's daemon runtime (pages reach it as routes given to ``hub serve``);
  the office side (``monitor/daemon``, ``monitor/storage``) knows only the hub's wire protocol.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names)
    return out


def under(name: str, *packages: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in packages)


def modules(folder: str) -> list[Path]:
    return sorted(p for p in (ROOT / folder).rglob("*.py") if "migrations/versions" not in p.as_posix())


def test_only_the_composition_root_imports_checks_alerts_and_the_sandbox() -> None:
    for path in modules("monitor"):
        rel = path.relative_to(ROOT).as_posix()
        if rel in ("monitor/app.py", "monitor/cli.py") or rel.startswith(("monitor/commands/", "monitor/sandbox/")):
            continue
        bad = {n for n in imports(path) if under(n, "checks", "alerts", "monitor.sandbox")}
        assert not bad, (rel, bad)


def test_the_hub_stands_on_storage_reports_and_the_core_only() -> None:
    forbidden = ("checks", "alerts", "monitor.sandbox", "monitor.commands", "monitor.app", "monitor.daemon")
    hub = modules("monitor/hub")
    assert len(hub) >= 10
    for path in hub:
        bad = {n for n in imports(path) if under(n, *forbidden)}
        assert not bad, (path.relative_to(ROOT), bad)


def test_the_office_side_knows_only_the_hubs_wire_protocol() -> None:
    for path in [*modules("monitor/daemon"), *modules("monitor/storage")]:
        hub = {n for n in imports(path) if under(n, "monitor.hub")}
        assert hub <= {"monitor.hub.protocol"} | {n for n in hub if n.startswith("monitor.hub.protocol.")}, \
            (path.relative_to(ROOT), hub)
