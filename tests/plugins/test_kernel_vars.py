"""The kernel's var store (``var_get`` / ``var_set`` in ``kernel.wat``), directly and via Plugin."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest

import omniwasm
from fixtures.kernel import KERNEL, PAGE
from omniwasm.plugins import CurrentPlugin, Plugin, host_fn

OVERHEAD = 48  # Extism's charge per var, beside its key and value
FULL = "Variable store is full"


@pytest.fixture(scope="module")
def runtime() -> omniwasm.Runtime:
    """One runtime for the module's kernels."""
    return omniwasm.Runtime()


@pytest.fixture
def k(runtime: omniwasm.Runtime) -> Iterator[Any]:
    """The exports of a fresh kernel instance."""
    with runtime.instantiate(runtime.load(KERNEL)) as inst:
        yield inst.exports


def put(k: Any, data: bytes) -> int:
    """Copy ``data`` into a new block (``store_u64`` chunks, then ``store_u8``); its handle."""
    h = int(k.alloc(len(data)))
    whole = len(data) - len(data) % 8
    for i in range(0, whole, 8):
        k.store_u64(h + i, int.from_bytes(data[i : i + 8], "little", signed=True))
    for i in range(whole, len(data)):
        k.store_u8(h + i, data[i])
    return h


def read(k: Any, h: int) -> bytes:
    """The bytes of block ``h`` (``load_u64`` chunks, then ``load_u8``)."""
    n = int(k.length(h))
    whole = n - n % 8
    out = b"".join(k.load_u64(h + i).to_bytes(8, "little", signed=True) for i in range(0, whole, 8))
    return out + bytes(k.load_u8(h + i) for i in range(whole, n))


def set_var(k: Any, key: bytes, value: bytes | None) -> None:
    """``var_set`` with fresh key and value blocks (value None: handle 0, which deletes)."""
    k.var_set(put(k, key), 0 if value is None else put(k, value))


def get_var(k: Any, key: bytes) -> bytes | None:
    """``var_get`` with a fresh key block: the value, or None when unset."""
    h = k.var_get(put(k, key))
    return None if h == 0 else read(k, h)


def store_bytes(k: Any) -> int:
    """Bytes the var entries take in kernel memory."""
    start, end = k.omniwasm_vars()
    return int(end - start)


def fails_with(
    k: Any, message: str, call: Any, *args: int, error: type[Exception] = omniwasm.Trap
) -> None:
    """``call(*args)`` traps (``error``), leaving ``message`` as the kernel's error."""
    with pytest.raises(error):
        call(*args)
    assert read(k, k.error_get()) == message.encode()


def test_set_then_get_round_trips(k: Any) -> None:
    """A value set under a key comes back from var_get in a new block."""
    set_var(k, b"total", b"\x01\x02\x03")
    assert get_var(k, b"total") == b"\x01\x02\x03"


def test_get_of_an_unset_key_is_null(k: Any) -> None:
    """var_get returns handle 0 for a key that was never set."""
    set_var(k, b"a", b"1")
    assert get_var(k, b"b") is None
    assert get_var(k, b"aa") is None


def test_keys_compare_by_bytes(k: Any) -> None:
    """Keys of the same length that differ in one byte past the first eight are distinct."""
    set_var(k, b"0123456789", b"x")
    set_var(k, b"0123456780", b"y")
    assert (get_var(k, b"0123456789"), get_var(k, b"0123456780")) == (b"x", b"y")


def test_replace_with_a_same_length_value_overwrites_in_place(k: Any) -> None:
    """Replacing a value with one of the same length keeps a single entry."""
    set_var(k, b"n", b"1111")
    set_var(k, b"n", b"2222")
    assert get_var(k, b"n") == b"2222"
    assert store_bytes(k) == 8 + 1 + 4


def test_replace_with_a_longer_value_keeps_one_entry(k: Any) -> None:
    """Replacing a value with one of another length leaves no stale entry behind."""
    set_var(k, b"a", b"1")
    set_var(k, b"n", b"1")
    set_var(k, b"a", b"12345")
    assert (get_var(k, b"a"), get_var(k, b"n")) == (b"12345", b"1")
    assert store_bytes(k) == (8 + 1 + 5) + (8 + 1 + 1)


def test_value_handle_zero_deletes(k: Any) -> None:
    """var_set with value handle 0 removes the var and frees its room."""
    set_var(k, b"a", b"1")
    set_var(k, b"b", b"22")
    set_var(k, b"a", None)
    assert (get_var(k, b"a"), get_var(k, b"b")) == (None, b"22")
    assert store_bytes(k) == 8 + 1 + 2


def test_deleting_an_unset_key_is_a_no_op(k: Any) -> None:
    """Deleting a var that does not exist changes nothing."""
    set_var(k, b"a", b"1")
    set_var(k, b"zz", None)
    assert get_var(k, b"a") == b"1"


