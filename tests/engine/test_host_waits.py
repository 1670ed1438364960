"""Timeouts cover the time a core-module guest spends blocked in the host, not only in wasm.

Every guest here waits for an hour; only the deadline can end it, and ``bounded`` fails the test
(rather than hanging the suite) if it does not.
"""

from __future__ import annotations

import gc
import time
import weakref
from collections.abc import Callable
from pathlib import Path

import pytest

from fixtures.bounded import bounded
from fixtures.cancelling import cancelled_soon
from fixtures.toolchain import FIXTURES, build_c_module
from omniwasm import Cancelled, Policy, Runtime, Timeout
from omniwasm.plugins import Plugin

Build = Callable[[str], Path]
HOUR = "3600"

NAP = """
(module
  (import "wasi_snapshot_preview1" "poll_oneoff"
    (func $poll (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  ;; one relative monotonic clock subscription of NS nanoseconds, userdata 7, at offset 0;
  ;; the event goes to 64, the event count to 128
  (func $nap (export "nap") (param $ns i64) (result i32)
    (i64.store (i32.const 0) (i64.const 7))
    (i32.store8 (i32.const 8) (i32.const 0))
    (i32.store (i32.const 16) (i32.const 1))
    (i64.store (i32.const 24) (local.get $ns))
    (i32.store16 (i32.const 40) (i32.const 0))
    (call $poll (i32.const 0) (i32.const 64) (i32.const 1) (i32.const 128)))
  (func (export "events") (result i32) (i32.load (i32.const 128)))
  (func (export "userdata") (result i64) (i64.load (i32.const 64)))
  {extra})
"""
HOUR_NS = 3600 * 10**9


@pytest.fixture(scope="module")
def rt() -> Runtime:
    """One runtime for the module (its engine and compile cache)."""
    return Runtime()


@pytest.mark.parametrize("mode", ["sleep", "abstime", "realtime"])
def test_sleep_ends_at_the_deadline(rt: Runtime, c_module: Build, mode: str) -> None:
    """sleep(), clock_nanosleep(MONOTONIC|REALTIME, TIMER_ABSTIME) for an hour end in Timeout."""
    code = rt.load(c_module("waits"))
    policy = Policy(timeout=0.3, args=[mode, HOUR])
    _, error, _ = bounded(lambda: rt.run(code, policy))
    assert isinstance(error, Timeout), error
    assert error.limit == 0.3


def test_sleeps_within_the_timeout_last_as_long_as_asked(rt: Runtime) -> None:
    """Under a timeout the deadline-aware poll_oneoff still sleeps the full time asked for."""
    clocks = build_c_module(FIXTURES / "wasi" / "clocks.c")
    result, error, _ = bounded(lambda: rt.run(clocks, Policy(timeout=30, args=["40"])))
    assert error is None, error
    lines = dict(line.split(": ", 1) for line in result.stdout.decode().splitlines())
    for name in ("nanosleep", "clock_nanosleep", "abstime"):
        assert lines[name] == "ok", lines
        assert lines[f"{name}_enough"] == "yes", lines


def test_poll_on_a_descriptor_still_works_under_a_timeout(rt: Runtime, c_module: Build) -> None:
    """poll() on stdin with a clock (answered by native WASI) sees the input, then its end."""
    code = rt.load(c_module("waits"))
    policy = Policy(timeout=30, args=["poll", "100"], stdin=b"hi\n")
    result, error, _ = bounded(lambda: rt.run(code, policy))
    assert error is None, error
    assert result.stdout == b"ready\nready\ndone\n"


def test_the_wait_reports_its_event(rt: Runtime) -> None:
    """A short sleep under a timeout returns success with one clock event carrying userdata."""
    with rt.instantiate(NAP.format(extra=""), Policy(timeout=30)) as inst:
        assert inst.call("nap", 1_000_000) == 0
        assert inst.call("events") == 1
        assert inst.call("userdata") == 7


