"""The Extism kernel (``omniwasm/plugins/kernel.wat``) on its own, through the core API."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import omniwasm
from fixtures.kernel import KERNEL, PAGE


@pytest.fixture(scope="module")
def runtime() -> omniwasm.Runtime:
    """One runtime for the module's kernels."""
    return omniwasm.Runtime()


@pytest.fixture
def k(runtime: omniwasm.Runtime) -> Iterator[Any]:
    """The exports of a fresh kernel instance."""
    with runtime.instantiate(runtime.load(KERNEL)) as inst:
        yield inst.exports


def store(k: Any, data: bytes) -> int:
    """Copy ``data`` into a new block with ``store_u8`` and return its handle."""
    h = k.alloc(len(data))
    for i, b in enumerate(data):
        k.store_u8(h + i, b)
    return int(h)


def load(k: Any, h: int, n: int) -> bytes:
    """Read ``n`` bytes at ``h`` with ``load_u8``."""
    return bytes(k.load_u8(h + i) for i in range(n))


def test_exports_have_the_extism_signatures(runtime: omniwasm.Runtime) -> None:
    """The kernel exports its memory and every host-free env function with Extism's types."""
    exports = {e.name: e.type for e in runtime.load(KERNEL).exports}
    i64_i64 = "func(i64) -> (i64)"
    assert exports == {
        "memory": exports["memory"],
        "alloc": i64_i64,
        "free": "func(i64) -> ()",
        "length": i64_i64,
        "length_unsafe": i64_i64,
        "load_u8": "func(i64) -> (i32)",
        "load_u64": i64_i64,
        "store_u8": "func(i64, i32) -> ()",
        "store_u64": "func(i64, i64) -> ()",
        "input_length": "func() -> (i64)",
        "input_offset": "func() -> (i64)",
        "input_load_u8": "func(i64) -> (i32)",
        "input_load_u64": i64_i64,
        "input_set": "func(i64, i64) -> ()",
        "output_set": "func(i64, i64) -> ()",
        "output_length": "func() -> (i64)",
        "output_offset": "func() -> (i64)",
        "error_set": "func(i64) -> ()",
        "error_get": "func() -> (i64)",
        "reset": "func() -> ()",
        "memory_bytes": "func() -> (i64)",
        "var_get": i64_i64,
        "var_set": "func(i64, i64) -> ()",
        "omniwasm_begin": i64_i64,  # host side: reset + input block in one call
        "omniwasm_var_limit": "func(i64) -> ()",  # host side: max_var_bytes
        "omniwasm_vars": "func() -> (i64, i64)",  # host side: where the var entries are
    }
    assert exports["memory"].startswith("memory")


def test_first_handle_matches_extism(k: Any) -> None:
    """The first block's data starts at 77, after the 64-byte root at 1 and a 12-byte header."""
    assert k.alloc(16) == 77
    assert k.length(77) == 16


def test_handle_sequence_matches_extism_kernel_test(k: Any) -> None:
    """Allocations, frees, reuse and splits give the handles of Extism's own kernel test_659."""
    assert [k.alloc(1065), k.alloc(288), k.alloc(128)] == [77, 1154, 1454]
    k.free(1454)
    assert [k.alloc(213), k.alloc(511), k.alloc(4)] == [1594, 1819, 1454]
    assert [k.alloc(13), k.alloc(336), k.alloc(1077)] == [2342, 2367, 2715]
    k.free(2715)
    assert [k.alloc(1094), k.alloc(4), k.alloc(4)] == [3804, 3788, 3772]
    assert [k.length(1454), k.length(3772), k.length(3788)] == [4, 4, 4]


def test_alloc_zero_is_null(k: Any) -> None:
    """Allocating zero bytes returns the null handle 0."""
    assert k.alloc(0) == 0


def test_store_load_u8_round_trip(k: Any) -> None:
    """Bytes stored with store_u8 read back with load_u8."""
    h = store(k, b"hello")
    assert load(k, h, 5) == b"hello"


def test_store_load_u64_round_trip_little_endian(k: Any) -> None:
    """A u64 stored with store_u64 reads back whole and byte by byte in little-endian order."""
    h = k.alloc(8)
    k.store_u64(h, 0x0102030405060708)
    assert k.load_u64(h) == 0x0102030405060708
    assert load(k, h, 8) == bytes([8, 7, 6, 5, 4, 3, 2, 1])


