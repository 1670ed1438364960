"""Several worker processes: metrics snapshots, their sum, and the real `--workers` server."""

from __future__ import annotations

import json
import logging
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from fixtures.serving import free_port, serving, wait_ready
from fixtures.wat_components import assemble
from omniwasm.gateway._metrics import Metrics
from omniwasm.gateway.serve._workers import MergedMetrics, Publisher

GUESTS = Path(__file__).parents[2] / "fixtures" / "gateway"


def _busy(metrics: Metrics) -> Metrics:
    metrics.started()
    metrics.started()
    metrics.finished("/a", 200, 0.002)
    metrics.instantiated("/a", 0.0001)
    metrics.trapped("/b")
    metrics.timed_out("/b")
    return metrics


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_snapshots_add_up() -> None:
    """Adding two processes' snapshots gives the sum of every counter, histogram and gauge."""
    total = Metrics()
    for _ in range(2):
        total.add(_busy(Metrics()).snapshot())
    text = total.render()
    assert 'omniwasm_requests_total{route="/a",status="200"} 2' in text
    assert 'omniwasm_request_duration_seconds_bucket{route="/a",le="0.0025"} 2' in text
    assert 'omniwasm_instantiate_duration_seconds_count{route="/a"} 2' in text
    assert 'omniwasm_traps_total{route="/b"} 2' in text
    assert 'omniwasm_timeouts_total{route="/b"} 2' in text
    assert "omniwasm_in_flight 2" in text  # each process still has one request in flight


def test_a_malformed_snapshot_is_a_value_error() -> None:
    """add() refuses data that is not a snapshot, with ValueError."""
    with pytest.raises(ValueError, match="not a metrics snapshot"):
        Metrics().add({"requests": [["/a", 200, 1]]})
    snapshot = _busy(Metrics()).snapshot()
    snapshot["latency"]["/a"][0] = [1, 2]
    with pytest.raises(ValueError, match="buckets"):
        Metrics().add(snapshot)


def test_merged_metrics_sum_workers_and_drop_dead_workers_gauge(tmp_path: Path) -> None:
    """The admin sum keeps a dead worker's counters but not its in-flight requests."""
    import os

    for pid in (os.getpid(), _dead_pid()):
        (tmp_path / f"worker-{pid}.json").write_text(json.dumps(_busy(Metrics()).snapshot()))
    text = MergedMetrics(tmp_path).render()
    assert 'omniwasm_requests_total{route="/a",status="200"} 2' in text
    assert "omniwasm_in_flight 1" in text
    assert "omniwasm_workers 1" in text


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_a_reused_pid_is_not_taken_for_the_worker(tmp_path: Path) -> None:
    """A snapshot whose process start time differs from the running pid's counts as dead."""
    import os

    from omniwasm.gateway.serve._workers import _start_time

    me = os.getpid()
    snapshot = _busy(Metrics()).snapshot()
    (tmp_path / f"worker-{me}.json").write_text(json.dumps({**snapshot, "started": "1"}))
    merged = MergedMetrics(tmp_path)
    assert merged.live() == 0  # same pid, another process
    assert "omniwasm_in_flight 0" in merged.render()
    (tmp_path / f"worker-{me}.json").write_text(
        json.dumps({**snapshot, "started": _start_time(me)})
    )
    assert merged.live() == 1


