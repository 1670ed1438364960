"""WebAssembly functions in SQLite: calls, NULLs, errors, limits, aggregates, instances."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest

import omniwasm
from omniwasm import sql


@pytest.fixture
def con() -> sqlite3.Connection:
    """A fresh in-memory SQLite database."""
    c = sqlite3.connect(":memory:")
    yield c  # type: ignore[misc]
    c.close()


def one(con: sqlite3.Connection, query: str, *params: object) -> object:
    """The first column of the first row of ``query``."""
    return con.execute(query, params).fetchone()[0]


def test_component_functions_become_sql_functions(con: sqlite3.Connection, udfs_wasm: Path) -> None:
    """Every exported function with SQL types is registered under its snake_case name."""
    reg = sql.register(con, udfs_wasm)
    kinds = {f.name: f.kind for f in reg.functions}
    assert kinds == {
        "double_all": "batch",
        "upper_all": "batch",
        "plus_one": "scalar",
        "div": "scalar",
        "checked_div": "scalar",
        "or_zero": "scalar",
        "positive": "scalar",
        "calls": "scalar",
        "spin": "scalar",
        "hog": "scalar",
        "total": "aggregate",
    }
    assert con.execute("SELECT plus_one(41), div(7, 2), checked_div(9, 3)").fetchone() == (42, 3, 3)


def test_batch_functions_take_one_row_batches(con: sqlite3.Connection, udfs_wasm: Path) -> None:
    """A function over lists is called with one-element lists, since SQLite calls per row."""
    sql.register(con, udfs_wasm)
    assert con.execute("SELECT double_all(20), upper_all('abc')").fetchone() == (41, "ABC")


def test_null_in_null_out_without_calling(con: sqlite3.Connection, udfs_wasm: Path) -> None:
    """A NULL argument to a non-option parameter gives NULL and never reaches the guest."""
    sql.register(con, udfs_wasm)
    assert one(con, "SELECT calls(NULL)") is None
    assert one(con, "SELECT calls(0)") == 1  # the NULL call did not count


def test_option_parameters_and_results_carry_null(con: sqlite3.Connection, udfs_wasm: Path) -> None:
    """``option<T>`` parameters receive NULL as none, and a none result is NULL."""
    sql.register(con, udfs_wasm)
    assert con.execute(
        "SELECT or_zero(NULL), or_zero(5), positive(-1), positive(3)"
    ).fetchone() == (
        0,
        5,
        None,
        3,
    )


def test_trap_fails_the_statement_and_keeps_the_connection(
    con: sqlite3.Connection, udfs_wasm: Path
) -> None:
    """A trap fails its statement; the error names the function, the row and the cause."""
    sql.register(con, udfs_wasm)
    with pytest.raises(sqlite3.OperationalError, match="user-defined function raised exception"):
        con.execute("SELECT div(1, 0)").fetchone()
    err = sql.last_error(con)
    assert isinstance(err, omniwasm.Trap)
    assert "div(a=1, b=0)" in str(err) and "divide by zero" in str(err)
    assert one(con, "SELECT plus_one(1)") == 2


def test_execute_raises_the_omniwasm_error(con: sqlite3.Connection, udfs_wasm: Path) -> None:
    """``sql.execute`` turns SQLite's fixed message back into the omniwasm error."""
    sql.register(con, udfs_wasm)
    with pytest.raises(omniwasm.Trap, match=r"omniwasm\.sql: div\(a=7, b=0\)") as info:
        sql.execute(con, "SELECT div(7, 0)")
    assert isinstance(info.value.__cause__, sqlite3.OperationalError)
    assert sql.execute(con, "SELECT plus_one(?)", (1,)).rows == [(2,)]


def test_err_result_is_a_guest_error(con: sqlite3.Connection, udfs_wasm: Path) -> None:
    """``err(..)`` from a ``result`` fails the statement as GuestError carrying the payload."""
    sql.register(con, udfs_wasm)
    with pytest.raises(omniwasm.GuestError, match=r"checked_div.*err: division by zero"):
        sql.execute(con, "SELECT checked_div(1, 0)")


def test_loop_is_cancelled_by_the_timeout(con: sqlite3.Connection, udfs_wasm: Path) -> None:
    """A guest that loops forever is stopped by the policy's timeout and fails as Timeout."""
    sql.register(con, udfs_wasm, policy=omniwasm.Policy(timeout=0.2))
    start = time.monotonic()
    with pytest.raises(omniwasm.Timeout, match=r"spin\(x=1\)"):
        sql.execute(con, "SELECT spin(1)")
    assert time.monotonic() - start < 30  # bounded: the statement ended
    assert one(con, "SELECT plus_one(1)") == 2


