"""Plugins through the public API, on the hand-written Extism-ABI fixture plugins."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
from collections.abc import Callable
from pathlib import Path

import pytest

import omniwasm
from omniwasm.plugins import CompiledPlugin, CurrentPlugin, Plugin, host_fn

Build = Callable[[str], Path]


def _named(plugin_wasm: Build, name: str) -> Plugin:
    """The fixture plugin NAME, loaded through a manifest that names it NAME."""
    wasm = base64.b64encode(plugin_wasm(name).read_bytes()).decode()
    return Plugin({"wasm": [{"data": wasm, "name": name}]})


def test_count_vowels_counts_and_keeps_a_running_total(plugin_wasm: Build) -> None:
    """count_vowels outputs Extism's JSON and its total var persists between calls."""
    with Plugin(plugin_wasm("count_vowels")) as plugin:
        first = json.loads(plugin.call("count_vowels", "Hello World"))
        second = json.loads(plugin.call("count_vowels", b"aeiouAEIOU"))
    assert first == {"count": 3, "total": 3, "vowels": "aeiouAEIOU"}
    assert (second["count"], second["total"]) == (10, 13)


def test_instances_do_not_share_vars(plugin_wasm: Build) -> None:
    """Each instance of a compiled plugin starts with its own empty var store."""
    compiled = CompiledPlugin(plugin_wasm("count_vowels"))
    a, b = compiled.instantiate(), compiled.instantiate()
    a.call("count_vowels", "aaaa")
    assert json.loads(b.call("count_vowels", "a"))["total"] == 1


def test_echo_round_trips_one_mebibyte(plugin_wasm: Build) -> None:
    """1 MiB of bytes comes back unchanged from both echo exports."""
    data = bytes(range(256)) * 4096
    with Plugin(plugin_wasm("echo")) as plugin:
        assert plugin.call("echo", data) == data
        assert plugin.call("echo_copy", data) == data


def test_exports_lists_callable_functions(plugin_wasm: Build) -> None:
    """exports and function_exists list exactly the host-callable functions."""
    plugin = Plugin(plugin_wasm("echo"))
    assert sorted(plugin.exports) == ["echo", "echo_copy"]
    assert plugin.function_exists("echo")
    assert not plugin.function_exists("memory")


def test_unknown_function_is_a_clear_error(plugin_wasm: Build) -> None:
    """Calling a function the plugin does not export names the exports."""
    with pytest.raises(omniwasm.OmniwasmError, match="exports: echo"):
        Plugin(plugin_wasm("echo")).call("nope")


def test_nonzero_status_raises_guest_error_with_message(plugin_wasm: Build) -> None:
    """A function returning non-zero raises GuestError carrying the error_set message."""
    plugin = Plugin(plugin_wasm("errors"))
    with pytest.raises(omniwasm.GuestError) as info:
        plugin.call("fail")
    assert (info.value.code, info.value.error, info.value.function) == (
        1,
        "something went wrong",
        "fail",
    )


def test_status_without_message_reports_the_code(plugin_wasm: Build) -> None:
    """A non-zero status without an error message still raises, with the status."""
    with pytest.raises(omniwasm.GuestError) as info:
        Plugin(plugin_wasm("errors")).call("fail_quiet")
    assert (info.value.code, info.value.error) == (7, "")


def test_trap_then_next_call_works(plugin_wasm: Build) -> None:
    """A trap ends that call with Trap; the plugin keeps working for the next call."""
    plugin = Plugin(plugin_wasm("errors"))
    with pytest.raises(omniwasm.Trap):
        plugin.call("trap")
    assert plugin.call("empty") == b""


def test_timeout_ends_an_endless_call(plugin_wasm: Build) -> None:
    """timeout_ms stops a plugin that loops forever with Timeout."""
    wasm = plugin_wasm("errors").read_bytes()
    plugin = Plugin({"wasm": [{"data": base64.b64encode(wasm).decode()}], "timeout_ms": 100})
    with pytest.raises(omniwasm.Timeout):
        plugin.call("spin")
    assert plugin.call("empty") == b""


def test_memory_limit_stops_a_hog(plugin_wasm: Build) -> None:
    """max_pages bounds a plugin that grows memory without end."""
    wasm = plugin_wasm("errors").read_bytes()
    plugin = Plugin(
        {"wasm": [{"data": base64.b64encode(wasm).decode()}], "memory": {"max_pages": 32}}
    )
    with pytest.raises(omniwasm.ExecutionError):
        plugin.call("hog")


def test_manifest_hash_is_checked_before_anything_runs(plugin_wasm: Build) -> None:
    """A manifest whose hash does not match refuses to load."""
    path = plugin_wasm("echo")
    manifest = {"wasm": [{"path": str(path), "hash": hashlib.sha256(b"other").hexdigest()}]}
    with pytest.raises(omniwasm.InvalidModule, match="hash mismatch"):
        Plugin(manifest)


def test_config_get_reads_plugin_config(plugin_wasm: Build) -> None:
    """config_get returns the configured value, and nothing when the key is unset."""
    assert Plugin(plugin_wasm("config_vars"), config={"greeting": "hi"}).call("get_config") == b"hi"
    assert Plugin(plugin_wasm("config_vars")).call("get_config") == b""


def test_vars_count_and_forget(plugin_wasm: Build) -> None:
    """var_set persists between calls and a zero value deletes the var."""
    plugin = Plugin(plugin_wasm("config_vars"))
    assert [plugin.call("counter") for _ in range(3)] == [b"1", b"2", b"3"]
    plugin.call("forget")
    assert plugin.call("counter") == b"1"