def test_vars_survive_reset(k: Any) -> None:
    """reset forgets blocks, input, output and error, but not the vars."""
    set_var(k, b"keep", b"me")
    k.reset()
    assert get_var(k, b"keep") == b"me"


def test_var_set_consumes_key_and_value_handles(k: Any) -> None:
    """var_set frees the key and value blocks passed to it, as Extism's host does."""
    key, value = put(k, b"key"), put(k, b"value")
    k.var_set(key, value)
    assert (k.length(key), k.length(value)) == (0, 0)


def test_var_get_consumes_the_key_handle(k: Any) -> None:
    """var_get frees the key block passed to it, whether or not the var is set."""
    set_var(k, b"key", b"a value too long to reuse the key's block")
    hit, miss = put(k, b"key"), put(k, b"nope")
    k.var_get(hit)
    k.var_get(miss)
    assert (k.length(hit), k.length(miss)) == (0, 0)


def test_limit_stops_a_var_that_does_not_fit(k: Any) -> None:
    """A var_set past max_var_bytes fails with Extism's message and keeps the old vars."""
    k.omniwasm_var_limit(2 * OVERHEAD + 2 * 2)  # room for exactly two 1-byte keys and values
    set_var(k, b"a", b"1")
    set_var(k, b"b", b"2")
    fails_with(k, FULL, k.var_set, put(k, b"c"), put(k, b"3"))
    assert (get_var(k, b"a"), get_var(k, b"b"), get_var(k, b"c")) == (b"1", b"2", None)


def test_limit_counts_the_replaced_value_as_extism_does(k: Any) -> None:
    """Replacing a var needs room for the old and the new one together (Extism's rule)."""
    k.omniwasm_var_limit(OVERHEAD + 2)
    set_var(k, b"a", b"1")
    fails_with(k, FULL, k.var_set, put(k, b"a"), put(k, b"2"))
    assert get_var(k, b"a") == b"1"


def test_deleting_frees_room_under_the_limit(k: Any) -> None:
    """After a delete, a var that did not fit fits."""
    k.omniwasm_var_limit(OVERHEAD + 2)
    set_var(k, b"a", b"1")
    set_var(k, b"a", None)
    set_var(k, b"b", b"2")
    assert get_var(k, b"b") == b"2"


def test_limit_zero_disables_var_set(k: Any) -> None:
    """With max_var_bytes 0, var_set fails (even to delete) and var_get finds nothing."""
    k.omniwasm_var_limit(0)
    message = "Vars are disabled by this host (max_var_bytes = 0)"
    fails_with(k, message, k.var_set, put(k, b"a"), put(k, b"1"))
    fails_with(k, message, k.var_set, put(k, b"a"), 0)
    assert get_var(k, b"a") is None


def test_invalid_key_handle_fails_the_call(k: Any) -> None:
    """A key that is not a live block fails the call, as Extism's host does."""
    fails_with(k, "invalid handle offset for var key", k.var_get, 12345)
    fails_with(k, "invalid handle offset for var key", k.var_set, 0, put(k, b"1"))


def test_invalid_value_handle_fails_the_call(k: Any) -> None:
    """A non-zero value handle that is not a live block fails the call."""
    fails_with(k, "invalid handle offset for var value", k.var_set, put(k, b"a"), 99999)


def test_many_keys_stay_packed(k: Any) -> None:
    """A thousand vars set, half deleted, the rest replaced: all readable, no dead bytes."""
    keys = [f"key-{i}".encode() for i in range(1000)]
    for key in keys:
        set_var(k, key, key[::-1])
    k.reset()
    for key in keys[::2]:
        set_var(k, key, None)
    for key in keys[1::2]:
        set_var(k, key, key * 2)
    k.reset()
    assert all(get_var(k, key) is None for key in keys[::2])
    assert all(get_var(k, key) == key * 2 for key in keys[1::2])
    assert store_bytes(k) == sum(8 + 3 * len(key) for key in keys[1::2])


def test_values_larger_than_a_page_round_trip(k: Any) -> None:
    """A 200 KiB value grows the store past several pages and reads back intact."""
    value = bytes(range(256)) * 800
    set_var(k, b"big", value)
    k.reset()
    assert get_var(k, b"big") == value
    assert store_bytes(k) == 8 + 3 + len(value)


def test_store_growth_leaves_the_block_area_alone(k: Any) -> None:
    """The store grows the memory at its top: the block area (memory_bytes) stays as it was."""
    k.alloc(300 * 1024)
    k.reset()
    before = k.memory_bytes()
    set_var(k, b"big", bytes(250 * 1024))
    assert k.memory_bytes() == before
    assert k.omniwasm_vars()[0] == before + 64


def test_block_growth_moves_the_store_up(k: Any) -> None:
    """When allocations grow the memory, the vars move above the new pages and stay intact."""
    set_var(k, b"v", b"before")
    start = k.omniwasm_vars()[0]
    k.reset()
    assert k.alloc(3 * PAGE) == 77  # handles stay Extism's: the block area starts at 65
    assert k.omniwasm_vars()[0] == start + 3 * PAGE == k.memory_bytes() + 64
    assert get_var(k, b"v") == b"before"


