"""The store thread's host loop: ``async def`` host functions of synchronous callers.

When a synchronous call (``inst.call``) makes the guest await a host ``async def``, the
coroutine runs on an asyncio loop the instance owns, on the store's thread, not on another
thread: its first step runs at once, inside a real :class:`asyncio.Task` (as Python 3.12's
``eager_start`` does), so a coroutine that returns without suspending costs no thread hand-off
and the guest sees RETURNED at once. One that suspends goes on as an asyncio task; the loop
runs whenever the store's thread waits for the host (the guest's ``waitable-set.wait``, the
driver between events, a blocking call of an ``async def``), until a completion is posted.

Only the thread that holds the instance runs this loop, and never while another loop runs on
that thread (a host coroutine calling back into a guest synchronously): then the coroutine
goes to the process's host loop thread instead, as for a caller without one.
"""

from __future__ import annotations

import asyncio
import inspect
from asyncio import events
from collections.abc import Awaitable, Coroutine
from typing import Any

__all__ = ["HostLoop"]


async def _awaiting(awaitable: Awaitable[Any]) -> Any:
    return await awaitable


class HostLoop:
    """An instance's private asyncio loop, run by the thread that holds the instance."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()

    def usable(self) -> bool:
        """True when this thread may run the loop now (no loop runs here or anywhere)."""
        return not self.loop.is_running() and events._get_running_loop() is None

    def start(self, awaitable: Awaitable[Any]) -> asyncio.Task[Any]:
        """A task running ``awaitable`` whose first step has already run on this thread.

        The task is done on return when the coroutine finished without suspending. Needs
        :meth:`usable`.
        """
        loop = self.loop
        coro: Coroutine[Any, Any, Any] = (
            awaitable if inspect.iscoroutine(awaitable) else _awaiting(awaitable)
        )
        if loop.is_closed():  # the instance is closing
            raise RuntimeError("the instance's host loop is closed")
        task: asyncio.Task[Any] = asyncio.Task(coro, loop=loop)
        # create_task scheduled the task's first step last in the ready queue: run it now
        # (asyncio has no eager tasks before 3.12). Anything unexpected: leave it scheduled
        # for the next run of the loop, which is correct, only slower.
        ready: Any = getattr(loop, "_ready", None)
        handle = ready[-1] if ready else None
        if handle is not None and getattr(handle._callback, "__self__", None) is task:
            ready.pop()
            events._set_running_loop(loop)
            try:
                handle._run()
            finally:
                events._set_running_loop(None)
        return task

    def run(self, seconds: float | None, state: Any) -> None:
        """Run the loop up to ``seconds``, or until the state is kicked (a post or progress).

        Needs :meth:`usable`.
        """
        loop = self.loop
        timer = loop.call_later(seconds, loop.stop) if seconds is not None else None
        state.pumping = loop  # from here on a kick stops the loop
        try:
            if state.inbox.empty():
                loop.run_forever()
        finally:
            state.pumping = None
            if timer is not None:
                timer.cancel()

    def run_until(self, fut: asyncio.Future[Any], seconds: float | None, state: Any) -> bool:
        """Run the loop until the task ``fut`` is done or ``seconds`` pass; True when done."""
        if not fut.done():
            fut.add_done_callback(lambda _: self.loop.stop())
            self.run(seconds, state)
        return fut.done()

    def cancel(self, task: asyncio.Future[Any]) -> None:
        """Cancel a task of this loop from the thread that holds the instance."""
        if self.loop.is_running() and events._get_running_loop() is not self.loop:
            self.loop.call_soon_threadsafe(task.cancel)
        else:
            task.cancel()

    def close(self) -> None:
        """Cancel what still runs, give it one turn of the loop to unwind, and close."""
        loop = self.loop
        if loop.is_closed() or loop.is_running():
            return
        pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
        for task in pending:
            task.cancel()
        if pending and events._get_running_loop() is None:
            loop.call_soon(loop.stop)
            loop.run_forever()
        for task in pending:
            if not task.done():  # a coroutine that ignores its cancellation: drop it quietly
                task._log_destroy_pending = False  # type: ignore[attr-defined]
        loop.close()

    def discard(self) -> None:
        """Close the loop of a collected instance, dropping what still waits on it quietly."""
        loop = self.loop
        if loop.is_closed() or loop.is_running():
            return
        for task in asyncio.all_tasks(loop):
            task._log_destroy_pending = False  # type: ignore[attr-defined]
        loop.close()