def test_host_consumes_key_handles(plugin_wasm: Build) -> None:
    """Handles passed to host functions are freed by the host, as Extism does."""
    assert Plugin(plugin_wasm("config_vars")).call("consumed") == b"0"


def test_var_store_bound_stops_the_call(plugin_wasm: Build) -> None:
    """A var_set beyond max_var_bytes fails that call, naming the full store."""
    wasm = plugin_wasm("config_vars").read_bytes()
    plugin = Plugin(
        {"wasm": [{"data": base64.b64encode(wasm).decode()}], "memory": {"max_var_bytes": 4}}
    )
    with pytest.raises(omniwasm.GuestError) as info:
        plugin.call("counter")
    assert (info.value.function, info.value.error) == ("counter", "Variable store is full")
    assert plugin.call("get_config") == b""  # the plugin stays usable


def test_logs_go_to_the_plugin_logger(plugin_wasm: Build, caplog: pytest.LogCaptureFixture) -> None:
    """log_* messages reach the Python logger omniwasm.plugins.<name> at their levels."""
    caplog.set_level(logging.DEBUG, logger="omniwasm.plugins.logging")
    _named(plugin_wasm, "logging").call("log_all")
    levels = {r.levelno for r in caplog.records if r.name == "omniwasm.plugins.logging"}
    assert {logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR} <= levels


def test_get_log_level_follows_the_logger(plugin_wasm: Build) -> None:
    """get_log_level reports the plugin logger's effective level in Extism's numbering."""
    logger = logging.getLogger("omniwasm.plugins.logging")
    old = logger.level
    try:
        logger.setLevel(logging.INFO)
        assert _named(plugin_wasm, "logging").call("level") == b"2"
        logger.setLevel(logging.CRITICAL)
        assert _named(plugin_wasm, "logging").call("level") == b"2147483647"
    finally:
        logger.setLevel(old)


def test_typed_user_host_function(plugin_wasm: Build) -> None:
    """A str -> str host function is called with the plugin's data and its result returned."""

    @host_fn()
    def hello_world(name: str) -> str:
        return f"Hello, {name}!"

    plugin = Plugin(plugin_wasm("user_fn"), host_functions=[hello_world])
    assert plugin.call("hello", "World") == b"Hello, World!"


def test_raw_user_host_function(plugin_wasm: Build) -> None:
    """A raw host function gets the CurrentPlugin and handles, and returns a handle."""

    @host_fn(name="hello_world", signature=(["i64"], ["i64"]))
    def shout(plugin: CurrentPlugin, handle: int) -> int:
        return plugin.write(plugin.read(handle).upper())

    plugin = Plugin(plugin_wasm("user_fn"), host_functions=[shout])
    assert plugin.call("hello", "World") == b"WORLD"


def test_missing_user_host_function_is_a_link_error(plugin_wasm: Build) -> None:
    """A plugin importing a host function nobody defined fails to load, naming it."""
    with pytest.raises(omniwasm.LinkError) as info:
        Plugin(plugin_wasm("user_fn"))
    assert ("extism:host/user", "hello_world") in {(m.module, m.name) for m in info.value.missing}


def test_raising_host_function_fails_only_that_call(plugin_wasm: Build) -> None:
    """A host function that raises ends that call with HostFunctionError; the next works."""
    calls = []

    @host_fn()
    def hello_world(name: str) -> str:
        calls.append(name)
        if name == "boom":
            raise RuntimeError("no")
        return name

    plugin = Plugin(plugin_wasm("user_fn"), host_functions=[hello_world])
    with pytest.raises(omniwasm.HostFunctionError) as info:
        plugin.call("hello", "boom")
    assert isinstance(info.value.__cause__, RuntimeError)
    assert plugin.call("hello", "ok") == b"ok"


def test_wasi_reads_a_preopened_file(plugin_wasm: Build, data_dir: Callable[[str], Path]) -> None:
    """With wasi=True and allowed_paths, a plugin reads a preopened file."""
    wasm = plugin_wasm("wasi_write").read_bytes()
    host = data_dir("from the host")
    manifest = {
        "wasm": [{"data": base64.b64encode(wasm).decode()}],
        "allowed_paths": {f"ro:{host}": "/data"},
    }
    assert Plugin(manifest, wasi=True).call("read_file") == b"from the host"


def test_call_json_round_trips(plugin_wasm: Build) -> None:
    """call_json sends JSON in and decodes the JSON out."""
    assert Plugin(plugin_wasm("echo")).call_json("echo", {"a": [1, 2]}) == {"a": [1, 2]}


def test_closed_plugin_refuses_calls(plugin_wasm: Build) -> None:
    """A closed plugin raises a clear error instead of touching freed memory."""
    plugin = Plugin(plugin_wasm("echo"))
    plugin.close()
    plugin.close()
    with pytest.raises(omniwasm.OmniwasmError, match="closed"):
        plugin.call("echo", b"x")


def test_cancel_from_another_thread_stops_the_call(plugin_wasm: Build) -> None:
    """cancel() from another thread ends a looping call with Cancelled; the plugin stays usable."""
    from fixtures.cancelling import cancelled_soon

    plugin = Plugin(plugin_wasm("errors"))
    assert plugin.cancel() is False  # nothing running
    with cancelled_soon(plugin.cancel), pytest.raises(omniwasm.Cancelled):
        plugin.call("spin")
    assert plugin.call("empty") == b""
