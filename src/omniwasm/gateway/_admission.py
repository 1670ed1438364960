"""Admission control: at most N guests run at once, a bounded queue waits, the rest get 503.

A counting semaphore with a queue bound, written on futures rather than ``asyncio.Semaphore``
so one gateway object can serve one event loop after another (each ``asyncio.run`` in a test,
each server restart) without binding to the first. It is used from one event loop at a time.
"""

from __future__ import annotations

import asyncio
from collections import deque

__all__ = ["Admission", "QueueFull"]


class QueueFull(Exception):
    """Every slot is busy and the queue is full: answer 503."""


class Admission:
    """Slots for running guests, handed out in arrival order.

    Args:
        slots: guests that may run at once.
        queue: requests that may wait for a slot (beyond it: :class:`QueueFull`).

    """

    def __init__(self, slots: int, queue: int) -> None:
        if slots < 1 or queue < 0:
            raise ValueError("max_concurrency must be >= 1 and max_queue >= 0")
        self.slots = slots
        self.queue = queue
        self.active = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def waiting(self) -> int:
        """Requests waiting for a slot now."""
        return sum(1 for w in self._waiters if not w.done())

    async def acquire(self) -> None:
        """Take a slot, waiting in line if none is free.

        Raises:
            QueueFull: no slot is free and ``queue`` requests are already waiting.

        """
        if self.active < self.slots and not self.waiting:
            self.active += 1
            return
        if self.waiting >= self.queue:
            raise QueueFull
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release()  # the slot arrived as we were cancelled: pass it on
            raise
        finally:
            if waiter in self._waiters:
                self._waiters.remove(waiter)

    def release(self) -> None:
        """Give a slot back: to the first live waiter, else to the pool."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the slot moves to it; ``active`` is unchanged
                return
        self.active -= 1
