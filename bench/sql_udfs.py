"""SQL functions from WebAssembly (``omniwasm.sql``) against the Python UDFs DuckDB and SQLite have.

Everything runs in one process, in the same run: for each query, the omniwasm function and
its peers (DuckDB's Arrow UDF that returns its input, a row-at-a-time Python UDF, a pyarrow
compute UDF; SQLite's Python UDF and the raw ctypes call of the same wasm function) over the
same table. Figures are medians of ``BENCH_REPEAT`` runs of the whole query.
"""

from __future__ import annotations

import ctypes
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from importlib.resources import files
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
from _common import REPEAT, ROOT, build_dir, table

from omniwasm import sql

KERNELS = Path(str(files("omniwasm") / "examples" / "sql_kernels.wat"))
UDFS_WAT = ROOT / "tests" / "fixtures" / "components" / "sql_udfs.wat"
SCALE = float(os.environ.get("BENCH_SQL_SCALE", "1"))  # < 1 for a quick look
N_INT = int(10_000_000 * SCALE)
N_STR = int(1_000_000 * SCALE)
N_LITE = int(1_000_000 * SCALE)
N_SLOW = int(200_000 * SCALE)  # functions that run a Python step per row


def udfs_component() -> Path:
    """The component of the tests (functions over lists and scalars), assembled here."""
    out = build_dir() / "sql_udfs.component.wasm"
    exe = Path(sys.executable).parent / "wasm-tools"
    subprocess.run([str(exe), "parse", str(UDFS_WAT), "-o", str(out)], check=True)
    return out


