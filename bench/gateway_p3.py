"""WASI 0.3 HTTP serving: `omniwasm serve` against `wasmtime serve -Sp3`, same service, wrk.

The guest is the componentize-py 0.25 `wasi:http/service` of the tests
(`tests/fixtures/python/p3http`, built by the test fixtures' cache); the load is its `/hello`
path. `wasmtime serve -Sp3,cli -W component-model-async=y` and `omniwasm serve --workers N`
(N = cores, the issue's setting, and 1) run on 127.0.0.1 and are left idle; `wrk` (2
threads, 32 connections, 10 s) loads one at a time, server after server, in ``ROUNDS``
interleaved rounds; each figure is the median over the rounds, with the min-max spread.
Beside requests/s each run records the CPU seconds the server's processes used (user +
system, from /proc, children included): CPU time per request moves much less with a
neighbour's load than requests/s do.

The issue's target: >= 1.0x `wasmtime serve`'s requests/s at 32 connections, workers = cores.
Both servers keep instances across requests (wasmtime: up to 16 requests at once in one
instance and 128 in its life for 0.3 components; omniwasm the same by default).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
from pathlib import Path

from _common import table, wasmtime_cli
from gateway_serve import ROOT, free_port, wait_up, wrk

sys.path.insert(0, str(ROOT / "tests"))

CONNECTIONS = 32
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
PATH = "/hello"


def cpu_seconds(pid: int) -> float:
    """User + system CPU of process ``pid`` and its waited-for children (seconds)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    ticks = sum(int(fields[i]) for i in (11, 12, 13, 14))  # utime stime cutime cstime
    return ticks / os.sysconf("SC_CLK_TCK")


def tree_cpu(pid: int) -> float:
    """CPU seconds of ``pid`` and every live descendant (omniwasm's worker processes)."""
    total = 0.0
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            total += cpu_seconds(p)
            children = Path(f"/proc/{p}/task/{p}/children").read_text().split()
        except OSError:
            continue
        todo += [int(c) for c in children]
    return total


class Server:
    """One server process on a free port, started and left idle until measured."""

    def __init__(self, name: str, argv: list[str], port: int) -> None:
        self.name = name
        self.url = f"http://127.0.0.1:{port}{PATH}"
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.port = port
        self.runs: list[dict[str, float]] = []

    def ready(self) -> None:
        wait_up(self.port, self.proc, seconds=300)
        subprocess.run(["wrk", "-t1", "-c2", "-d2s", self.url],
                       capture_output=True, check=False)  # fmt: skip  # warm-up

    def measure(self) -> None:
        before = tree_cpu(self.proc.pid)
        run = wrk(self.url, CONNECTIONS)
        spent = tree_cpu(self.proc.pid) - before
        done = run["rps"] * float(os.environ.get("BENCH_WRK_SECONDS", "10"))
        run["cpu_us"] = spent / done * 1e6 if done else float("nan")
        self.runs.append(run)

    def median(self, metric: str) -> float:
        return statistics.median(r[metric] for r in self.runs)

    def spread(self, metric: str) -> str:
        values = [r[metric] for r in self.runs]
        return f"{min(values):.0f}-{max(values):.0f}"

    def errors(self) -> str:
        non_2xx = sum(r["errors"] for r in self.runs)
        return f"{non_2xx:.0f} / {sum(r['socket'] for r in self.runs):.0f}"

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def main() -> None:
    import shutil

    if shutil.which("wrk") is None:
        print("### WASI 0.3 HTTP serving\n\nSkipped: `wrk` is not installed (Debian `wrk`).")
        return
    from fixtures.py_guests import build_py_guest

    wasm = build_py_guest("p3http")
    cores = os.cpu_count() or 1
    servers = []
    port = free_port()
    wt = [str(wasmtime_cli()), "serve", "-Sp3,cli", "-W", "component-model-async=y"]
    servers.append(Server("wasmtime", [*wt, "--addr", f"127.0.0.1:{port}", str(wasm)], port))
    omni = [sys.executable, "-m", "omniwasm", "serve", str(wasm)]
    for workers in sorted({cores, 1}, reverse=True):
        port = free_port()
        argv = [*omni, "--addr", f"127.0.0.1:{port}", "--workers", str(workers)]
        servers.append(Server(f"omniwasm --workers {workers}", argv, port))
    load_before = os.getloadavg()
    try:
        for server in servers:
            server.ready()
        for _ in range(ROUNDS):
            for server in servers:
                server.measure()
    finally:
        for server in servers:
            server.stop()
    load_after = os.getloadavg()
    theirs = servers[0]
    base_rps, base_cpu = theirs.median("rps"), theirs.median("cpu_us")
    rows = []
    for server in servers:
        rps, cpu = server.median("rps"), server.median("cpu_us")
        judged = server.name == f"omniwasm --workers {cores}"
        ratio = rps / base_rps if base_rps else float("nan")
        verdict = (
            f">= 1.0x: {'**met**' if ratio >= 1.0 else '**NOT met**'}" if judged else "reported"
        )
        rows.append(
            [
                server.name,
                f"{rps:.0f} ({server.spread('rps')})",
                f"{server.median('p50'):.2f} / {server.median('p99'):.2f}",
                f"{cpu:.0f} ({server.spread('cpu_us')})",
                f"{ratio:.2f}x",
                f"{base_cpu / cpu:.2f}x" if cpu else "-",
                verdict if server is not theirs else "peer",
                server.errors(),
            ]
        )
    print(
        f"### WASI 0.3 HTTP serving: componentize-py `wasi:http/service` hello, `omniwasm serve` "
        f"vs `wasmtime serve -Sp3` (wrk, 2 threads, {CONNECTIONS} connections, "
        f"{os.environ.get('BENCH_WRK_SECONDS', '10')} s per run, {ROUNDS} interleaved rounds, "
        "medians; 127.0.0.1)\n"
    )
    print(
        table(
            [
                "server",
                "requests/s (min-max)",
                "p50 / p99 ms",
                "CPU µs per request (min-max)",
                "requests/s vs wasmtime",
                "CPU per request: wasmtime / this",
                "target",
                "non-2xx / socket errors",
            ],
            rows,
        )
    )
    print()
    print(
        f"Load average (1/5/15 min) {load_before[0]:.1f}/{load_before[1]:.1f}/"
        f"{load_before[2]:.1f} before, {load_after[0]:.1f}/{load_after[1]:.1f}/"
        f"{load_after[2]:.1f} after, on {cores} cores. "
        "CPU per request counts every process of the server (omniwasm's supervisor and "
        "workers) over the run, divided by the requests wrk completed."
    )
    print()
    print(GAP)


