"""Pre-initialised snapshots (``Runtime.snapshot``): same answers, init skipped, refusals."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

import omniwasm
from omniwasm import Policy, Runtime, SnapshotError

# init fills 256 KiB with a table, grows memory by a page, counts its runs in a global, and
# writes into a passive segment's neighbourhood; the queries read all of it back.
TABLE = """
(module
  (memory 5 100)
  (global $runs (mut i32) (i32.const 0))
  (global $big (mut i64) (i64.const 0))
  (global $ratio (mut f64) (f64.const 0))
  (global $fixed i32 (i32.const 7))
  (data $hello (i32.const 16) "hello")
  (data $later "passive")
  (func $init (export "init")
    (local $i i32)
    (global.set $runs (i32.add (global.get $runs) (i32.const 1)))
    (loop $fill
      (i32.store (i32.add (i32.const 1024) (i32.shl (local.get $i) (i32.const 2)))
                 (i32.mul (local.get $i) (local.get $i)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $fill (i32.lt_u (local.get $i) (i32.const 65536))))
    (drop (memory.grow (i32.const 1)))
    (i32.store (i32.const 0x50000) (i32.const -5))
    (global.set $big (i64.const -1234567890123))
    (global.set $ratio (f64.const 0.1)))
  (func (export "square") (param i32) (result i32)
    (i32.load (i32.add (i32.const 1024) (i32.shl (local.get 0) (i32.const 2)))))
  (func (export "runs") (result i32) (global.get $runs))
  (func (export "big") (result i64) (global.get $big))
  (func (export "ratio") (result f64) (global.get $ratio))
  (func (export "fixed") (result i32) (global.get $fixed))
  (func (export "pages") (result i32) (memory.size))
  (func (export "far") (result i32) (i32.load (i32.const 0x50000)))
  (func (export "hello") (result i32) (i32.load8_u (i32.const 16)))
  (func (export "later") (result i32)
    (memory.init $later (i32.const 8192) (i32.const 0) (i32.const 7))
    (i32.load8_u (i32.const 8192))))
"""

QUERIES = [
    ("square", (0,)),
    ("square", (3,)),
    ("square", (65535,)),
    ("runs", ()),
    ("big", ()),
    ("ratio", ()),
    ("fixed", ()),
    ("pages", ()),
    ("far", ()),
    ("hello", ()),
    ("later", ()),
]


def answers(rt: Runtime, wasm: bytes | str, *, init: bool) -> list[object]:
    """The answers to QUERIES of a fresh instance (after calling init when asked)."""
    with rt.instantiate(rt.load(wasm)) as inst:
        if init:
            inst.call("init")
        return [inst.call(name, *args) for name, args in QUERIES]


def test_snapshot_answers_like_the_initialised_original() -> None:
    """Every query of the snapshot answers what the original answers after its init."""
    rt = Runtime()
    snap = rt.snapshot(TABLE, init="init")
    assert answers(rt, snap, init=False) == answers(rt, TABLE, init=True)


def test_snapshot_skips_init_and_drops_its_export() -> None:
    """The snapshot ran init once (runs == 1) and no longer exports it."""
    rt = Runtime()
    snap = rt.snapshot(TABLE, init="init")
    with rt.instantiate(rt.load(snap)) as inst:
        assert inst.call("runs") == 1
        assert inst.call("pages") == 6
        assert "init" not in inst.exports


def test_snapshot_of_a_snapshot_is_stable() -> None:
    """Snapshotting again with a no-op init gives a module with the same answers."""
    noop = TABLE.replace('(func (export "runs")', '(func (export "noop"))\n  (func (export "runs")')
    rt = Runtime()
    once = rt.snapshot(noop, init="init")
    twice = rt.snapshot(once, init="noop")
    assert answers(rt, twice, init=False) == answers(rt, once, init=False)


def test_a_c_program_prints_the_same_from_its_snapshot(c_module: Callable[[str], Path]) -> None:
    """A zig-built C command prints the same from its snapshot, whose init already ran."""
    wasm = c_module("snapinit")
    rt = Runtime()
    snap = rt.snapshot(wasm)
    plain, snapped = rt.run(wasm), rt.run(rt.load(snap))
    assert (snapped.exit_code, snapped.stdout) == (plain.exit_code, plain.stdout)
    assert plain.stdout.startswith(b"init ran 1 time(s); checksum ")
    with rt.instantiate(rt.load(wasm)) as fresh, rt.instantiate(rt.load(snap)) as ready:
        assert (fresh.call("init_runs"), ready.call("init_runs")) == (0, 1)
        assert "wizer.initialize" in fresh.exports
        assert "wizer.initialize" not in ready.exports


WASI_OPEN = """
(module
  (import "wasi_snapshot_preview1" "path_open"
    (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_close" (func $close (param i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 64) "made.txt")
  (global $status (mut i32) (i32.const -1))
  (func (export "wizer.initialize")
    (global.set $status
      (call $open (i32.const 3) (i32.const 0) (i32.const 64) (i32.const 8) (i32.const 1)
                  (i64.const 0x1fffffff) (i64.const 0x1fffffff) (i32.const 0) (i32.const 128)))
    CLOSE)
  (func (export "status") (result i32) (global.get $status)))
"""


def test_init_leaving_a_file_open_is_refused(tmp_path: Path) -> None:
    """An init that opens a file and keeps it open is refused, naming the descriptor."""
    policy = Policy(dirs=[omniwasm.Mount(str(tmp_path), "/")])
    with pytest.raises(SnapshotError, match="left file descriptor 4 open"):
        Runtime().snapshot(WASI_OPEN.replace("CLOSE", ""), policy)


def test_init_closing_its_files_is_captured(tmp_path: Path) -> None:
    """An init that opens and closes a file (WASI p1) snapshots; its result is kept."""
    policy = Policy(dirs=[omniwasm.Mount(str(tmp_path), "/")])
    closing = WASI_OPEN.replace("CLOSE", "(drop (call $close (i32.load (i32.const 128))))")
    rt = Runtime()
    snap = rt.snapshot(closing, policy)
    assert (tmp_path / "made.txt").exists()
    with rt.instantiate(rt.load(snap)) as inst:
        assert inst.call("status") == 0
        assert "wizer.initialize" not in inst.exports


def test_host_function_imports_are_refused() -> None:
    """A module importing a non-WASI host function is refused: its state lives in the host."""
    wat = '(module (import "env" "tick" (func)) (func (export "wizer.initialize")))'
    with pytest.raises(SnapshotError, match=r"env\.tick"):
        Runtime().snapshot(wat)


def test_imported_memory_is_refused() -> None:
    """A module importing its memory is refused."""
    wat = '(module (import "env" "mem" (memory 1)) (func (export "wizer.initialize")))'
    with pytest.raises(SnapshotError, match=r"memory env\.mem"):
        Runtime().snapshot(wat)


def test_init_growing_a_table_is_refused() -> None:
    """An init that grows a table is refused: tables are not captured."""
    wat = """(module (table 1 funcref)
      (func (export "wizer.initialize") (drop (table.grow (ref.null func) (i32.const 2)))))"""
    with pytest.raises(SnapshotError, match="grew table 0"):
        Runtime().snapshot(wat)


def test_init_that_exits_is_refused() -> None:
    """An init that calls proc_exit is refused rather than snapshotted half-way."""
    wat = """(module
      (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
      (memory (export "memory") 1)
      (func (export "wizer.initialize") (call $exit (i32.const 3))))"""
    with pytest.raises(SnapshotError, match="exited"):
        Runtime().snapshot(wat)


def test_init_that_traps_raises_the_trap() -> None:
    """A trap in init is the engine's Trap, not a snapshot."""
    wat = '(module (func (export "wizer.initialize") unreachable))'
    with pytest.raises(omniwasm.Trap):
        Runtime().snapshot(wat)


def test_missing_init_export_is_invalid() -> None:
    """Without the named (or a default) init export the module is InvalidModule."""
    with pytest.raises(omniwasm.InvalidModule, match="no init function 'setup'"):
        Runtime().snapshot('(module (func (export "wizer.initialize")))', init="setup")
    with pytest.raises(omniwasm.InvalidModule, match=r"wizer\.initialize"):
        Runtime().snapshot("(module)")


def test_init_runs_under_the_policy() -> None:
    """The init runs in the policy's sandbox: a fuel limit stops an endless init."""
    wat = '(module (func (export "wizer.initialize") (loop $l (br $l))))'
    with pytest.raises(omniwasm.OutOfFuel):
        Runtime(fuel=True).snapshot(wat, Policy(fuel=10_000))


def test_readme_snapshot_example(capsys: pytest.CaptureFixture[str]) -> None:
    """The README's snapshot example runs as written and prints the refusal."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    block = readme.split("<!-- example:snapshot -->\n```python\n", 1)[1].split("```", 1)[0]
    exec(compile(block, "README.md", "exec"), {})
    assert "imports env.f: a host function's state cannot be captured" in capsys.readouterr().out