def timed(run: Callable[[], object], repeat: int = REPEAT) -> tuple[float, object]:
    """Median seconds of ``run()`` over ``repeat`` runs (after one warm-up), and its value."""
    value = run()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    times.sort()
    return times[len(times) // 2], value


def mrows(n: int, seconds: float) -> str:
    return f"{n / seconds / 1e6:.1f}"


def duck_int(threads: int, component: Path) -> dict[str, tuple[float, int, object]]:
    """Seconds, rows and result of ``sum(f(x))`` for each function (slow ones on fewer rows)."""
    con = duckdb.connect(config={"threads": threads})
    con.execute(f"CREATE TABLE t AS SELECT i::BIGINT AS x FROM range({N_INT}) t(i)")
    con.execute(f"CREATE TABLE small AS SELECT * FROM t LIMIT {N_SLOW}")
    sql.register(con, KERNELS)
    sql.register(con, component, functions=["double-all", "plus-one"])
    con.create_function("passthrough", lambda x: x, ["BIGINT"], "BIGINT", type="arrow")
    con.create_function(
        "arrow_calc", lambda x: pc.add(pc.multiply(x, 2), 1), ["BIGINT"], "BIGINT", type="arrow"
    )
    con.create_function("py_row", lambda x: x * 2 + 1, ["BIGINT"], "BIGINT")

    def q(expr: str, table: str = "t") -> Callable[[], object]:
        return lambda: con.execute(f"SELECT sum({expr}) FROM {table}").fetchall()

    def fast(expr: str) -> tuple[float, int, object]:
        seconds, value = timed(q(expr))
        return seconds, N_INT, value

    def slow(expr: str) -> tuple[float, int, object]:
        seconds, value = timed(q(expr, "small"), 3)
        return seconds, N_SLOW, value

    out = {
        "wasm core batch `times2(x)`": fast("times2(x)"),
        "Arrow passthrough UDF `x` (floor)": fast("passthrough(x)"),
        "DuckDB SQL `x*2+1` (no UDF)": fast("x * 2 + 1"),
        "wasm component `double_all(x)` (list<s64>, stock backend)": slow("double_all(x)"),
        "pyarrow compute UDF `add(multiply(x, 2), 1)`": slow("arrow_calc(x)"),
    }
    if threads == 1:
        out["row-at-a-time Python UDF"] = fast("py_row(x)")
        out["wasm core scalar `twice_plus_one(x)` (a guest call per row)"] = slow(
            "twice_plus_one(x)"
        )
        out["wasm component scalar `plus_one(x)` (a guest call per row)"] = slow("plus_one(x)")
    con.close()
    return out


def duck_upper(component: Path) -> dict[str, tuple[float, object]]:
    con = duckdb.connect(config={"threads": 1})
    # 20-byte ASCII strings
    con.execute(f"CREATE TABLE s AS SELECT printf('row-%016d', i) AS v FROM range({N_STR}) t(i)")
    sql.register(con, KERNELS)
    sql.register(con, component, functions=["upper-all"])
    con.create_function("passthrough_s", lambda x: x, ["VARCHAR"], "VARCHAR", type="arrow")
    # create_function counts parameters, and pyarrow's kernels take a memory_pool too
    con.create_function("pa_upper", _one_arg(pc.utf8_upper), ["VARCHAR"], "VARCHAR", type="arrow")
    con.create_function(
        "pa_ascii_upper", _one_arg(pc.ascii_upper), ["VARCHAR"], "VARCHAR", type="arrow"
    )
    q = lambda expr: lambda: con.execute(f"SELECT max({expr}) FROM s").fetchall()  # noqa: E731
    out = {
        "wasm core batch `upper_ascii(v)`": timed(q("upper_ascii(v)")),
        "wasm component `upper_all(v)` (list<string>)": timed(q("upper_all(v)"), 3),
        "pyarrow `utf8_upper` UDF": timed(q("pa_upper(v)")),
        "pyarrow `ascii_upper` UDF": timed(q("pa_ascii_upper(v)")),
        "Arrow passthrough UDF (floor)": timed(q("passthrough_s(v)")),
        "DuckDB SQL `upper(v)` (no UDF)": timed(q("upper(v)")),
    }
    con.close()
    return out


def _one_arg(kernel: Callable[..., object]) -> Callable[[object], object]:
    def udf(v: object) -> object:
        return kernel(v)

    return udf


def raw_ctypes_udf() -> Callable[[int], int]:
    """The peer: the same wasm function called through wasmtime's C API with bare ctypes."""
    import wasmtime
    from wasmtime import _ffi as ffi

    store = wasmtime.Store(wasmtime.Engine())
    inst = wasmtime.Instance(store, wasmtime.Module(store.engine, KERNELS.read_text()), [])
    func = inst.exports(store)["twice-plus-one"]
    vp = ctypes.c_void_p
    call = ctypes.CFUNCTYPE(vp, vp, vp, vp, ctypes.c_size_t, vp)(
        ("wasmtime_func_call_unchecked", ffi.dll)
    )
    buf = (ffi.wasmtime_val_raw * 1)()
    slot = memoryview(buf).cast("B").cast("q")
    trap = ctypes.c_void_p()
    args = (
        ctypes.addressof(store._context().contents),
        ctypes.addressof(func._func),
        ctypes.addressof(buf),
        1,
        ctypes.addressof(trap),
    )
    keep = (store, inst, func)

    def udf(x: int) -> int:
        slot[0] = x
        if call(*args) or trap.value:
            raise RuntimeError("trap")
        return slot[0] + 0 * len(keep)

    return udf


def sqlite_rows(component: Path) -> dict[str, tuple[float, object]]:
    con = sqlite3.connect(":memory:")
    con.execute("CREATE TABLE t(x INTEGER)")
    con.executemany("INSERT INTO t VALUES (?)", ((i,) for i in range(N_LITE)))
    sql.register(con, KERNELS, functions=["twice-plus-one"])
    sql.register(con, component, functions=["plus-one"])
    con.create_function("py", 1, lambda x: x * 2 + 1, deterministic=True)
    con.create_function("raw", 1, raw_ctypes_udf(), deterministic=True)
    q = lambda expr: lambda: con.execute(f"SELECT sum({expr}) FROM t").fetchone()  # noqa: E731
    out = {
        "wasm core scalar `twice_plus_one(x)`": timed(q("twice_plus_one(x)")),
        "wasm component `plus_one(x)`": timed(q("plus_one(x)"), 3),
        "raw ctypes call of the same wasm function": timed(q("raw(x)")),
        "Python UDF `x*2+1`": timed(q("py(x)")),
        "SQL `x*2+1` (no UDF)": timed(q("x * 2 + 1")),
    }
    con.close()
    return out


def same_answers(group: dict[str, tuple[float, int, object]]) -> None:
    """Every function computed the same answer over the same rows (a check, not a timing)."""
    answers: dict[int, set[str]] = {}
    for name, (_, rows, value) in group.items():
        if "plus_one" not in name and "passthrough" not in name:
            answers.setdefault(rows, set()).add(str(value))
    assert all(len(v) == 1 for v in answers.values()), answers


def rate(entry: tuple[float, int, object]) -> float:
    return entry[1] / entry[0]


def main() -> None:
    component = udfs_component()
    one = duck_int(1, component)
    two = duck_int(2, component)
    upper = duck_upper(component)
    lite = sqlite_rows(component)
    for group in (one, two):
        same_answers(group)
    same_answers({k: (s, N_STR, v) for k, (s, v) in upper.items()})

    print(
        f"### DuckDB: `x*2+1` over {N_INT / 1e6:g}M BIGINT rows (M rows/s; median of {REPEAT} "
        f"queries, 3 for the ones marked *, which run on {N_SLOW / 1e6:g}M rows; DuckDB "
        f"{duckdb.__version__}, pyarrow {pa.__version__}, 2048-row vectors)\n"
    )
    rows = []
    for name, entry in one.items():
        mark = " *" if entry[1] == N_SLOW else ""
        other = f"{rate(two[name]) / 1e6:.1f}" if name in two else "-"
        rows.append([name + mark, f"{rate(entry) / 1e6:.1f}", other])
    print(table(["function", "threads=1", "threads=2"], rows))
    wasm = rate(one["wasm core batch `times2(x)`"])
    floor = rate(one["Arrow passthrough UDF `x` (floor)"])
    py_row = rate(one["row-at-a-time Python UDF"])
    wasm2 = rate(two["wasm core batch `times2(x)`"])
    print()
    print(
        "- Target wasm >= 0.8x the Arrow passthrough floor: "
        f"{'**met**' if wasm >= 0.8 * floor else '**NOT met**'} ({wasm / floor:.2f}x)."
    )
    print(
        "- Target wasm >= 4x the row-at-a-time Python UDF: "
        f"{'**met**' if wasm >= 4 * py_row else '**NOT met**'} ({wasm / py_row:.1f}x)."
    )
    print(
        "- Target threads=2 not slower than threads=1: "
        f"{'**met**' if wasm2 >= wasm else '**NOT met**'} ({wasm2 / wasm:.2f}x; the "
        f"passthrough floor: {rate(two['Arrow passthrough UDF `x` (floor)']) / floor:.2f}x)."
    )

    print(
        f"\n### DuckDB: ASCII upper case of {N_STR / 1e6:g}M 20-byte strings "
        "(M rows/s, threads=1)\n"
    )
    print(table(["function", "M rows/s"], [[k, mrows(N_STR, s)] for k, (s, _) in upper.items()]))
    up = N_STR / upper["wasm core batch `upper_ascii(v)`"][0]
    pa_up = N_STR / upper["pyarrow `utf8_upper` UDF"][0]
    print(
        "\n- Target wasm >= pyarrow's `utf8_upper` UDF: "
        f"{'**met**' if up >= pa_up else '**NOT met**'} ({up / pa_up:.2f}x)."
    )

    base = lite["SQL `x*2+1` (no UDF)"][0]
    print(
        f"\n### SQLite: a scalar function over {N_LITE / 1e6:g}M rows (µs per row: the "
        "query's time / rows, and over the same query without a function)\n"
    )
    rows = [
        [k, f"{s / N_LITE * 1e6:.2f}", f"{(s - base) / N_LITE * 1e6:.2f}"]
        for k, (s, _) in lite.items()
    ]
    print(table(["function", "µs/row", "µs/row over no UDF"], rows))
    per = lite["wasm core scalar `twice_plus_one(x)`"][0] / N_LITE * 1e6
    print(
        f"\n- Target <= 1 µs per row: {'**met**' if per <= 1.0 else '**NOT met**'} ({per:.2f} µs)."
    )
    print(
        "\nComponent functions go through wasmtime's component C API (each list element a "
        "32-byte value, converted in Python). Load average at the end: "
        f"{os.getloadavg()[0]:.2f}."
    )


if __name__ == "__main__":
    main()
