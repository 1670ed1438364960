"""Python host imports for a real component: values both ways, definition styles, link checks.

The guest is ``tests/fixtures/components/imports.wat``: each ``roundtrip-*`` export of
``test:types/roundtrip`` passes its argument to the ``test:types/host`` import of the same type
and returns what the Python host returned; ``call-log`` passes its argument to the world-level
import ``log``.
"""

from __future__ import annotations

import dataclasses
import enum
import threading
import traceback
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

import omniwasm
from omniwasm import Err, Ok, Some, Variant

HOST = "test:types/host"

# An unversioned import name is defined by the same name; this component imports a versioned
# interface, to check that a Linker entry without the version matches it.
VERSIONED_WAT = """(component
  (import "test:v/api@1.2.0" (instance $i (export "get" (func (param "x" u32) (result u32)))))
  (core func $get (canon lower (func $i "get")))
  (core module $m (import "" "get" (func $g (param i32) (result i32)))
    (func (export "run") (result i32) i32.const 41 call $g))
  (core instance $mi (instantiate $m (with "" (instance (export "get" (func $get))))))
  (func (export "run") (result u32) (canon lift (core func $mi "run")))
)"""


@pytest.fixture(scope="module")
def code(wat_component: Callable[[str], Path]) -> tuple[omniwasm.Runtime, omniwasm.Compiled]:
    """imports.wat compiled once for the module."""
    rt = omniwasm.Runtime(cache=False)
    return rt, rt.load(wat_component("imports"))


class Recorder:
    """Identity host functions for every `echo-*`, recording the values they receive."""

    def __init__(self, names: list[str]) -> None:
        self.got: dict[str, Any] = {}
        self.logs: list[str] = []
        self.members: dict[str, Callable[..., Any]] = {n: self._echo(n) for n in names}
        self.members["add"] = lambda a, b: a + b
        self.members["noop"] = lambda: None

    def _echo(self, name: str) -> Callable[[Any], Any]:
        def echo(x: Any) -> Any:
            self.got[name] = x
            return x

        return echo

    def linker(self, **overrides: Callable[..., Any]) -> omniwasm.Linker:
        """A linker defining every import, with some members replaced."""
        linker = omniwasm.Linker()
        linker.define(HOST, **{**self.members, **overrides})
        linker.define("log", self.logs.append)
        return linker


@pytest.fixture
def host(code: tuple[omniwasm.Runtime, omniwasm.Compiled]) -> Recorder:
    """Recording identity implementations of test:types/host."""
    iface = next(i for i in code[1].world.imports if i.name == HOST)
    return Recorder([f.name for f in iface.funcs if f.name.startswith("echo-")])  # type: ignore[union-attr]


def _instance(
    code: tuple[omniwasm.Runtime, omniwasm.Compiled], linker: omniwasm.Linker
) -> omniwasm.Instance:
    rt, compiled = code
    return rt.instantiate(compiled, imports=linker)


@pytest.fixture
def roundtrip(code: tuple[omniwasm.Runtime, omniwasm.Compiled], host: Recorder) -> Any:
    """The roundtrip interface of an instance linked to the recording host."""
    return _instance(code, host.linker()).exports.roundtrip


def _point(g: Any) -> Any:
    return g(1, -2, "hi")


