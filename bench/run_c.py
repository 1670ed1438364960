"""``omniwasm run`` vs ``wasmtime run`` on C programs (WASI p1, built with zig at run time).

Whole processes, wall time: warm compile cache (each tool's cache filled by a first run, in a
cache directory of its own under bench/.build/) and cold cache (an empty cache directory for
every run, so each run compiles). Then in-process: ``Runtime.run`` against wasmtime-py running
``_start`` with WASI in a fresh store, both on a module compiled once.
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import wasmtime
from _common import (
    OMNIWASM_CLI,
    REPEAT,
    Result,
    bench_call,
    build_c,
    build_dir,
    fresh_dir,
    ms,
    run_process,
    table,
    wasmtime_cli,
)

import omniwasm

HELLO_C = r"""
#include <stdio.h>
int main(void) {
    puts("hello, world");
    return 0;
}
"""

PRIMES_C = r"""
#include <stdio.h>
/* Count primes below LIMIT by trial division: CPU-bound, no memory traffic to speak of. */
#define LIMIT 2000000u
int main(void) {
    unsigned count = 0;
    for (unsigned n = 2; n < LIMIT; n++) {
        int prime = 1;
        for (unsigned d = 2; d * d <= n; d++) {
            if (n % d == 0) { prime = 0; break; }
        }
        count += prime;
    }
    printf("%u primes below %u\n", count, LIMIT);
    return 0;
}
"""

PROGRAMS = {"hello (C, puts)": ("hello", HELLO_C), "primes (C, CPU-bound)": ("primes", PRIMES_C)}
WARM_RUNS = {"hello": 15, "primes": 7}
COLD_RUNS = 5


def wasmtime_cache_config(directory: Path) -> Path:
    config = directory.with_suffix(".toml")
    config.write_text(f'[cache]\ndirectory = "{directory}"\n')
    return config


IMPORT_WASMTIME = [sys.executable, "-c", "import wasmtime"]
"""The floor of any Python host of wasmtime: the interpreter plus ``import wasmtime``."""
PYTHON_PASS = [sys.executable, "-c", "pass"]


def imports_of(argv: list[str], env: dict[str, str]) -> list[str]:
    """A ``python -c`` command importing what the Python program ``argv`` imports at top level.

    The modules come from ``-X importtime`` of one run of it (top-level entries, in order), so
    timing the command measures the imports alone, without the program's own work.
    """
    out = subprocess.run(
        [sys.executable, "-X", "importtime", *argv],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    names = []
    for line in out.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            name = line.rsplit("|", 1)[1]
            module = name.strip()
            top = name.startswith(" ") and not name.startswith("  ")
            if top and module != "site" and all(p.isidentifier() for p in module.split(".")):
                names.append(module)
    return [sys.executable, "-c", "import " + ", ".join(dict.fromkeys(names))]


CLI_TARGET = 1.2  # omniwasm run hello <= 1.2x `python -c "import wasmtime"`
INPROC_TARGET = 1.2  # fresh sandbox <= 1.2x wasmtime-py's own fresh-store path


def cpu_of(argv: list[str], env: dict[str, str] | None = None) -> float:
    """CPU seconds (user + system) of one whole process and its children.

    On a shared, loaded machine a process's wall time includes the time it waited for a CPU;
    its CPU time is what it cost.
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    run_process(argv, env)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def cpu_call(fn: Callable[[], object], *, loops: int) -> Result:
    """Like ``bench_call`` in CPU time of this process (``time.process_time``)."""
    per = []
    for _ in range(REPEAT):
        t0 = time.process_time()
        for _ in range(loops):
            fn()
        per.append((time.process_time() - t0) / loops)
    return Result(per, loops)


