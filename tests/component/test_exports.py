"""Calling a real component's exports: every WIT type in and out, and the export tree.

The guest is ``tests/fixtures/components/types.wat``: each ``echo-*`` of ``test:types/echo``
returns its argument, so what comes back is the documented Python form of the value (see the
table at the top of ``omniwasm/_values.py``).
"""

from __future__ import annotations

import dataclasses
import enum
import inspect
import math
import pydoc
import struct
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

import omniwasm
from omniwasm import Err, Ok, Some, Variant
from omniwasm.types import enum_class, record_class

ECHO = "test:types/echo"

# A component whose names exercise the mapping: a versioned interface, a world-level function
# and kebab-case parameters.
NAMES_WAT = """(component
  (core module $m
    (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add))
  (core instance $mi (instantiate $m))
  (func $add (param "first-value" u32) (param "max-words" u32) (result u32)
    (canon lift (core func $mi "add")))
  (instance $api (export "add-numbers" (func $add)))
  (export "test:names/my-api@1.0.0" (instance $api))
  (export "sum-two" (func $add))
)"""

# Two interfaces with the same short name, both exporting `add`.
TWINS_WAT = """(component
  (core module $m
    (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add))
  (core instance $mi (instantiate $m))
  (func $add (param "a" u32) (param "b" u32) (result u32) (canon lift (core func $mi "add")))
  (instance $one (export "add" (func $add)))
  (instance $two (export "add" (func $add)))
  (export "a:one/api" (instance $one))
  (export "b:two/api" (instance $two))
)"""


@pytest.fixture(scope="module")
def types_code(wat_component: Callable[[str], Path]) -> tuple[omniwasm.Runtime, omniwasm.Compiled]:
    """types.wat compiled once for the module (no cache, so the per-test cache dir is unused)."""
    rt = omniwasm.Runtime(cache=False)
    return rt, rt.load(wat_component("types"))


@pytest.fixture
def inst(types_code: tuple[omniwasm.Runtime, omniwasm.Compiled]) -> Iterator[omniwasm.Instance]:
    """A fresh instance of types.wat, closed after the test."""
    rt, code = types_code
    with rt.instantiate(code) as inst:
        yield inst


@pytest.fixture
def echo(inst: omniwasm.Instance) -> Any:
    """The test:types/echo interface of a fresh instance."""
    return inst.exports[ECHO]


@pytest.fixture(scope="module")
def gen(types_code: tuple[omniwasm.Runtime, omniwasm.Compiled]) -> SimpleNamespace:
    """The generated Python classes of the echo interface's record and enum."""
    iface = next(i for i in types_code[1].world.exports if i.name == ECHO)
    param = {f.name: f.params[0][1] for f in iface.funcs if f.params}  # type: ignore[union-attr]
    return SimpleNamespace(
        Point=record_class(param["echo-point"]), Color=enum_class(param["echo-color"])
    )


def _f32(x: float) -> float:
    return float(struct.unpack("<f", struct.pack("<f", x))[0])


class Paint(enum.Enum):
    """An unrelated Enum: its lower-cased member names match the WIT cases."""

    RED = 1
    BLUE_ISH = 2


@dataclasses.dataclass
class OtherPoint:
    x: int
    y: int
    label_text: str


class Attrs:
    def __init__(self) -> None:
        self.x, self.y, self.label_text = 5, 6, "attrs"


def _pt(x: int, y: int, label: str) -> Callable[[SimpleNamespace], Any]:
    return lambda g: g.Point(x, y, label)


def _blue(g: SimpleNamespace) -> Any:
    return g.Color.BLUE_ISH