# (type suffix, argument, what the host receives == what comes back). Records and enums are
# checked by class name and fields (their classes are generated per WIT type).
ROUND_TRIPS: list[tuple[str, Any, Any]] = [
    ("bool", True, True),
    ("s8", -128, -128),
    ("s16", 32767, 32767),
    ("s32", -(2**31), -(2**31)),
    ("s64", -(2**63), -(2**63)),
    ("u8", 255, 255),
    ("u16", 65535, 65535),
    ("u32", 2**32 - 1, 2**32 - 1),
    ("u64", 2**64 - 1, 2**64 - 1),
    ("f32", 1.25, 1.25),
    ("f64", -2.5e-300, -2.5e-300),
    ("char", "🎉", "🎉"),
    ("string", "héllo wörld", "héllo wörld"),
    ("string", "", ""),
    ("list-u8", bytearray(b"\x00\xff"), b"\x00\xff"),
    ("list-u8", memoryview(b""), b""),
    ("list-u32", [1, 2, 3], [1, 2, 3]),
    ("list-string", ["a", "", "z"], ["a", "", "z"]),
    ("tuple", [1, "a", 2.5], (1, "a", 2.5)),
    ("perms", ["write", "read"], frozenset({"read", "write"})),
    ("shape", Variant("circle", 3.0), Variant("circle", 3.0)),
    ("shape", "empty", Variant("empty")),
    ("option-string", None, None),
    ("option-string", "z", "z"),
    ("option-option-u32", None, None),
    ("option-option-u32", Some(None), Some(None)),
    ("option-option-u32", 9, Some(9)),
]


@pytest.mark.parametrize(("kind", "arg", "expected"), ROUND_TRIPS, ids=[r[0] for r in ROUND_TRIPS])
def test_value_round_trips_through_host_import(
    roundtrip: Any, host: Recorder, kind: str, arg: Any, expected: Any
) -> None:
    """Each WIT type reaches the Python host import in canonical form and comes back equal."""
    out = roundtrip[f"roundtrip-{kind}"](arg)
    received = host.got[f"echo-{kind}"]
    assert received == expected
    assert type(received) is type(expected)
    assert out == expected
    assert type(out) is type(expected)


@pytest.mark.parametrize("kind", ["string-utf16", "string-latin1"])
def test_other_string_encodings_reach_the_host_as_str(
    roundtrip: Any, host: Recorder, kind: str
) -> None:
    """The guest's utf16 and latin1+utf16 strings arrive in Python as the same str."""
    text = "héllo 🎉 𝄞"
    assert roundtrip[f"roundtrip-{kind}"](text) == text
    assert host.got["echo-string"] == text


def test_host_receives_record_as_generated_dataclass(roundtrip: Any, host: Recorder) -> None:
    """A record reaches the host as the generated frozen dataclass with snake_case fields."""
    out = roundtrip.roundtrip_point({"x": 1, "y": -2, "label-text": "hi"})
    got = host.got["echo-point"]
    assert dataclasses.is_dataclass(got)
    assert type(got).__name__ == "Point"
    assert (got.x, got.y, got.label_text) == (1, -2, "hi")
    assert out == got


def test_host_receives_list_of_records(roundtrip: Any, host: Recorder) -> None:
    """A list of records reaches the host as a list of generated dataclasses."""
    roundtrip.roundtrip_list_point([{"x": 1, "y": 2, "label_text": "a"}])
    [got] = host.got["echo-list-point"]
    assert (type(got).__name__, got.label_text) == ("Point", "a")


def test_host_receives_variant_with_record_payload(roundtrip: Any, host: Recorder) -> None:
    """A variant's record payload reaches the host as a generated dataclass."""
    roundtrip.roundtrip_shape(Variant("rect", {"x": 3, "y": 4, "label-text": "r"}))
    got = host.got["echo-shape"]
    assert got.case == "rect"
    assert (type(got.value).__name__, got.value.x) == ("Point", 3)


def test_host_receives_enum_member(roundtrip: Any, host: Recorder) -> None:
    """An enum reaches the host as a member of the generated enum.Enum."""
    out = roundtrip.roundtrip_color("blue-ish")
    got = host.got["echo-color"]
    assert isinstance(got, enum.Enum)
    assert (type(got).__name__, got.name, got.value) == ("Color", "BLUE_ISH", "blue-ish")
    assert out is got


@pytest.mark.parametrize(
    ("kind", "arg"),
    [
        ("result-string-string", Ok("a")),
        ("result-string-string", Err("b")),
        ("result-err-u32", Ok()),
        ("result-err-u32", Err(5)),
        ("result-ok-u32", Ok(6)),
        ("result-ok-u32", Err()),
        ("result-empty", Ok()),
        ("result-empty", Err()),
    ],
)
def test_host_receives_results_as_ok_err_objects(
    roundtrip: Any, host: Recorder, kind: str, arg: Ok | Err
) -> None:
    """A result parameter reaches the host as an Ok/Err object; returning it passes it back."""
    out = roundtrip[f"roundtrip-{kind}"](arg, raw=True)
    got = host.got[f"echo-{kind}"]
    assert (type(got), got.value) == (type(arg), arg.value)
    assert (type(out), out.value) == (type(arg), arg.value)


