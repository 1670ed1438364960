"""Policy limits stop a guest with the right error, and the runtime stays usable afterwards."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import wasmtime

from omniwasm import (
    ExecutionError,
    LimitExceeded,
    MemoryLimitExceeded,
    OutOfFuel,
    Policy,
    PolicyError,
    Runtime,
    Timeout,
    Trap,
)

Build = Callable[[str], Path]

GROW = """
(module
  (memory (export "memory") 1)
  (func (export "grow") (param i32) (result i32) local.get 0 memory.grow))
"""


def test_infinite_loop_times_out_and_runtime_survives(rt_cycle: Runtime, c_module: Build) -> None:
    """An infinite loop under a timeout raises Timeout with the limit; the next run works."""
    with pytest.raises(Timeout) as info:
        rt_cycle.run(c_module("loop"), Policy(timeout=0.2))
    assert isinstance(info.value, LimitExceeded)
    assert info.value.limit == pytest.approx(0.2)
    assert rt_cycle.run(c_module("hello")).stdout == b"hello from wasm\n"


def test_component_infinite_loop_times_out(rt_cycle: Runtime, c_component: Build) -> None:
    """A component's infinite loop is stopped by the timeout too."""
    with pytest.raises(Timeout):
        rt_cycle.run(c_component("loop"), Policy(timeout=0.2))
    assert rt_cycle.run(c_component("hello")).exit_code == 0


def test_memory_hog_hits_max_memory(rt_cycle: Runtime, c_module: Build) -> None:
    """A guest that mallocs until failure and aborts under max_memory raises MemoryLimitExceeded."""
    with pytest.raises(MemoryLimitExceeded) as info:
        rt_cycle.run(c_module("memhog"), Policy(max_memory="32MiB", timeout=10))
    assert info.value.limit == 32 * 1024 * 1024
    assert info.value.used is not None and info.value.used <= 32 * 1024 * 1024
    assert rt_cycle.run(c_module("hello")).exit_code == 0


@pytest.mark.xfail(
    reason=(
        "known gap of the stock backend: a component's linear memory is not reachable through "
        "wasmtime-py's component API, so the abort its allocator turns a refused memory.grow "
        "into cannot be attributed to max_memory and is reported as Trap"
    ),
    strict=True,
)
def test_component_memory_hog_hits_max_memory_on_stock(c_component: Build) -> None:
    """On the stock backend a component's refused memory.grow is not yet MemoryLimitExceeded."""
    rt = Runtime(components="stock")
    with pytest.raises(MemoryLimitExceeded):
        rt.run(c_component("memhog"), Policy(max_memory="32MiB", timeout=10))


@pytest.mark.parametrize("backend", ["omniwasm", "auto"])
def test_component_memory_hog_hits_max_memory(c_component: Build, backend: str) -> None:
    """On omniwasm's own runtime a component mallocing until failure raises MemoryLimitExceeded."""
    rt = Runtime(components=backend)
    with pytest.raises(MemoryLimitExceeded):
        rt.run(c_component("memhog"), Policy(max_memory="32MiB", timeout=10))
    assert rt.run(c_component("hello")).exit_code == 0


def test_component_memory_hog_is_stopped(rt_cycle: Runtime, c_component: Build) -> None:
    """A component cannot grow past max_memory: it aborts (an ExecutionError) instead of hanging."""
    with pytest.raises(ExecutionError):
        rt_cycle.run(c_component("memhog"), Policy(max_memory="32MiB", timeout=10))
    assert rt_cycle.run(c_component("hello")).exit_code == 0


def test_initial_memory_larger_than_limit(rt_cycle: Runtime, c_module: Build) -> None:
    """A module whose initial memory exceeds max_memory fails at instantiation."""
    with pytest.raises(MemoryLimitExceeded) as info:
        rt_cycle.run(c_module("hello"), Policy(max_memory="1MiB"))
    assert info.value.limit == 1024 * 1024


def test_memory_grow_past_limit_returns_minus_one(rt_cycle: Runtime) -> None:
    """memory.grow past max_memory fails inside the guest (returns -1) without raising."""
    inst = rt_cycle.instantiate(GROW, Policy(max_memory="1MiB"))
    with inst:
        assert inst.exports.grow(100) == -1
        assert inst.exports.grow(1) == 1


def test_fuel_exhaustion(c_module: Build) -> None:
    """A loop with a fuel budget raises OutOfFuel with the budget; the runtime runs on."""
    rt = Runtime(fuel=True)
    with pytest.raises(OutOfFuel) as info:
        rt.run(c_module("loop"), Policy(fuel=100_000))
    assert info.value.limit == 100_000
    assert rt.run(c_module("hello"), Policy(fuel=10_000_000)).stdout == b"hello from wasm\n"


def test_fuel_left_is_reported(c_module: Build) -> None:
    """An instance of a metered runtime reports how much fuel is left."""
    rt = Runtime(fuel=True)
    with rt.instantiate('(module (func (export "f")))', Policy(fuel=1000)) as inst:
        inst.exports.f()
        left = inst.fuel_left
        assert left is not None and 0 < left < 1000


CLI_LIMITS = {
    "timeout": ("loop", ["--timeout", "200ms"], 124, "Timeout"),
    "fuel": ("loop", ["--fuel", "100000"], 133, "OutOfFuel"),
    "memory": ("memhog", ["--max-memory", "32MiB", "--timeout", "10s"], 137, "MemoryLimitExceeded"),
}


