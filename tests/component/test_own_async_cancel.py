"""Cancellation seen from inside a guest task, and subtask.drop's rule (``host.wat``).

The guest's host imports are Python functions; every call runs under a policy timeout and
inside ``bounded``, which fails the test if it has not finished in time.
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
LIMIT = 20.0
POLICY = omniwasm.Policy(timeout=5)

bounded = partial(bounded_call, limit=LIMIT)


@pytest.fixture(scope="module")
def host_guest() -> Path:
    """The host-imports guest, assembled."""
    return assemble(ASYNC / "host.wat", "async-")


def test_subtask_drop_of_a_running_subtask_traps(host_guest: Path) -> None:
    """subtask.drop of a host call that has not returned traps with the rule named."""

    async def slow(x: int) -> int:
        await asyncio.sleep(3600)
        return x

    def run() -> Any:
        rt = omniwasm.Runtime()
        linker = omniwasm.Linker().define("slow", slow).define("fast", lambda x: x)
        with rt.instantiate(rt.load(host_guest), POLICY, imports=linker) as inst:
            return inst.call("drop-running")

    with pytest.raises(omniwasm.Trap, match=r"subtask\.drop of a subtask that has not resolved"):
        bounded(run)


@pytest.mark.parametrize("name", ["yield-cancel", "poll-cancel"])
def test_cancellation_waits_for_the_next_callback_turn(host_guest: Path, name: str) -> None:
    """A cancellation reaches the task at its next callback turn, not in a built-in.

    Cancelled while in a host call, the task's thread.yield returns 0 / waitable-set.poll NONE
    (nothing is cancellable since component-model#716); its next callback turn gets
    TASK_CANCELLED (6), and task.cancel ends the awaited call with CancelledError.
    """
    seen: list[int] = []

    async def main() -> list[int]:
        entered = asyncio.Event()
        gate = asyncio.Event()

        async def slow(x: int) -> int:
            entered.set()
            await gate.wait()
            return x

        def fast(x: int) -> int:
            seen.append(x)
            return x

        linker = omniwasm.Linker().define("slow", slow).define("fast", fast)
        rt = omniwasm.Runtime()
        with rt.instantiate(rt.load(host_guest), POLICY, imports=linker) as inst:
            call = asyncio.ensure_future(getattr(inst.exports, name.replace("-", "_"))())
            await asyncio.wait_for(entered.wait(), LIMIT)
            call.cancel()
            gate.set()
            with pytest.raises(asyncio.CancelledError):
                await call
        return seen

    assert bounded(lambda: asyncio.run(main())) == [0, 6]


def test_cancelling_a_blocked_sync_host_call_does_not_interrupt_it(host_guest: Path) -> None:
    """A cancel arriving while the guest blocks in a sync-lowered host call lets it finish.

    The host coroutine is not cancelled: cancellation is the guest's to act on.
    """
    finished = threading.Event()

    async def main() -> None:
        entered = asyncio.Event()
        gate = asyncio.Event()

        async def slow(x: int) -> int:
            entered.set()
            await gate.wait()
            finished.set()
            return x

        linker = omniwasm.Linker().define("slow", slow).define("fast", lambda x: x)
        rt = omniwasm.Runtime()
        with rt.instantiate(rt.load(host_guest), POLICY, imports=linker) as inst:
            call = asyncio.ensure_future(inst.exports.yield_cancel())
            await asyncio.wait_for(entered.wait(), LIMIT)
            call.cancel()
            await asyncio.sleep(0)
            gate.set()
            with pytest.raises(asyncio.CancelledError):
                await call

    bounded(lambda: asyncio.run(main()))
    assert finished.is_set()
