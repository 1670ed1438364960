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


def duck_int(threads: int, component: Path) -> dict[str, tuple[float, object]]:
    con = duckdb.connect(config={"threads": threads})
    con.execute(f"CREATE TABLE t AS SELECT i::BIGINT AS x FROM range({N_INT}) t(i)")
    sql.register(con, KERNELS)
    sql.register(con, component, functions=["double-all", "plus-one"])
    con.create_function("passthrough", lambda x: x, ["BIGINT"], "BIGINT", type="arrow")
    con.create_function(
        "arrow_calc", lambda x: pc.add(pc.multiply(x, 2), 1), ["BIGINT"], "BIGINT", type="arrow"
    )
    con.create_function("py_row", lambda x: x * 2 + 1, ["BIGINT"], "BIGINT")
    q = lambda expr: lambda: con.execute(f"SELECT sum({expr}) FROM t").fetchall()  # noqa: E731
    out = {
        "wasm core batch `times2(x)`": timed(q("times2(x)")),
        "wasm component `double_all(x)` (list<s64>)": timed(q("double_all(x)"), 3),
        "Arrow passthrough UDF `x` (floor)": timed(q("passthrough(x)")),
        "pyarrow compute UDF": timed(q("arrow_calc(x)")),
        "DuckDB SQL `x*2+1` (no UDF)": timed(q("x * 2 + 1")),
    }
    if threads == 1:
        out["row-at-a-time Python UDF"] = timed(q("py_row(x)"), 3)
        out["wasm core scalar `twice_plus_one(x)` (a call per row)"] = timed(
            q("twice_plus_one(x)"), 3
        )
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


def main() -> None:
    component = udfs_component()
    one = duck_int(1, component)
    two = duck_int(2, component)
    upper = duck_upper(component)
    lite = sqlite_rows(component)
    for group in (one, two, upper):
        expected = {
            str(v) for k, (_, v) in group.items() if "plus_one" not in k and "passthrough" not in k
        }
        assert len(expected) == 1, expected  # every function computed the same answer

    print(
        f"### DuckDB: `x*2+1` over {N_INT // 10**6}M BIGINT rows (M rows/s; median of "
        f"{REPEAT} queries, 3 for the slow ones; DuckDB {duckdb.__version__}, pyarrow "
        f"{pa.__version__}, 2048-row vectors)\n"
    )
    rows = [
        [name, mrows(N_INT, one[name][0]), mrows(N_INT, two[name][0]) if name in two else "-"]
        for name in one
    ]
    print(table(["function", "threads=1", "threads=2"], rows))
    wasm = N_INT / one["wasm core batch `times2(x)`"][0]
    floor = N_INT / one["Arrow passthrough UDF `x` (floor)"][0]
    py_row = N_INT / one["row-at-a-time Python UDF"][0]
    wasm2 = N_INT / two["wasm core batch `times2(x)`"][0]
    print()
    print(
        f"- Target wasm >= 0.8x the Arrow passthrough floor: "
        f"{'**met**' if wasm >= 0.8 * floor else '**NOT met**'} ({wasm / floor:.2f}x)."
    )
    print(
        f"- Target wasm >= 4x the row-at-a-time Python UDF: "
        f"{'**met**' if wasm >= 4 * py_row else '**NOT met**'} ({wasm / py_row:.1f}x)."
    )
    print(
        f"- Target threads=2 not slower than threads=1: "
        f"{'**met**' if wasm2 >= wasm else '**NOT met**'} ({wasm2 / wasm:.2f}x)."
    )

    print(
        f"\n### DuckDB: ASCII upper case of {N_STR // 10**6}M 20-byte strings "
        f"(M rows/s, threads=1)\n"
    )
    print(table(["function", "M rows/s"], [[k, mrows(N_STR, s)] for k, (s, _) in upper.items()]))
    up = N_STR / upper["wasm core batch `upper_ascii(v)`"][0]
    pa_up = N_STR / upper["pyarrow `utf8_upper` UDF"][0]
    print(
        f"\n- Target wasm >= pyarrow's `utf8_upper` UDF: "
        f"{'**met**' if up >= pa_up else '**NOT met**'} ({up / pa_up:.2f}x)."
    )

    base = lite["SQL `x*2+1` (no UDF)"][0]
    print(
        f"\n### SQLite: a scalar function over {N_LITE // 10**6}M rows (µs per row: the "
        f"query's time / rows, and over the query without a function)\n"
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
        f"\nComponent functions go through wasmtime's component C API today (each list "
        f"element a 32-byte value); omniwasm's own component runtime (#15) is not in this "
        f"tree yet. Load average at the end: {os.getloadavg()[0]:.2f}."
    )


if __name__ == "__main__":
    main()
