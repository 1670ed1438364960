"""HTTP serving: `omniwasm serve` against `wasmtime serve`, same component, same machine, wrk.

For each guest both servers run on 127.0.0.1 (one after the other, never at once) and `wrk`
(Debian's package) loads them for a bounded run: 2 threads, 16 connections, 5 seconds, with
latency percentiles. Guests:

* the lean WAT hello handler (`tests/fixtures/gateway/hello.wat`);
* the same family's `/big` path (`tests/fixtures/gateway/routes.wat`): a 1 MiB response body,
  reported as response bytes per second;
* the componentize-py hello handler when its build is available
  (`tests/fixtures/gateway/py_hello/`, built by the test fixtures' cache).

The issue's targets: componentize-py hello >= 1.0x `wasmtime serve`; lean hello >= 0.5x.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

from _common import table, wasmtime_cli

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from fixtures.wat_components import assemble  # noqa: E402

GUESTS = ROOT / "tests" / "fixtures" / "gateway"
DURATION = "5s"
CONNECTIONS = 16


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_up(port: int, proc: subprocess.Popen[bytes], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited early: {proc.args}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise SystemExit(f"server on {port} did not come up")


def wrk(url: str) -> dict[str, float]:
    """Requests/s, p50/p99 latency (ms), transfer/s (bytes) and errors of one bounded run."""
    out = subprocess.run(
        ["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{DURATION}", "--latency", url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    units = {"us": 1e-3, "ms": 1.0, "s": 1e3}
    sizes = {"B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3}

    def latency(label: str) -> float:
        m = re.search(rf"{label}\s+([\d.]+)(us|ms|s)\b", out)
        return float(m.group(1)) * units[m.group(2)] if m else float("nan")

    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    transfer = re.search(r"Transfer/sec:\s+([\d.]+)(B|KB|MB|GB)", out)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return {
        "rps": float(rps.group(1)) if rps else 0.0,
        "p50": latency("50%"),
        "p99": latency("99%"),
        "bytes_per_s": float(transfer.group(1)) * sizes[transfer.group(2)] if transfer else 0.0,
        "errors": float(errors.group(1))
        if errors
        else 0.0 + (sum(int(x) for x in sock.groups()) if sock else 0),
    }


def run_server(argv: list[str], port: int, path: str) -> dict[str, float]:
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_up(port, proc)
        subprocess.run(["wrk", "-t1", "-c2", "-d1s", f"http://127.0.0.1:{port}{path}"],
                       capture_output=True, check=False)  # fmt: skip  # warm-up
        return wrk(f"http://127.0.0.1:{port}{path}")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def row(
    label: str, workers: int, cores: int, ours: dict[str, float], theirs: dict[str, float]
) -> list[str]:
    """One table row; the target is judged with one worker per core (wasmtime serve uses
    every core by default)."""
    big = "1 MiB" in label
    metric = "bytes_per_s" if big else "rps"
    ratio = ours[metric] / theirs[metric] if theirs[metric] else float("nan")
    target = {"componentize-py hello": 1.0, "lean WAT hello": 0.5}.get(label)
    if target is None or workers != cores:
        verdict = "reported"
    else:
        verdict = f">= {target}x: {'**met**' if ratio >= target else '**NOT met**'}"
    if big:
        values = (f"{ours[metric] / 2**20:.1f} MiB/s", f"{theirs[metric] / 2**20:.1f} MiB/s")
    else:
        values = (f"{ours['rps']:.0f} req/s", f"{theirs['rps']:.0f} req/s")
    return [
        label,
        str(workers),
        values[0],
        f"{ours['p50']:.2f} / {ours['p99']:.2f}",
        values[1],
        f"{theirs['p50']:.2f} / {theirs['p99']:.2f}",
        f"{ratio:.2f}x",
        verdict,
        f"{int(ours['errors'])} / {int(theirs['errors'])}",
    ]


def python_guest() -> Path | None:
    """The componentize-py hello handler, if the fixtures can build it here."""
    try:
        from fixtures import gateway_guests  # type: ignore[attr-defined]

        return Path(gateway_guests.build_py_http_guest())
    except Exception:  # the fixture or its toolchain is missing: skip this row
        return None


def main() -> None:
    if shutil.which("wrk") is None:
        print("### HTTP serving\n\nSkipped: `wrk` is not installed (Debian package `wrk`).")
        return
    wt = wasmtime_cli()
    hello = assemble(GUESTS / "hello.wat", prefix="gw-")
    routes = assemble(GUESTS / "routes.wat", prefix="gw-")
    omni = [sys.executable, "-m", "omniwasm", "serve"]
    cases = [("lean WAT hello", hello, "/"), ("1 MiB response (routes.wat /big)", routes, "/big")]
    py = python_guest()
    if py is not None:
        cases.insert(0, ("componentize-py hello", py, "/"))
    rows = []
    cores = os.cpu_count() or 1
    for label, wasm, path in cases:
        p0 = free_port()
        theirs = run_server(
            [str(wt), "serve", "-S", "cli", "--addr", f"127.0.0.1:{p0}", str(wasm)], p0, path
        )
        for workers in sorted({1, cores}):
            p1 = free_port()
            argv = [*omni, str(wasm), "--addr", f"127.0.0.1:{p1}", "--workers", str(workers)]
            ours = run_server(argv, p1, path)
            rows.append(row(label, workers, cores, ours, theirs))
    print(f"### HTTP serving: `omniwasm serve` vs `wasmtime serve` (wrk, {CONNECTIONS} "
          f"connections, {DURATION}, 2 threads; 127.0.0.1)\n")  # fmt: skip
    print(
        table(
            [
                "guest",
                "omniwasm --workers",
                "omniwasm serve",
                "p50 / p99 ms",
                "wasmtime serve 49",
                "p50 / p99 ms",
                "omniwasm / wasmtime",
                "target",
                "errors (ours / theirs)",
            ],
            rows,
        )
    )
    print()
    print(
        "Both servers give every request a fresh instance of the same component file. "
        "`wasmtime serve` uses every core by default; `omniwasm serve` is measured with one "
        "process and with one worker process per core (`--workers`), and the target is judged "
        "on the latter. Each server is measured alone after a 1 s warm-up."
    )


if __name__ == "__main__":
    main()
