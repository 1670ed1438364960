"""The same fixture plugins under omniwasm and under the `extism` SDK give the same results."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

import omniwasm
from omniwasm.plugins import Plugin, host_fn

extism = pytest.importorskip("extism", reason="the extism SDK (pip install extism==1.1.1)")

Build = Callable[[str], Path]
Calls = Sequence[tuple[str, bytes]]

SEQUENCES: list[tuple[str, dict[str, str], Calls]] = [
    (
        "count_vowels",
        {},
        [
            ("count_vowels", b"Hello World"),
            ("count_vowels", b""),
            ("count_vowels", b"aeiouAEIOU"),
            ("count_vowels", b"x" * 17 + b"a"),
        ],
    ),
    ("echo", {}, [("echo", b""), ("echo", b"abc" * 1000), ("echo_copy", bytes(range(256)))]),
    (
        "config_vars",
        {"greeting": "hello, world"},
        [
            ("get_config", b""),
            ("counter", b""),
            ("counter", b""),
            ("forget", b""),
            ("counter", b""),
            ("consumed", b""),
        ],
    ),
    ("errors", {}, [("empty", b"")]),
]


def _ours(wasm: bytes, config: dict[str, str], calls: Calls) -> list[bytes]:
    plugin = Plugin(wasm, config=config)
    return [plugin.call(name, data) for name, data in calls]


def _theirs(wasm: bytes, config: dict[str, str], calls: Calls) -> list[bytes]:
    plugin = extism.Plugin(wasm, config=config)
    return [bytes(plugin.call(name, data)) for name, data in calls]


@pytest.mark.parametrize(("fixture", "config", "calls"), SEQUENCES)
def test_same_outputs_and_var_behaviour_as_extism(
    plugin_wasm: Build, fixture: str, config: dict[str, str], calls: Calls
) -> None:
    """A sequence of calls on one plugin gives byte-identical outputs under both hosts."""
    wasm = plugin_wasm(fixture).read_bytes()
    assert _ours(wasm, config, calls) == _theirs(wasm, config, calls)


def test_same_error_message_as_extism(plugin_wasm: Build) -> None:
    """A function that sets an error fails under both hosts with the same message."""
    wasm = plugin_wasm("errors").read_bytes()
    with pytest.raises(extism.Error) as theirs:
        extism.Plugin(wasm).call("fail", b"")
    with pytest.raises(omniwasm.GuestError) as ours:
        Plugin(wasm).call("fail")
    assert ours.value.error == str(theirs.value)


def test_same_user_host_function_result_as_extism(plugin_wasm: Build) -> None:
    """A typed str -> str host function gives the same output under both hosts."""
    wasm = plugin_wasm("user_fn").read_bytes()

    @host_fn(name="hello_world")
    def ours_fn(name: str) -> str:
        return f"Hello, {name}!"

    @extism.host_fn(name="hello_world")
    def theirs_fn(name: str) -> str:
        return f"Hello, {name}!"

    functions: list[Any] = [theirs_fn]
    ours = Plugin(wasm, host_functions=[ours_fn]).call("hello", b"World")
    theirs = bytes(extism.Plugin(wasm, functions=functions).call("hello", b"World"))
    assert ours == theirs == b"Hello, World!"
