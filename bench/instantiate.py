"""Cost of a new instance of an already compiled module, store included.

omniwasm ``rt.instantiate(compiled, policy)`` + ``inst.close()`` (pooling allocator, the
default, and ``Runtime(pooling=False)``) against wasmtime-py's plain ``Store`` + ``Instance``,
wasmtime-py's ``Linker.instantiate_pre`` + ``pre.instantiate(Store(engine))``, and a whole
``wasmtime run --invoke`` process per instance (and ``omniwasm run --invoke`` for scale).
"""

from __future__ import annotations

import statistics

import wasmtime
from _common import (
    OMNIWASM_CLI,
    REPEAT,
    Result,
    bench_stmt,
    build_dir,
    fresh_dir,
    ms,
    run_process,
    table,
    us,
    wasmtime_cli,
    write_wasm,
)

import omniwasm

# A trivial module, and a more typical one: a memory with a data segment, a global, a table.
MODULES = {
    "add (no memory)": """
(module
  (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add))
""",
    "memory + data + global + table": """
(module
  (memory (export "memory") 1)
  (data (i32.const 16) "hello, world")
  (global $g (mut i32) (i32.const 7))
  (table 4 funcref)
  (elem (i32.const 0) $add)
  (func $add (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add)
  (func (export "load") (param i32) (result i32) local.get 0 i32.load8_u))
""",
}

TARGET_US = 12.0
PROCESS_RUNS = 20  # processes per configuration (median reported)


def processes(argv: list[str], env: dict[str, str] | None = None) -> Result:
    run_process(argv, env)  # warm-up (and compile cache fill)
    samples = [run_process(argv, env) for _ in range(PROCESS_RUNS)]
    return Result(samples, 1)


def main() -> dict[str, float]:
    policy = omniwasm.Policy(max_memory="64MiB")
    rt = omniwasm.Runtime()
    rt_nopool = omniwasm.Runtime(pooling=False)
    engine = wasmtime.Engine()
    linker = wasmtime.Linker(engine)

    rows = []
    summary: dict[str, float] = {}
    for label, wat in MODULES.items():
        compiled = rt.load(wat)
        compiled_np = rt_nopool.load(wat)
        module = wasmtime.Module(engine, wat)
        pre = linker.instantiate_pre(module)
        with rt.instantiate(compiled, policy) as probe:
            assert probe.func("add")(1, 2) == 3
        assert rt.pooling, "pooling allocator refused on this machine"
        omni = bench_stmt("rt.instantiate(c, p).close()", {"rt": rt, "c": compiled, "p": policy})
        omni_np = bench_stmt(
            "rt.instantiate(c, p).close()", {"rt": rt_nopool, "c": compiled_np, "p": policy}
        )
        plain = bench_stmt(
            "s = Store(e); Instance(s, m, []); del s",
            {"Store": wasmtime.Store, "Instance": wasmtime.Instance, "e": engine, "m": module},
        )
        prerow = bench_stmt(
            "pre.instantiate(Store(e))", {"pre": pre, "Store": wasmtime.Store, "e": engine}
        )
        rows.append(
            [
                label,
                f"**{us(omni.median)}**",
                us(omni.best),
                us(omni_np.median),
                us(plain.median),
                us(prerow.median),
                f"{plain.median / omni.median:.1f}x",
            ]
        )
        summary[label] = omni.median * 1e6

    # Whole processes: one instance each, `add(1, 2)` invoked.
    wasm = write_wasm("add", MODULES["add (no memory)"])
    cache = fresh_dir(build_dir() / "cache-instantiate")
    import os

    env = dict(os.environ, OMNIWASM_CACHE_DIR=str(cache))
    wt = processes([str(wasmtime_cli()), "run", "--invoke", "add", str(wasm), "1", "2"])
    om = processes([str(OMNIWASM_CLI), "run", "--invoke", "add", str(wasm), "1", "2"], env)

    print(
        f"### New instance of a compiled module, store included "
        f"(µs/instance; median of {REPEAT} repetitions, best shown for omniwasm)\n"
    )
    print(
        table(
            [
                "module",
                "omniwasm `instantiate(c, policy)` + `close()`",
                "best",
                "omniwasm `Runtime(pooling=False)`",
                "wasmtime-py `Store` + `Instance`",
                "wasmtime-py `instantiate_pre` + `pre.instantiate(Store)`",
                "omniwasm vs plain wasmtime-py",
            ],
            rows,
        )
    )
    print()
    print(
        f"Policy: `Policy(max_memory='64MiB')`. Process spawn per instance "
        f"(module `add`, `--invoke add 1 2`, median of {PROCESS_RUNS} runs after one warm-up): "
        f"`wasmtime run --invoke` **{ms(wt.median)} ms** "
        f"(min {ms(wt.best)}); `omniwasm run --invoke` **{ms(om.median)} ms** "
        f"(min {ms(om.best)}, warm compile cache)."
    )
    worst = max(summary.values())
    print()
    print(
        f"Target omniwasm instantiate <= {TARGET_US:g} µs: "
        f"{'**met**' if worst <= TARGET_US else '**NOT met**'} "
        f"({', '.join(f'{k}: {v:.1f} µs' for k, v in summary.items())})."
    )
    summary["wasmtime_process_ms"] = statistics.median(wt.samples) * 1e3
    return summary


if __name__ == "__main__":
    main()
