"""PluginPool: concurrent callers served by a bounded set of instances."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

import omniwasm
from omniwasm.plugins import CompiledPlugin, PluginPool

Build = Callable[[str], Path]


def test_pool_serves_many_threads_with_bounded_instances(plugin_wasm: Build) -> None:
    """Eight threads making 50 calls each never use more than the pool's 3 instances."""
    pool = PluginPool(CompiledPlugin(plugin_wasm("echo")), 3)
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            for j in range(50):
                data = f"{i}-{j}".encode()
                assert pool.call("echo", data) == data
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert 1 <= pool.live <= 3


def test_pool_instances_keep_state(plugin_wasm: Build) -> None:
    """A pool of one instance keeps the count-vowels total across calls."""
    pool = PluginPool(CompiledPlugin(plugin_wasm("count_vowels")), 1)
    pool.call("count_vowels", "aa")
    assert json.loads(pool.call("count_vowels", "a"))["total"] == 3


def test_failed_call_leaves_instance_usable(plugin_wasm: Build) -> None:
    """A trapping call does not take its instance out of service."""
    pool = PluginPool(CompiledPlugin(plugin_wasm("errors")), 1)
    with pytest.raises(omniwasm.Trap):
        pool.call("trap")
    assert pool.call("empty") == b""
    assert pool.live == 1


def test_waiting_past_timeout_is_limit_exceeded(plugin_wasm: Build) -> None:
    """With every instance busy, a caller gives up after the pool's timeout."""
    pool = PluginPool(CompiledPlugin(plugin_wasm("echo")), 1, timeout=0.05)
    with pool.instance(), pytest.raises(omniwasm.LimitExceeded):
        pool.call("echo", b"x")


def test_closed_pool_refuses_calls(plugin_wasm: Build) -> None:
    """After close() the pool raises a clear error."""
    pool = PluginPool(CompiledPlugin(plugin_wasm("echo")), 2)
    pool.call("echo", b"x")
    pool.close()
    with pytest.raises(omniwasm.OmniwasmError, match="closed"):
        pool.call("echo", b"x")


def test_size_must_be_positive(plugin_wasm: Build) -> None:
    """A pool of zero instances is a ValueError."""
    with pytest.raises(ValueError, match="at least 1"):
        PluginPool(CompiledPlugin(plugin_wasm("echo")), 0)