def test_plugin_stores_cannot_reach_the_store(k: Any) -> None:
    """store_u8 / load_u8 at var store addresses are ignored / read 0: it is not block area."""
    set_var(k, b"v", b"x")
    start, end = k.omniwasm_vars()
    for at in range(start, end):
        k.store_u8(at, 0xFF)
        assert k.load_u8(at) == 0
    assert get_var(k, b"v") == b"x"


def test_store_growth_respects_the_memory_limit(runtime: omniwasm.Runtime) -> None:
    """A value the memory limit cannot hold fails as a full store, reported as the limit."""
    policy = omniwasm.Policy(max_memory="1MiB")
    with runtime.instantiate(runtime.load(KERNEL), policy) as inst:
        k = inst.exports
        k.omniwasm_var_limit(1 << 30)
        value = put(k, b"1")
        big = k.alloc(600 * 1024)  # storing it too would take the memory past 1 MiB
        fails_with(k, FULL, k.var_set, put(k, b"a"), big, error=omniwasm.MemoryLimitExceeded)
        assert get_var(k, b"a") is None
        k.var_set(put(k, b"a"), value)
        assert get_var(k, b"a") == b"1"


# Through Plugin: the host side of the store.

VARS_PLUGIN = """
(module
  (import "extism:host/env" "alloc" (func $alloc (param i64) (result i64)))
  (import "extism:host/env" "store_u8" (func $store_u8 (param i64 i32)))
  (import "extism:host/env" "length" (func $length (param i64) (result i64)))
  (import "extism:host/env" "output_set" (func $output_set (param i64 i64)))
  (import "extism:host/env" "var_get" (func $var_get (param i64) (result i64)))
  (import "extism:host/env" "var_set" (func $var_set (param i64 i64)))
  (import "extism:host/user" "peek" (func $peek))
  (func $byte (param $b i32) (result i64)
    (local $h i64)
    (local.set $h (call $alloc (i64.const 1)))
    (call $store_u8 (local.get $h) (local.get $b))
    (local.get $h))
  ;; set: var "k" = "v"; get: output var "k"; peek: call the host; boom: trap; _start: nothing.
  (func (export "set") (call $var_set (call $byte (i32.const 107)) (call $byte (i32.const 118))))
  (func (export "get")
    (local $h i64)
    (local.set $h (call $var_get (call $byte (i32.const 107))))
    (call $output_set (local.get $h) (call $length (local.get $h))))
  (func (export "peek") (call $peek))
  (func (export "boom") unreachable)
  (func (export "_start")))
"""


def _vars_plugin(seen: list[dict[str, bytes]], **manifest: Any) -> Plugin:
    @host_fn(signature=([], []))
    def peek(plugin: CurrentPlugin) -> None:
        seen.append(dict(plugin.vars))
        plugin.vars["k"] = b"from the host"

    wasm = base64.b64encode(VARS_PLUGIN.encode()).decode()
    return Plugin({"wasm": [{"data": wasm}], **manifest}, host_functions=[peek])


def test_host_functions_see_and_set_kernel_vars() -> None:
    """CurrentPlugin.vars reads and writes the same store the plugin's var calls use."""
    seen: list[dict[str, bytes]] = []
    plugin = _vars_plugin(seen)
    plugin.call("set")
    plugin.call("peek")
    assert seen == [{"k": b"v"}]
    assert plugin.call("get") == b"from the host"


def test_vars_outlive_a_start_rebuild() -> None:
    """The store rebuilt after _start keeps the plugin's vars, as before the kernel held them."""
    plugin = _vars_plugin([])
    plugin.call("set")
    plugin.call("_start")
    assert plugin.call("get") == b"v"


def test_manifest_zero_disables_vars() -> None:
    """memory.max_var_bytes 0 reaches the kernel: var_set fails the call with a clear message."""
    plugin = _vars_plugin([], memory={"max_var_bytes": 0})
    with pytest.raises(omniwasm.GuestError, match="Vars are disabled") as info:
        plugin.call("set")
    assert info.value.function == "set"
    assert plugin.call("get") == b""


def test_a_real_trap_after_a_var_failure_stays_a_trap() -> None:
    """A trap the kernel did not raise is reported as a trap, even right after a var failure."""
    plugin = _vars_plugin([], memory={"max_var_bytes": 0})
    with pytest.raises(omniwasm.GuestError):
        plugin.call("set")
    with pytest.raises(omniwasm.Trap):
        plugin.call("boom")


def test_plugins_cannot_import_private_kernel_functions() -> None:
    """A plugin importing omniwasm_var_limit (it could lift its own bound) does not link."""
    wat = """(module
      (import "extism:host/env" "omniwasm_var_limit" (func (param i64)))
      (func (export "f")))"""
    with pytest.raises(omniwasm.LinkError, match="omniwasm_var_limit"):
        Plugin(wat)
