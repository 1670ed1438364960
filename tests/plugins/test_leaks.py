"""Creating and closing plugins in a loop keeps the process's memory flat."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from omniwasm.plugins import CompiledPlugin

Build = Callable[[str], Path]


def _rss_bytes() -> int:
    """Resident set size of this process (Linux /proc)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS in /proc/self/status")


def test_hundred_thousand_plugins_keep_rss_flat(plugin_wasm: Build) -> None:
    """100,000 create-call-close cycles grow RSS by less than 64 MiB after a warm-up."""
    compiled = CompiledPlugin(plugin_wasm("count_vowels"))
    for _ in range(2_000):
        with compiled.instantiate() as plugin:
            plugin.call("count_vowels", b"warm up")
    before = _rss_bytes()
    for _ in range(100_000):
        with compiled.instantiate() as plugin:
            plugin.call("count_vowels", b"hello")
    grown = _rss_bytes() - before
    assert grown < 64 * 1024 * 1024, f"RSS grew by {grown / 2**20:.1f} MiB"