def test_add_and_noop_reach_the_host(roundtrip: Any) -> None:
    """Two-parameter and no-result imports are called with the guest's arguments."""
    assert roundtrip.roundtrip_add(2, 3) == 5
    assert roundtrip.roundtrip_noop() is None


@pytest.mark.parametrize(
    ("kind", "returned", "expected"),
    [
        ("point", {"x": 5, "y": 6, "label-text": "from dict"}, (5, 6, "from dict")),
        ("point", SimpleNamespace(x=7, y=8, label_text="attrs"), (7, 8, "attrs")),
        ("color", "green", "green"),
        ("list-u8", bytearray(b"xyz"), b"xyz"),
        ("tuple", [2, "b", 0.5], (2, "b", 0.5)),
        ("perms", {"exec"}, frozenset({"exec"})),
        ("option-option-u32", 4, Some(4)),
    ],
)
def test_host_may_return_loose_forms(
    code: tuple[omniwasm.Runtime, omniwasm.Compiled],
    host: Recorder,
    kind: str,
    returned: Any,
    expected: Any,
) -> None:
    """A host import may return any accepted form (dict for a record, str for an enum...)."""
    inst = _instance(code, host.linker(**{f"echo-{kind}": lambda _x: returned}))
    arg = {
        "point": {"x": 0, "y": 0, "label-text": ""},
        "color": "red",
        "list-u8": b"",
        "tuple": (0, "", 0.0),
        "perms": set(),
        "option-option-u32": None,
    }[kind]
    out = inst.exports.roundtrip[f"roundtrip-{kind}"](arg)
    if kind == "point":
        assert (out.x, out.y, out.label_text) == expected
    elif kind == "color":
        assert out.value == expected
    else:
        assert out == expected


def test_host_returning_plain_value_for_result_is_ok(
    code: tuple[omniwasm.Runtime, omniwasm.Compiled], host: Recorder
) -> None:
    """A host import returning result<T, E> may return the plain ok value."""
    inst = _instance(code, host.linker(**{"echo-result-string-string": lambda _x: "plain"}))
    out = inst.exports.roundtrip.roundtrip_result_string_string(Err("x"), raw=True)
    assert out == Ok("plain")


def test_host_raising_err_returns_err_to_the_guest(
    code: tuple[omniwasm.Runtime, omniwasm.Compiled], host: Recorder
) -> None:
    """A host import returning result<T, E> may raise omniwasm.Err: the guest gets err(E)."""

    def refuse(_x: Any) -> str:
        raise Err("refused by host")

    inst = _instance(code, host.linker(**{"echo-result-string-string": refuse}))
    with pytest.raises(Err) as info:
        inst.exports.roundtrip.roundtrip_result_string_string(Ok("x"))
    assert info.value.value == "refused by host"


# -- how imports are defined ---------------------------------------------------------------


def test_world_level_import_is_defined_by_name(
    code: tuple[omniwasm.Runtime, omniwasm.Compiled], host: Recorder
) -> None:
    """A world-level import (`log`) is defined with define("log", fn) and called."""
    inst = _instance(code, host.linker())
    assert inst.exports.call_log("hello") is None
    assert inst.exports["call-log"]("again") is None
    assert host.logs == ["hello", "again"]