def test_statement_timeout_bounds_the_whole_statement(
    con: sqlite3.Connection, udfs_wasm: Path
) -> None:
    """``execute(timeout=)`` ends an endless statement of fast calls as Timeout; the connection goes on."""
    sql.register(con, udfs_wasm)
    endless = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT plus_one(x) FROM c) "
    start = time.monotonic()
    with pytest.raises(omniwasm.Timeout, match=r"statement ran past its 0\.3s timeout"):
        sql.execute(con, endless + "SELECT count(*) FROM c", timeout=0.3)
    assert time.monotonic() - start < 30  # bounded: the statement ended
    assert sql.execute(con, "SELECT plus_one(1)", timeout=5).rows == [(2,)]


def test_memory_bomb_fails_only_its_statement(con: sqlite3.Connection, udfs_wasm: Path) -> None:
    """A guest growing memory without end is refused at the policy's limit and fails."""
    sql.register(con, udfs_wasm, policy=omniwasm.Policy(max_memory=4 << 20))
    with pytest.raises(omniwasm.ExecutionError, match=r"hog\(x=1\)"):
        sql.execute(con, "SELECT hog(1)")
    assert one(con, "SELECT plus_one(1)") == 2


def test_fuel_is_given_to_each_call(con: sqlite3.Connection, udfs_wasm: Path) -> None:
    """With fuel, every row starts with the policy's fuel; a loop runs out of it."""
    sql.register(con, udfs_wasm, policy=omniwasm.Policy(fuel=10_000))
    con.execute("CREATE TABLE t(x)")
    con.executemany("INSERT INTO t VALUES (?)", [(i,) for i in range(2000)])
    assert one(con, "SELECT sum(plus_one(x)) FROM t") == sum(range(1, 2001))
    with pytest.raises(omniwasm.OutOfFuel, match=r"spin\(x=1\)"):
        sql.execute(con, "SELECT spin(1)")


def test_aggregate_from_a_resource(con: sqlite3.Connection, udfs_wasm: Path) -> None:
    """A resource with step/finalize is an aggregate: NULLs skipped, groups kept apart, a trap fails.

    No rows at all give NULL (as SQL's SUM does; CPython calls nothing then).
    """
    sql.register(con, udfs_wasm)
    con.execute("CREATE TABLE t(g, x)")
    rows = [("a", 1), ("a", 2), ("a", None), ("b", 10), ("b", 20)]
    con.executemany("INSERT INTO t VALUES (?, ?)", rows)
    got = con.execute("SELECT g, total(x) FROM t GROUP BY g ORDER BY g").fetchall()
    assert got == [("a", 3), ("b", 30)]
    assert one(con, "SELECT total(x) FROM t WHERE 0") is None
    with pytest.raises(omniwasm.Trap, match=r"total\(row 3: x=-1\)"):
        sql.execute(
            con, "SELECT total(x) FROM (SELECT 1 AS x UNION ALL SELECT 2 UNION ALL SELECT -1)"
        )
    assert one(con, "SELECT total(x) FROM t") == 33


def test_state_stays_in_its_connection(udfs_wasm: Path) -> None:
    """Each connection has its own instance: guest state never crosses between them."""
    a, b = sqlite3.connect(":memory:"), sqlite3.connect(":memory:")
    sql.register(a, udfs_wasm)
    sql.register(b, udfs_wasm)
    assert [one(a, "SELECT calls(0)") for _ in range(3)] == [1, 2, 3]
    assert one(b, "SELECT calls(0)") == 1


def test_a_failed_call_starts_a_fresh_instance(con: sqlite3.Connection, udfs_wasm: Path) -> None:
    """After a trap the next call runs in a new instance (the trapped one is discarded)."""
    sql.register(con, udfs_wasm)
    assert [one(con, "SELECT calls(0)") for _ in range(2)] == [1, 2]
    with pytest.raises(sqlite3.OperationalError):
        con.execute("SELECT div(1, 0)").fetchone()
    assert one(con, "SELECT calls(0)") == 1


def test_deterministic_functions_may_index(con: sqlite3.Connection, udfs_wasm: Path) -> None:
    """Deterministic functions (no clock or random import) may be in index expressions.

    ``deterministic=False`` ones may not.
    """
    con.execute("CREATE TABLE t(x)")
    sql.register(con, udfs_wasm, functions=["plus-one"])
    con.execute("CREATE INDEX by_next ON t(plus_one(x))")
    sql.register(con, udfs_wasm, functions=["calls"], deterministic=False)
    with pytest.raises(sqlite3.OperationalError, match="non-deterministic"):
        con.execute("CREATE INDEX by_calls ON t(calls(x))")


def test_names_and_functions_choose_what_is_registered(
    con: sqlite3.Connection, udfs_wasm: Path
) -> None:
    """``functions`` picks exports and ``names`` renames them."""
    reg = sql.register(con, udfs_wasm, functions=["plus-one", "div"], names={"div": "quotient"})
    assert sorted(f.name for f in reg.functions) == ["plus_one", "quotient"]
    assert one(con, "SELECT quotient(9, 2)") == 4
    with pytest.raises(sqlite3.OperationalError, match="no such function"):
        con.execute("SELECT or_zero(1)")


