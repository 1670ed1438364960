"""The on-disk compile cache: hits on reload, survives corruption, and precompiled code runs."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

from omniwasm import Runtime

Build = Callable[[str], Path]


def _entries(cache_dir: Path) -> list[Path]:
    return sorted(p for p in cache_dir.rglob("*.cwasm") if p.is_file())


def test_second_runtime_hits_the_cache(c_module: Build, isolated_env: Path) -> None:
    """A second Runtime loading the same module reads it from $OMNIWASM_CACHE_DIR."""
    Runtime().load(c_module("hello"))
    assert len(_entries(isolated_env)) == 1
    rt = Runtime()
    rt.load(c_module("hello"))
    assert rt.cache.hits == 1
    assert rt.run(c_module("hello")).stdout == b"hello from wasm\n"


def test_corrupt_cache_entry_is_recompiled(c_module: Build, isolated_env: Path) -> None:
    """Flipped bytes in a cache entry cause a recompile (a miss), not a crash, and the guest runs."""
    Runtime().load(c_module("hello"))
    (entry,) = _entries(isolated_env)
    data = bytearray(entry.read_bytes())
    for offset in (len(data) // 3, len(data) // 2, len(data) - 10):
        data[offset] ^= 0xFF
    entry.write_bytes(bytes(data))
    rt = Runtime()
    result = rt.run(c_module("hello"))
    assert result.stdout == b"hello from wasm\n"
    assert rt.cache.hits == 0
    assert rt.cache.misses >= 1
    assert rt.run(c_module("args")).exit_code == 0


def test_truncated_cache_entry_is_recompiled(c_component: Build, isolated_env: Path) -> None:
    """A truncated component cache entry is replaced by a fresh compile."""
    Runtime().load(c_component("hello"))
    for entry in _entries(isolated_env):
        entry.write_bytes(entry.read_bytes()[:100])
    assert Runtime().run(c_component("hello")).stdout == b"hello from wasm\n"
    rt = Runtime()
    rt.load(c_component("hello"))
    assert rt.cache.hits == 1


def test_cli_runs_after_cache_corruption(
    omniwasm_cli: list[str], c_module: Build, isolated_env: Path
) -> None:
    """The CLI recompiles over a corrupted cache entry and runs the guest normally."""
    path = str(c_module("hello"))
    first = subprocess.run([*omniwasm_cli, "run", path], check=False, capture_output=True)
    assert first.returncode == 0
    for entry in _entries(isolated_env):
        entry.write_bytes(b"\0" * 64 + entry.read_bytes()[64:])
    proc = subprocess.run([*omniwasm_cli, "run", path], check=False, capture_output=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == b"hello from wasm\n"
    assert proc.stderr == b""


def test_cache_disabled_writes_nothing(c_module: Build, isolated_env: Path) -> None:
    """Runtime(cache=False) compiles without touching the cache directory."""
    Runtime(cache=False).run(c_module("hello"))
    assert _entries(isolated_env) == []


def test_cache_info_and_clear(c_module: Build) -> None:
    """cache.info() counts entries and cache.clear() removes them."""
    rt = Runtime()
    rt.load(c_module("hello"))
    rt.load(c_module("args"))
    assert rt.cache.info().entries == 2
    assert rt.cache.clear() == 2
    assert rt.cache.info().entries == 0


def test_precompiled_bytes_load_and_run(c_module: Build, tmp_path: Path) -> None:
    """Runtime.compile() output saved as .cwasm loads and runs in another Runtime."""
    cwasm = tmp_path / "hello.cwasm"
    cwasm.write_bytes(Runtime(cache=False).compile(c_module("hello")))
    compiled = Runtime().load(cwasm)
    assert compiled.sha256 is None
    assert Runtime().run(cwasm).stdout == b"hello from wasm\n"


def test_reloading_in_one_runtime_skips_the_disk(c_module: Build) -> None:
    """A Runtime that loaded a module before reuses the compiled code without reading the cache."""
    rt = Runtime()
    rt.load(c_module("hello"))
    misses, hits = rt.cache.misses, rt.cache.hits
    assert rt.run(c_module("hello")).stdout == b"hello from wasm\n"
    assert (rt.cache.misses, rt.cache.hits) == (misses, hits)
