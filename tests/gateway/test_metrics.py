"""Gateway metrics: Prometheus text format with counters, histograms and a gauge."""

from __future__ import annotations

import re
import threading

from omniwasm.gateway._metrics import LATENCY_BUCKETS, Metrics


def parse(text: str) -> dict[str, float]:
    """Sample lines as {'name{labels}': value}; comments must be HELP/TYPE lines."""
    out = {}
    for line in text.splitlines():
        if line.startswith("#"):
            assert re.match(r"# (HELP|TYPE) omniwasm_\w+ ", line), line
            continue
        key, value = line.rsplit(" ", 1)
        out[key] = float(value)
    return out


def test_requests_latency_and_failures_are_counted() -> None:
    """Requests by route and status, a cumulative latency histogram and failure counters."""
    m = Metrics()
    for status, seconds in ((200, 0.0003), (200, 0.02), (500, 3.0)):
        m.started()
        m.finished("/hello", status, seconds)
    m.instantiated("/hello", 0.00005)
    m.trapped("/hello")
    m.timed_out("/slow/...")
    s = parse(m.render())
    assert s['omniwasm_requests_total{route="/hello",status="200"}'] == 2
    assert s['omniwasm_requests_total{route="/hello",status="500"}'] == 1
    assert s['omniwasm_request_duration_seconds_bucket{route="/hello",le="0.0005"}'] == 1
    assert s['omniwasm_request_duration_seconds_bucket{route="/hello",le="0.025"}'] == 2
    assert s['omniwasm_request_duration_seconds_bucket{route="/hello",le="+Inf"}'] == 3
    assert s['omniwasm_request_duration_seconds_count{route="/hello"}'] == 3
    assert abs(s['omniwasm_request_duration_seconds_sum{route="/hello"}'] - 3.0203) < 1e-6
    assert s['omniwasm_instantiate_duration_seconds_bucket{route="/hello",le="0.0001"}'] == 1
    assert s['omniwasm_traps_total{route="/hello"}'] == 1
    assert s['omniwasm_timeouts_total{route="/slow/..."}'] == 1
    assert s["omniwasm_in_flight"] == 0


def test_histogram_buckets_are_cumulative_and_complete() -> None:
    """Every bucket is present and counts never decrease along the bounds."""
    m = Metrics()
    for i in range(50):
        m.started()
        m.finished("/r", 200, i * 0.01)
    s = parse(m.render())
    counts = [
        s[f'omniwasm_request_duration_seconds_bucket{{route="/r",le="{b:g}"}}']
        for b in LATENCY_BUCKETS
    ]
    assert counts == sorted(counts)
    assert s['omniwasm_request_duration_seconds_bucket{route="/r",le="+Inf"}'] == 50


def test_label_values_are_escaped() -> None:
    """Quotes and backslashes in a route cannot break the exposition format."""
    m = Metrics()
    m.started()
    m.finished('/a"b\\c', 200, 0.001)
    assert 'route="/a\\"b\\\\c"' in m.render()


def test_concurrent_updates_are_not_lost() -> None:
    """Counts from many threads add up exactly."""
    m = Metrics()

    def work() -> None:
        for _ in range(1000):
            m.started()
            m.finished("/x", 200, 0.001)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    s = parse(m.render())
    assert s['omniwasm_requests_total{route="/x",status="200"}'] == 8000
    assert s["omniwasm_in_flight"] == 0