def test_u64_values_use_the_full_64_bits(k: Any) -> None:
    """A u64 with the top bit set round-trips (as the i64 -1 through the wasm signature)."""
    h = k.alloc(8)
    k.store_u64(h, -1)
    assert k.load_u64(h) == -1
    assert load(k, h, 8) == b"\xff" * 8


def test_loads_outside_the_blocks_are_zero(k: Any) -> None:
    """Loads from the root, offset 0 or past the end of memory return 0 instead of trapping."""
    k.alloc(8)
    assert [k.load_u8(0), k.load_u8(9), k.load_u64(57), k.load_u8(PAGE), k.load_u64(PAGE - 7)] == [
        0,
        0,
        0,
        0,
        0,
    ]


def test_stores_outside_the_blocks_are_ignored(k: Any) -> None:
    """A store_u64 over the root (the allocator position) is dropped, so allocation still works."""
    k.store_u64(9, 12345)
    k.store_u8(PAGE, 1)
    assert k.alloc(4) == 77


def test_length_of_invalid_handle_is_zero(k: Any) -> None:
    """length is 0 for 0, for an offset inside a block, and for an offset past every block."""
    h = k.alloc(32)
    assert [k.length(0), k.length(h + 1), k.length(h - 12), k.length(5000), k.length(-1)] == [
        0,
        0,
        0,
        0,
        0,
    ]


def test_length_of_freed_handle_is_zero(k: Any) -> None:
    """A freed block is no longer a valid handle."""
    h = k.alloc(32)
    k.free(h)
    assert k.length(h) == 0


def test_length_unsafe_reads_the_header(k: Any) -> None:
    """length_unsafe gives an active block's length and 0 for null or out-of-range offsets."""
    h = k.alloc(40)
    assert [k.length_unsafe(h), k.length_unsafe(0), k.length_unsafe(-1)] == [40, 0, 0]


def test_free_block_is_reused(k: Any) -> None:
    """A freed block is handed out again to the next allocation it fits."""
    a = k.alloc(64)
    k.alloc(8)
    k.free(a)
    assert k.alloc(60) == a
    assert k.length(a) == 60


def test_too_small_free_block_is_skipped(k: Any) -> None:
    """A freed block smaller than the request is not reused; the allocation is bumped."""
    a = k.alloc(16)
    b = k.alloc(8)
    k.free(a)
    assert k.alloc(17) == b + 8 + 12


def test_large_free_block_is_split(k: Any) -> None:
    """A free block 128+ bytes too big gives its tail; the rest stays free for the next one."""
    a = k.alloc(1000)
    k.alloc(8)
    k.free(a)
    small = k.alloc(10)
    assert small == a + 1000 - 10
    assert k.length(small) == 10
    assert k.alloc(500) == small - 12 - 500


def test_slightly_larger_free_block_is_not_split(k: Any) -> None:
    """A free block less than 128 bytes too big is reused whole."""
    a = k.alloc(200)
    b = k.alloc(8)
    k.free(a)
    assert k.alloc(80) == a
    assert k.alloc(8) == b + 8 + 12


def test_free_of_unknown_handle_is_ignored(k: Any) -> None:
    """Freeing 0 or an offset that is not a handle leaves every block active."""
    h = k.alloc(16)
    k.free(0)
    k.free(h + 1)
    assert k.length(h) == 16


def test_input_set_and_input_load_u64_loop(k: Any) -> None:
    """A PDK-style loop (u64 chunks, then u8 for the tail) reads the input back exactly."""
    data = bytes(range(100, 123))
    h = store(k, data)
    k.input_set(h, len(data))
    assert (k.input_offset(), k.input_length()) == (h, len(data))
    n = k.input_length()
    out = bytearray()
    i = 0
    while i + 8 <= n:
        out += (k.input_load_u64(i) & (2**64 - 1)).to_bytes(8, "little")
        i += 8
    while i < n:
        out.append(k.input_load_u8(i))
        i += 1
    assert bytes(out) == data


def test_input_loads_past_the_end_are_zero(k: Any) -> None:
    """input_load_u64 needs all 8 bytes inside the input and input_load_u8 one; else 0."""
    h = store(k, b"abcdefghij")
    k.input_set(h, 10)
    assert [k.input_load_u64(2), k.input_load_u64(3), k.input_load_u8(10)] == [
        int.from_bytes(b"cdefghij", "little"),
        0,
        0,
    ]


