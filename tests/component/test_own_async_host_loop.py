"""``async def`` host imports of synchronous callers run on the instance's own loop, eagerly.

The guest is ``tests/fixtures/async/host.wat``: ``call-fast`` returns ``rc * 1000 + result``
of one async-lowered call (rc 2 is RETURNED, no subtask), ``await-slow`` waits for a subtask.
"""

from __future__ import annotations

import asyncio
import threading
from functools import partial
from pathlib import Path
from typing import Any

import pytest

import omniwasm
from fixtures.bounded import bounded_call
from fixtures.wat_components import assemble

ASYNC = Path(__file__).parent.parent / "fixtures" / "async"
POLICY = omniwasm.Policy(timeout=5)
bounded = partial(bounded_call, limit=20.0)


@pytest.fixture(scope="module")
def host_guest() -> Path:
    """The host-imports guest, assembled."""
    return assemble(ASYNC / "host.wat", "async-")


def call(path: Path, name: str, slow: Any, fast: Any) -> Any:
    """Call export ``name`` on a fresh instance with ``slow``/``fast`` as imports (bounded)."""

    def run() -> Any:
        rt = omniwasm.Runtime()
        linker = omniwasm.Linker().define("slow", slow).define("fast", fast)
        with rt.instantiate(rt.load(path), POLICY, imports=linker) as inst:
            return inst.call(name)

    return bounded(run)


async def _never(x: int) -> int:
    await asyncio.Event().wait()
    return x


def test_async_def_that_does_not_suspend_is_returned_at_once(host_guest: Path) -> None:
    """An ``async def`` import that finishes without suspending gives the guest RETURNED."""

    async def triple(x: int) -> int:
        return x * 3

    assert call(host_guest, "call-fast", _never, triple) == 2015


def test_first_step_runs_inside_a_task_on_the_calling_thread(host_guest: Path) -> None:
    """The eager first step has a current asyncio task and runs on the caller's thread."""
    seen: list[tuple[bool, int]] = []

    async def triple(x: int) -> int:
        async with asyncio.timeout(5):  # needs a current task
            seen.append((asyncio.current_task() is not None, threading.get_ident()))
        return x * 3

    caller: list[int] = []

    def run() -> Any:
        caller.append(threading.get_ident())
        rt = omniwasm.Runtime()
        linker = omniwasm.Linker().define("slow", _never).define("fast", triple)
        with rt.instantiate(rt.load(host_guest), POLICY, imports=linker) as inst:
            return inst.call("call-fast")

    assert bounded(run) == 2015
    assert seen == [(True, caller[0])]


def test_suspended_coroutine_goes_on_on_the_store_thread(host_guest: Path) -> None:
    """A coroutine that suspends is a subtask whose rest runs on the store's thread."""
    threads: list[int] = []

    async def slow(x: int) -> int:
        before = threading.get_ident()
        await asyncio.sleep(0.01)
        threads.extend([before, threading.get_ident()])
        return x + 1

    def run() -> Any:
        threads.append(threading.get_ident())
        rt = omniwasm.Runtime()
        linker = omniwasm.Linker().define("slow", slow).define("fast", lambda x: x)
        with rt.instantiate(rt.load(host_guest), POLICY, imports=linker) as inst:
            return inst.call("await-slow")

    assert bounded(run) == 2042
    assert threads == [threads[0]] * 3


def test_eager_coroutine_that_raises_is_a_host_function_error(host_guest: Path) -> None:
    """An ``async def`` import that raises before suspending ends the call with HostFunctionError."""

    async def broken(x: int) -> int:
        raise ValueError("no")

    with pytest.raises(omniwasm.HostFunctionError, match="ValueError"):
        call(host_guest, "call-fast", _never, broken)


def test_sync_lowered_async_def_that_does_not_suspend(host_guest: Path) -> None:
    """A sync-lowered ``async def`` import that finishes at once gives its result."""

    async def plus(x: int) -> int:
        return x + 1

    assert call(host_guest, "sync-slow", plus, lambda x: x) == 2


def test_closing_the_instance_cancels_a_pending_host_coroutine(host_guest: Path) -> None:
    """A host coroutine still pending when its instance closes is cancelled."""
    cancelled = threading.Event()

    async def forever(x: int) -> int:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return x

    def run() -> None:
        rt = omniwasm.Runtime()
        linker = omniwasm.Linker().define("slow", forever).define("fast", lambda x: x)
        inst = rt.instantiate(rt.load(host_guest), omniwasm.Policy(timeout=0.3), imports=linker)
        with pytest.raises(omniwasm.Timeout):
            inst.call("await-slow")
        inst.close()

    bounded(run)
    assert cancelled.is_set()
