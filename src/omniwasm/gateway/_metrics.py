"""Gateway metrics in the Prometheus text exposition format (no client library needed).

One :class:`Metrics` per server process, updated by every request and rendered by the admin
``/metrics`` endpoint:

- ``omniwasm_requests_total{route,status}``: requests answered;
- ``omniwasm_request_duration_seconds{route}``: a latency histogram (whole request);
- ``omniwasm_instantiate_duration_seconds{route}``: a histogram of instantiation time per
  request (a fresh instance per request, so this is the cold-start cost);
- ``omniwasm_traps_total{route}``, ``omniwasm_timeouts_total{route}``: guest failures;
- ``omniwasm_in_flight``: requests being handled now.

Thread-safe: requests run on a thread pool. With ``--workers N`` each worker process publishes
:meth:`Metrics.snapshot` and the admin server renders their sum (:mod:`._workers`).
"""

from __future__ import annotations

import bisect
import threading
from collections import defaultdict
from collections.abc import Mapping
from typing import Any, Protocol

__all__ = ["LATENCY_BUCKETS", "Metrics", "Rendering"]

LATENCY_BUCKETS = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
    2.5, 5.0, 10.0,
)  # fmt: skip
"""Histogram upper bounds in seconds (100 µs to 10 s)."""


class _Histogram:
    __slots__ = ("buckets", "count", "sum")

    def __init__(self) -> None:
        self.buckets = [0] * len(LATENCY_BUCKETS)
        self.count = 0
        self.sum = 0.0

    def observe(self, seconds: float) -> None:
        i = bisect.bisect_left(LATENCY_BUCKETS, seconds)
        if i < len(self.buckets):
            self.buckets[i] += 1
        self.count += 1
        self.sum += seconds


class Rendering(Protocol):
    """Anything the admin app can serve as ``/metrics``."""

    def render(self) -> str:
        """The Prometheus text."""
        ...


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class Metrics:
    """Counters and histograms of one gateway process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: dict[tuple[str, int], int] = defaultdict(int)
        self._latency: dict[str, _Histogram] = defaultdict(_Histogram)
        self._instantiate: dict[str, _Histogram] = defaultdict(_Histogram)
        self._traps: dict[str, int] = defaultdict(int)
        self._timeouts: dict[str, int] = defaultdict(int)
        self._in_flight = 0

    def started(self) -> None:
        """A request began."""
        with self._lock:
            self._in_flight += 1

    def finished(self, route: str, status: int, seconds: float) -> None:
        """A request on ``route`` was answered with ``status`` after ``seconds``."""
        with self._lock:
            self._in_flight -= 1
            self._requests[(route, status)] += 1
            self._latency[route].observe(seconds)

    def instantiated(self, route: str, seconds: float) -> None:
        """An instance for ``route`` took ``seconds`` to create."""
        with self._lock:
            self._instantiate[route].observe(seconds)

    def trapped(self, route: str) -> None:
        """The guest of ``route`` trapped (or failed in a host function)."""
        with self._lock:
            self._traps[route] += 1

    def timed_out(self, route: str) -> None:
        """The guest of ``route`` ran past its timeout."""
        with self._lock:
            self._timeouts[route] += 1

    def snapshot(self) -> dict[str, Any]:
        """Everything counted so far, as JSON-safe data (:meth:`add` sums snapshots)."""
        with self._lock:
            return {
                "requests": [[r, s, n] for (r, s), n in self._requests.items()],
                "latency": {r: [h.buckets, h.count, h.sum] for r, h in self._latency.items()},
                "instantiate": {
                    r: [h.buckets, h.count, h.sum] for r, h in self._instantiate.items()
                },
                "traps": dict(self._traps),
                "timeouts": dict(self._timeouts),
                "in_flight": self._in_flight,
            }

    def add(self, snapshot: Mapping[str, Any], *, in_flight: bool = True) -> None:
        """Add another process's :meth:`snapshot` (``in_flight``: count its gauge too).

        Raises:
            ValueError: ``snapshot`` does not have the shape :meth:`snapshot` gives.

        """
        try:
            with self._lock:
                for route, status, n in snapshot["requests"]:
                    self._requests[(str(route), int(status))] += int(n)
                for mine, theirs in (
                    (self._latency, snapshot["latency"]),
                    (self._instantiate, snapshot["instantiate"]),
                ):
                    for route, (buckets, count, total) in theirs.items():
                        hist = mine[str(route)]
                        if len(buckets) != len(hist.buckets):
                            raise ValueError("histogram buckets differ")
                        hist.buckets = [
                            a + int(b) for a, b in zip(hist.buckets, buckets, strict=True)
                        ]
                        hist.count += int(count)
                        hist.sum += float(total)
                for table, key in ((self._traps, "traps"), (self._timeouts, "timeouts")):
                    for route, n in snapshot[key].items():
                        table[str(route)] += int(n)
                if in_flight:
                    self._in_flight += int(snapshot["in_flight"])
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"not a metrics snapshot: {exc}") from exc

    def render(self) -> str:
        """Everything, in the Prometheus text format (version 0.0.4)."""
        with self._lock:
            lines = [
                "# HELP omniwasm_requests_total HTTP requests answered.",
                "# TYPE omniwasm_requests_total counter",
            ]
            for (route, status), n in sorted(self._requests.items()):
                lines.append(
                    f'omniwasm_requests_total{{route="{_label(route)}",status="{status}"}} {n}'
                )
            lines += self._histograms(
                "omniwasm_request_duration_seconds", "Request latency.", self._latency
            )
            lines += self._histograms(
                "omniwasm_instantiate_duration_seconds",
                "Time to instantiate the component for one request.",
                self._instantiate,
            )
            for name, help_text, table in (
                ("omniwasm_traps_total", "Guest traps and host-function failures.", self._traps),
                ("omniwasm_timeouts_total", "Guests stopped at their timeout.", self._timeouts),
            ):
                lines += [f"# HELP {name} {help_text}", f"# TYPE {name} counter"]
                lines += [f'{name}{{route="{_label(r)}"}} {n}' for r, n in sorted(table.items())]
            lines += [
                "# HELP omniwasm_in_flight Requests being handled.",
                "# TYPE omniwasm_in_flight gauge",
                f"omniwasm_in_flight {self._in_flight}",
            ]
        return "\n".join(lines) + "\n"

    @staticmethod
    def _histograms(name: str, help_text: str, table: dict[str, _Histogram]) -> list[str]:
        lines = [f"# HELP {name} {help_text}", f"# TYPE {name} histogram"]
        for route, hist in sorted(table.items()):
            label = f'route="{_label(route)}"'
            total = 0
            for bound, n in zip(LATENCY_BUCKETS, hist.buckets, strict=True):
                total += n
                lines.append(f'{name}_bucket{{{label},le="{bound:g}"}} {total}')
            lines.append(f'{name}_bucket{{{label},le="+Inf"}} {hist.count}')
            lines.append(f"{name}_sum{{{label}}} {hist.sum:.6f}")
            lines.append(f"{name}_count{{{label}}} {hist.count}")
        return lines