def test_define_with_an_implementation_object(
    code: tuple[omniwasm.Runtime, omniwasm.Compiled], host: Recorder
) -> None:
    """define(name, obj) takes members from the object's snake_case attributes."""

    class Impl:
        def __init__(self) -> None:
            self.calls: list[str] = []

        def add(self, a: int, b: int) -> int:
            self.calls.append("add")
            return a * 100 + b

        def noop(self) -> None:
            self.calls.append("noop")

        def __getattr__(self, name: str) -> Any:
            if name.startswith("echo_"):
                return lambda x: x
            raise AttributeError(name)

    impl = Impl()
    linker = omniwasm.Linker().define(HOST, impl).define("log", print)
    rt, compiled = code
    inst = rt.instantiate(compiled, imports=linker)
    assert inst.exports.roundtrip.roundtrip_add(2, 3) == 203
    inst.exports.roundtrip.roundtrip_noop()
    assert inst.exports.roundtrip.roundtrip_string("via impl") == "via impl"
    assert impl.calls == ["add", "noop"]


def test_keyword_members_override_the_implementation_object(
    code: tuple[omniwasm.Runtime, omniwasm.Compiled], host: Recorder
) -> None:
    """Keyword members win over the attributes of the implementation object."""
    impl = SimpleNamespace(**{k.replace("-", "_"): v for k, v in host.members.items()})
    linker = omniwasm.Linker().define(HOST, impl, add=lambda a, b: a - b).define("log", print)
    inst = _instance(code, linker)
    assert inst.exports.roundtrip.roundtrip_add(5, 3) == 2


def test_decorators_define_functions(
    code: tuple[omniwasm.Runtime, omniwasm.Compiled], host: Recorder
) -> None:
    """@linker.function defines a member from the function's name, or from an explicit name."""
    linker = host.linker()

    @linker.function(HOST)
    def add(a: int, b: int) -> int:
        return a + b + 1000

    @linker.function(HOST, "echo-u32")
    def twice(x: int) -> int:
        return x * 2

    @linker.function("log")
    def log(msg: str) -> None:  # a world-level function: its name is the import's
        host.logs.append(f"decorated {msg}")

    inst = _instance(code, linker)
    assert inst.exports.roundtrip.roundtrip_add(1, 2) == 1003
    assert inst.exports.roundtrip.roundtrip_u32(21) == 42
    inst.exports.call_log("hi")
    assert host.logs == ["decorated hi"]
    assert add(1, 1) == 1002  # the decorator returns the function unchanged


def test_world_level_import_can_be_redefined(
    code: tuple[omniwasm.Runtime, omniwasm.Compiled], host: Recorder
) -> None:
    """define(name, fn) again replaces a world-level import for later instances."""
    seen: list[str] = []
    linker = host.linker().define("log", seen.append)
    _instance(code, linker).exports.call_log("replaced")
    assert seen == ["replaced"]
    assert host.logs == []


def test_unversioned_name_matches_versioned_import() -> None:
    """define("my:pkg/iface") implements an import of "my:pkg/iface@1.2.0"; exact wins."""
    rt = omniwasm.Runtime(cache=False)
    code = rt.load(VERSIONED_WAT)
    linker = omniwasm.Linker().define("test:v/api", get=lambda x: x + 1)
    assert rt.instantiate(code, imports=linker).exports.run() == 42
    linker.define("test:v/api@1.2.0", get=lambda x: x * 2)
    assert rt.instantiate(code, imports=linker).exports.run() == 82


def test_redefining_after_instantiation_takes_effect(
    code: tuple[omniwasm.Runtime, omniwasm.Compiled], host: Recorder
) -> None:
    """A linker redefined after one instantiation links the new function into the next."""
    linker = host.linker()
    assert _instance(code, linker).exports.roundtrip.roundtrip_add(1, 1) == 2
    linker.define(HOST, add=lambda a, b: 0)
    assert _instance(code, linker).exports.roundtrip.roundtrip_add(1, 1) == 0


# -- link checks ---------------------------------------------------------------------------