def process_times(
    wasm: Path,
    runs: int,
    *,
    cold: bool,
    floor: list[float] | None = None,
    cpu: dict[str, list[float]] | None = None,
) -> tuple[Result, Result]:
    """Median wall times of ``omniwasm run`` and ``wasmtime run`` (interleaved).

    With ``floor``, a ``python -c "import wasmtime"`` process is timed in the same rounds and
    appended to it.
    """
    base = build_dir() / ("cache-cold" if cold else "cache-warm")
    om_samples, wt_samples = [], []
    om_cache = fresh_dir(base / "omniwasm")
    wt_cache = fresh_dir(base / "wasmtime")
    wt_config = wasmtime_cache_config(wt_cache)
    om_env = dict(os.environ, OMNIWASM_CACHE_DIR=str(om_cache))
    om_argv = [str(OMNIWASM_CLI), "run", str(wasm)]
    imports: list[str] = []
    wt_argv = [str(wasmtime_cli()), "run", "-C", "cache=y", "-C", f"cache-config={wt_config}"]
    wt_argv.append(str(wasm))
    if not cold:  # fill both caches first
        run_process(om_argv, om_env)
        run_process(wt_argv)
        assert any(om_cache.rglob("*")), "omniwasm did not write its compile cache"
    for _ in range(runs):
        if cold:
            fresh_dir(om_cache)
            fresh_dir(wt_cache)
        om_samples.append(run_process(om_argv, om_env))
        wt_samples.append(run_process(wt_argv))
        if floor is not None:
            floor.append(run_process(IMPORT_WASMTIME))
        if cpu is not None:  # the same three again, for their CPU time, and a breakdown
            cpu["omniwasm"].append(cpu_of(om_argv, om_env))
            cpu["floor"].append(cpu_of(IMPORT_WASMTIME))
            cpu["pass"].append(cpu_of(PYTHON_PASS))
            if not imports:
                imports.extend(imports_of(om_argv, om_env))
            cpu["imports"].append(cpu_of(imports, om_env))
    return Result(om_samples, 1), Result(wt_samples, 1)


def wasmtime_py_runner(wasm: Path) -> Callable[[], None]:
    engine = wasmtime.Engine()
    module = wasmtime.Module.from_file(engine, str(wasm))
    linker = wasmtime.Linker(engine)
    linker.define_wasi()
    pre = linker.instantiate_pre(module)
    devnull = os.devnull

    def run() -> None:
        store = wasmtime.Store(engine)
        config = wasmtime.WasiConfig()
        config.argv = [wasm.name]
        config.stdout_file = devnull
        config.stderr_file = devnull
        store.set_wasi(config)
        inst = pre.instantiate(store)
        start = inst.exports(store)["_start"]
        assert isinstance(start, wasmtime.Func)
        try:
            start(store)
        except wasmtime.ExitTrap as exc:
            if exc.code != 0:
                raise

    return run


INPROC_REST = (
    "What a run costs (cProfile of 3000 discarded runs): both paths make a store, a "
    "WASI config, an instance from a pre-instantiated module, call `_start` and delete "
    "the store, and the store's deletion (wasmtime returning the instance to its pool) is "
    "the largest single item of either. omniwasm adds, per run: the policy's WASI config "
    "(argv, environment, preopens; the stdout/stderr files), the store's limits and "
    "deadline, one `sigaction` to check that wasmtime's trap handlers are still "
    "installed, the exit-code and trap translation, and its own bookkeeping objects, "
    "each a few microseconds of Python. Tried and kept: `keep_resident` down to 1 MiB "
    "(the pooled memory reset was 0.47 ms of a run before), instantiation and `_start` "
    "through raw calls instead of wasmtime-py's checked ones, the `InstancePre` made once "
    "per module, a store's wake event (for host waits and cancels) made only when one "
    "happens, an empty guest environment left unset."
)
"""Printed under the in-process table: a profile of the fresh-sandbox path."""