def test_freeing_the_input_forgets_its_length(k: Any) -> None:
    """Freeing the input block sets the input length to 0."""
    h = store(k, b"abc")
    k.input_set(h, 3)
    k.free(h)
    assert k.input_length() == 0


def test_input_set_outside_memory_is_ignored(k: Any) -> None:
    """An input range reaching past the end of memory is not accepted."""
    h = store(k, b"abc")
    k.input_set(h, 3)
    k.input_set(h, PAGE)
    assert (k.input_offset(), k.input_length()) == (h, 3)


def test_output_set_length_offset(k: Any) -> None:
    """output_set records a range that output_offset/output_length report back."""
    h = store(k, b"result")
    k.output_set(h, 6)
    assert (k.output_offset(), k.output_length()) == (h, 6)
    assert load(k, k.output_offset(), k.output_length()) == b"result"


def test_output_may_be_the_input_block(k: Any) -> None:
    """A plugin may output (a slice of) its input block without copying."""
    h = store(k, b"echo me")
    k.input_set(h, 7)
    k.output_set(k.input_offset() + 5, 2)
    assert load(k, k.output_offset(), k.output_length()) == b"me"


def test_output_set_zero_clears(k: Any) -> None:
    """output_set(0, 0) clears the output."""
    h = store(k, b"x")
    k.output_set(h, 1)
    k.output_set(0, 0)
    assert (k.output_offset(), k.output_length()) == (0, 0)


def test_error_set_get(k: Any) -> None:
    """error_set stores a message handle that error_get returns; 0 clears it."""
    h = store(k, b"boom")
    k.error_set(h)
    assert k.error_get() == h
    assert load(k, k.error_get(), k.length(k.error_get())) == b"boom"
    k.error_set(0)
    assert k.error_get() == 0


def test_error_set_outside_memory_is_ignored(k: Any) -> None:
    """An error handle outside the block area is not recorded."""
    k.error_set(3)
    k.error_set(10 * PAGE)
    assert k.error_get() == 0


def test_reset_clears_everything(k: Any) -> None:
    """reset forgets blocks, input, output and error, and zeroes the old data."""
    h = store(k, b"secret!!")
    k.input_set(h, 8)
    k.output_set(h, 8)
    k.error_set(h)
    k.reset()
    assert [k.input_length(), k.input_offset(), k.output_length(), k.output_offset()] == [0] * 4
    assert [k.error_get(), k.length(h)] == [0, 0]
    assert k.alloc(8) == h
    assert k.load_u64(h) == 0


def test_alloc_grows_memory(k: Any) -> None:
    """An allocation past the first page grows the memory, and the whole block is usable."""
    assert k.memory_bytes() == PAGE - 64
    h = k.alloc(3 * PAGE)
    assert h == 77
    assert k.memory_bytes() == 4 * PAGE - 64
    k.store_u64(h + 3 * PAGE - 8, 42)
    assert k.load_u64(h + 3 * PAGE - 8) == 42


def test_allocations_fill_pages_exactly(k: Any) -> None:
    """Allocating right up to the end of a page does not grow memory; one more byte does."""
    h = k.alloc(PAGE - 77)
    assert (h, k.memory_bytes()) == (77, PAGE - 64)
    k.store_u8(h + PAGE - 78, 7)
    assert k.load_u8(PAGE - 1) == 7
    assert k.alloc(1) == PAGE + 12
    assert k.memory_bytes() == 2 * PAGE - 64


def test_reset_keeps_grown_memory(k: Any) -> None:
    """Memory grown by one call stays available after reset (it never shrinks)."""
    k.alloc(2 * PAGE)
    k.reset()
    assert k.memory_bytes() == 3 * PAGE - 64


@pytest.mark.parametrize("size", [2**32, 2**63 - 1, -1])
def test_huge_alloc_fails_with_zero(k: Any, size: int) -> None:
    """An allocation no wasm32 memory can hold returns 0 and leaves the allocator usable."""
    assert k.alloc(size) == 0
    assert k.alloc(8) == 77


def test_alloc_fails_with_zero_at_the_memory_limit(runtime: omniwasm.Runtime) -> None:
    """When the policy's memory limit stops growth, alloc returns 0 and smaller ones still work."""
    policy = omniwasm.Policy(max_memory="1MiB")
    with runtime.instantiate(runtime.load(KERNEL), policy) as inst:
        k = inst.exports
        assert k.alloc(2 * 1024 * 1024) == 0
        assert k.alloc(512 * 1024) == 77
        assert k.alloc(600 * 1024) == 0
        assert k.length(77) == 512 * 1024


