"""Cancelling and dropping stream/future copies, waitable-set.wait, counted backpressure.

The guest is hand-written WAT (``tests/fixtures/async/copies.wat``), one export per scenario.
Each call runs under a policy timeout and inside ``bounded``, which fails the test if it has
not finished in time; where ``wasmtime run -W component-model-async=y --invoke`` can run the
export, its answer is compared.
"""

from __future__ import annotations

import subprocess
from functools import partial
from pathlib import Path

import pytest

import omniwasm
from fixtures.bounded import bounded_call, fresh_call
from fixtures.wat_components import assemble

ASYNC = Path(__file__).parent.parent / "fixtures" / "async"
LIMIT = 20.0
POLICY = omniwasm.Policy(timeout=5)

bounded = partial(bounded_call, limit=LIMIT)


@pytest.fixture(scope="module")
def copies() -> Path:
    """The copies guest, assembled."""
    return assemble(ASYNC / "copies.wat", "async-")


call = partial(fresh_call, policy=POLICY, limit=LIMIT)
"""Call an export on a fresh instance (bounded)."""


def reference(exe: str, path: Path, name: str) -> str:
    """What ``wasmtime run --invoke`` prints for the export ("trap" when it fails)."""
    cmd = [exe, "run", "-W", "component-model-async=y", "--invoke", f"{name}()", str(path)]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=LIMIT, check=False)
    return run.stdout.strip() if run.returncode == 0 else "trap"


CASES = [
    ("wait", 4042, "waitable-set.wait in the task's code returns FUTURE_READ, value copied"),
    ("stream-cancel-write", 2, "stream.cancel-write of a write nobody reads: CANCELLED, 0 copied"),
    ("future-cancel-read", 2009, "future.cancel-read: CANCELLED; reading again takes the value"),
    ("future-cancel-write", 2506, "future.cancel-write: CANCELLED; rewritten, FUTURE_WRITE event"),
    ("drop-reader", 31, "stream.drop-readable gives the waiting writer STREAM_WRITE DROPPED"),
    (
        "future-drop-reader",
        51,
        "future.drop-readable gives the waiting writer FUTURE_WRITE DROPPED",
    ),
    ("future-write-after-drop", 1, "a future write after the reader dropped is DROPPED at once"),
]


@pytest.mark.parametrize(("name", "expected", "what"), CASES, ids=[c[0] for c in CASES])
def test_copy_builtin(copies: Path, name: str, expected: int, what: str) -> None:
    """Each cancel/drop scenario returns the value the built-ins' semantics give."""
    assert call(copies, name) == expected, what


@pytest.mark.reference
@pytest.mark.parametrize(("name", "expected"), [c[:2] for c in CASES], ids=[c[0] for c in CASES])
def test_copy_builtin_matches_wasmtime(
    copies: Path, reference_wasmtime: str, name: str, expected: int
) -> None:
    """wasmtime 49 gives the same answer for the same export of the same file."""
    assert reference(reference_wasmtime, copies, name) == str(expected)


def test_cancelling_a_partly_read_write_reports_the_progress(copies: Path) -> None:
    """Cancelling a partly read write returns the progress event the read left.

    A 2-byte read of a waiting 5-byte write completes at once (COMPLETED, 2 elements); the
    write's cancel then returns the pending event CanonicalABI.md's ``on_copy`` left:
    COMPLETED with 2 elements (32).
    """
    assert call(copies, "stream-cancel-write-partial") == 32 * 1000 + 32


@pytest.mark.reference
def test_partial_cancel_in_wasmtime_reports_the_same_progress(
    copies: Path, reference_wasmtime: str
) -> None:
    """wasmtime 49 reports the same 2 elements for that cancel, under another code.

    It says CANCELLED (34) where the spec's pending event says COMPLETED (32): the one
    difference; the progress agrees.
    """
    out = int(reference(reference_wasmtime, copies, "stream-cancel-write-partial"))
    assert (out // 1000, (out % 1000) >> 4) == (32, 2)
    assert out % 1000 & 0xF == 2  # CANCELLED


TRAPS = [
    ("future-drop-unwritten", "before it wrote its value"),
    ("stream-drop-while-writing", "while a copy is in progress"),
    ("stream-cancel-idle", "no async copy in progress"),
    ("cancel-uncancelled", "task.cancel without a delivered cancellation"),
]


@pytest.mark.parametrize(("name", "why"), TRAPS, ids=[t[0] for t in TRAPS])
def test_copy_rule_broken_is_a_trap(copies: Path, name: str, why: str) -> None:
    """A broken copy or cancel rule traps with the rule named.

    Dropping an unwritten future writer, dropping an end mid-copy, cancelling no copy, and
    task.cancel in a task nobody cancelled.
    """
    with pytest.raises(omniwasm.Trap, match=why):
        call(copies, name)


@pytest.mark.reference
def test_copy_rules_trap_in_wasmtime_too(copies: Path, reference_wasmtime: str) -> None:
    """wasmtime 49 traps on the same exports."""
    for name, _ in TRAPS:
        assert reference(reference_wasmtime, copies, name) == "trap", name


def test_backpressure_counts_raises(copies: Path) -> None:
    """Raised twice, backpressure holds the next call until it was lowered twice.

    The held call starts after both callbacks ran and sees their mark (2).
    """

    def run() -> tuple[int, int, int]:
        rt = omniwasm.Runtime()
        with rt.instantiate(rt.load(copies), POLICY) as inst:
            return inst.call("bp-read"), inst.call("bp2-a"), inst.call("bp-read")

    assert bounded(run) == (0, 1, 2)


def test_thread_builtins_beyond_yield_are_refused_naming_the_feature(tmp_path: Path) -> None:
    """A component using canon thread.index is an InvalidModule naming the feature.

    Cooperative threads need a suspendable wasm stack; the message names the built-in and the
    threading feature.
    """
    src = tmp_path / "threads.wat"
    src.write_text(
        """(component
  (core func $idx (canon thread.index))
  (core module $m
    (import "" "idx" (func $idx (result i32)))
    (func (export "run") (result i32) (call $idx)))
  (core instance $i (instantiate $m (with "" (instance (export "idx" (func $idx))))))
  (func (export "run") (result u32) (canon lift (core func $i "run"))))"""
    )
    with pytest.raises(omniwasm.InvalidModule, match=r"thread\.index.*threading"):
        omniwasm.Runtime().load(assemble(src, "async-"))