def print_cli_breakdown(cpu: dict[str, list[float]]) -> None:
    """The CPU of an ``omniwasm run hello.wasm`` process by stage, and what the rest is."""
    cpu_om, cpu_floor = statistics.median(cpu["omniwasm"]), statistics.median(cpu["floor"])
    print()
    pass_ms, imports_ms = statistics.median(cpu["pass"]), statistics.median(cpu["imports"])
    print(
        table(
            ["where `omniwasm run hello.wasm`'s CPU goes (medians, same rounds)", "CPU ms"],
            [
                ["Python start-up (`python -c pass`)", ms(pass_ms)],
                ["... + `import wasmtime` (the floor)", ms(cpu_floor)],
                [
                    "... + everything `omniwasm run` imports (`python -c` of its top-level "
                    "imports, taken from `-X importtime`)",
                    ms(imports_ms),
                ],
                ["the run itself (process minus the imports row)", ms(cpu_om - imports_ms)],
            ],
        )
    )
    print()
    print(
        "Where the rest goes. Over the floor, `omniwasm run` pays for its own modules (about "
        "70: the CLI fast path, the policy, the runtime, the engine layer, the module parser, "
        "the compile cache; dataclasses bring `inspect`, `ast` and `dis`) and for the run: an "
        "engine from the policy's settings, the compile-cache lookup (the file is read and "
        "hashed, the cached `.cwasm` deserialized), the store with the policy's limits and "
        "WASI, `_start`, teardown. Tried and kept: no typer, click or rich on this path (the "
        "run parses its common flags itself), lazy package imports (`import omniwasm` loads "
        "only its version; the component and WIT machinery are never imported for a core "
        "module), the on-demand allocator for a one-shot run (no pooling reservation), "
        "regular expressions compiled on first use. Not done: the floor itself is "
        "`import wasmtime`, whose package imports all of wasmtime-py (its ctypes bindings "
        "alone are a third of it); the remaining omniwasm imports would need the policy and "
        "engine types as plain classes instead of dataclasses and fewer, larger modules."
    )


