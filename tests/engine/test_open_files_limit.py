"""A store linked with count_files limits the files its guest has open at once (EMFILE past it)."""

from __future__ import annotations

from pathlib import Path

import pytest

from omniwasm import Mount, Policy, Runtime
from omniwasm._linked import LinkedModule

# open(n): path_open "f.txt" under the first preopen (fd 3) n times, keeping every fd;
# returns how many opened before the first errno, and that errno at address 8.
# close_all(k): fd_close the k descriptors opened last.
WAT = """
(module
  (import "wasi_snapshot_preview1" "path_open"
    (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_close" (func $close (param i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "f.txt")
  (global $n (mut i32) (i32.const 0))
  (func (export "open") (param $k i32) (result i32)
    (local $i i32) (local $err i32)
    (i32.store (i32.const 8) (i32.const 0))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $k)))
        (local.set $err
          (call $open (i32.const 3) (i32.const 0) (i32.const 16) (i32.const 5) (i32.const 0)
                      (i64.const 2) (i64.const 0) (i32.const 0) (i32.const 4)))
        (if (local.get $err)
          (then (i32.store (i32.const 8) (local.get $err)) (br $done)))
        ;; keep the fd at 1024 + 4 * n
        (i32.store (i32.add (i32.const 1024) (i32.shl (global.get $n) (i32.const 2)))
                   (i32.load (i32.const 4)))
        (global.set $n (i32.add (global.get $n) (i32.const 1)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (local.get $i))
  (func (export "errno") (result i32) (i32.load (i32.const 8)))
  (func (export "close_all") (param $k i32)
    (block $done
      (loop $next
        (br_if $done (i32.eqz (local.get $k)))
        (global.set $n (i32.sub (global.get $n) (i32.const 1)))
        (drop (call $close
          (i32.load (i32.add (i32.const 1024) (i32.shl (global.get $n) (i32.const 2))))))
        (local.set $k (i32.sub (local.get $k) (i32.const 1)))
        (br $next)))))
"""
EMFILE = 33


@pytest.fixture
def granted(tmp_path: Path) -> Policy:
    """A policy granting a directory with one file, f.txt, as the first preopen."""
    (tmp_path / "f.txt").write_text("x")
    return Policy(timeout=10, dirs=(Mount(host=str(tmp_path), guest="/d", read_only=True),))


def test_opens_past_the_limit_fail_with_emfile(granted: Policy) -> None:
    """With a limit of 5, five opens succeed, the sixth gets EMFILE and the refusal is counted."""
    linked = LinkedModule(Runtime().load(WAT), wasi=True, count_files=True)
    guest, _ = linked.instantiate(granted)
    try:
        guest.limit_open_files(5)
        assert guest.func("open")(100) == 5
        assert guest.func("errno")() == EMFILE
        assert guest.open_files_refused == 1
    finally:
        guest.close()


def test_closed_files_no_longer_count(granted: Policy) -> None:
    """Closing three of five open files lets exactly three more open."""
    linked = LinkedModule(Runtime().load(WAT), wasi=True, count_files=True)
    guest, _ = linked.instantiate(granted)
    try:
        guest.limit_open_files(5)
        assert guest.func("open")(5) == 5
        guest.func("close_all")(3)
        assert guest.func("open")(100) == 3
        assert guest.open_files_refused == 1
    finally:
        guest.close()


def test_without_count_files_nothing_is_refused(granted: Policy) -> None:
    """A module linked without count_files opens past any limit set on its store."""
    linked = LinkedModule(Runtime().load(WAT), wasi=True)
    guest, _ = linked.instantiate(granted)
    try:
        guest.limit_open_files(5)
        assert guest.func("open")(50) == 50
        assert guest.open_files_refused == 0
    finally:
        guest.close()
