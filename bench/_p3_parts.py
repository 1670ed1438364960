"""Where one WASI 0.3 request's CPU goes under `omniwasm serve` (helpers of gateway_p3.py).

The parts, per request, of one `omniwasm serve --workers 1` process under wrk:

- the whole process's CPU, split by thread (`/proc/PID/task/*/stat`): the event loop thread
  (uvicorn's HTTP and the ASGI gateway) against the others (the guest threads, the epoch
  ticker);
- the guest's own code: the share of the process's CPU samples in JIT-compiled wasm
  (`perf record` of the process, `perf report --sort dso`; left out when perf is missing);
- the floor: the same uvicorn (omniwasm serve's httptools protocol, uvloop) serving a constant
  response with no guest, measured by wrk the same way;
- in-process on one thread, no HTTP and no event loop: the guest side of a request (lease an
  instance, `handle`, copy the response stream and trailers) with instances reused 128 times
  (as served) and never replaced: the difference is instantiation.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FLOOR_APP = """
import sys, asyncio, uvloop, uvicorn
from omniwasm.gateway.serve._protocol import LimitedHttpToolsProtocol
HEADERS = [(b"content-type", b"text/plain"), (b"x-hello", b"p3")]
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await receive()
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": b"hello from a WASI 0.3 service\\n"})
config = uvicorn.Config(app, host="127.0.0.1", port=int(sys.argv[1]), log_config=None,
                        access_log=False, http=LimitedHttpToolsProtocol, lifespan="off")
asyncio.Runner(loop_factory=uvloop.new_event_loop).run(uvicorn.Server(config).serve())
"""
"""The floor: uvicorn as `omniwasm serve` configures it, answering without any guest."""


def floor_argv(port: int) -> list[str]:
    """The floor server's command line."""
    return [sys.executable, "-c", FLOOR_APP, str(port)]


def thread_cpu(pid: int) -> dict[int, float]:
    """CPU seconds (user + system) of each live thread of ``pid``."""
    ticks = os.sysconf("SC_CLK_TCK")
    out = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # the thread ended meanwhile
            continue
        out[int(task.name)] = (int(fields[11]) + int(fields[12])) / ticks
    return out


def perf_record(pid: int, seconds: float) -> subprocess.Popen[bytes] | None:
    """Start sampling ``pid`` with perf for ``seconds`` (None when perf is not there)."""
    if shutil.which("perf") is None:
        return None
    out = Path(tempfile.mkdtemp(prefix="p3perf-")) / "perf.data"
    argv = ["perf", "record", "-F", "999", "-p", str(pid), "-o", str(out)]
    proc = subprocess.Popen(
        [*argv, "--", "sleep", str(seconds)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    proc.data = out  # type: ignore[attr-defined]
    return proc


def perf_shares(proc: subprocess.Popen[bytes] | None) -> dict[str, float] | None:
    """Shares of the samples by kind of code: ``wasm``, ``python``, ``kernel``, ``other``."""
    if proc is None or proc.wait(timeout=120) != 0:
        return None
    data = proc.data  # type: ignore[attr-defined]
    report = subprocess.run(
        ["perf", "report", "-i", str(data), "--sort", "dso", "--stdio"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    shutil.rmtree(Path(data).parent, ignore_errors=True)
    shares = {"wasm": 0.0, "python": 0.0, "kernel": 0.0, "other": 0.0}
    for line in report.splitlines():
        m = re.match(r"\s*([\d.]+)%\s+(.+?)\s*$", line)
        if not m:
            continue
        share, dso = float(m.group(1)) / 100, m.group(2)
        if dso.startswith("[JIT]"):
            shares["wasm"] += share
        elif dso.startswith("[kernel"):
            shares["kernel"] += share
        elif "python" in dso or dso.endswith(".cpython-311-x86_64-linux-gnu.so"):
            shares["python"] += share
        else:
            shares["other"] += share
    return shares if sum(shares.values()) > 0 else None


def guest_side(wasm: Path, reuse: int, n: int = 1500) -> float:
    """CPU µs per request of the guest side of /hello on this thread (best of 3 runs).

    What a guest thread does for one request, without HTTP or the event loop: lease an
    instance (made anew every ``reuse`` requests), call ``handle``, copy the response's
    stream and trailers, release.
    """
    from omniwasm.gateway import Gateway
    from omniwasm.gateway._service import Ok, _chunks, _trailers
    from omniwasm.wasi import p3
    from omniwasm.wasi.http import BodyFeed

    gateway = Gateway(str(wasm), instance_reuse=reuse)
    pool = gateway.service
    assert pool is not None
    name = f"{gateway.interface}#handle"

    def one() -> None:
        slot = pool.lease()
        feed = BodyFeed()
        feed.end()
        request = p3.Request("GET", "/hello", "http", "localhost", [("user-agent", b"wrk")], feed)
        handle = slot.handle
        if handle is None:
            handle = slot.handle = slot.inst.func(name)
        response = handle(request, raw=True).value
        assert b"".join(_chunks(response.body.contents)).startswith(b"hello")
        _trailers(response.body.trailers)
        response.sent.done(Ok(None))
        request.body.close()
        response.body.close()
        pool.release(slot)

    best = float("inf")
    try:
        for _ in range(3):
            started = time.process_time()
            for _ in range(n):
                one()
            best = min(best, (time.process_time() - started) / n * 1e6)
    finally:
        gateway.close()
    return best
