"""Where a gateway request's time goes: the lean WAT hello handler, measured three ways.

1. **The serving floor.** The same uvicorn (httptools parser, uvloop) serving a trivial ASGI app
   that answers without any guest, loaded by wrk exactly as `gateway_serve.py` loads
   `omniwasm serve`: the most requests/s any Python ASGI gateway on this server can reach here.
2. **CPU per request, by thread.** `omniwasm serve hello.wasm` under the same wrk load; the CPU
   time of each thread (from `/proc/PID/task/*/stat`) divided by the requests served: the event
   loop thread (HTTP parsing, the ASGI gateway, sending) against the guest threads (instantiate,
   the guest and its host calls, teardown).
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

from _common import table
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


def thread_cpu(pid: int) -> dict[int, float]:
    """CPU seconds (user + system) of each thread of ``pid``."""
    ticks = os.sysconf("SC_CLK_TCK")
    out = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        with open(task / "stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        out[int(task.name)] = (int(fields[11]) + int(fields[12])) / ticks
    return out


def serve_and_load(argv: list[str], port: int) -> tuple[dict[str, float], dict[str, float]]:
    """wrk's numbers, and CPU µs per request: the main (event loop) thread and the rest."""
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_up(port, proc)
        url = f"http://127.0.0.1:{port}/"
        subprocess.run(["wrk", "-t1", "-c2", "-d1s", url], capture_output=True, check=False)
        before = thread_cpu(proc.pid)
        started = time.monotonic()
        result = wrk(url)
        elapsed = time.monotonic() - started
        after = thread_cpu(proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    served = result["rps"] * elapsed
    main = after.get(proc.pid, 0.0) - before.get(proc.pid, 0.0)
    rest = sum(after[t] - before.get(t, 0.0) for t in after if t != proc.pid)
    per = {"loop": main / served * 1e6, "others": rest / served * 1e6}
    return result, per


def phases(wasm: Path, n: int = 3000) -> tuple[dict[str, float], int]:
    """Median µs of each phase of one request on the guest thread, and host calls per request."""
    from omniwasm import Runtime
    from omniwasm.gateway._asgi import _handler_interface
    from omniwasm.gateway._exchange import Exchange
    from omniwasm.wasi import WasiContext, instantiate
    from omniwasm.wasi._http_body import BodyFeed
    from omniwasm.wasi._http_types import IncomingRequest

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
    calls = sum(
        v[1] for (f, _, name), v in stats.items() if f.endswith("_chost.py") and name == "__call__"
    )
    return medians, round(calls / 100)


def main() -> None:
    wasm = assemble(GUEST, prefix="gw-")
    port = free_port()
    plain, _ = serve_and_load([sys.executable, "-c", PLAIN_APP, str(port)], port)
    port = free_port()
    argv = [sys.executable, "-m", "omniwasm", "serve", str(wasm), "--addr", f"127.0.0.1:{port}"]
    ours, cpu = serve_and_load(argv, port)
    steps, host_calls = phases(wasm)

    print("### Where a gateway request's time goes (lean WAT hello, one process)\n")
    print(
        table(
            ["what", "requests/s", "p50 / p99 ms"],
            [
                [
                    "uvicorn alone, a trivial ASGI app (no guest): the serving floor",
                    f"{plain['rps']:.0f}",
                    f"{plain['p50']:.2f} / {plain['p99']:.2f}",
                ],
                [
                    "`omniwasm serve` (--workers 1)",
                    f"{ours['rps']:.0f}",
                    f"{ours['p50']:.2f} / {ours['p99']:.2f}",
                ],
            ],
        )
    )
    print()
    total = cpu["loop"] + cpu["others"]
    print(
        table(
            ["CPU per request, by thread (`omniwasm serve`, same run)", "µs", "share"],
            [
                [
                    "event loop thread: HTTP, ASGI gateway, sending",
                    f"{cpu['loop']:.0f}",
                    f"{cpu['loop'] / total:.0%}",
                ],
                [
                    "guest threads: instantiate, guest + host calls, teardown (+ timers)",
                    f"{cpu['others']:.0f}",
                    f"{cpu['others'] / total:.0%}",
                ],
                ["total", f"{total:.0f}", "100%"],
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
    print(
        f"The guest makes {host_calls} host calls per request (Python functions of the "
        "virtual WASI host: fields, response, body stream, outparam). All Python work holds "
        "the GIL, so one process serves at most about 1e6 / (GIL-held µs per request) "
        "requests/s however many threads it runs; `--workers N` multiplies that by processes, "
        "up to the cores left over by the load generator. `wasmtime serve` runs the same "
        "component natively on every core with no interpreter in the request path."
    )


if __name__ == "__main__":
    main()