@pytest.mark.parametrize("case", sorted(CLI_LIMITS))
def test_cli_limit_exit_codes(omniwasm_cli: list[str], c_module: Build, case: str) -> None:
    """Each limit maps to its CLI exit code and one error line, without a traceback."""
    fixture, flags, code, name = CLI_LIMITS[case]
    proc = subprocess.run(
        [*omniwasm_cli, "run", *flags, str(c_module(fixture))],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == code, proc.stderr
    assert proc.stderr.startswith(f"omniwasm: error: {name}: ")
    assert "Traceback" not in proc.stderr


@pytest.fixture
def rt_cycle() -> Runtime:
    """A fresh runtime per test, reused within the test to prove it survives a failure."""
    return Runtime()


def test_component_fuel_exhaustion(c_component: Build) -> None:
    """A component's loop with a fuel budget raises OutOfFuel; a generous budget lets it finish."""
    rt = Runtime(fuel=True)
    with pytest.raises(OutOfFuel):
        rt.run(c_component("loop"), Policy(fuel=100_000))
    assert rt.run(c_component("hello"), Policy(fuel=100_000_000)).exit_code == 0


def test_component_initial_memory_larger_than_limit(c_component: Build) -> None:
    """A component whose initial memory exceeds max_memory raises MemoryLimitExceeded."""
    with pytest.raises(MemoryLimitExceeded):
        Runtime().run(c_component("hello"), Policy(max_memory="1MiB"))


def test_fuel_policy_needs_metered_runtime(c_module: Build) -> None:
    """A fuel policy on a runtime built without fuel metering is refused with PolicyError."""
    rt = Runtime()
    with pytest.raises(PolicyError, match="fuel"):
        rt.run(c_module("hello"), Policy(fuel=1000))
    assert rt.run(c_module("hello")).exit_code == 0


HIDDEN_GROW = """
(module
  (memory {memory})
  (func $grow (param {it}) (result {it}) local.get 0 memory.grow)
  (func (export "_start") ({it}.const {pages}) call $grow drop unreachable))
"""


def _hidden(pages: int, memory: str = "1", it: str = "i32") -> str:
    return HIDDEN_GROW.format(pages=pages, memory=memory, it=it)


@pytest.mark.parametrize(("memory", "it"), [("1", "i32"), ("i64 1", "i64")])
def test_refused_growth_of_an_unexported_memory_is_memory_limit_exceeded(
    rt_cycle: Runtime, memory: str, it: str
) -> None:
    """A trap after the limiter refused an unexported memory's growth is MemoryLimitExceeded."""
    with pytest.raises(MemoryLimitExceeded) as info:
        rt_cycle.run(_hidden(4096, memory, it), Policy(max_memory="8MiB"))
    assert info.value.limit == 8 << 20
    assert info.value.used == 65536
    assert "asked for 268500992 bytes" in str(info.value)


def test_refused_growth_of_a_second_memory_is_memory_limit_exceeded() -> None:
    """With several memories, the refused one is found even when another is exported."""
    wat = """(module
      (memory (export "memory") 1)
      (memory $hidden 1)
      (func (export "_start")
        (if (i32.eq (memory.grow $hidden (i32.const 4096)) (i32.const -1))
          (then unreachable))))"""
    with pytest.raises(MemoryLimitExceeded):
        Runtime(pooling=False).run(wat, Policy(max_memory="8MiB"))


def test_growth_refused_by_the_module_own_maximum_stays_a_trap(rt_cycle: Runtime) -> None:
    """A refusal under the policy's limit (the memory's declared maximum) leaves a Trap."""
    with pytest.raises(Trap) as info:
        rt_cycle.run(_hidden(4, memory="1 2"), Policy(max_memory="8MiB"))
    assert not isinstance(info.value, MemoryLimitExceeded)
    assert info.value.code == "unreachable"


def test_a_trap_without_refused_growth_is_a_trap(rt_cycle: Runtime) -> None:
    """A guest whose growth succeeded and then traps is a Trap, near its limit or not."""
    with pytest.raises(Trap) as info:
        rt_cycle.run(_hidden(100), Policy(max_memory="8MiB"))
    assert not isinstance(info.value, MemoryLimitExceeded)


def test_backtrace_offsets_point_into_the_module_as_given(rt_cycle: Runtime) -> None:
    """Frames of a probed module carry the original binary's offsets (what wasmtime reports)."""
    wasm = wasmtime.wat2wasm(_hidden(4096))
    store = wasmtime.Store(wasmtime.Engine())
    start = wasmtime.Instance(store, wasmtime.Module(store.engine, wasm), []).exports(store)
    with pytest.raises(wasmtime.Trap) as native:
        start["_start"](store)
    with pytest.raises(Trap) as mine:
        rt_cycle.run(wasm)
    assert [f.module_offset for f in mine.value.frames] == [
        f.module_offset for f in native.value.frames
    ]


def test_cli_unexported_memory_past_max_memory_exits_137(
    omniwasm_cli: list[str], tmp_path: Path
) -> None:
    """omniwasm run --max-memory on a module growing an unexported memory exits 137."""
    path = tmp_path / "grow.wasm"
    path.write_bytes(wasmtime.wat2wasm(_hidden(4096)))
    proc = subprocess.run(
        [*omniwasm_cli, "run", "--max-memory", "8MiB", str(path)],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 137, proc.stderr
    assert proc.stderr.startswith("omniwasm: error: MemoryLimitExceeded: ")