def test_merged_metrics_skip_an_unreadable_snapshot(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A corrupt snapshot file is logged and skipped; the others still render."""
    import os

    (tmp_path / f"worker-{os.getpid()}.json").write_text(json.dumps(_busy(Metrics()).snapshot()))
    (tmp_path / "worker-1.json").write_text("{not json")
    with caplog.at_level(logging.WARNING, logger="omniwasm.gateway"):
        text = MergedMetrics(tmp_path).render()
    assert 'omniwasm_requests_total{route="/a",status="200"} 1' in text
    assert any("worker-1.json" in r.getMessage() for r in caplog.records)


def test_merged_health_needs_a_live_worker(tmp_path: Path) -> None:
    """/healthz of the workers' admin is 503 until a live worker has published, then 200."""
    import asyncio
    import os

    from omniwasm.gateway._app import MetricsApp

    merged = MergedMetrics(tmp_path)
    app = MetricsApp(merged, healthy=lambda: merged.live() > 0)

    async def status() -> int:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://admin") as client:
            return (await client.get("/healthz")).status_code

    assert asyncio.run(status()) == 503  # no worker yet
    (tmp_path / f"worker-{_dead_pid()}.json").write_text(json.dumps(Metrics().snapshot()))
    assert asyncio.run(status()) == 503  # only a dead one
    (tmp_path / f"worker-{os.getpid()}.json").write_text(json.dumps(Metrics().snapshot()))
    assert asyncio.run(status()) == 200


def test_publisher_writes_the_snapshot_and_a_last_one_at_stop(tmp_path: Path) -> None:
    """A worker's publisher writes its snapshot at once and again when stopped."""
    metrics = Metrics()
    publisher = Publisher(metrics, tmp_path)
    publisher.start()
    assert json.loads(publisher.path.read_text())["requests"] == []
    metrics.started()
    metrics.finished("/x", 201, 0.01)
    publisher.stop()
    assert json.loads(publisher.path.read_text())["requests"] == [["/x", 201, 1]]
    assert [p.name for p in tmp_path.iterdir()] == [publisher.path.name]  # no temporary left


def test_publisher_into_a_removed_directory_is_quiet(tmp_path: Path) -> None:
    """Publishing after the supervisor removed the directory does nothing and raises nothing."""
    gone = tmp_path / "gone"
    gone.mkdir()
    publisher = Publisher(Metrics(), gone)
    gone.rmdir()
    publisher.publish()
    assert not gone.exists()


# ---- the real server --------------------------------------------------------------------

pytest.importorskip("uvicorn")


def _metric(text: str, name: str) -> int | None:
    found = re.search(rf"^{re.escape(name)} (\d+)$", text, re.MULTILINE)
    return None if found is None else int(found.group(1))


def test_two_workers_share_one_admin_endpoint() -> None:
    """With --workers 2 --admin, /metrics counts the requests both workers answered."""
    hello = assemble(GUESTS / "hello.wat", prefix="gw-")
    port, admin = free_port(), free_port()
    args = ("--addr", f"127.0.0.1:{port}", "--admin", f"127.0.0.1:{admin}", "--workers", "2")
    with serving(str(hello), *args) as p:
        wait_ready(f"http://127.0.0.1:{port}/", p, seconds=60)
        ready = httpx.get(f"http://127.0.0.1:{admin}/healthz")
        assert ready.status_code == 200
        for _ in range(40):
            assert httpx.get(f"http://127.0.0.1:{port}/").status_code == 200
        deadline = time.monotonic() + 15
        while True:  # the workers publish every 0.5 s
            text = httpx.get(f"http://127.0.0.1:{admin}/metrics").text
            count = _metric(text, 'omniwasm_requests_total{route="/...",status="200"}')
            if (count or 0) >= 40 + 1 and _metric(text, "omniwasm_workers") == 2:  # + wait_ready
                break
            assert time.monotonic() < deadline, text
            time.sleep(0.1)
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=30) == 0
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://127.0.0.1:{admin}/healthz")


def test_two_workers_each_reload_a_changed_component(tmp_path: Path) -> None:
    """With --workers 2 --watch, every worker ends up serving the replaced component."""
    guest = tmp_path / "guest.wasm"
    shutil.copy(assemble(GUESTS / "hello.wat", prefix="gw-"), guest)
    port = free_port()
    url = f"http://127.0.0.1:{port}/status/418"
    with serving(str(guest), "--addr", f"127.0.0.1:{port}", "--workers", "2", "--watch") as p:
        wait_ready(url, p, seconds=60)
        assert httpx.get(url).status_code == 200  # hello answers every path with 200
        routes = assemble(GUESTS / "routes.wat", prefix="gw-")
        tmp = tmp_path / "guest.tmp"
        shutil.copy(routes, tmp)
        tmp.replace(guest)
        deadline = time.monotonic() + 20
        while True:  # 20 new connections in a row, spread over both workers, all see it
            if all(httpx.get(url).status_code == 418 for _ in range(20)):
                break
            assert time.monotonic() < deadline, "a worker kept the old component"
            time.sleep(0.2)


def test_a_bad_app_fails_once_before_any_worker_starts(tmp_path: Path) -> None:
    """A manifest naming a missing component exits 65 with its error, not a worker crash loop."""
    manifest = tmp_path / "omniwasm.toml"
    manifest.write_text(
        '[[trigger.http]]\nroute = "/..."\ncomponent = "web"\n'
        '[component.web]\nsource = "missing.wasm"\n'
    )
    addr = f"127.0.0.1:{free_port()}"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "omniwasm",
            "serve",
            str(manifest),
            "--workers",
            "2",
            "--addr",
            addr,
        ],
        capture_output=True,
        check=False,
        timeout=60,
    )
    assert run.returncode == 65
    assert b"source 'missing.wasm': file not found" in run.stderr
    assert b"Traceback" not in run.stderr