def test_link_error_lists_every_missing_and_mismatched_import(
    code: tuple[omniwasm.Runtime, omniwasm.Compiled], host: Recorder
) -> None:
    """Missing imports and wrong arities are reported together, once each, before anything runs."""
    calls: list[str] = []
    members = {k: v for k, v in host.members.items() if k not in {"echo-string", "echo-u8"}}
    members["add"] = lambda a: calls.append("add")
    members["noop"] = lambda extra: calls.append("noop")
    linker = omniwasm.Linker().define(HOST, **members)
    rt, compiled = code
    with pytest.raises(omniwasm.LinkError) as info:
        rt.instantiate(compiled, imports=linker)
    named = [(m.module, m.name) for m in info.value.missing]
    assert sorted(named) == sorted(
        [
            (HOST, "add"),
            (HOST, "noop"),
            (HOST, "echo-string"),
            (HOST, "echo-u8"),
            ("log", ""),
        ]
    )
    text = str(info.value)
    assert "5 unsatisfied import(s)" in text
    assert "add: func(a: u32, b: u32) -> u32" in text
    assert "does not take 2 argument(s)" in text
    assert calls == []


def test_no_linker_lists_every_import(code: tuple[omniwasm.Runtime, omniwasm.Compiled]) -> None:
    """Without a linker, every non-WASI import of the component is listed with its type."""
    rt, compiled = code
    with pytest.raises(omniwasm.LinkError) as info:
        rt.instantiate(compiled)
    assert len(info.value.missing) == 31
    assert "echo-option-option-u32: func(x: option<option<u32>>)" in str(info.value)


def test_a_dict_of_imports_is_refused_for_a_component(
    code: tuple[omniwasm.Runtime, omniwasm.Compiled],
) -> None:
    """Component imports are defined with a Linker; a core-style dict is a clear LinkError."""
    rt, compiled = code
    with pytest.raises(omniwasm.LinkError, match="Linker"):
        rt.instantiate(compiled, imports={HOST: {"add": lambda a, b: a + b}})


# -- host functions that fail --------------------------------------------------------------


def test_host_exception_becomes_host_function_error_with_traceback(
    code: tuple[omniwasm.Runtime, omniwasm.Compiled], host: Recorder
) -> None:
    """A Python exception in a host function raises HostFunctionError from it, traceback kept."""

    def explode(x: int) -> int:
        raise ValueError(f"boom {x}")

    inst = _instance(code, host.linker(**{"echo-u32": explode}))
    with pytest.raises(omniwasm.HostFunctionError) as info:
        inst.exports.roundtrip.roundtrip_u32(7)
    cause = info.value.__cause__
    assert isinstance(cause, ValueError)
    assert str(cause) == "boom 7"
    assert traceback.extract_tb(cause.__traceback__)[-1].name == "explode"
    assert "test:types/host#echo-u32" in str(info.value)
    assert "ValueError: boom 7" in str(info.value)


def test_host_exception_then_a_fresh_instance_works(
    code: tuple[omniwasm.Runtime, omniwasm.Compiled], host: Recorder
) -> None:
    """After a host function raised, the instance refuses calls; a fresh instance works."""
    fail = {"on": True}

    def flaky(x: int) -> int:
        if fail["on"]:
            raise RuntimeError("flaky")
        return x

    linker = host.linker(**{"echo-u32": flaky})
    inst = _instance(code, linker)
    with pytest.raises(omniwasm.HostFunctionError):
        inst.exports.roundtrip.roundtrip_u32(1)
    with pytest.raises(omniwasm.ExecutionError, match="instantiate a fresh one"):
        inst.exports.roundtrip.roundtrip_add(1, 1)
    fail["on"] = False
    assert _instance(code, linker).exports.roundtrip.roundtrip_u32(9) == 9