def test_instance_runs_again_after_a_wait_timed_out(rt: Runtime) -> None:
    """After a sleep hit the deadline, the next call of the same instance has its own."""
    inst = rt.instantiate(NAP.format(extra=""), Policy(timeout=0.3))
    _, error, _ = bounded(lambda: inst.call("nap", HOUR_NS))  # (never closed while in use)
    assert isinstance(error, Timeout), error
    assert inst.call("nap", 1_000_000) == 0
    inst.close()


def test_start_function_sleep_is_bounded(rt: Runtime) -> None:
    """A start function sleeping an hour makes instantiation raise Timeout."""
    wat = NAP.format(extra=f"(func $s (drop (call $nap (i64.const {HOUR_NS})))) (start $s)")
    _, error, _ = bounded(lambda: rt.instantiate(wat, Policy(timeout=0.3)))
    assert isinstance(error, Timeout), error


def test_plugin_initialize_loop_is_bounded() -> None:
    """A plugin whose _initialize loops forever raises Timeout under Policy(timeout=...)."""
    wat = '(module (func (export "_initialize") (loop (br 0))) (func (export "f") (result i32) i32.const 0))'
    _, error, _ = bounded(lambda: Plugin(wat, policy=Policy(timeout=0.3)))
    assert isinstance(error, Timeout), error


def test_plugin_initialize_sleep_is_bounded() -> None:
    """A WASI plugin whose _initialize sleeps an hour raises Timeout."""
    init = f'(func (export "_initialize") (drop (call $nap (i64.const {HOUR_NS}))))'
    _, error, _ = bounded(
        lambda: Plugin(NAP.format(extra=init), wasi=True, policy=Policy(timeout=0.3))
    )
    assert isinstance(error, Timeout), error


def test_plugin_call_sleep_is_bounded_and_cancellable() -> None:
    """A plugin call sleeping an hour ends in Timeout, and cancel() ends one without a timeout."""
    nap = f'(func (export "sleepy") (result i32) (drop (call $nap (i64.const {HOUR_NS}))) (i32.const 0))'
    wat = NAP.format(extra=nap)
    timed = Plugin(wat, wasi=True, policy=Policy(timeout=0.3))
    _, error, _ = bounded(lambda: timed.call("sleepy"))  # (never closed while in use)
    assert isinstance(error, Timeout), error
    timed.close()
    plugin = Plugin(wat, wasi=True)
    with cancelled_soon(plugin.cancel):
        _, error, _ = bounded(lambda: plugin.call("sleepy"))
    assert isinstance(error, Cancelled), error
    plugin.close()


def test_a_host_function_may_end_the_call_with_timeout(rt: Runtime) -> None:
    """Timeout raised by a Python host function is the call's outcome (not HostFunctionError)."""

    def gives_up() -> None:
        raise Timeout("the host function gave up", limit=1.0)

    wat = '(module (import "env" "f" (func $f)) (func (export "g") (call $f)))'
    with (
        rt.instantiate(wat, imports={"env": {"f": gives_up}}) as inst,
        pytest.raises(Timeout, match="gave up"),
    ):
        inst.call("g")


FD_POLL = """
(module
  (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "_start")
    ;; one fd_read subscription on stdin: native WASI answers it, through the helper instance
    (i32.store8 (i32.const 8) (i32.const 1))
    (i32.store (i32.const 16) (i32.const 0))
    (if (call $poll (i32.const 0) (i32.const 64) (i32.const 1) (i32.const 128))
      (then unreachable))))
"""


def test_an_engine_whose_guests_used_the_poll_helper_is_freed() -> None:
    """The helper kept for an engine does not keep the native engine (and its pool) alive."""
    rt = Runtime(cache=False, pool_size=7)  # settings of its own: an engine of its own
    assert rt.run(FD_POLL, Policy(timeout=5, stdin=b"x")).exit_code == 0
    native = weakref.ref(rt._native.engine)
    del rt
    for _ in range(100):  # the epoch ticker holds each engine for an instant as it ticks
        gc.collect()
        if native() is None:
            break
        time.sleep(0.01)
    assert native() is None
