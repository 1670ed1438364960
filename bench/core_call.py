"""Call overhead of exported core functions: omniwasm fast path vs wasmtime-py ``Func.__call__``.

Both sides call the same WebAssembly functions in the same process and run. omniwasm resolves
the export once (``inst.func(name)``) and calls it; wasmtime-py calls the generic
``Func.__call__`` with its store (``inst.exports(store)[name](store, *args)``).
"""

from __future__ import annotations

import wasmtime
from _common import REPEAT, bench_stmt, table, us

import omniwasm

WAT_TEXT = """
(module
  (func (export "add") (param i32 i32) (result i32)
    local.get 0 local.get 1 i32.add)
  (func (export "mix") (param i64 f64) (result f64)
    local.get 0 f64.convert_i64_s local.get 1 f64.add)
  (func (export "nop"))
  (func (export "answer") (result i32)
    i32.const 42))
"""

CASES = [
    ("add", "add(i32, i32) -> i32", (1, 2), 3),
    ("mix", "mix(i64, f64) -> f64", (1 << 40, 0.5), float(1 << 40) + 0.5),
    ("answer", "answer() -> i32", (), 42),
    ("nop", "nop() -> ()", (), None),
]

FAST_TARGET_US = 2.0
SPEEDUP_TARGET = 10.0


def main() -> dict[str, object]:
    rt = omniwasm.Runtime()
    inst = rt.instantiate(rt.load(WAT_TEXT))

    engine = wasmtime.Engine()
    store = wasmtime.Store(engine)
    winst = wasmtime.Instance(store, wasmtime.Module(engine, WAT_TEXT), [])
    wexports = winst.exports(store)

    rows = []
    summary: dict[str, object] = {}
    for name, sig, args, expected in CASES:
        f = inst.func(name)
        g = wexports[name]
        assert isinstance(g, wasmtime.Func)
        assert f(*args) == expected, (name, f(*args))
        assert g(store, *args) == expected, (name, g(store, *args))
        argtext = ", ".join(repr(a) for a in args)
        fast = bench_stmt(f"f({argtext})", {"f": f})
        generic = bench_stmt(f"g(store{', ' if args else ''}{argtext})", {"g": g, "store": store})
        exports = bench_stmt(f"e.{name}({argtext})", {"e": inst.exports})
        speedup = generic.median / fast.median
        rows.append(
            [
                f"`{sig}`",
                us(fast.median),
                us(fast.best),
                us(generic.median),
                us(generic.best),
                f"**{speedup:.1f}x**",
                us(exports.median),
            ]
        )
        summary[name] = {"fast_us": fast.median * 1e6, "speedup": speedup}

    inst.close()
    print(f"### Core call overhead (µs/call; median and best of {REPEAT} repetitions)\n")
    print(
        table(
            [
                "function",
                "omniwasm `inst.func(name)` median",
                "best",
                "wasmtime-py `Func.__call__` median",
                "best",
                "speedup (median)",
                "omniwasm `inst.exports.NAME(...)` median",
            ],
            rows,
        )
    )
    add = summary["add"]
    assert isinstance(add, dict)
    ok_fast = add["fast_us"] <= FAST_TARGET_US
    ok_speed = add["speedup"] >= SPEEDUP_TARGET
    print()
    print(
        f"Target `add` fast path <= {FAST_TARGET_US:g} µs: "
        f"{'**met**' if ok_fast else '**NOT met**'} ({add['fast_us']:.2f} µs); "
        f">= {SPEEDUP_TARGET:g}x faster than generic: "
        f"{'**met**' if ok_speed else '**NOT met**'} ({add['speedup']:.1f}x)."
    )
    return summary


if __name__ == "__main__":
    main()