@pytest.mark.parametrize(
    ("kind", "returned", "expected"),
    [
        ("u32", "nope", "u32"),
        ("u8", 300, "u8"),
        ("s8", -129, "s8"),
        ("string", b"bytes", "string"),
        ("point", 5, "point"),
        ("color", "purple", "color"),
        ("list-u32", [1, -1], "u32"),
        ("char", "two", "char"),
        ("bool", 1, "bool"),
    ],
)
def test_wrong_return_type_is_a_conversion_error_naming_the_function(
    code: tuple[omniwasm.Runtime, omniwasm.Compiled],
    host: Recorder,
    kind: str,
    returned: Any,
    expected: str,
) -> None:
    """A wrong return type is a HostFunctionError from a ValueConversionError naming it.

    The conversion error names the host function, the value returned and the WIT type.
    """
    inst = _instance(code, host.linker(**{f"echo-{kind}": lambda *_a: returned}))
    arg = {"point": {"x": 0, "y": 0, "label-text": ""}, "color": "red", "string": "s"}
    default: Any = {"list-u32": [], "char": "c", "bool": True}.get(kind, 0)
    with pytest.raises(omniwasm.HostFunctionError) as info:
        inst.exports.roundtrip[f"roundtrip-{kind}"](arg.get(kind, default))
    cause = info.value.__cause__
    assert isinstance(cause, omniwasm.ValueConversionError)
    assert cause.function == f"{HOST}#echo-{kind}"
    assert cause.param.startswith("<return>")
    assert expected in cause.expected


def test_system_exit_in_host_function_propagates(
    code: tuple[omniwasm.Runtime, omniwasm.Compiled], host: Recorder
) -> None:
    """SystemExit raised by a host function reaches the caller as itself (the program exits)."""

    def leave(_x: int) -> int:
        raise SystemExit(3)

    inst = _instance(code, host.linker(**{"echo-u32": leave}))
    with pytest.raises(SystemExit) as info:
        inst.exports.roundtrip.roundtrip_u32(1)
    assert info.value.code == 3


def test_host_function_may_call_back_into_its_instance(
    code: tuple[omniwasm.Runtime, omniwasm.Compiled], host: Recorder
) -> None:
    """A host function may call another export of the instance that called it."""
    box: dict[str, Any] = {}

    def echo_string(x: str) -> str:
        if x.startswith("again:"):
            return "outer(" + box["inst"].exports.roundtrip.roundtrip_string(x[6:]) + ")"
        return x.upper()

    box["inst"] = inst = _instance(code, host.linker(**{"echo-string": echo_string}))
    assert inst.exports.roundtrip.roundtrip_string("again:again:x") == "outer(outer(X))"
    assert inst.exports.roundtrip.roundtrip_add(1, 2) == 3


def test_two_threads_share_one_instance(
    code: tuple[omniwasm.Runtime, omniwasm.Compiled], host: Recorder
) -> None:
    """Two threads calling one instance (export and host import) are serialised, not crossed."""
    inst = _instance(code, host.linker())
    rt = inst.exports.roundtrip
    errors: list[BaseException] = []

    def work(k: int) -> None:
        try:
            for i in range(300):
                assert rt.roundtrip_string(f"{k}-{i}") == f"{k}-{i}"
                assert rt.roundtrip_list_u32([k, i]) == [k, i]
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_annotation_clash_is_reported_at_link_time(
    code: tuple[omniwasm.Runtime, omniwasm.Compiled], host: Recorder
) -> None:
    """A host function annotated `str` for a u32 parameter is a LinkError naming both types."""

    def echo_u32(x: str) -> str:
        return x

    rt, compiled = code
    with pytest.raises(omniwasm.LinkError) as info:
        rt.instantiate(compiled, imports=host.linker(**{"echo-u32": echo_u32}))
    (problem,) = info.value.missing
    assert problem.name == "echo-u32"
    assert "annotated str" in problem.type
    assert "u32" in problem.type


def test_matching_and_generic_annotations_link(
    code: tuple[omniwasm.Runtime, omniwasm.Compiled], host: Recorder
) -> None:
    """Annotations that fit (int for u32, bytes for list<u8>) or are not plain classes link."""

    def echo_u32(x: int) -> int:
        return x

    def echo_list_u8(x: bytes) -> bytes:
        return x

    def echo_list_string(x: list[str]) -> list[str]:
        return x

    rt, compiled = code
    linker = host.linker(
        **{"echo-u32": echo_u32, "echo-list-u8": echo_list_u8, "echo-list-string": echo_list_string}
    )
    inst = rt.instantiate(compiled, imports=linker)
    assert inst.exports.roundtrip.roundtrip_u32(5) == 5