GAP = (
    "Where the time goes: py-spy (`--gil`, 9 s) on `omniwasm serve --workers 1` under wrk at "
    "32 connections (2026-12-06 07:34 UTC). About 28% of the GIL time is the `handle` call "
    "(the guest's CPython in wasm and its host calls, raw wasmtime callbacks since the own "
    "runtime's call-path work; the async built-ins about 8.5%); about 14% copies the guest's "
    "response stream and trailers future into the gateway's feed (each read takes the "
    "instance's lock and runs its tasks until the copy completes); about 15% makes new "
    "instances: as `wasmtime serve` does for 0.3 components, an instance serves 128 "
    "requests and is replaced, and one own-runtime instantiation of this 19.7 MB component "
    "costs about 9 ms of CPU alone (more under GIL contention), where wasmtime's pooled "
    "instantiation costs microseconds. A/B in the same window (3 interleaved 8 s rounds, "
    "one worker): `--instance-reuse 1000000` took 819-906 µs of CPU per request against "
    "936-972 µs with the default 128, and 980-1123 against 888-979 requests/s; the default "
    "stays wasmtime's (a guest's global state is reset as often as under `wasmtime "
    "serve`). The rest is the ASGI gateway (about 19%: admission, the hand-off to a guest "
    "thread and back, the access log 4%), uvicorn's HTTP (about 7% sending) and GIL "
    "hand-offs between the event loop and the guest threads. `wasmtime serve` spends about "
    "300 µs of CPU per request in all. Done so far (in-process hello through the gateway, "
    "one thread: 284 -> ~560 requests/s; the guest side of a request ~970 -> ~515 µs CPU): "
    "the transmission futures `new` returns are fed from a `concurrent.futures.Future` "
    "instead of a coroutine on a host loop; a stream or future crossing to the host formats "
    "its type name only when it traps; stream reads make a wait event only when they must "
    "wait; element types compared once per type pair; the handler looked up once per "
    "instance. Next: a cheaper own-runtime instantiation (or a pre-instantiated instance "
    "image), copying a response stream into the feed from inside the instance's driver "
    "instead of one locked read per chunk, and the gateway's per-request Python (shared "
    "with 0.2 components)."
)


if __name__ == "__main__":
    main()
