"""Resource hygiene on the virtual WASI host: leaking and double-dropping guests, long runs.

Guest: ``tests/fixtures/wasi/handles.wat`` (``hold(n)`` keeps n stdout handles,
``double-drop()`` drops one handle twice, ``write-once()`` writes "x" and drops its handle).
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from pathlib import Path

import pytest

import omniwasm
from omniwasm import Policy, Runtime, wasi
from omniwasm._engine.component.stock import imports

Guest = Callable[[str], Path]


def _rss_kib() -> int:
    """The resident set of this process now (its peak, ru_maxrss, may hide growth)."""
    with open("/proc/self/status") as status:
        return int(next(line for line in status if line.startswith("VmRSS:")).split()[1])


@pytest.fixture(scope="module")
def rt() -> Runtime:
    """One runtime for the module."""
    return Runtime()


def test_double_drop_is_a_clear_trap(rt: Runtime, wasi_guest: Guest) -> None:
    """Dropping the same handle twice traps with the component model's message."""
    ctx = wasi.WasiContext(Policy())
    with (
        wasi.instantiate(rt, wasi_guest("handles"), ctx) as inst,
        pytest.raises(omniwasm.Trap, match="unknown handle index"),
    ):
        inst.call("double-drop")


def test_leaking_guest_hits_the_host_resource_limit(rt: Runtime, wasi_guest: Guest) -> None:
    """A guest that never drops its handles is stopped with LimitExceeded, not memory growth."""
    ctx = wasi.WasiContext(Policy())
    with wasi.instantiate(rt, wasi_guest("handles"), ctx) as inst:
        inst.call("hold", 1000)  # holding some handles is fine
        with pytest.raises(omniwasm.LimitExceeded, match="leaking handles") as info:
            inst.call("hold", imports.MAX_HOST_RESOURCES)
    assert info.value.limit == imports.MAX_HOST_RESOURCES


def test_many_runs_leave_no_growth_in_the_resource_tables(rt: Runtime, wasi_guest: Guest) -> None:
    """10,000 instances that each make and drop a stream leave no host state behind."""
    code = rt.load(wasi_guest("handles"))
    gc.collect()
    stores_before = len(imports._STORES)

    def burst(n: int) -> None:
        for _ in range(n):
            ctx = wasi.WasiContext(Policy(stdout="discard"))
            with wasi.instantiate(rt, code, ctx) as inst:
                inst.call("write-once")
                assert inst._inner.state.table == {}  # type: ignore[union-attr]
            ctx.close()

    burst(2000)
    gc.collect()
    rss_before = _rss_kib()
    burst(8000)
    gc.collect()
    grown_kib = _rss_kib() - rss_before
    assert len(imports._STORES) == stores_before
    assert grown_kib < 32 * 1024  # generous: a leak of a few KiB per run would show as 40+ MiB
