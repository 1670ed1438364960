"""Component plugins: a component with a WIT world through the same Plugin / pool / policy API.

Guests: ``tests/fixtures/components/types.wat`` (typed echo functions, ``trap``, ``spin``) and
``src/omniwasm/examples/counter.wat``, which keeps state in a global and asks a host import for
its step.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

import omniwasm
from fixtures.cancelling import cancelled_soon
from omniwasm.plugins import CompiledPlugin, Plugin, PluginPool, host_fn

ECHO = "test:types/echo"

COUNTER_WAT = (Path(omniwasm.__file__).parent / "examples" / "counter.wat").read_text()


def counter_linker(step: int = 1) -> omniwasm.Linker:
    """A Linker implementing test:counter/host with a constant step."""
    linker = omniwasm.Linker()
    linker.define("test:counter/host", step=lambda: step)
    return linker


@pytest.fixture(scope="module")
def types_path(wat_component: Callable[[str], Path]) -> Path:
    """The types.wat component, built once."""
    return wat_component("types")


def test_component_plugin_calls_exports_with_typed_values(types_path: Path) -> None:
    """A component plugin's call() takes and returns Python values, not bytes."""
    with Plugin(types_path) as plugin:
        assert plugin.kind == "component"
        assert plugin.call("echo-string", "héllo") == "héllo"
        assert plugin.call("echo-list-u8", b"\x00\x01") == b"\x00\x01"
        assert plugin.call("echo-u64", 2**64 - 1) == 2**64 - 1


def test_component_plugin_names_functions_like_the_component_api(types_path: Path) -> None:
    """exports lists interface#func names; bare, dotted and full names all reach the function."""
    plugin = Plugin(types_path)
    assert f"{ECHO}#echo-s32" in plugin.exports
    for name in ("echo-s32", f"{ECHO}#echo-s32", f"{ECHO}.echo-s32"):
        assert plugin.function_exists(name)
        assert plugin.call(name, -5) == -5
    assert not plugin.function_exists("nope")
    with pytest.raises(omniwasm.OmniwasmError, match="has no function 'nope'"):
        plugin.call("nope")


def test_component_plugin_state_persists_between_calls() -> None:
    """Like an Extism plugin, a component plugin keeps its instance (globals) across calls."""
    plugin = Plugin(COUNTER_WAT, imports=counter_linker(step=2))
    assert [plugin.call("bump") for _ in range(3)] == [2, 4, 6]


def test_component_plugin_imports_come_from_a_linker() -> None:
    """The component's imports are implemented in Python with omniwasm.Linker."""
    calls = []
    linker = omniwasm.Linker()
    linker.define("test:counter/host", step=lambda: calls.append(1) or 10)
    assert Plugin(COUNTER_WAT, imports=linker).call("bump") == 10
    assert calls == [1]


def test_component_plugin_without_its_imports_does_not_link() -> None:
    """A component plugin whose imports are not given fails with LinkError naming them."""
    with pytest.raises(omniwasm.LinkError, match="test:counter/host"):
        Plugin(COUNTER_WAT)


def test_a_trap_leaves_the_component_plugin_usable_with_a_fresh_instance() -> None:
    """After a trap (which poisons a component instance) the next call runs on a new one."""
    plugin = Plugin(COUNTER_WAT, imports=counter_linker())
    assert plugin.call("bump") == 1
    with pytest.raises(omniwasm.Trap):
        plugin.call("trap")
    assert plugin.call("bump") == 1  # fresh instance: the counter starts again


def test_component_plugin_timeout_ends_the_call_and_the_plugin_recovers(types_path: Path) -> None:
    """The policy's timeout stops a looping component call; the next call works."""
    plugin = Plugin(types_path, policy=omniwasm.Policy(timeout=0.2))
    started = time.monotonic()
    with pytest.raises(omniwasm.Timeout):
        plugin.call("spin")
    assert time.monotonic() - started < 5
    assert plugin.call("echo-bool", True) is True


def test_component_plugin_fuel_limit(types_path: Path) -> None:
    """A fuel budget ends a looping component call with OutOfFuel."""
    runtime = omniwasm.Runtime(fuel=True)
    plugin = Plugin(types_path, policy=omniwasm.Policy(fuel=100_000), runtime=runtime)
    with pytest.raises(omniwasm.OutOfFuel):
        plugin.call("spin")


def test_cancel_stops_a_component_plugin_call_from_another_thread(types_path: Path) -> None:
    """cancel() from another thread ends a looping component call with Cancelled."""
    plugin = Plugin(types_path)
    with cancelled_soon(plugin.cancel), pytest.raises(omniwasm.Cancelled):
        plugin.call("spin")
    assert plugin.call("echo-s8", -1) == -1


def test_pool_serves_component_plugins_to_many_threads() -> None:
    """A PluginPool of a component plugin serves concurrent callers within its bound."""
    compiled = CompiledPlugin(COUNTER_WAT, imports=counter_linker())
    pool = PluginPool(compiled, size=2)
    results: list[int] = []
    lock = threading.Lock()

    def work() -> None:
        for _ in range(20):
            value = pool.call("bump")
            with lock:
                results.append(value)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 80
    assert pool.live <= 2
    assert max(results) >= 40  # two instances shared 80 bumps: one saw at least half
    pool.close()


def test_extism_options_are_refused_for_component_plugins(types_path: Path) -> None:
    """host_functions, config and allowed_hosts are Extism features: a clear PolicyError."""

    @host_fn()
    def hello(text: str) -> str:
        return text

    with pytest.raises(omniwasm.PolicyError, match=r"imports=omniwasm\.Linker"):
        CompiledPlugin(types_path, host_functions=[hello])
    with pytest.raises(omniwasm.PolicyError, match="config is an Extism plugin setting"):
        CompiledPlugin(types_path, config={"a": "b"})
    with pytest.raises(omniwasm.PolicyError, match="allowed_hosts"):
        CompiledPlugin(types_path, allowed_hosts=["example.com"])


def test_call_json_is_for_extism_plugins(types_path: Path) -> None:
    """call_json on a component plugin says to call with Python values instead."""
    with pytest.raises(omniwasm.OmniwasmError, match="call_json is for Extism plugins"):
        Plugin(types_path).call_json("echo-string", "x")


def test_a_linker_is_refused_for_an_extism_plugin() -> None:
    """imports=Linker() on a core-module plugin points to host_functions."""
    with pytest.raises(omniwasm.PolicyError, match="host_functions"):
        Plugin('(module (func (export "f")))', imports=omniwasm.Linker())


def test_extism_call_takes_one_input() -> None:
    """An Extism plugin function given two inputs raises a clear error."""
    plugin = Plugin('(module (func (export "f")))')
    with pytest.raises(omniwasm.OmniwasmError, match="takes one input"):
        plugin.call("f", b"a", b"b")