def test_unknown_function_is_refused(con: sqlite3.Connection, udfs_wasm: Path) -> None:
    """Asking for an export that does not exist fails at register time with InvalidModule."""
    with pytest.raises(omniwasm.InvalidModule, match="nope"):
        sql.register(con, udfs_wasm, functions=["nope"])


def test_closed_registration_fails_cleanly(con: sqlite3.Connection, udfs_wasm: Path) -> None:
    """After ``close()`` the functions fail with a clear error instead of touching freed code."""
    reg = sql.register(con, udfs_wasm)
    assert one(con, "SELECT plus_one(1)") == 2
    reg.close()
    with pytest.raises(omniwasm.OmniwasmError, match="closed"):
        sql.execute(con, "SELECT plus_one(1)")


def test_core_module_functions(con: sqlite3.Connection, kernels_wat: Path) -> None:
    """A core module's scalar and batch functions (the example) run per row in SQLite."""
    sql.register(con, kernels_wat)
    got = con.execute(
        "SELECT twice_plus_one(20), times2(20), upper_ascii('déjà'), shout('ab'), "
        "byte_count(x'010203'), times2(NULL)"
    ).fetchone()
    assert got == (41, 41, "DéJà", "AB", 3, None)


def test_c_functions(con: sqlite3.Connection, c_udf: Path) -> None:
    """A C module (scalar and batch functions) registers and runs."""
    sql.register(con, c_udf)
    got = con.execute("SELECT euclid(12, 18), clamp(5.0, 0, 2), word_count(' a bb  c ')")
    assert got.fetchone() == (6, 2.0, 3)


def test_wrong_argument_type_names_the_parameter(con: sqlite3.Connection, udfs_wasm: Path) -> None:
    """A value that does not fit the parameter's type fails as ValueConversionError."""
    sql.register(con, udfs_wasm)
    with pytest.raises(omniwasm.ValueConversionError, match=r"plus_one.*x"):
        sql.execute(con, "SELECT plus_one('seven')")


COUNTER = """(module (global $n (mut i64) (i64.const 0))
  (func (export "count") (param i64) (result i64)
    (global.set $n (i64.add (global.get $n) (i64.const 1)))
    (i64.div_s (global.get $n) (local.get 0))))"""


def test_core_fast_path_after_a_failure() -> None:
    """The one-frame core path records a trap, then goes on in a fresh instance."""
    con = sqlite3.connect(":memory:")
    sql.register(con, COUNTER)
    assert [one(con, "SELECT count(1)") for _ in range(2)] == [1, 2]
    with pytest.raises(omniwasm.Trap, match=r"count\(p0=0\)"):
        sql.execute(con, "SELECT count(0)")
    assert [one(con, "SELECT count(1)") for _ in range(2)] == [1, 2]
    assert one(con, "SELECT count(NULL)") is None


def test_core_fast_path_from_other_threads() -> None:
    """A connection shared across threads gives each thread its own instance."""
    con = sqlite3.connect(":memory:", check_same_thread=False)
    sql.register(con, COUNTER)
    assert one(con, "SELECT count(1)") == 1
    seen: list[object] = []
    worker = threading.Thread(target=lambda: seen.append(one(con, "SELECT count(1)")))
    worker.start()
    worker.join()
    assert seen == [1]  # a new instance: its counter starts over
    assert one(con, "SELECT count(1)") == 2


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("dbl=k.wasm:times2", ("k.wasm", "dbl", "times2")),
        ("k.wasm", ("k.wasm", None, None)),
        ("k.wasm:upper-ascii", ("k.wasm", None, "upper-ascii")),
        ("acme:udfs@1.0.0", ("acme:udfs@1.0.0", None, None)),
        ("f=acme:udfs@1.0.0:gcd", ("acme:udfs@1.0.0", "f", "gcd")),
    ],
)
def test_udf_specs(text: str, want: tuple[str, str | None, str | None]) -> None:
    """``NAME=FILE[:FUNCTION]`` splits on '=' and on the last ':' before a bare identifier."""
    spec = sql.parse_udf(text)
    assert (spec.path, spec.name, spec.function) == want


def test_batch_function_row_values_must_fit(con: sqlite3.Connection, kernels_wat: Path) -> None:
    """A core batch function called per row refuses a value of the wrong type."""
    sql.register(con, kernels_wat, functions=["times2"])
    with pytest.raises(omniwasm.ValueConversionError, match=r"times2.*s64"):
        sql.execute(con, "SELECT times2('x')")
    assert one(con, "SELECT times2(1)") == 3


def test_importing_sql_leaves_duckdb_and_pyarrow_out() -> None:
    """``import omniwasm.sql`` (enough for SQLite) imports neither DuckDB nor pyarrow."""
    import subprocess
    import sys

    code = "import omniwasm.sql, sys; print(sorted(m for m in ('duckdb', 'pyarrow', 'numpy') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
