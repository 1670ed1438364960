"""Async calls between two component instances inside one component, as wasmtime 49 runs them.

The guest is ``tests/fixtures/async/fused.wat``: an inner ``$callee`` lifts async functions
(one returning in its first turn, one after a YIELD, ones that run until cancelled) and an
async-typed function lifted synchronously; an inner ``$caller`` lowers them synchronously and
asynchronously. Each call runs under a policy timeout and inside ``bounded``.
"""

from __future__ import annotations

import subprocess
from functools import partial
from pathlib import Path
from typing import Any

import pytest

import omniwasm
from fixtures.bounded import bounded_call, fresh_call
from fixtures.wat_components import assemble

ASYNC = Path(__file__).parent.parent / "fixtures" / "async"
LIMIT = 20.0
POLICY = omniwasm.Policy(timeout=5)

bounded = partial(bounded_call, limit=LIMIT)


@pytest.fixture(scope="module")
def fused() -> Path:
    """The composed guest, assembled."""
    return assemble(ASYNC / "fused.wat", "async-")


call = partial(fresh_call, policy=POLICY, limit=LIMIT)
"""Call an export on a fresh instance (bounded)."""


def reference(exe: str, path: Path, invoke: str) -> str:
    """What ``wasmtime run --invoke`` prints for the export ("trap" when it fails)."""
    cmd = [exe, "run", "-W", "component-model-async=y", "--invoke", invoke, str(path)]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=LIMIT, check=False)
    return run.stdout.strip() if run.returncode == 0 else "trap"


CASES = [
    ("sync-double", (21,), 42, "a sync call into an async function returning in its first turn"),
    ("async-sync-slow", (21,), 42, "an async task's sync call waits for a callee that yields"),
    ("async-triple", (5,), 2015, "an async call into a sync-lifted function: RETURNED (2), 15"),
    ("async-double", (5,), 2010, "an async call whose callee returns in its first turn: RETURNED"),
    ("async-slow", (7,), 11214, "STARTED, then the SUBTASK event (1) with RETURNED (2), 14"),
    ("async-cancel", (), 14, "STARTED, subtask.cancel: the callee's task.cancel gives 4"),
    ("wait-slow", (7,), 1214, "waitable-set.wait in task code lets the callee take its turn"),
    ("cancel-slow", (), 14, "a sync subtask.cancel waits while the callee takes another turn"),
]


@pytest.mark.parametrize(("name", "args", "expected", "what"), CASES, ids=[c[0] for c in CASES])
def test_call_between_inner_instances(
    fused: Path, name: str, args: tuple[Any, ...], expected: int, what: str
) -> None:
    """Each sync/async combination of caller and callee gives the value the spec gives."""
    assert call(fused, name, *args) == expected, what


@pytest.mark.reference
@pytest.mark.parametrize(
    ("name", "args", "expected"), [c[:3] for c in CASES], ids=[c[0] for c in CASES]
)
def test_call_between_inner_instances_matches_wasmtime(
    fused: Path, reference_wasmtime: str, name: str, args: tuple[Any, ...], expected: int
) -> None:
    """wasmtime 49 gives the same answer for the same export of the same file."""
    invoke = f"{name}({', '.join(map(str, args))})"
    assert reference(reference_wasmtime, fused, invoke) == str(expected)


def test_a_sync_task_may_not_block_on_an_async_callee(fused: Path) -> None:
    """A synchronous export's sync call into an async callee that yields traps (may-block)."""
    with pytest.raises(omniwasm.Trap, match="cannot block before it returns"):
        call(fused, "sync-slow", 21)


@pytest.mark.reference
def test_wasmtime_traps_there_too(fused: Path, reference_wasmtime: str) -> None:
    """wasmtime 49 traps on the same export."""
    assert reference(reference_wasmtime, fused, "sync-slow(21)") == "trap"


def test_calls_between_inner_instances_repeat_on_one_instance(fused: Path) -> None:
    """Several async calls in turn on one instance each give their answer (no state left)."""

    def run() -> list[int]:
        rt = omniwasm.Runtime()
        with rt.instantiate(rt.load(fused), POLICY) as inst:
            calls = [("async-slow", 7), ("async-cancel",), ("sync-double", 21), ("async-slow", 8)]
            return [inst.call(*c) for c in calls]

    assert bounded(run) == [11214, 14, 42, 11216]
