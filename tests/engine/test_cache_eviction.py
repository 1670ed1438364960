"""The compile cache's size cap: least-recently-used eviction, safe across processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from omniwasm import PolicyError, Runtime
from omniwasm._engine.cache import DEFAULT_CACHE_MAX, MAGIC, CompileCache

Build = Callable[[str], Path]
KiB = 1024
ENTRY = 10 * KiB  # payload bytes of each test entry
HEAD = len(MAGIC) + 32  # an entry's header: magic and checksum


def _fill(cache: CompileCache, keys: list[str]) -> None:
    """Write one entry per key, each 10 KiB, with mtimes one minute apart (oldest first)."""
    start = time.time() - 3600
    for i, key in enumerate(keys):
        cache.put(key, key.encode()[:1] * ENTRY)
        os.utime(cache._path(key), (start + 60 * i, start + 60 * i))


def _keys(n: int) -> list[str]:
    return [f"{i:02x}" + "0" * 62 for i in range(n)]


def test_the_default_cap_is_one_gib() -> None:
    """Without OMNIWASM_CACHE_MAX a cache is capped at 1 GiB."""
    assert DEFAULT_CACHE_MAX == 1 << 30
    assert Runtime().cache.max_size == 1 << 30
    assert Runtime().cache.info().max_size == 1 << 30


def test_env_sets_the_cap_and_a_bad_value_is_a_policy_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """OMNIWASM_CACHE_MAX takes a size or 'unlimited'; anything else is a PolicyError."""
    monkeypatch.setenv("OMNIWASM_CACHE_MAX", "64MiB")
    assert Runtime().cache.max_size == 64 << 20
    monkeypatch.setenv("OMNIWASM_CACHE_MAX", "unlimited")
    assert Runtime().cache.max_size is None
    monkeypatch.setenv("OMNIWASM_CACHE_MAX", "lots")
    with pytest.raises(PolicyError, match="OMNIWASM_CACHE_MAX"):
        Runtime()


def test_a_write_past_the_cap_evicts_the_least_recently_used(tmp_path: Path) -> None:
    """Writing past the cap removes the oldest-used entries; a hit makes an entry recent."""
    keys = _keys(5)
    cache = CompileCache(tmp_path, max_size=None)
    _fill(cache, keys[:4])
    assert cache.get(keys[0]) is not None  # used now: the most recent of the four
    cache.max_size = 3 * (ENTRY + HEAD)
    cache.put(keys[4], b"e" * ENTRY)
    left = {k for k in keys if cache._path(k).exists()}
    assert left == {keys[0], keys[3], keys[4]}  # keys[1] and keys[2] were used least recently
    assert cache.usage() == (3, 3 * (ENTRY + HEAD))


def test_the_entry_just_written_is_kept_even_past_the_cap(tmp_path: Path) -> None:
    """An entry larger than the whole cap survives its own write (everything older goes)."""
    keys = _keys(3)
    cache = CompileCache(tmp_path, max_size=None)
    _fill(cache, keys[:2])
    cache.max_size = ENTRY // 2
    cache.put(keys[2], b"x" * ENTRY)
    assert [cache._path(k).exists() for k in keys] == [False, False, True]
    assert cache.get(keys[2]) == b"x" * ENTRY


def test_prune_removes_stale_temp_files_only_when_old(tmp_path: Path) -> None:
    """A temp file older than an hour (a dead writer's) is pruned; a fresh one is left."""
    cache = CompileCache(tmp_path, max_size=None)
    _fill(cache, _keys(1))
    shard = tmp_path / "00"
    old, fresh = shard / ".tmp-old.cwasm", shard / ".tmp-new.cwasm"
    old.write_bytes(b"half")
    fresh.write_bytes(b"half")
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    done = cache.prune(1 << 30)
    assert (done.removed, old.exists(), fresh.exists()) == (0, False, True)


def test_runtime_cache_prune(c_module: Build, c_component: Build) -> None:
    """Runtime.cache.prune(0) empties the cache and reports what it freed.

    The module and the component are one entry each; on omniwasm's own component runtime
    (``auto``'s choice here) the component's core modules are entries of their own too.
    """
    rt = Runtime()
    rt.load(c_module("hello"))
    rt.load(c_component("hello"))
    before = rt.cache.info()
    assert before.entries >= 2
    assert rt.cache.prune(0) == (before.entries, before.size)
    assert rt.cache.info().entries == 0


_WRITER = """
import os, sys
from omniwasm._engine.cache import CompileCache
from pathlib import Path
root, who, count, cap = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
cache = CompileCache(Path(root), max_size=cap)
for i in range(count):
    key = f"{who:02x}{i:02x}" + "0" * 60
    cache.put(key, bytes([who]) * (8192 + i))
    # readers meanwhile: an entry is whole or missing, never damaged
    for j in range(i + 1):
        got = cache.get(f"{who:02x}{j:02x}" + "0" * 60)
        assert got is None or got == bytes([who]) * (8192 + j), "damaged entry"
assert cache.rejected == 0
print("ok")
"""


def test_concurrent_processes_keep_the_cache_under_its_cap(tmp_path: Path) -> None:
    """Four processes writing and reading at once end under the cap with every entry intact."""
    cap = 12 * 8300
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(tmp_path), str(who), "25", str(cap)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for who in range(1, 5)
    ]
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert (proc.returncode, out.strip()) == (0, "ok"), err
    cache = CompileCache(tmp_path, max_size=None)
    entries, size = cache.usage()
    assert entries > 0 and size <= cap
    for path in tmp_path.glob("*/*.cwasm"):
        assert not path.name.startswith(".tmp-")
        key = path.stem
        assert cache.get(key) is not None  # verified: checksum intact
    assert cache.rejected == 0


def test_cli_cache_prune_and_info(
    omniwasm_cli: list[str], c_module: Build, isolated_env: Path
) -> None:
    """`cache prune --max-size 0` empties the cache; `cache info --json` shows the cap."""
    Runtime().load(c_module("hello"))
    env = {**os.environ, "OMNIWASM_CACHE_MAX": "5MiB"}
    info = subprocess.run(
        [*omniwasm_cli, "cache", "info", "--json"], capture_output=True, env=env, check=True
    )
    assert json.loads(info.stdout)["max_bytes"] == 5 << 20
    proc = subprocess.run(
        [*omniwasm_cli, "cache", "prune", "--max-size", "0"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("removed 1 entries")
    assert Runtime().cache.info().entries == 0
