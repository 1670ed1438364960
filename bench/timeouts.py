"""How soon a timeout ends a guest blocked in the host, against ``wasmtime run -W timeout=``.

Guests (C, zig, WASI p1; the component form through the jco command adapter) that sleep for
an hour, or read a stdin that never ends, under a one-second timeout. Whole processes: wall
time from start to exit and the exit code (omniwasm: 124; ``wasmtime run``: 134), startup
included, so the overrun past the deadline is the time minus one second minus startup (the
``startup`` row: the same guest sleeping 0 s). Then in-process: how far past its deadline a
``Runtime.run`` / ``wasi.run`` call raises ``Timeout``; and the price of a timeout on a hot
call path (a core export call with and without ``Policy(timeout=...)``).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from _common import OMNIWASM_CLI, ROOT, bench_stmt, build_c, us, wasmtime_cli

from omniwasm import Policy, Runtime, Timeout, wasi

RUNS = int(os.environ.get("BENCH_REPEAT", "5"))


def component_of(module: Path) -> Path:
    """The WASI 0.2 command component of a p1 module (the tests' jco adapter)."""
    sys.path.insert(0, str(ROOT / "tests"))
    from fixtures.toolchain import build_c_component

    return build_c_component(ROOT / "tests" / "fixtures" / "c" / f"{module.stem}.c")


def wall(argv: list[str], feed: bytes | None) -> tuple[float, int]:
    """Seconds from start to exit, and the exit code; stdin stays open when ``feed`` is set."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    t0 = time.perf_counter()
    with subprocess.Popen(
        argv,
        stdin=subprocess.PIPE if feed is not None else subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    ) as proc:
        if feed is not None and proc.stdin is not None:
            proc.stdin.write(feed)
            proc.stdin.flush()
        code = proc.wait(timeout=60)
        if proc.stdin is not None:
            proc.stdin.close()
    return time.perf_counter() - t0, code


def median_wall(argv: list[str], feed: bytes | None = None) -> str:
    runs = [wall(argv, feed) for _ in range(RUNS)]
    codes = sorted({code for _, code in runs})
    return f"{statistics.median(t for t, _ in runs):.2f} s (exit {', '.join(map(str, codes))})"


def never_ending() -> Iterator[bytes]:
    yield b"hi\n"
    threading.Event().wait()


def overrun(call: Callable[[], object], timeout: float) -> str:
    """Median seconds past ``timeout`` at which ``call`` raised Timeout (in process)."""
    late = []
    for _ in range(RUNS):
        t0 = time.perf_counter()
        try:
            call()
        except Timeout:
            late.append(time.perf_counter() - t0 - timeout)
        else:
            return "no Timeout"
    return f"{statistics.median(late) * 1e3:.1f} ms"


def main() -> None:
    src = (ROOT / "tests" / "fixtures" / "c" / "waits.c").read_text()
    module = build_c("waits", src)
    component = component_of(module)
    cli = [str(OMNIWASM_CLI), "run", "--timeout", "1s"]
    ref = [str(wasmtime_cli()), "run", "-W", "timeout=1s"]
    cases = [
        ("startup (module sleeps 0 s, no wait)", [str(module), "sleep", "0"], None, True),
        ("module: sleep(3600)", [str(module), "sleep", "3600"], None, True),
        ("module: clock_nanosleep ABSTIME +3600 s", [str(module), "abstime", "3600"], None, True),
        ("module: read a stdin that never ends", [str(module), "read"], b"hi\n", True),
        (
            "component: sleep(3600), --wasi auto (virtual)",
            [str(component), "sleep", "3600"],
            None,
            True,
        ),
        (
            "component: sleep(3600), --wasi native (backstop)",
            ["--wasi", "native", str(component), "sleep", "3600"],
            None,
            False,
        ),
        ("component: read a stdin that never ends", [str(component), "read"], b"hi\n", True),
    ]
    print("### Timeouts on guests blocked in the host (whole processes, `--timeout 1s`)\n")
    print(f"Median of {RUNS} runs; wall time from start to exit, startup included.\n")
    print("| guest | `omniwasm run` | `wasmtime run -W timeout=1s` |")
    print("|---|---|---|")
    for name, args, feed, peer in cases:
        ours = median_wall([*cli, *args], feed)
        theirs = median_wall([*ref, *args], feed) if peer else "n/a"
        print(f"| {name} | {ours} | {theirs} |")

    rt = Runtime()
    code = rt.load(module)
    comp = rt.load(component)
    pol = Policy(timeout=0.5, args=["sleep", "3600"])
    print("\n### In process: how late `Timeout` comes (timeout 0.5 s)\n")
    print("| call | past the deadline |")
    print("|---|---|")
    print(f"| `Runtime.run` module in sleep(3600) | {overrun(lambda: rt.run(code, pol), 0.5)} |")
    print(
        f"| `wasi.run` component in sleep(3600) | {overrun(lambda: wasi.run(rt, comp, pol), 0.5)} |"
    )
    stdin_pol = Policy(timeout=0.5, args=["read"])
    late = overrun(lambda: wasi.run(rt, comp, stdin_pol, stdin=never_ending()), 0.5)
    print(f"| `wasi.run` component reading a never-ending stdin | {late} |")

    wat = (
        '(module (func (export "add") (param i32 i32) (result i32)'
        " local.get 0 local.get 1 i32.add))"
    )
    plain = rt.instantiate(wat).func("add")
    timed = rt.instantiate(wat, Policy(timeout=5)).func("add")
    print("\n### The price of a timeout on a hot call (core export `add(i32, i32)`)\n")
    print("| call | µs per call (median) |")
    print("|---|---|")
    for label, fn in (("no timeout", plain), ("`Policy(timeout=5)`", timed)):
        result = bench_stmt("fn(1, 2)", {"fn": fn})
        print(f"| {label} | {us(result.median)} |")


if __name__ == "__main__":
    main()
