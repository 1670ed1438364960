"""Bad input and misbehaving guests against a real component: clear errors, never a crash.

The guest is ``tests/fixtures/components/types.wat``: besides the ``echo-*`` functions it has
``bad-string`` (returns the bytes ``ff fe`` as a string), ``trap`` (``unreachable``), ``spin``
(loops forever) and ``hog`` (grows memory until refused, then traps).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import omniwasm
from omniwasm import Err, Policy, Variant

ECHO = "test:types/echo"
POINT = {"x": 1, "y": 2, "label-text": "p"}


@pytest.fixture(scope="module")
def runtime() -> omniwasm.Runtime:
    """One runtime for the module (no cache)."""
    return omniwasm.Runtime(cache=False)


@pytest.fixture(scope="module")
def code(runtime: omniwasm.Runtime, wat_component: Callable[[str], Path]) -> omniwasm.Compiled:
    """types.wat, compiled once."""
    return runtime.load(wat_component("types"))


@pytest.fixture
def inst(runtime: omniwasm.Runtime, code: omniwasm.Compiled) -> Iterator[omniwasm.Instance]:
    """A fresh instance with a generous timeout, so a bug cannot hang the suite."""
    with runtime.instantiate(code, Policy(timeout=30)) as inst:
        yield inst


@pytest.fixture
def echo(inst: omniwasm.Instance) -> Any:
    """The echo interface of a fresh instance."""
    return inst.exports.echo


# (function, argument, parameter path named in the error, WIT type expected there)
BAD_ARGUMENTS: list[tuple[str, Any, str, str]] = [
    ("echo-u8", 256, "x", "u8"),
    ("echo-u8", -1, "x", "u8"),
    ("echo-s8", -129, "x", "s8"),
    ("echo-s16", 2**15, "x", "s16"),
    ("echo-u16", 2**16, "x", "u16"),
    ("echo-s32", 2**31, "x", "s32"),
    ("echo-u32", 2**32, "x", "u32"),
    ("echo-u32", -1, "x", "u32"),
    ("echo-s64", 2**63, "x", "s64"),
    ("echo-u64", 2**64, "x", "u64"),
    ("echo-u64", -1, "x", "u64"),
    ("echo-u32", 1.5, "x", "u32"),
    ("echo-u32", "1", "x", "u32"),
    ("echo-u32", True, "x", "u32"),
    ("echo-bool", 1, "x", "bool"),
    ("echo-f64", "1.0", "x", "f64"),
    ("echo-f32", 1e40, "x", "f32"),
    ("echo-char", "ab", "x", "char"),
    ("echo-char", "", "x", "char"),
    ("echo-char", "\ud800", "x", "char"),
    ("echo-string", 5, "x", "string"),
    ("echo-string", None, "x", "string"),
    ("echo-string", b"bytes", "x", "string"),
    ("echo-string", "lone \ud800 surrogate", "x", "string"),
    ("echo-point", "a string", "x", "record point"),
    ("echo-point", 5, "x", "record point"),
    ("echo-point", {"x": 1, "y": 2}, "x.label_text", "label-text"),
    ("echo-point", {**POINT, "x": "1"}, "x.x", "s32"),
    ("echo-list-point", [POINT, {**POINT, "y": 2**40}], "x[1].y", "s32"),
    ("echo-list-u32", 5, "x", "list<u32>"),
    ("echo-list-u32", [1, -1], "x[1]", "u32"),
    ("echo-list-u8", "text", "x", "list<u8>"),
    ("echo-list-u8", [1, 256], "x|x[1]", "u8"),  # stock names the list, omniwasm the item
    ("echo-list-string", "abc", "x", "list<string>"),
    ("echo-tuple", (1, "a"), "x", "tuple<u8, string, f64>"),
    ("echo-tuple", (1, 2, 3.0), "x[1]", "string"),
    ("echo-shape", Variant("square", 1.0), "x", "shape"),
    ("echo-shape", Variant("rect", {**POINT, "label-text": 3}), "x(rect).label_text", "string"),
    ("echo-color", "purple", "x", "color"),
    ("echo-color", 0, "x", "color"),
    ("echo-perms", "read", "x", "perms"),
    ("echo-perms", {"read", "fly"}, "x", "perms"),
    ("echo-option-string", 5, "x", "string"),
    ("echo-option-option-u32", "x", "x", "u32"),
    ("echo-result-string-string", "plain", "x", "result<string, string>"),
    ("echo-result-string-string", Err(5), "x(err)", "string"),
]


@pytest.mark.parametrize(
    ("func", "arg", "param", "expected"),
    BAD_ARGUMENTS,
    ids=[f"{f}-{i}" for i, (f, *_) in enumerate(BAD_ARGUMENTS)],
)
def test_bad_argument_names_function_parameter_and_type(
    echo: Any, func: str, arg: Any, param: str, expected: str
) -> None:
    """A wrong or out-of-range argument raises ValueConversionError naming where and what.

    ``param`` lists the names either backend may give (``|``).
    """
    with pytest.raises(omniwasm.ValueConversionError) as info:
        echo[func](arg)
    err = info.value
    assert err.function == f"{ECHO}#{func}"
    assert err.param in param.split("|")
    assert expected in err.expected
    assert isinstance(err, TypeError)
    assert f"{ECHO}#{func}" in str(err)
    assert echo.add(1, 2) == 3  # nothing ran: the instance is fine


@pytest.mark.parametrize("args", [(), (1,), (1, 2, 3)])
def test_wrong_arity_names_the_signature(echo: Any, args: tuple[int, ...]) -> None:
    """Too few or too many arguments raise ValueConversionError quoting the WIT signature."""
    with pytest.raises(omniwasm.ValueConversionError) as info:
        echo.add(*args)
    assert "add: func(a: u32, b: u32) -> u32" in str(info.value)
    assert f"{len(args)} argument(s)" in str(info.value)


def test_keyword_arguments_are_refused(echo: Any) -> None:
    """Component functions are positional only; a keyword argument is a TypeError."""
    with pytest.raises(TypeError):
        echo.add(a=1, b=2)


def test_invalid_utf8_from_guest_is_an_error_then_fresh_instance_works(
    runtime: omniwasm.Runtime, code: omniwasm.Compiled, echo: Any
) -> None:
    """A guest string that is not UTF-8 raises ExecutionError; a fresh instance still works."""
    with pytest.raises(omniwasm.ExecutionError, match="utf-8"):
        echo.bad_string()
    with pytest.raises(omniwasm.ExecutionError, match="instantiate a fresh one"):
        echo.add(1, 2)
    with runtime.instantiate(code) as fresh:
        assert fresh.exports.echo.echo_string("ok") == "ok"


def test_trap_mid_call_then_instance_is_unusable(
    runtime: omniwasm.Runtime, code: omniwasm.Compiled, echo: Any
) -> None:
    """A trapping guest raises Trap (code, frames); the instance then says it is unusable."""
    with pytest.raises(omniwasm.Trap) as info:
        echo.trap()
    assert info.value.code == "unreachable"
    assert info.value.frames
    with pytest.raises(omniwasm.ExecutionError) as again:
        echo.echo_u32(1)
    text = str(again.value)
    assert "cannot be entered again" in text
    assert "Trap" in text
    assert "instantiate a fresh one" in text
    assert not isinstance(again.value, omniwasm.Trap)
    with runtime.instantiate(code) as fresh:
        assert fresh.exports.echo.add(2, 2) == 4


def test_spin_stops_at_the_timeout(runtime: omniwasm.Runtime, code: omniwasm.Compiled) -> None:
    """An endless loop under a timeout policy raises Timeout; the runtime goes on."""
    with runtime.instantiate(code, Policy(timeout=0.2)) as inst:
        with pytest.raises(omniwasm.Timeout):
            inst.exports.echo.spin()
        with pytest.raises(omniwasm.ExecutionError, match="fresh"):
            inst.exports.echo.noop()
    with runtime.instantiate(code, Policy(timeout=0.2)) as fresh:
        assert fresh.exports.echo.add(1, 1) == 2


def test_spin_stops_when_fuel_runs_out(wat_component: Callable[[str], Path]) -> None:
    """An endless loop with a fuel budget raises OutOfFuel with the budget."""
    rt = omniwasm.Runtime(fuel=True, cache=False)
    code = rt.load(wat_component("types"))
    with rt.instantiate(code, Policy(fuel=50_000)) as inst:
        with pytest.raises(omniwasm.OutOfFuel) as info:
            inst.exports.echo.spin()
        assert info.value.limit == 50_000


def test_memory_hog_is_stopped_by_max_memory(
    runtime: omniwasm.Runtime, code: omniwasm.Compiled
) -> None:
    """A guest growing memory past max_memory is refused and stops with an ExecutionError.

    (Attributing it to MemoryLimitExceeded is a known gap for components: see the strict
    xfail in tests/engine/test_limits.py. What is stable is a Trap, not a hang or a crash.)
    """
    with runtime.instantiate(code, Policy(max_memory="2MiB", timeout=30)) as inst:
        with pytest.raises(omniwasm.ExecutionError) as info:
            inst.exports.echo.hog()
        assert isinstance(info.value, omniwasm.Trap | omniwasm.MemoryLimitExceeded)
    with runtime.instantiate(code, Policy(max_memory="2MiB")) as fresh:
        assert fresh.exports.echo.add(3, 4) == 7


def test_calls_after_close_raise_cleanly(inst: omniwasm.Instance, echo: Any) -> None:
    """Every call after close() raises OmniwasmError saying the instance is closed."""
    add = echo.add
    inst.close()
    inst.close()  # idempotent
    for call in (lambda: add(1, 2), lambda: echo.echo_string("x"), lambda: inst.call("add", 1, 2)):
        with pytest.raises(omniwasm.OmniwasmError, match="closed"):
            call()


def test_closing_an_instance_from_its_own_host_call_is_refused(
    wat_component: Callable[[str], Path],
) -> None:
    """A host function closing the instance that is calling it gets an error, not a crash."""
    rt = omniwasm.Runtime(cache=False)
    code = rt.load(wat_component("imports"))
    iface = next(i for i in code.world.imports if i.name == "test:types/host")
    box: dict[str, omniwasm.Instance] = {}
    members: dict[str, Any] = {f.name: (lambda x: x) for f in iface.funcs}  # type: ignore[union-attr]
    members.update(add=lambda a, b: a + b, noop=lambda: None)
    linker = omniwasm.Linker().define("test:types/host", **members)
    linker.define("log", lambda msg: box["inst"].close())
    box["inst"] = inst = rt.instantiate(code, imports=linker)
    with pytest.raises(omniwasm.HostFunctionError, match="log") as info:
        inst.exports.call_log("bye")
    assert "inside one of its own calls" in str(info.value.__cause__)
    assert not inst.closed
    inst.close()
    assert inst.closed
