"""``wasi:clocks`` and ``wasi:random`` in Python, real or deterministic.

A real context reads the host's clocks and ``os.urandom``; a deterministic one
(``Policy(deterministic=True, seed=...)``) starts its monotonic clock at zero and its wall clock
at a fixed date, advances both only when the guest sleeps (a due time pollable moves the clock
to its deadline instead of waiting), and draws every random byte from generators seeded by the
policy's seed, so two runs produce the same values.
"""

from __future__ import annotations

import os
import random
import threading
import time
from typing import Any

from ._io import Pollable

__all__ = ["Clock", "Entropy", "TimePollable"]

FIXED_EPOCH_NS = 1_700_000_000 * 10**9
"""The deterministic wall clock's start: 2023-11-14T22:13:20Z."""


class Clock:
    """The monotonic and wall clocks of one instance.

    Args:
        deterministic: virtual time that moves only when the guest sleeps.

    """

    def __init__(self, *, deterministic: bool = False) -> None:
        self.virtual = deterministic
        self._now = 0
        self._lock = threading.Lock()

    def now(self) -> int:
        """``monotonic-clock.now``: nanoseconds."""
        return self._now if self.virtual else time.monotonic_ns()

    def resolution(self) -> int:
        """``monotonic-clock.resolution``: nanoseconds per tick."""
        return 1

    def advance_to(self, instant: int) -> None:
        """Move virtual time forward to ``instant`` (never backwards)."""
        with self._lock:
            self._now = max(self._now, instant)

    def wall_ns(self) -> int:
        """Wall-clock nanoseconds since the Unix epoch."""
        return FIXED_EPOCH_NS + self._now if self.virtual else time.time_ns()

    def wall(self) -> dict[str, int]:
        """``wall-clock.now``: a ``datetime`` record."""
        ns = self.wall_ns()
        return {"seconds": ns // 10**9, "nanoseconds": ns % 10**9}

    def wall_resolution(self) -> dict[str, int]:
        """``wall-clock.resolution``."""
        return {"seconds": 0, "nanoseconds": 1}

    def subscribe_instant(self, when: int) -> Pollable:
        """``subscribe-instant``: ready once the monotonic clock reaches ``when``."""
        return TimePollable(self, when)

    def subscribe_duration(self, duration: int) -> Pollable:
        """``subscribe-duration``: ready ``duration`` nanoseconds from now."""
        return TimePollable(self, self.now() + duration)


class TimePollable(Pollable):
    """A pollable that becomes ready at a monotonic instant."""

    def __init__(self, clock: Clock, due: int) -> None:
        self._clock = clock
        self._due = due

    def ready(self) -> bool:
        return self._clock.now() >= self._due

    def deadline(self) -> int | None:
        return self._due

    def clock(self) -> Any:
        return self._clock


class Entropy:
    """The random sources of one instance (``random``, ``insecure``, ``insecure-seed``).

    Args:
        seed: None for the host's entropy; an int for reproducible streams.

    """

    def __init__(self, seed: int | None = None) -> None:
        self.seed = seed
        self._secure = random.Random(seed) if seed is not None else None
        self._insecure_rng: random.Random | None = None  # made on first use (seeding costs)

    @property
    def _insecure(self) -> random.Random:
        rng = self._insecure_rng
        if rng is None:
            seed = self.seed
            rng = self._insecure_rng = random.Random(seed ^ 0x5EED if seed is not None else None)
        return rng

    def get_random_bytes(self, length: int) -> bytes:
        """``random.get-random-bytes``."""
        if self._secure is None:
            return os.urandom(length)
        return self._secure.randbytes(length)

    def get_random_u64(self) -> int:
        """``random.get-random-u64``."""
        return int.from_bytes(self.get_random_bytes(8), "little")

    def get_insecure_random_bytes(self, length: int) -> bytes:
        """``insecure.get-insecure-random-bytes``."""
        return self._insecure.randbytes(length)

    def get_insecure_random_u64(self) -> int:
        """``insecure.get-insecure-random-u64``."""
        return self._insecure.getrandbits(64)

    def insecure_seed(self) -> tuple[int, int]:
        """``insecure-seed.insecure-seed``: a 128-bit seed as two u64."""
        if self.seed is not None:
            return (self.seed & (2**64 - 1), (self.seed * 0x9E3779B97F4A7C15) & (2**64 - 1))
        raw = os.urandom(16)
        return (int.from_bytes(raw[:8], "little"), int.from_bytes(raw[8:], "little"))
