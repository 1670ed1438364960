"""`omniwasm run --invoke` / `omniwasm invoke` on a component, against `wasmtime run --invoke`.

Both print the result in WAVE; the guest is ``tests/fixtures/components/types.wat``.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

ECHO = "test:types/echo"

# Calls whose output must be byte-for-byte what `wasmtime run --invoke` prints.
SAME_AS_WASMTIME = [
    'echo-point({x: 1, y: -2, label-text: "a\\"b"})',
    'echo-shape(rect({x: 1, y: 2, label-text: ""}))',
    "echo-shape(circle(1.5))",
    "echo-shape(empty)",
    "echo-color(blue-ish)",
    "echo-perms({read, exec})",
    "echo-perms({})",
    "echo-option-string(none)",
    'echo-option-string(some("x"))',
    "echo-option-option-u32(some(none))",
    "echo-option-option-u32(some(some(3)))",
    'echo-result-string-string(ok("fine"))',
    'echo-result-string-string(err("bad"))',
    "echo-result-empty(ok)",
    "echo-result-empty(err)",
    "echo-result-err-u32(err(3))",
    "echo-result-ok-u32(ok(4))",
    "echo-list-u32([1, 2, 3])",
    "echo-list-u8([0, 255])",
    "echo-list-string([])",
    'echo-list-point([{x: 1, y: 2, label-text: "p"}])',
    'echo-tuple((1, "s", 2.5))',
    'echo-string("tab\\t nl\\n quote\\" backslash\\\\ nul\\u{0} \\u{1b} é 🎉")',
    "echo-char('\\'')",
    "echo-char('\\n')",
    "echo-char('🎉')",
    "echo-bool(true)",
    "echo-s64(-9223372036854775808)",
    "echo-u64(18446744073709551615)",
    "echo-f32(0.1)",
    "echo-f64(123456789.125)",
    "echo-f64(nan)",
    "echo-f64(-inf)",
    "add(1, 2)",
    "noop()",
    # Rust `Display` floats (no exponent, no ".0") and wasm-wave's escapes of both quote
    # characters and of invisible code points.
    "echo-f64(2)",
    "echo-f64(-0.0)",
    "echo-f64(1e300)",
    "echo-f64(1e-7)",
    'echo-string("it\'s")',
    "echo-char('\"')",
    'echo-string("\\u{feff}\\u{200b}")',
]


def _run(cmd: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=60)


@pytest.fixture(scope="module")
def types_wasm(wat_component: Callable[[str], Path]) -> str:
    """The types.wat component's path."""
    return str(wat_component("types"))


def _compare(reference_wasmtime: str, omniwasm_cli: list[str], wasm: str, call: str) -> None:
    ref = _run([reference_wasmtime, "run", "--invoke", call, wasm])
    ours = _run([*omniwasm_cli, "run", "--invoke", call, wasm])
    assert ref.returncode == 0, ref.stderr
    assert ours.returncode == 0, ours.stderr
    assert ours.stdout == ref.stdout


@pytest.mark.reference
@pytest.mark.parametrize("call", SAME_AS_WASMTIME)
def test_run_invoke_prints_what_wasmtime_prints(
    reference_wasmtime: str, omniwasm_cli: list[str], types_wasm: str, call: str
) -> None:
    """`omniwasm run --invoke CALL` prints exactly the stdout of `wasmtime run --invoke CALL`."""
    _compare(reference_wasmtime, omniwasm_cli, types_wasm, call)


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        ("noop()", "()\n"),
        ("add(40, 2)", "42\n"),
        ('echo-option-string(some("x"))', 'some("x")\n'),
        ("echo-color(blue-ish)", "blue-ish\n"),
    ],
)
def test_invoke_alias_prints_wave(
    omniwasm_cli: list[str], types_wasm: str, call: str, expected: str
) -> None:
    """`omniwasm invoke FILE CALL` prints the result in WAVE (`()` for no result)."""
    proc = _run([*omniwasm_cli, "invoke", types_wasm, call])
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == expected


@pytest.mark.parametrize(
    "call", [f"{ECHO}#add(1, 2)", f"{ECHO}.add(1, 2)", f" {ECHO}#add (1, 2)", "add(1, 2)"]
)
def test_qualified_names_work(omniwasm_cli: list[str], types_wasm: str, call: str) -> None:
    """A function may be named bare, as `iface#name` or as `iface.name`."""
    proc = _run([*omniwasm_cli, "run", "--invoke", call, types_wasm])
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "3\n"


def test_bare_name_takes_wave_arguments_after_the_file(
    omniwasm_cli: list[str], types_wasm: str
) -> None:
    """`run --invoke NAME FILE ARGS...` parses each extra argument as one WAVE value."""
    proc = _run(
        [*omniwasm_cli, "run", "--invoke", f"{ECHO}#echo-tuple", types_wasm, '(1, "#(", 2.5)']
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == '(1, "#(", 2.5)\n'


@pytest.mark.parametrize(
    ("call", "needle"),
    [
        ("echo-u8(256)", "echo-u8"),
        ("echo-u8(-1)", "u8"),
        ("echo-point({x: 1})", "missing field"),
        ('echo-point("str")', "echo-point"),
        ("echo-color(purple)", "purple"),
        ("echo-bool(1)", "bool"),
        ("add(1)", "add"),
        ("add(1, 2, 3)", "add"),
        ("add(1, 2", "')'"),
        ('echo-string("bad \\q escape")', "escape"),
        ("echo-list-u32([1, x])", "echo-list-u32"),
    ],
)
def test_bad_wave_input_exits_64_with_one_line(
    omniwasm_cli: list[str], types_wasm: str, call: str, needle: str
) -> None:
    """Malformed or ill-typed WAVE arguments exit 64 with one clear line on stderr."""
    proc = _run([*omniwasm_cli, "run", "--invoke", call, types_wasm])
    assert proc.returncode == 64, proc.stderr
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("omniwasm: error:")
    assert needle in lines[0]


def test_unknown_function_is_a_one_line_error(omniwasm_cli: list[str], types_wasm: str) -> None:
    """Invoking a function the component does not export fails with one line naming it."""
    proc = _run([*omniwasm_cli, "run", "--invoke", "nope()", types_wasm])
    assert proc.returncode != 0
    assert proc.stderr.strip().count("\n") == 0
    assert "nope" in proc.stderr


def test_trap_exits_134(omniwasm_cli: list[str], types_wasm: str) -> None:
    """A guest trap during --invoke exits 134 with one line, like a trapping command."""
    proc = _run([*omniwasm_cli, "run", "--invoke", "trap()", types_wasm])
    assert proc.returncode == 134, proc.stderr
    assert "unreachable" in proc.stderr


def test_timeout_applies_to_invoke(omniwasm_cli: list[str], types_wasm: str) -> None:
    """--timeout stops an endless export call."""
    proc = _run([*omniwasm_cli, "run", "--timeout", "200ms", "--invoke", "spin()", types_wasm])
    assert proc.returncode != 0
    assert "timeout" in proc.stderr.lower()
