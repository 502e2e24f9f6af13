"""docs/devices.md is generated from the profiles and must stay in step with them (issue 14, item 7)."""

from __future__ import annotations

from checks.profile_docs import DOC_PATH, render
from checks.profiles import ProfileCatalog


def test_devices_md_is_in_step_with_the_profiles() -> None:
    assert DOC_PATH.read_text(encoding="utf-8") == render(), (
        "docs/devices.md is out of date: run `python -m checks.profile_docs --write`")


def test_every_auto_profile_is_documented_with_its_kind() -> None:
    text = render()
    catalog = ProfileCatalog()
    for name in catalog.names:
        profile = catalog.get(name)
        if profile.definition.match is not None:
            assert f"| `{name}` |" in text, name
    for word in ("ECO", "BYPASS", "BOOST", "OFF"):
        assert f"| {word} |" in text
