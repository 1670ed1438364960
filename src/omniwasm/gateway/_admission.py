"""Admission control: at most N guests run at once, a bounded queue waits, the rest get 503.

Admitted requests go straight to the gateway's thread pool, whose N threads take them in
arrival order; the pool's queue is the waiting line. Admission only counts: a request is
refused (:class:`QueueFull`, answered 503) when N are running and ``queue`` more are already
waiting. Handing the next request to a guest thread therefore never waits for the event loop:
a pool thread that finishes one request starts the next at once. ``admit`` runs on the event
loop, ``release`` on the guest thread as it lets go of a request (so a request whose loop has
gone away is still counted out); a lock keeps the count exact.
"""

from __future__ import annotations

import threading

__all__ = ["Admission", "QueueFull"]


class QueueFull(Exception):
    """Every slot is busy and the queue is full: answer 503."""


class Admission:
    """Counts the requests in the pool (running plus waiting) against its bounds.

    Args:
        slots: guests that may run at once (the pool's threads).
        queue: requests that may wait for a slot (beyond it: :class:`QueueFull`).

    """

    def __init__(self, slots: int, queue: int) -> None:
        if slots < 1 or queue < 0:
            raise ValueError("max_concurrency must be >= 1 and max_queue >= 0")
        self.slots = slots
        self.queue = queue
        self.admitted = 0
        self._lock = threading.Lock()

    @property
    def active(self) -> int:
        """Requests running on a guest thread now (at most ``slots``)."""
        return min(self.admitted, self.slots)

    @property
    def waiting(self) -> int:
        """Requests admitted and waiting for a guest thread now."""
        return max(0, self.admitted - self.slots)

    def admit(self) -> None:
        """Count one more request in.

        Raises:
            QueueFull: ``slots`` requests run and ``queue`` more already wait.

        """
        with self._lock:
            if self.admitted >= self.slots + self.queue:
                raise QueueFull
            self.admitted += 1

    def release(self) -> None:
        """Count a request out (from any thread)."""
        with self._lock:
            self.admitted -= 1
