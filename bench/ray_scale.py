"""omniwasm.ray: scaling of a CPU-bound wasm batch function over Ray Data, and task overhead.

In one run: the same 1M-row pipeline (``map_batches`` of ``bench/wat/ray_mix.wat``, 1024
hash rounds per row) on a local Ray with 1 CPU and with 2 CPUs, against omniwasm called
directly in this process on the same batches; and ``omniwasm.ray.map`` against a Ray task
calling a plain Python function (per-task overhead, warm node cache). Medians of
``BENCH_RAY_REPEAT`` runs (3 by default: each run is seconds long).
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from importlib.resources import files
from pathlib import Path

import pyarrow as pa
import ray
from _common import BENCH, table

import omniwasm.ray as owr
from omniwasm.ray._calls import apply_batch
from omniwasm.ray._code import code_of

MIX = BENCH / "wat" / "ray_mix.wat"
KERNELS = Path(str(files("omniwasm") / "examples" / "sql_kernels.wat"))
ROWS = int(1_000_000 * float(os.environ.get("BENCH_RAY_SCALE", "1")))
BATCH = 16_384
TASKS = 200
REPEAT = int(os.environ.get("BENCH_RAY_REPEAT", "3"))


def median(run: Callable[[], object]) -> float:
    """Median seconds of ``run()`` over REPEAT runs, after one warm-up run."""
    run()
    times = []
    for _ in range(REPEAT):
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def pipeline() -> float:
    """Seconds of the Ray Data pipeline over ROWS rows (consumed in full)."""

    def run() -> None:
        ds = ray.data.range(ROWS, override_num_blocks=16)
        out = owr.map_batches(ds, MIX, "mix", columns=["id"], output="h", batch_size=BATCH)
        assert out.count() == ROWS

    return median(run)


def direct() -> float:
    """Seconds of the same batches through omniwasm in this process (no Ray)."""
    code = code_of(MIX)
    ids = pa.table({"id": pa.array(range(ROWS), pa.int64())})
    policy = owr.DEFAULT_POLICY

    def run() -> None:
        for start in range(0, ROWS, BATCH):
            apply_batch(
                ids.slice(start, BATCH),
                code=code,
                function="mix",
                policy=policy,
                columns=["id"],
                output="h",
            )

    return median(run)


@ray.remote
def plain(x: int) -> int:
    """The peer task: a Python function."""
    return x * 2 + 1


def overhead() -> tuple[float, float]:
    """Seconds per task: omniwasm.ray.map (chunksize 1) and plain Ray tasks, TASKS each."""
    items = list(range(TASKS))
    wasm = median(lambda: owr.map(KERNELS, "twice-plus-one", items))
    py = median(lambda: ray.get([plain.remote(i) for i in items]))
    return wasm / TASKS, py / TASKS


def session(cpus: int) -> None:
    ray.init(
        num_cpus=cpus,
        object_store_memory=200_000_000,
        include_dashboard=False,
        log_to_driver=False,
        configure_logging=False,
    )
    ray.data.DataContext.get_current().enable_progress_bars = False


def main() -> None:
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    local = direct()
    session(1)
    one = pipeline()
    ray.shutdown()
    session(2)
    two = pipeline()
    per_wasm, per_py = overhead()
    ray.shutdown()

    rate = lambda s: f"{ROWS / s / 1e6:.2f}"  # noqa: E731
    print(
        f"### Ray Data: a CPU-bound wasm batch function over {ROWS / 1e6:g}M rows "
        f"(M rows/s; ray {ray.__version__}, {BATCH}-row batches, median of {REPEAT})\n"
    )
    print(
        table(
            ["pipeline", "M rows/s"],
            [
                ["omniwasm directly, one process (one CPU)", rate(local)],
                ["Ray Data, 1 CPU", rate(one)],
                ["Ray Data, 2 CPUs", rate(two)],
            ],
        )
    )
    print()
    scale, layer = one / two, (ROWS / two) / (2 * ROWS / local)
    print(
        f"- Target 2 CPUs >= 1.7x 1 CPU: {'**met**' if scale >= 1.7 else '**NOT met**'} "
        f"({scale:.2f}x)."
    )
    print(
        "- Target 2 CPUs >= 0.8x direct omniwasm on each CPU: "
        f"{'**met**' if layer >= 0.8 else '**NOT met**'} ({layer:.2f}x)."
    )
    print(f"\n### Ray tasks: per-task time, {TASKS} tasks on 2 CPUs, warm node cache\n")
    print(
        table(
            ["task", "ms per task"],
            [
                ["omniwasm.ray.map (a wasm call per task)", f"{per_wasm * 1e3:.2f}"],
                ["a Ray task calling a Python function", f"{per_py * 1e3:.2f}"],
            ],
        )
    )
    ratio = per_wasm / per_py
    print(
        f"\n- Target map <= 1.5x a plain Ray task: {'**met**' if ratio <= 1.5 else '**NOT met**'} "
        f"({ratio:.2f}x). Load average at the end: {os.getloadavg()[0]:.2f} on "
        f"{os.cpu_count()} CPUs."
    )


if __name__ == "__main__":
    main()