# (function, argument, expected result). A callable argument or result is built from the
# generated classes (fixture `gen`). Results are compared by value and by type.
ROUND_TRIPS: list[tuple[str, Any, Any]] = [
    ("echo-bool", True, True),
    ("echo-bool", False, False),
    ("echo-s8", -128, -128),
    ("echo-s8", 127, 127),
    ("echo-s16", -32768, -32768),
    ("echo-s16", 32767, 32767),
    ("echo-s32", -(2**31), -(2**31)),
    ("echo-s32", 2**31 - 1, 2**31 - 1),
    ("echo-s64", -(2**63), -(2**63)),
    ("echo-s64", 2**63 - 1, 2**63 - 1),
    ("echo-u8", 0, 0),
    ("echo-u8", 255, 255),
    ("echo-u16", 65535, 65535),
    ("echo-u32", 2**32 - 1, 2**32 - 1),
    ("echo-u64", 0, 0),
    ("echo-u64", 2**64 - 1, 2**64 - 1),
    ("echo-f32", 1.5, 1.5),
    ("echo-f32", 0.1, _f32(0.1)),
    ("echo-f32", 3, 3.0),
    ("echo-f64", 0.1, 0.1),
    ("echo-f64", -1.5e300, -1.5e300),
    ("echo-f64", math.inf, math.inf),
    ("echo-char", "a", "a"),
    ("echo-char", "é", "é"),
    ("echo-char", "🎉", "🎉"),
    ("echo-string", "", ""),
    ("echo-string", "hello wörld 🎉", "hello wörld 🎉"),
    ("echo-string", "nul\x00inside", "nul\x00inside"),
    ("echo-string", "x" * 10_000, "x" * 10_000),
    ("echo-string-utf16", "héllo 🎉 𝄞", "héllo 🎉 𝄞"),
    ("echo-string-utf16", "", ""),
    ("echo-string-latin1", "héllo", "héllo"),
    ("echo-string-latin1", "beyond latin1: 🎉", "beyond latin1: 🎉"),
    ("echo-list-u8", b"\x00\x01\xff", b"\x00\x01\xff"),
    ("echo-list-u8", b"", b""),
    ("echo-list-u8", bytearray(b"ab"), b"ab"),
    ("echo-list-u8", memoryview(b"cd"), b"cd"),
    ("echo-list-u8", [1, 2, 255], b"\x01\x02\xff"),
    ("echo-list-u32", [1, 2, 2**32 - 1], [1, 2, 2**32 - 1]),
    ("echo-list-u32", [], []),
    ("echo-list-u32", (4, 5), [4, 5]),
    ("echo-list-string", ["a", "", "é🎉"], ["a", "", "é🎉"]),
    (
        "echo-list-point",
        [{"x": 1, "y": 2, "label-text": "a"}, {"x": 3, "y": 4, "label_text": "b"}],
        lambda g: [g.Point(1, 2, "a"), g.Point(3, 4, "b")],
    ),
    ("echo-tuple", (7, "s", 1.5), (7, "s", 1.5)),
    ("echo-tuple", [7, "s", 1.5], (7, "s", 1.5)),
    ("echo-point", {"x": 1, "y": -2, "label-text": "kebab"}, _pt(1, -2, "kebab")),
    ("echo-point", {"x": 1, "y": -2, "label_text": "snake"}, _pt(1, -2, "snake")),
    ("echo-point", OtherPoint(3, 4, "dataclass"), _pt(3, 4, "dataclass")),
    ("echo-point", Attrs(), _pt(5, 6, "attrs")),
    ("echo-point", _pt(7, 8, "generated"), _pt(7, 8, "generated")),
    ("echo-shape", Variant("circle", 2.5), Variant("circle", 2.5)),
    (
        "echo-shape",
        Variant("rect", {"x": 1, "y": 2, "label-text": "r"}),
        lambda g: Variant("rect", g.Point(1, 2, "r")),
    ),
    ("echo-shape", Variant("empty"), Variant("empty")),
    ("echo-shape", "empty", Variant("empty")),
    ("echo-color", "blue-ish", _blue),
    ("echo-color", "blue_ish", _blue),
    ("echo-color", "BLUE_ISH", _blue),
    ("echo-color", _blue, _blue),
    ("echo-color", Paint.BLUE_ISH, _blue),
    ("echo-color", "red", lambda g: g.Color.RED),
    ("echo-perms", {"read", "exec"}, frozenset({"read", "exec"})),
    ("echo-perms", ["write"], frozenset({"write"})),
    ("echo-perms", set(), frozenset()),
    ("echo-option-string", None, None),
    ("echo-option-string", "", ""),
    ("echo-option-string", "x", "x"),
    ("echo-option-option-u32", None, None),
    ("echo-option-option-u32", Some(None), Some(None)),
    ("echo-option-option-u32", Some(5), Some(5)),
    ("echo-option-option-u32", 5, Some(5)),
    ("echo-result-string-string", Ok("fine"), "fine"),
    ("echo-result-err-u32", Ok(), None),
    ("echo-result-ok-u32", Ok(4), 4),
    ("echo-result-empty", Ok(), None),
]


def _ids() -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for name, *_ in ROUND_TRIPS:
        seen[name] = seen.get(name, 0) + 1
        out.append(f"{name}-{seen[name]}")
    return out