class MiniHost:
    """A plugin linked to a kernel through Python: kernel exports forwarded, vars in a dict."""

    def __init__(self, runtime: omniwasm.Runtime, plugin: Path) -> None:
        self.kernel = runtime.instantiate(runtime.load(KERNEL))
        k = self.kernel.exports
        self.k = k
        self.vars: dict[bytes, bytes] = {}
        compiled = runtime.load(plugin)
        env: dict[str, Callable[..., Any]] = {}
        for imp in compiled.imports:
            if imp.name in k:
                env[imp.name] = k[imp.name]
        env["var_get"] = self._var_get
        env["var_set"] = self._var_set
        self.plugin = runtime.instantiate(compiled, imports={"extism:host/env": env})

    def read(self, h: int) -> bytes:
        return load(self.k, h, self.k.length(h)) if h else b""

    def _var_get(self, key: int) -> int:
        value = self.vars.get(self.read(key))
        return 0 if value is None else store(self.k, value)

    def _var_set(self, key: int, value: int) -> None:
        self.vars[self.read(key)] = self.read(value)

    def call(self, name: str, data: bytes) -> tuple[int, bytes, bytes]:
        """Call as Extism does: reset, set the input, call; return (rc, output, error)."""
        k = self.k
        k.reset()
        k.input_set(store(k, data) if data else 0, len(data))
        rc = self.plugin.exports[name]()
        out = load(k, k.output_offset(), k.output_length())
        return rc, out, self.read(k.error_get())

    def close(self) -> None:
        self.plugin.close()
        self.kernel.close()


@pytest.fixture
def mini_host(
    runtime: omniwasm.Runtime, plugin_wasm: Callable[[str], Path]
) -> Iterator[Callable[[str], MiniHost]]:
    """Link a fixture plugin (tests/fixtures/plugins) to a fresh kernel through Python."""
    hosts: list[MiniHost] = []

    def make(name: str) -> MiniHost:
        hosts.append(MiniHost(runtime, plugin_wasm(name)))
        return hosts[-1]

    yield make
    for h in hosts:
        h.close()


def test_count_vowels_plugin_runs_on_the_kernel(mini_host: Callable[[str], MiniHost]) -> None:
    """The count-vowels fixture gives the extism SDK's outputs, its total kept as an 8-byte var."""
    host = mini_host("count_vowels")
    assert host.call("count_vowels", b"Hello World") == (
        0,
        b'{"count":3,"total":3,"vowels":"aeiouAEIOU"}',
        b"",
    )
    assert host.call("count_vowels", b"aeiouAEIOU")[1] == (
        b'{"count":10,"total":13,"vowels":"aeiouAEIOU"}'
    )
    assert host.vars == {b"total": (13).to_bytes(8, "little")}


@pytest.mark.parametrize("export", ["echo", "echo_copy"])
def test_echo_plugin_round_trips_on_the_kernel(
    mini_host: Callable[[str], MiniHost], export: str
) -> None:
    """Both echo exports return their input, zero-copy or through the plugin's own memory."""
    host = mini_host("echo")
    data = bytes(range(256)) * 4 + b"tail!"
    assert host.call(export, data) == (0, data, b"")
    assert host.call(export, b"") == (0, b"", b"")


def test_failing_plugin_sets_its_error_on_the_kernel(mini_host: Callable[[str], MiniHost]) -> None:
    """The errors fixture's fail returns 1 with its message in the kernel's error block."""
    host = mini_host("errors")
    assert host.call("fail", b"") == (1, b"", b"something went wrong")
    assert host.call("empty", b"") == (0, b"", b"")


def test_begin_resets_and_sets_the_input_block(runtime: omniwasm.Runtime) -> None:
    """omniwasm_begin(n) resets the kernel and returns a fresh n-byte block set as the input."""
    k = runtime.instantiate(runtime.load(KERNEL)).exports
    k.error_set(k.alloc(4))
    handle = k.omniwasm_begin(10)
    assert (k.input_offset(), k.input_length(), k.length(handle)) == (handle, 10, 10)
    assert k.error_get() == 0
    assert k.omniwasm_begin(0) == 0
    assert k.input_length() == 0
