"""Where a gateway request's time goes: the lean WAT hello handler, measured three ways.

1. **Throughput in context.** The same uvicorn (httptools parser, uvloop) serving a trivial
   ASGI app that answers without any guest (the most requests/s any Python ASGI gateway on this
   server can reach here), `omniwasm serve` with one process, the same process pinned to one
   CPU (`taskset -c 0`: the event loop thread and the guest threads then hand work to each other
   without waking another CPU), one worker process per core, and `wasmtime serve`; all loaded
   by wrk exactly as in `gateway_serve.py`.
2. **CPU and context switches per request, by thread.** `omniwasm serve hello.wasm` (one
   process) under the same load; each thread's CPU time (`/proc/PID/task/*/stat`) and context
   switches (`.../status`) divided by the requests served: the event loop thread (HTTP parsing,
   the ASGI gateway, sending) against the guest threads (instantiate, the guest and its host
   calls, teardown).
3. **One request in-process, by phase.** The gateway's guest-thread work without HTTP
   (`Exchange.run` pieces, median of many), and a cProfile count of the Python host calls the
   guest makes.

Together they show which part a faster gateway would have to cut. Prints markdown.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from _common import table, wasmtime_cli
from gateway_serve import free_port, wait_up, wrk

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from fixtures.wat_components import assemble  # noqa: E402

GUEST = ROOT / "tests" / "fixtures" / "gateway" / "hello.wat"

PLAIN_APP = textwrap.dedent(
    """
    import sys, uvicorn

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"hello from wasm"})

    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="error",
                access_log=False, lifespan="off")
    """
)


def thread_stats(pid: int) -> dict[int, tuple[float, int]]:
    """CPU seconds (user + system) and context switches of each thread of ``pid``."""
    ticks = os.sysconf("SC_CLK_TCK")
    out = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
            status = (task / "status").read_text()
        except OSError:  # the thread ended meanwhile
            continue
        switches = sum(
            int(line.split()[1]) for line in status.splitlines() if "ctxt_switches" in line
        )
        out[int(task.name)] = ((int(fields[11]) + int(fields[12])) / ticks, switches)
    return out


def serve_and_load(
    argv: list[str], port: int, pin: str | None = None
) -> tuple[dict[str, float], dict[str, float]]:
    """wrk's numbers; CPU µs and context switches per request (main thread / the others)."""
    if pin is not None:
        argv = ["taskset", "-c", pin, *argv]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_up(port, proc)
        url = f"http://127.0.0.1:{port}/"
        subprocess.run(["wrk", "-t1", "-c2", "-d1s", url], capture_output=True, check=False)
        before = thread_stats(proc.pid)
        started = time.monotonic()
        result = wrk(url)
        elapsed = time.monotonic() - started
        after = thread_stats(proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    served = max(1.0, result["rps"] * elapsed)

    def delta(tid: int, i: int) -> float:
        return after[tid][i] - (before[tid][i] if tid in before else 0)

    others = [t for t in after if t != proc.pid]
    per = {
        "loop": delta(proc.pid, 0) / served * 1e6 if proc.pid in after else 0.0,
        "others": sum(delta(t, 0) for t in others) / served * 1e6,
        "loop_switches": delta(proc.pid, 1) / served if proc.pid in after else 0.0,
        "other_switches": sum(delta(t, 1) for t in others) / served,
    }
    return result, per


def phases(wasm: Path, n: int = 3000) -> tuple[dict[str, float], int]:
    """Median µs of each phase of one request on the guest thread, and host calls per request."""
    from omniwasm import Runtime
    from omniwasm.gateway._asgi import _handler_interface
    from omniwasm.gateway._exchange import Exchange
    from omniwasm.wasi import WasiContext, instantiate
    from omniwasm.wasi.http import BodyFeed, IncomingRequest

    rt = Runtime()
    compiled = rt.load(wasm, expect="component")
    iface = _handler_interface(compiled)
    policy = rt.policy.with_(timeout=30)
    samples: dict[str, list[float]] = {k: [] for k in ("context", "instantiate", "export")}
    samples |= {"handle (guest + host calls)": [], "close": []}

    def one() -> list[float]:
        feed = BodyFeed()
        feed.end()
        request = IncomingRequest("GET", "/", "http", "localhost", [("host", b"localhost")], feed)
        exchange = Exchange(rt, compiled, iface, policy, request, on_response=lambda: None)
        t0 = time.perf_counter()
        ctx = WasiContext(policy)
        t1 = time.perf_counter()
        inst = instantiate(rt, compiled, ctx)
        t2 = time.perf_counter()
        handle = inst.exports[iface].handle
        t3 = time.perf_counter()
        handle(request, exchange.outparam)
        t4 = time.perf_counter()
        inst.close()
        ctx.close()
        t5 = time.perf_counter()
        return [t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4]

    for _ in range(200):
        one()
    for _ in range(n):
        for key, value in zip(samples, one(), strict=True):
            samples[key].append(value)
    medians = {k: statistics.median(v) * 1e6 for k, v in samples.items()}

    import cProfile
    import pstats

    prof = cProfile.Profile()
    prof.enable()
    for _ in range(100):
        one()
    prof.disable()
    stats = pstats.Stats(prof).stats  # type: ignore[attr-defined]
    calls = sum(  # HostEntry._run: one per host call
        v[1]
        for (f, _, name), v in stats.items()
        if f.endswith("stock/imports.py") and name == "_run"
    )
    return medians, round(calls / 100)


def main() -> None:
    wasm = assemble(GUEST, prefix="gw-")
    cores = os.cpu_count() or 1

    def omni(*extra: str, pin: str | None = None) -> tuple[dict[str, float], dict[str, float]]:
        port = free_port()
        argv = [sys.executable, "-m", "omniwasm", "serve", str(wasm)]
        return serve_and_load([*argv, "--addr", f"127.0.0.1:{port}", *extra], port, pin)

    port = free_port()
    plain, _ = serve_and_load([sys.executable, "-c", PLAIN_APP, str(port)], port)
    ours, cpu = omni()
    pinned, _ = omni(pin="0")
    spread, _ = omni("--workers", str(cores))
    port = free_port()
    wt = [str(wasmtime_cli()), "serve", "-S", "cli", "--addr", f"127.0.0.1:{port}", str(wasm)]
    theirs, _ = serve_and_load(wt, port)
    steps, host_calls = phases(wasm)

    def line(label: str, r: dict[str, float]) -> list[str]:
        return [label, f"{r['rps']:.0f}", f"{r['p50']:.2f} / {r['p99']:.2f}"]

    print("### Where a gateway request's time goes (lean WAT hello)\n")
    print(
        table(
            ["server (loaded by wrk as above)", "requests/s", "p50 / p99 ms"],
            [
                line("uvicorn alone, a trivial ASGI app (no guest): the serving floor", plain),
                line("`omniwasm serve` (one process)", ours),
                line("`omniwasm serve`, one process pinned to one CPU (`taskset -c 0`)", pinned),
                line(f"`omniwasm serve --workers {cores}`", spread),
                line("`wasmtime serve`", theirs),
            ],
        )
    )
    print()
    total = cpu["loop"] + cpu["others"]
    switches = cpu["loop_switches"] + cpu["other_switches"]
    print(
        table(
            ["per request, by thread (one process)", "CPU µs", "share", "context switches"],
            [
                [
                    "event loop thread: HTTP, ASGI gateway, sending",
                    f"{cpu['loop']:.0f}",
                    f"{cpu['loop'] / total:.0%}",
                    f"{cpu['loop_switches']:.1f}",
                ],
                [
                    "guest threads: instantiate, guest + host calls, teardown (+ timers)",
                    f"{cpu['others']:.0f}",
                    f"{cpu['others'] / total:.0%}",
                    f"{cpu['other_switches']:.1f}",
                ],
                ["total", f"{total:.0f}", "100%", f"{switches:.1f}"],
            ],
        )
    )
    print()
    print(
        table(
            ["one request on the guest thread, in-process (median)", "µs"],
            [[k, f"{v:.1f}"] for k, v in steps.items()] + [["sum", f"{sum(steps.values()):.1f}"]],
        )
    )
    print()
    inproc = sum(steps.values())
    print(
        f"Reading the tables. In-process, the guest side of a request is ~{inproc:.0f} µs of "
        f"Python: instantiation, binding the export, and {host_calls} host calls into the "
        "Python WASI host (fields, response, body stream, outparam). Under load the guest "
        f"threads spend {cpu['others']:.0f} µs of CPU per request instead, with "
        f"{cpu['other_switches']:.0f} context switches: each call into wasmtime and each host "
        "call can hand the GIL between the event loop thread and the guest threads, and every "
        "hand-off is a context switch. The event loop's own share (HTTP parsing, the ASGI "
        f"gateway, sending) is {cpu['loop']:.0f} µs. All of it is serialised by the GIL, so one "
        "process tops out at a few thousand requests/s. Unpinned it does worse: a hand-off "
        "that has to wake an idle (here: virtual) CPU costs more than the work, which is why "
        f"the same process pinned to one CPU serves {pinned['rps'] / ours['rps']:.1f}x as much. "
        "`--workers N` runs N processes. `wasmtime serve` runs the component natively on every "
        "core with no interpreter and no GIL in the request path: that is the gap the lean "
        "ratio measures. The componentize-py guest spends most of its time in wasm (its "
        "CPython), where the GIL is released, so there omniwasm keeps up and more."
    )


if __name__ == "__main__":
    main()