@pytest.mark.parametrize(("func", "arg", "expected"), ROUND_TRIPS, ids=_ids())
def test_value_round_trips_through_export(
    echo: Any, gen: SimpleNamespace, func: str, arg: Any, expected: Any
) -> None:
    """Each WIT type comes back from an echo export in its documented Python form and type."""
    arg = arg(gen) if callable(arg) and not isinstance(arg, type) else arg
    expected = expected(gen) if callable(expected) else expected
    out = echo[func](arg)
    assert out == expected
    assert type(out) is type(expected)


def test_record_is_a_frozen_dataclass_with_snake_fields(echo: Any) -> None:
    """A record comes back as a generated frozen dataclass whose kebab fields are snake_case."""
    out = echo.echo_point({"x": 1, "y": 2, "label-text": "t"})
    assert dataclasses.is_dataclass(out)
    assert type(out).__name__ == "Point"
    assert [f.name for f in dataclasses.fields(out)] == ["x", "y", "label_text"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        out.x = 5


def test_enum_is_a_generated_enum_member(echo: Any) -> None:
    """An enum comes back as a member of a generated enum.Enum named after the WIT type."""
    out = echo.echo_color("blue-ish")
    assert isinstance(out, enum.Enum)
    assert type(out).__name__ == "Color"
    assert (out.name, out.value) == ("BLUE_ISH", "blue-ish")
    assert [m.value for m in type(out)] == ["red", "green", "blue-ish"]


def test_variant_pattern_matches(echo: Any) -> None:
    """A variant comes back as Variant(case, value), usable in a match statement."""
    match echo.echo_shape(Variant("circle", 1.25)):
        case Variant("circle", radius):
            assert radius == 1.25
        case other:
            pytest.fail(f"unexpected {other!r}")


def test_f64_keeps_negative_zero_and_nan(echo: Any) -> None:
    """f64 -0.0 keeps its sign and NaN stays NaN through the guest."""
    assert math.copysign(1.0, echo.echo_f64(-0.0)) == -1.0
    assert math.isnan(echo.echo_f64(math.nan))
    assert math.isnan(echo.echo_f32(math.nan))


def test_result_err_raises_err_with_payload(echo: Any) -> None:
    """An err result raises omniwasm.Err carrying the error value."""
    with pytest.raises(Err) as info:
        echo.echo_result_string_string(Err("bad"))
    assert info.value.value == "bad"


@pytest.mark.parametrize(
    ("func", "arg", "payload"),
    [
        ("echo-result-err-u32", Err(7), 7),
        ("echo-result-ok-u32", Err(), None),
        ("echo-result-empty", Err(), None),
    ],
)
def test_result_err_without_or_with_payload_raises(
    echo: Any, func: str, arg: Err, payload: Any
) -> None:
    """Every result shape raises Err on err; a missing payload is None."""
    with pytest.raises(Err) as info:
        echo[func](arg)
    assert info.value.value == payload


@pytest.mark.parametrize(
    ("func", "arg"),
    [
        ("echo-result-string-string", Ok("a")),
        ("echo-result-string-string", Err("b")),
        ("echo-result-err-u32", Ok()),
        ("echo-result-err-u32", Err(3)),
        ("echo-result-empty", Err()),
    ],
)
def test_raw_call_returns_ok_or_err_objects(echo: Any, func: str, arg: Ok | Err) -> None:
    """raw=True returns the Ok/Err object itself instead of unwrapping or raising."""
    out = echo[func](arg, raw=True)
    assert type(out) is type(arg)
    assert out.value == arg.value


def test_raw_on_a_plain_function_returns_the_value(echo: Any) -> None:
    """raw=True on a function without a result type changes nothing."""
    assert echo.add(2, 3, raw=True) == 5


def test_noop_returns_none(echo: Any) -> None:
    """A function with no result returns None."""
    assert echo.noop() is None


# -- the export tree ----------------------------------------------------------------------


def test_interface_by_full_name_and_short_attribute(inst: omniwasm.Instance) -> None:
    """An interface is an item under its full name and an attribute under its short name."""
    assert inst.exports[ECHO] is inst.exports.echo
    assert list(inst.exports) == [ECHO]
    assert ECHO in inst.exports


def test_function_by_wit_name_and_snake_attribute(echo: Any) -> None:
    """A function is an item under its WIT name and an attribute under its snake_case name."""
    assert echo["echo-u32"](5) == echo.echo_u32(5) == 5
    assert echo["add"].sig == echo.add.sig
    assert "echo-list-u8" in list(echo)


def test_versioned_interface_short_name_and_world_function() -> None:
    """`my:pkg/my-api@1.0.0` is exports.my_api; a world-level export is exports.<snake name>."""
    rt = omniwasm.Runtime(cache=False)
    with rt.instantiate(rt.load(NAMES_WAT)) as inst:
        assert inst.exports.my_api.add_numbers(1, 2) == 3
        assert inst.exports["test:names/my-api@1.0.0"]["add-numbers"](3, 4) == 7
        assert inst.exports.sum_two(5, 6) == 11
        assert inst.exports["sum-two"](7, 8) == 15
        assert sorted(dir(inst.exports)) == ["my_api", "sum_two"]


def test_signature_names_parameters_in_snake_case() -> None:
    """inspect.signature shows the WIT parameters in snake_case, positional only."""
    rt = omniwasm.Runtime(cache=False)
    with rt.instantiate(rt.load(NAMES_WAT)) as inst:
        sig = inspect.signature(inst.exports.my_api.add_numbers)
        assert list(sig.parameters) == ["first_value", "max_words"]
        kinds = {p.kind for p in sig.parameters.values()}
        assert kinds == {inspect.Parameter.POSITIONAL_ONLY}
        assert list(inspect.signature(inst.exports.sum_two).parameters) == [
            "first_value",
            "max_words",
        ]


def test_docstring_and_help_show_wit_signature(echo: Any) -> None:
    """__doc__ and help() show the function's WIT signature."""
    wit = "echo-point: func(x: point) -> point"
    assert (echo.echo_point.__doc__ or "").startswith(wit)
    assert wit in pydoc.render_doc(echo.echo_point)
    assert "result<string, string>" in (echo.echo_result_string_string.__doc__ or "")
    assert echo.echo_u32.__name__ == "echo_u32"
    assert "echo-u32: func(x: u32) -> u32" in repr(echo.echo_u32)


def test_dir_lists_members(inst: omniwasm.Instance, echo: Any) -> None:
    """dir() lists interfaces by short name and functions by snake_case name."""
    assert dir(inst.exports) == ["echo"]
    names = dir(echo)
    assert {"add", "noop", "echo_point", "echo_list_u8", "echo_option_option_u32"} <= set(names)
    assert len(names) == len(echo) == 36


def test_unknown_names_raise_attribute_and_key_errors(inst: omniwasm.Instance, echo: Any) -> None:
    """Unknown interfaces and functions raise AttributeError/KeyError naming what was asked."""
    with pytest.raises(AttributeError, match="nope"):
        _ = inst.exports.nope
    with pytest.raises(KeyError, match="nope"):
        inst.exports["nope"]
    with pytest.raises(AttributeError, match="nope"):
        _ = echo.nope
    with pytest.raises(KeyError, match="echo_u32"):
        echo["echo_u32"]  # items use WIT names


def test_same_short_name_twice_is_ambiguous() -> None:
    """Two interfaces with one short name: the attribute and a bare name both refuse to guess."""
    rt = omniwasm.Runtime(cache=False)
    with rt.instantiate(rt.load(TWINS_WAT)) as inst:
        with pytest.raises(AttributeError, match="ambiguous"):
            _ = inst.exports.api
        with pytest.raises(omniwasm.OmniwasmError, match="ambiguous"):
            inst.func("add")
        assert inst.exports["a:one/api"].add(1, 2) == 3
        assert inst.call("b:two/api#add", 2, 2) == 4


def test_instance_func_and_call_accept_qualified_names(inst: omniwasm.Instance) -> None:
    """inst.func/inst.call find `add`, `iface#add` and `iface.add`, with the WIT doc."""
    assert inst.call("add", 1, 2) == 3
    assert inst.func(f"{ECHO}#add")(2, 2) == 4
    assert inst.func(f"{ECHO}.add")(3, 2) == 5
    assert "add: func(a: u32, b: u32) -> u32" in (inst.func("add").__doc__ or "")
    with pytest.raises(Err):
        inst.call("echo-result-empty", Err())


def test_instances_are_independent(types_code: tuple[omniwasm.Runtime, omniwasm.Compiled]) -> None:
    """Two instances of one component answer independently; closing one leaves the other."""
    rt, code = types_code
    a, b = rt.instantiate(code), rt.instantiate(code)
    a.close()
    assert b.exports.echo.add(1, 1) == 2
    with pytest.raises(omniwasm.OmniwasmError, match="closed"):
        a.exports.echo.add(1, 1)
    b.close()
