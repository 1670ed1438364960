"""A guest's fault stays a Trap after another library installs its own crash handlers.

wasmtime catches a guest's ``unreachable``, out-of-bounds access or division by zero with
signal handlers it installs with the first engine. ``faulthandler.enable()`` and
``ray.init()`` install theirs later, over wasmtime's, and the next guest trap used to kill the
process ("Fatal Python error: Illegal instruction", seen in a pytest-xdist worker that had run
the Ray tests). Each scenario runs in a subprocess, so a crash fails the test instead of the
test run.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap

import pytest

PRELUDE = """
import faulthandler, sys, wasmtime, omniwasm
from omniwasm import Runtime, Trap
CORE = wasmtime.wat2wasm('''(module (memory 1)
  (func (export "unreachable") unreachable)
  (func (export "oob") (drop (i32.load (i32.const 100000))))
  (func (export "div") (drop (i32.div_s (i32.const 1) (i32.const 0))))
  (func $r (export "deep") (call $r)))''')
COMPONENT = wasmtime.wat2wasm('''(component
  (core module $m (func (export "f") unreachable))
  (core instance $i (instantiate $m))
  (func (export "boom") (canon lift (core func $i "f"))))''')
def trap(inst, name):
    try:
        inst.func(name)()
    except Trap as e:
        print(e.code)
rt = Runtime(cache=False)
old = rt.instantiate(rt.load(CORE))
trap(old, "unreachable")
"""


def run(script: str) -> subprocess.CompletedProcess[str]:
    """Run PRELUDE + ``script`` in a fresh interpreter."""
    code = PRELUDE + textwrap.dedent(script)
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )


def test_new_instances_trap_after_faulthandler_enable() -> None:
    """Core traps of every kind (SIGILL, SIGSEGV, SIGFPE, stack overflow) stay Trap."""
    done = run("""
        faulthandler.enable()
        inst = rt.instantiate(rt.load(CORE))
        for name in ("unreachable", "oob", "div", "deep"):
            trap(inst, name)
    """)
    assert done.returncode == 0, done.stderr
    codes = done.stdout.split()
    assert codes[0] == "unreachable"
    assert codes[1:4] == ["unreachable", "memory_out_of_bounds", "integer_division_by_zero"]
    assert codes[4] == "stack_overflow"
    assert "were replaced" in done.stderr  # said once, as a warning


def test_a_component_trap_after_faulthandler_enable_is_a_trap() -> None:
    """A component instantiated after faulthandler.enable() traps as Trap."""
    done = run("""
        faulthandler.enable()
        trap(rt.instantiate(rt.load(COMPONENT)), "boom")
    """)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["unreachable", "unreachable"]


def test_a_new_runtime_puts_the_handlers_back_for_older_instances() -> None:
    """Making a Runtime restores the handlers, so an instance from before traps as Trap."""
    done = run("""
        faulthandler.enable()
        Runtime(cache=False)
        trap(old, "unreachable")
        trap(old, "oob")
    """)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["unreachable", "unreachable", "memory_out_of_bounds"]


def test_sql_statements_trap_after_faulthandler_enable() -> None:
    """A SQL function whose instance predates faulthandler.enable() fails with Trap."""
    pytest.importorskip("duckdb")
    done = run("""
        import duckdb
        from omniwasm import sql
        con = duckdb.connect()
        sql.register(con, '''(module
          (func (export "same") (param i64) (result i64) local.get 0)
          (func (export "boom") (param i64) (result i64) unreachable))''')
        print(sql.execute(con, "SELECT same(7)").rows[0][0])  # the thread's instance lives on
        faulthandler.enable()
        try:
            sql.execute(con, "SELECT boom(2)")
        except Trap as e:
            print(e.code)
    """)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["unreachable", "7", "unreachable"]


def test_importing_the_habitats_libraries_keeps_wasmtime_handlers() -> None:
    """pyarrow, duckdb, numpy, onnxruntime, uvicorn loaded (and used) after an engine leave them."""
    done = run("""
        import importlib
        from omniwasm._engine import traps
        for name in ("numpy", "pyarrow", "duckdb", "onnxruntime", "uvicorn", "hypercorn"):
            try:
                importlib.import_module(name)
            except ImportError:
                continue
            print(name, traps.restore() or "kept")
        import duckdb, pyarrow.compute as pc  # and used: a query, an Arrow kernel
        duckdb.connect().execute("SELECT sum(i) FROM range(1000) t(i)").fetchall()
        pc.sum(pc.multiply([1, 2, 3], 2))
        print("used", traps.restore() or "kept")
        trap(old, "unreachable")
    """)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[-1] == "unreachable"
    assert all(line.endswith(" kept") for line in lines[1:-1]), lines
    assert len(lines) >= 4  # numpy, pyarrow, duckdb at least (the sql extra)


def test_a_host_crash_outside_wasm_still_kills_the_process() -> None:
    """The reinstalled handlers pass a fault outside wasm code on: the process dies of it."""
    done = run("""
        faulthandler.enable()
        Runtime(cache=False)
        import ctypes
        ctypes.string_at(1)
    """)
    assert done.returncode == -signal.SIGSEGV, (done.returncode, done.stderr)


def test_a_handler_that_is_not_a_crash_reporter_is_left_in_place() -> None:
    """A SIGSEGV handler from another library (here libc's ``abs``) is not replaced, but said."""
    done = run("""
        import ctypes, signal
        from omniwasm._engine import traps
        libc = ctypes.CDLL(None)
        action = ctypes.create_string_buffer(512)  # struct sigaction: the handler comes first
        foreign = ctypes.cast(libc.abs, ctypes.c_void_p).value
        ctypes.c_void_p.from_buffer(action).value = foreign
        libc.sigaction(signal.SIGSEGV, action, None)
        print(traps.restore() or "none", traps.restore(quick=True) or "none")
        libc.sigaction(signal.SIGSEGV, None, action)
        print(ctypes.c_void_p.from_buffer(action).value == foreign)
    """)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[1:] == ["none", "none", "True"]
    assert "not a crash reporter" in done.stderr
    assert done.stderr.count("not a crash reporter") == 1
