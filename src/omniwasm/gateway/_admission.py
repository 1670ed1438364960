"""Admission control: at most N guests run at once, a bounded queue waits, the rest get 503.

Admitted requests go straight to the gateway's thread pool (:class:`GuestPool`), whose N
threads take them in arrival order; the pool's queue is the waiting line. Admission only
counts: a request is refused (:class:`QueueFull`, answered 503) when N are running and
``queue`` more are already waiting. Handing the next request to a guest thread therefore
never waits for the event loop: a pool thread that finishes one request starts the next at
once. ``admit`` runs on the event
loop, ``release`` on the guest thread as it lets go of a request (so a request whose loop has
gone away is still counted out); a lock keeps the count exact. A guest stuck past its timeout
is counted out when the gateway gives up on it, once the pool has replaced its thread.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable

__all__ = ["Admission", "GuestPool", "QueueFull"]

logger = logging.getLogger("omniwasm.gateway")


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


class GuestPool:
    """The guest threads of one gateway: ``slots`` threads take requests in arrival order.

    A thread whose guest is stuck past its timeout (blocked in a host call that does not
    return) can be *replaced* (:meth:`replace`): a new thread takes its place at once, so the
    slot serves the next request, and the stuck thread exits when its call finally returns.
    At most ``spare`` replaced threads may be still running at a time; beyond that a stuck
    guest keeps its slot, so the threads of a gateway stay bounded (``slots + spare``). The
    threads are daemons: a guest stuck forever does not keep the process from exiting.

    Args:
        slots: the threads serving requests.
        spare: how many replaced, still-running threads there may be at once.
        name: the threads' name prefix.

    """

    def __init__(self, slots: int, spare: int, name: str = "omniwasm-gateway") -> None:
        self.slots = slots
        self.spare = spare
        self._name = name
        self._jobs: queue.SimpleQueue[Callable[[], object] | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._serving: set[threading.Thread] = set()
        self._replaced: set[threading.Thread] = set()
        self._closed = False
        self._count = 0

    @property
    def replaced(self) -> int:
        """Replaced threads whose guest has not returned yet."""
        return len(self._replaced)

    def submit(self, job: Callable[[], object]) -> None:
        """Run ``job`` on the next free thread (threads start as requests arrive).

        Raises:
            RuntimeError: the pool was shut down.

        """
        with self._lock:
            if self._closed:
                raise RuntimeError("the gateway's guest pool is shut down")
            if len(self._serving) < self.slots:
                self._start()
            self._jobs.put(job)

    def replace(self, thread: threading.Thread) -> bool:
        """Give up on ``thread`` (stuck in a guest) and start a new one in its place.

        Returns False, changing nothing, when ``thread`` is not serving here, ``spare``
        replaced threads are still running, or the pool is shut down.
        """
        with self._lock:
            if self._closed or thread not in self._serving or len(self._replaced) >= self.spare:
                return False
            self._serving.discard(thread)
            self._replaced.add(thread)
            self._start()
            return True

    def shutdown(self, wait: float | None = None) -> None:
        """Run the jobs already submitted, then stop the serving threads and wait for them.

        Replaced threads are not waited for (their guests may never return), nor serving
        threads beyond ``wait`` seconds (None: no limit).
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
            serving = list(self._serving)
            for _ in serving:
                self._jobs.put(None)
        deadline = None if wait is None else time.monotonic() + wait
        for thread in serving:
            thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))

    def _start(self) -> None:
        self._count += 1
        thread = threading.Thread(
            target=self._work, name=f"{self._name}_{self._count}", daemon=True
        )
        self._serving.add(thread)
        thread.start()

    def _work(self) -> None:
        me = threading.current_thread()
        while True:
            job = self._jobs.get()
            if job is None:
                with self._lock:
                    self._serving.discard(me)
                return
            try:
                job()
            except BaseException:  # a job reports its own failures; keep the thread serving
                logger.exception("a gateway job failed")
            with self._lock:
                if me in self._replaced:  # given up on while it ran: its place is taken
                    self._replaced.discard(me)
                    return
