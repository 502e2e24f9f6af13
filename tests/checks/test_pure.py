"""Pure parts of the checks, table-driven: the profile expression language, value interpretation,
counter/TimeTicks arithmetic, and profile evaluation with a fake previous sample and fake time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from checks.expr import Column, ExprError, Missing, compile_expr, render_template
from checks.profiles import ProfileCatalog
from checks.values import SnmpValue, counter_delta, interpret, tidy_number, uptime_restarted
from monitor.domain import Device, DeviceKind, ObservationKind, ReasonCode, Status


class Scope:
    def __init__(self, values: dict[str, Any], previous: dict[str, Any] | None = None) -> None:
        self.values = values
        self.previous = previous or {}

    def lookup(self, name: str) -> Any:
        return self.values.get(name)

    def name_function(self, func: str, name: str) -> Any:
        if func == "exists":
            return self.values.get(name) is not None
        if func == "prev":
            return self.previous.get(name)
        return None


EXPRESSIONS = [
    ("upsOutputSource == 5", {"upsOutputSource": 5}, True),
    ("upsOutputSource in (3, 6, 7)", {"upsOutputSource": 6}, True),
    ("battery.runtime / 60", {"battery.runtime": 1320}, 22.0),
    ("max(a, b, c)", {"a": 6, "b": 6, "c": 4}, 6),
    ("max(a, b, c)", {"a": 79}, 79),                                # absent phases are skipped
    ("sum(a, b)", {}, None),                                        # nothing to add: absent, not 0
    ("avg(col)", {"col": Column({"1": 2, "2": 3})}, 2.5),
    ("count(col)", {"col": Column()}, 0),
    ("'x' in col", {"col": Column({"1": "x"})}, True),
    ("min(nonzero(col))", {"col": Column({"1": 242, "2": 0, "3": 0})}, 242),
    ("coalesce(hp / 10, basic)", {"basic": 223}, 223),
    ("coalesce(hp / 10, basic)", {"hp": 2230, "basic": 223}, 223.0),
    ("a > 5 or b == 1", {"b": 1}, True),                              # absent a is false inside or
    ("a > 5 and b == 1", {"b": 1}, False),
    ("not (a > 5)", {}, None),                                      # unknown stays unknown
    ("flag(s, 'OB')", {"s": "OB LB"}, True),
    ("flag(s, 'B')", {"s": "OB LB"}, False),
    ("matches(p, ['/sys/*', '/rom'])", {"p": "/sys/fs/cgroup"}, True),
    ("1 / zero", {"zero": 0}, None),
    ("'closed' if v == 1 else 'open'", {"v": 0}, "open"),
    ("exists(x)", {}, False),
    ("prev(m) == 3", {}, None),
]


@pytest.mark.parametrize(("source", "values", "expected"), EXPRESSIONS)
def test_expression_values(source: str, values: dict[str, Any], expected: Any) -> None:
    assert compile_expr(source).value(Scope(values)) == expected


@pytest.mark.parametrize("source", [
    "__import__('os')", "a.__class__", "x[0]", "lambda: 1", "a ** 2", "open('f')", "f(x=1)", "", "a +",
    "[i for i in a]", "a := 1", "x" * 600,
])
def test_unsafe_or_invalid_expressions_are_rejected(source: str) -> None:
    with pytest.raises(ExprError):
        compile_expr(source)


def test_names_are_collected_for_validation() -> None:
    assert compile_expr("battery.runtime < device.low_runtime and delta(spd.strikes) > 0").names == {
        "battery.runtime", "device.low_runtime", "spd.strikes"}


def test_missing_raises_inside_eval() -> None:
    with pytest.raises(Missing):
        compile_expr("a + 1").eval(Scope({}))


@pytest.mark.parametrize(("template", "values", "text"), [
    ("input voltage {v:g} V outside {lo:g}–{hi:g} V", {"v": 121, "lo": 198.0, "hi": 242.0},
     "input voltage 121 V outside 198–242 V"),
    ("{r / 60:.0f} min", {"r": 1320}, "22 min"),
    ("{missing} %", {}, "? %"),
    ("{{literal}} {x}", {"x": 1}, "{literal} 1"),
    ("{'a:b' if x else 'c'}", {"x": 1}, "a:b"),
])
def test_templates(template: str, values: dict[str, Any], text: str) -> None:
    assert render_template(template, Scope(values)) == text


INTERPRET = [
    (SnmpValue("integer", 5), "enum", {}, 5, None),
    (SnmpValue("nosuchobject"), "integer", {}, None, "missing"),
    (SnmpValue("null"), "integer", {}, None, "missing"),
    (SnmpValue("integer", -1), "integer", {"absent": (-1,)}, None, "missing"),
    (SnmpValue("integer", 65535), "integer", {"absent": (65535, 65534)}, None, "missing"),
    (SnmpValue("octets", b"230"), "integer", {}, 230, None),            # numbers sent as text are accepted
    (SnmpValue("octets", b"normal"), "integer", {}, None, "wrong_type"),
    (SnmpValue("oid", "1.3.6.1"), "integer", {}, None, "wrong_type"),
    (SnmpValue("integer", -5), "counter32", {}, None, "garbage"),       # negative counter
    (SnmpValue("integer", 250), "integer", {"value_range": (0, 100)}, None, "garbage"),
    (SnmpValue("timeticks", 3834774601), "timeticks", {}, 3834774601, None),   # > 2^31, unsigned
    (SnmpValue("octets", b"A" * 300), "string", {}, None, "garbage"),
    (SnmpValue("octets", b"eth0\x00\x00\x00"), "string", {}, "eth0", None),     # NUL padding
    (SnmpValue("octets", b"PW9130 1000VA-R    "), "string", {}, "PW9130 1000VA-R", None),
    (SnmpValue("octets", bytes([0xFF, 0xFE, 0x01, 0x02, 0x03])), "string", {}, None, "garbage"),
    (SnmpValue("integer", 3), "string", {}, "3", None),
    (SnmpValue("oid", "1.3.6.1.2.1.25.2.1.4"), "oid", {}, "1.3.6.1.2.1.25.2.1.4", None),
]


@pytest.mark.parametrize(("raw", "vtype", "kw", "value", "problem"), INTERPRET)
def test_interpret(raw: SnmpValue, vtype: Any, kw: dict[str, Any], value: Any, problem: str | None) -> None:
    got = interpret(raw, vtype, **kw)
    assert (got.value, got.problem) == (value, problem)


@pytest.mark.parametrize(("current", "previous", "modulus", "expected"), [
    (12, 10, 2**32, (2, "normal")),
    (4, 2**32 - 3, 2**32, (7, "wrap")),
    (3, 50, 2**32, (3, "reset")),                                      # the device restarted its counter
    (5, 5, None, (0, "normal")),
])
def test_counter_delta(current: int, previous: int, modulus: int | None, expected: tuple[int, str]) -> None:
    assert counter_delta(current, previous, modulus) == expected


MOD = 2**32 / 100   # TimeTicks wrap, in seconds


@pytest.mark.parametrize(("current", "previous", "elapsed", "restarted"), [
    (1060, 1000, 60, False),                 # normal
    (15, 1000, 60, True),                    # went back
    (30, MOD - 30, 60, False),               # 32-bit TimeTicks wrap after 497 days: not a reboot
    (2000, 1000, 86400, True),               # rebooted while the monitor was off, up again longer than before
    (1000, 1000, 600, False),                # frozen uptime (stuck agent / static recording): not a reboot
    (15, 1000, None, True),                  # no elapsed time known (restored metrics): went back
    (30, MOD - 30, None, False),             # ... still recognises the wrap
])
def test_uptime_restarted(current: float, previous: float, elapsed: float | None, restarted: bool) -> None:
    assert uptime_restarted(current, previous, elapsed, MOD) is restarted


def test_tidy_number() -> None:
    assert tidy_number(412 * 0.1) == 41.2
    assert tidy_number(100.0) == 100 and isinstance(tidy_number(100.0), int)


# ------------------------------------------------------------------- profile evaluation, fake time

T0 = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)
UPS = Device(id="ups", name="UPS", kind=DeviceKind.UPS, address="127.0.0.1", confirm_down=1, confirm_up=1)


def ups_reply(source: int = 3, battery: int = 2, line_bads: int = 0, voltage: int = 225) -> dict[str, SnmpValue]:
    return {"1.3.6.1.2.1.33.1.4.1.0": SnmpValue("integer", source),
            "1.3.6.1.2.1.33.1.2.1.0": SnmpValue("integer", battery),
            "1.3.6.1.2.1.33.1.2.3.0": SnmpValue("integer", 30),
            "1.3.6.1.2.1.33.1.2.4.0": SnmpValue("integer", 90),
            "1.3.6.1.2.1.33.1.3.1.0": SnmpValue("counter32", line_bads),
            "1.3.6.1.2.1.33.1.3.3.1.3.1": SnmpValue("integer", voltage)}


def test_profile_evaluation_sequence_with_fake_time() -> None:
    from checks.profile import Sample

    bound = ProfileCatalog().get("ups-rfc1628").bind({})
    first = bound.evaluate(ups_reply(), {}, device=UPS, previous=None, now=T0)
    assert first.status is Status.UP and first.metrics["battery.runtime"] == 1800
    sample = Sample(first.metrics, T0)
    second = bound.evaluate(ups_reply(source=5, line_bads=3, voltage=0), {}, device=UPS, previous=sample,
                            now=T0 + timedelta(seconds=60))
    assert second.status is Status.DEGRADED and second.code is ReasonCode.CONDITION
    assert second.reason == "on battery; input voltage 0 V outside 198–242 V"
    assert [o.kind for o in second.observations] == [ObservationKind.ON_BATTERY, ObservationKind.VOLTAGE_ABNORMAL,
                                                     ObservationKind.LINE_BAD]
    third = bound.evaluate(ups_reply(line_bads=3), {}, device=UPS, previous=Sample(second.metrics, T0),
                           now=T0 + timedelta(seconds=120))
    assert [o.kind for o in third.observations] == [ObservationKind.ON_MAINS]


def test_missing_required_object_asks_for_the_fallback() -> None:
    bound = ProfileCatalog().get("ups-rfc1628").bind({})
    result = bound.evaluate({}, {}, device=UPS, previous=None, now=T0)
    assert result.mismatch and result.code is ReasonCode.PROFILE_MISMATCH
    assert result.reason == "profile does not match device (no UPS-MIB::upsBatteryStatus, UPS-MIB::upsOutputSource)"