def main() -> None:
    rows_proc = []
    rows_inproc = []
    inproc_ratio = float("nan")
    cpu_om_run = cpu_wt_run = Result([float("nan")], 1)
    cache = fresh_dir(build_dir() / "cache-inprocess")
    rt = omniwasm.Runtime(cache=cache)
    baseline = Result(
        [run_process([sys.executable, "-c", "import omniwasm.cli"]) for _ in range(10)], 1
    )
    floor_samples: list[float] = []
    cpu: dict[str, list[float]] = {"omniwasm": [], "floor": [], "pass": [], "imports": []}
    hello_warm = 0.0
    discard = omniwasm.Policy(stdout="discard", stderr="discard")
    for label, (name, source) in PROGRAMS.items():
        wasm = build_c(name, source)
        # Sanity: both agree on the output.
        res = rt.run(wasm)
        assert res.exit_code == 0, res
        om_w, wt_w = process_times(
            wasm,
            WARM_RUNS[name],
            cold=False,
            floor=floor_samples if name == "hello" else None,
            cpu=cpu if name == "hello" else None,
        )
        if name == "hello":
            hello_warm = om_w.median
        om_c, wt_c = process_times(wasm, COLD_RUNS, cold=True)
        rows_proc.append(
            [
                label,
                f"**{ms(om_w.median)}**",
                ms(wt_w.median),
                f"{(om_w.median - wt_w.median) * 1e3:+.1f} ms",
                ms(om_c.median),
                ms(wt_c.median),
            ]
        )
        compiled = rt.load(wasm)
        loops = 200 if name == "hello" else 1
        om_run = bench_call(lambda c=compiled: rt.run(c), loops=loops)
        om_discard = bench_call(lambda c=compiled: rt.run(c, discard), loops=loops)
        om_path = bench_call(lambda w=wasm: rt.run(w), loops=loops)
        wt_run = bench_call(wasmtime_py_runner(wasm), loops=loops)
        rows_inproc.append(
            [
                label,
                ms(om_run.median, 3),
                f"**{ms(om_discard.median, 3)}**",
                ms(om_path.median, 3),
                ms(wt_run.median, 3),
                f"{wt_run.median / om_discard.median:.2f}x",
            ]
        )
        if name == "hello":  # judged in CPU time too: the machine is shared
            inproc_ratio = om_discard.median / wt_run.median
            cpu_om_run = cpu_call(lambda c=compiled: rt.run(c, discard), loops=loops)
            cpu_wt_run = cpu_call(wasmtime_py_runner(wasm), loops=loops)

    print(
        "### `omniwasm run` vs `wasmtime run`: whole processes, wall time "
        "(ms, median; warm = compile cache filled by a first run)\n"
    )
    print(
        table(
            [
                "program",
                "`omniwasm run` warm cache",
                "`wasmtime run` warm cache",
                "difference",
                "`omniwasm run` cold cache",
                "`wasmtime run` cold cache",
            ],
            rows_proc,
        )
    )
    print()
    print(
        f"Warm: median of {WARM_RUNS['hello']} (hello) / {WARM_RUNS['primes']} (primes) runs; "
        f"cold: median of {COLD_RUNS} runs, each with an empty cache directory. "
        f"For scale, `python -c 'import omniwasm.cli'` alone takes "
        f"{ms(baseline.median)} ms (median of 10). Python processes run with bytecode caching "
        "on, as for an installed package."
    )
    floor = Result(floor_samples, 1)
    ratio = hello_warm / floor.median
    cpu_om = statistics.median(cpu["omniwasm"])
    cpu_floor = statistics.median(cpu["floor"])
    cpu_ratio = cpu_om / cpu_floor
    verdict = "**met**" if cpu_ratio <= CLI_TARGET else "**NOT met**"
    print()
    print(
        f"Start-up floor, timed in the same rounds as the warm hello runs: "
        f"`python -c 'import wasmtime'` {ms(floor.median)} ms wall (min {ms(floor.best)}); "
        f"`omniwasm run hello.wasm` / floor = {ratio:.2f}x in wall time. In CPU time (user + "
        f"system, what the process costs whatever the machine's load): omniwasm run "
        f"**{ms(cpu_om)} ms**, floor **{ms(cpu_floor)} ms**, **{cpu_ratio:.2f}x** "
        f"(target <= {CLI_TARGET}x: {verdict})."
    )
    print_cli_breakdown(cpu)
    print(
        f"### In-process: one run of a compiled program in a fresh sandbox "
        f"(ms/run; median of {REPEAT} repetitions)\n"
    )
    print(
        table(
            [
                "program",
                "omniwasm `rt.run(compiled)` (output captured)",
                "omniwasm `rt.run(compiled, discard)`",
                "omniwasm `rt.run(path)` (warm cache, captured)",
                "wasmtime-py `Store`+WASI+`pre.instantiate`+`_start` (output to /dev/null)",
                "omniwasm (discard) vs wasmtime-py (>1 = omniwasm faster)",
            ],
            rows_inproc,
        )
    )
    cpu_ratio = cpu_om_run.median / cpu_wt_run.median
    verdict = "**met**" if cpu_ratio <= INPROC_TARGET else "**NOT met**"
    print()
    print(
        f"Fresh sandbox, C hello, output discarded as wasmtime-py's path does: omniwasm / "
        f"wasmtime-py = {inproc_ratio:.2f}x in wall time; in CPU time "
        f"{ms(cpu_om_run.median, 3)} ms / {ms(cpu_wt_run.median, 3)} ms = **{cpu_ratio:.2f}x** "
        f"(target <= {INPROC_TARGET}x: {verdict}). "
        "Capturing output (the default policy) adds two pipes and a reader thread per run. "
        "`discard` is `Policy(stdout='discard', stderr='discard')`."
    )
    print(f"\n{INPROC_REST}")


if __name__ == "__main__":
    main()
