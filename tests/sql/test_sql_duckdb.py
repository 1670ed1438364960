"""WebAssembly functions in DuckDB: batches, NULLs, errors, limits, threads, loading from SQL."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import duckdb
import pytest

import omniwasm
from omniwasm import sql


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    """A fresh in-memory DuckDB database."""
    c = duckdb.connect()
    yield c  # type: ignore[misc]
    c.close()


def rows(con: duckdb.DuckDBPyConnection, query: str) -> list[tuple[Any, ...]]:
    """All rows of ``query``."""
    return con.execute(query).fetchall()


def test_core_batch_function_over_ten_million_rows(kernels_wat: Path) -> None:
    """A core batch function computes x*2+1 over 10M BIGINT rows; the sum is exact."""
    con = duckdb.connect(config={"threads": 1})
    sql.register(con, kernels_wat)
    n = 10_000_000
    got = rows(con, f"SELECT sum(times2(i)), count(*) FROM range({n}) t(i)")
    assert got == [(n * (n - 1) + n, n)]


def test_core_batch_nulls_in_nulls_out(con: duckdb.DuckDBPyConnection, kernels_wat: Path) -> None:
    """NULL rows of a core batch function's argument are NULL in its result."""
    sql.register(con, kernels_wat)
    got = rows(con, "SELECT times2(CASE WHEN i % 2 = 0 THEN NULL ELSE i END) FROM range(6) t(i)")
    assert got == [(None,), (3,), (None,), (7,), (None,), (11,)]


def test_core_batch_strings(con: duckdb.DuckDBPyConnection, kernels_wat: Path) -> None:
    """A batch function over a string column rewrites every value (offsets and data)."""
    sql.register(con, kernels_wat)
    got = rows(con, "SELECT upper_ascii('ab-' || i || '-é') FROM range(3000) t(i) ORDER BY i")
    assert got[0] == ("AB-0-é",) and got[-1] == ("AB-2999-é",) and len(got) == 3000


def test_component_batch_functions(con: duckdb.DuckDBPyConnection, udfs_wasm: Path) -> None:
    """Component functions over lists run once per batch and keep the rows in order."""
    sql.register(con, udfs_wasm)
    got = rows(con, "SELECT sum(double_all(i)), max(upper_all('x' || i)) FROM range(5000) t(i)")
    assert got == [(5000 * 4999 + 5000, "X999")]


def test_component_scalars_in_batches(con: duckdb.DuckDBPyConnection, udfs_wasm: Path) -> None:
    """Scalar component functions give one value per row over whole batches, NULLs kept."""
    sql.register(con, udfs_wasm)
    got = rows(
        con,
        "SELECT plus_one(i), or_zero(CASE WHEN i = 1 THEN NULL ELSE i END), positive(i - 1) "
        "FROM range(3) t(i)",
    )
    assert got == [(1, 0, None), (2, 0, None), (3, 2, 1)]


def test_c_batch_functions(con: duckdb.DuckDBPyConnection, c_udf: Path) -> None:
    """The C module's batch functions take several columns and strings."""
    sql.register(con, c_udf)
    got = rows(
        con,
        "SELECT euclid(12, 18), clamp(i::DOUBLE, 1, 2), word_count(repeat('ab ', i::INT)) "
        "FROM range(4) t(i)",
    )
    assert got == [(6, 1.0, 0), (6, 1.0, 1), (6, 2.0, 2), (6, 2.0, 3)]


@pytest.mark.parametrize(
    ("query", "error"),
    [
        ("SELECT div(1, 0)", r"Trap: omniwasm\.sql: div\(a=1, b=0\): wasm trap: integer divide"),
        ("SELECT checked_div(1, 0)", r"GuestError: omniwasm\.sql: checked_div.*division by zero"),
        ("SELECT spin(1)", r"Timeout: omniwasm\.sql: spin\(x=1\)"),
        ("SELECT hog(1)", r"omniwasm\.sql: hog\(x=1\)"),
    ],
)
def test_failures_fail_their_statement_only(
    con: duckdb.DuckDBPyConnection, udfs_wasm: Path, query: str, error: str
) -> None:
    """A trap, err, loop or memory bomb fails its statement, naming class, function and row.

    The connection keeps working.
    """
    sql.register(con, udfs_wasm, policy=omniwasm.Policy(timeout=0.3, max_memory=4 << 20))
    with pytest.raises(duckdb.Error, match=error):
        rows(con, query)
    assert rows(con, "SELECT plus_one(1)") == [(2,)]


def test_core_memory_bomb_is_a_memory_limit(con: duckdb.DuckDBPyConnection) -> None:
    """A core function that grows memory past the policy's limit fails as MemoryLimitExceeded."""
    hog = """(module (memory (export "memory") 1)
      (func (export "hog") (param i64) (result i64)
        (loop $more (br_if $more (i32.ne (memory.grow (i32.const 1)) (i32.const -1))))
        unreachable))"""
    sql.register(con, hog, policy=omniwasm.Policy(max_memory=4 << 20))
    with pytest.raises(omniwasm.MemoryLimitExceeded, match=r"hog\(p0=1\)"):
        sql.execute(con, "SELECT hog(1)")


def test_statement_timeout_bounds_the_whole_statement(
    con: duckdb.DuckDBPyConnection, kernels_wat: Path
) -> None:
    """``execute(timeout=)`` interrupts a statement of endless batches as Timeout."""
    sql.register(con, kernels_wat, functions=["times2"])
    start = time.monotonic()
    with pytest.raises(omniwasm.Timeout, match=r"statement ran past its 0\.3s timeout"):
        sql.execute(con, "SELECT sum(times2(i)) FROM range(1000000000000) t(i)", timeout=0.3)
    assert time.monotonic() - start < 30  # bounded: the statement ended
    assert sql.execute(con, "SELECT times2(20)", timeout=5).rows == [(41,)]


def test_execute_raises_the_omniwasm_error(con: duckdb.DuckDBPyConnection, udfs_wasm: Path) -> None:
    """``sql.execute`` re-raises the failed call's omniwasm error, DuckDB's error as cause."""
    sql.register(con, udfs_wasm)
    with pytest.raises(omniwasm.Trap, match=r"div\(a=1, b=0\)") as info:
        sql.execute(con, "SELECT div(1, 0)")
    assert isinstance(info.value.__cause__, duckdb.Error)


def test_two_duckdb_threads_one_connection(udfs_wasm: Path, kernels_wat: Path) -> None:
    """With threads=2 each DuckDB thread gets its own instance and the results are exact."""
    con = duckdb.connect(config={"threads": 2})
    sql.register(con, kernels_wat)
    sql.register(con, udfs_wasm)
    con.execute("CREATE TABLE t AS SELECT i FROM range(2000000) t(i)")
    n = 2_000_000
    got = rows(con, "SELECT sum(times2(i)), sum(double_all(i) - 1) FROM t")
    assert got == [(n * (n - 1) + n, n * (n - 1))]


def test_two_python_threads_one_connection(
    con: duckdb.DuckDBPyConnection, kernels_wat: Path
) -> None:
    """Two Python threads query one connection (a cursor each) at once; both get exact sums."""
    sql.register(con, kernels_wat)
    results: dict[int, Any] = {}

    def work(k: int) -> None:
        cur = con.cursor()
        results[k] = cur.execute(f"SELECT sum(times2(i + {k})) FROM range(300000) t(i)").fetchall()

    threads = [threading.Thread(target=work, args=(k,)) for k in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    n = 300000
    assert results == {k: [(n * (n - 1) + 2 * k * n + n,)] for k in (0, 1)}


def test_state_stays_in_its_connection(udfs_wasm: Path) -> None:
    """Two DuckDB connections with the same component never share guest state."""
    a = duckdb.connect(config={"threads": 1})
    b = duckdb.connect(config={"threads": 1})
    sql.register(a, udfs_wasm)
    sql.register(b, udfs_wasm)
    assert rows(a, "SELECT calls(0)") == [(1,)]
    assert rows(a, "SELECT calls(0)") == [(2,)]
    assert rows(b, "SELECT calls(0)") == [(1,)]


def test_aggregate_over_each_groups_list(con: duckdb.DuckDBPyConnection, udfs_wasm: Path) -> None:
    """An aggregate resource runs over each group's LIST: NULLs skipped, groups kept apart."""
    reg = sql.register(con, udfs_wasm)
    assert "total(x BIGINT[]) -> BIGINT" in [str(f) for f in reg.functions]
    con.execute("CREATE TABLE t(g VARCHAR, x BIGINT)")
    con.execute("INSERT INTO t VALUES ('a', 1), ('a', 2), ('a', NULL), ('b', 10), ('b', 20)")
    got = rows(con, "SELECT g, total(list(x)) FROM t GROUP BY g ORDER BY g")
    assert got == [("a", 3), ("b", 30)]
    assert rows(con, "SELECT total(list(x)) FROM t WHERE false") == [(None,)]
    groups = "SELECT i % 3000 AS g, i AS x FROM range(30000) r(i)"
    got = rows(con, f"SELECT sum(s) FROM (SELECT total(list(x)) AS s FROM ({groups}) GROUP BY g)")
    assert got == [(sum(range(30000)),)]


def test_failing_aggregate_fails_its_statement(
    con: duckdb.DuckDBPyConnection, udfs_wasm: Path
) -> None:
    """A step that traps fails its statement, naming the value; the next groups still run."""
    sql.register(con, udfs_wasm, functions=["total"])
    with pytest.raises(omniwasm.Trap, match=r"omniwasm.sql: total\(value 2: x=-2\)"):
        sql.execute(con, "SELECT total([1, -2, 3])")
    assert rows(con, "SELECT total([1, 2, 3])") == [(6,)]


def test_builtin_names_are_refused_whole(con: duckdb.DuckDBPyConnection, types_wasm: Path) -> None:
    """A clash with a DuckDB built-in fails the registration and leaves none of its functions."""
    with pytest.raises(omniwasm.OmniwasmError, match=r"'add'.*names="):
        sql.register(con, types_wasm)
    with pytest.raises(duckdb.Error, match="echo_s8"):
        rows(con, "SELECT echo_s8(1::TINYINT)")


def test_register_from_sql(con: duckdb.DuckDBPyConnection, kernels_wat: Path) -> None:
    """``omniwasm_register('file')`` in SQL registers the file's functions for later statements."""
    sql.enable_loading(con)
    listing = rows(con, f"SELECT omniwasm_register('{kernels_wat}')")[0][0]
    assert "times2(x BIGINT) -> BIGINT" in listing.splitlines()
    assert rows(con, "SELECT times2(20)") == [(41,)]


def test_register_from_sql_stays_under_root(
    con: duckdb.DuckDBPyConnection, kernels_wat: Path, tmp_path: Path
) -> None:
    """With a root, ``omniwasm_register`` refuses files outside it."""
    sql.enable_loading(con, root=tmp_path)
    with pytest.raises(duckdb.Error, match="outside"):
        rows(con, f"SELECT omniwasm_register('{kernels_wat}')")


def test_summarizer_on_a_text_column(summarizer_cwasm: Path) -> None:
    """The componentize-py summarizer runs on a text column: records in and out as STRUCTs."""
    rt = omniwasm.Runtime()
    con = duckdb.connect()
    # SUMMARIZE is a DuckDB statement, so the function gets another name.
    sql.register(con, rt.load(summarizer_cwasm), runtime=rt, names={"summarize": "summary_of"})
    con.execute("CREATE TABLE docs(title VARCHAR, body VARCHAR)")
    con.execute(
        "INSERT INTO docs VALUES ('Cats', 'Cats purr. Dogs bark. Cats sleep a lot.'), "
        "('Rain', 'It rains. Rain is wet.')"
    )
    got = rows(
        con,
        "SELECT s.text, s.key_points, s.word_count FROM ("
        " SELECT summary_of({'title': title, 'content': body, 'language': 'en'}, 3) AS s"
        " FROM docs ORDER BY title)",
    )
    assert got == [
        ("Cats purr. Dogs...", ["Cats purr", "Cats sleep a lot"], 8),
        ("It rains. Rain...", ["It rains", "Rain is wet"], 5),
    ]
    with pytest.raises(duckdb.Error, match=r"GuestError: .*summary_of.*empty document"):
        rows(con, "SELECT summary_of({'title': 't', 'content': ' ', 'language': 'en'}, 3)")


def test_relation_from_a_list_of_records(con: duckdb.DuckDBPyConnection, types_wasm: Path) -> None:
    """An export returning ``list<record>`` becomes a DuckDB relation, one column per field."""
    points = [{"x": 1, "y": 2, "label_text": "a"}, {"x": 3, "y": 4, "label_text": "b"}]
    rel = sql.relation(con, types_wasm, "echo-list-point", points)
    assert rel.columns == ["x", "y", "label_text"]
    rel.create_view("pts")
    assert rows(con, "SELECT sum(x), string_agg(label_text, '') FROM pts") == [(4, "ab")]


def test_relation_needs_records(con: duckdb.DuckDBPyConnection, types_wasm: Path) -> None:
    """An export with another result type is refused as a relation."""
    with pytest.raises(omniwasm.PolicyError, match="not list<record>"):
        sql.relation(con, types_wasm, "echo-s64", 1)


def test_query_opens_csv_and_duckdb_files(tmp_path: Path, kernels_wat: Path) -> None:
    """``query`` opens a CSV file as the view ``data`` and a .duckdb file as a database."""
    csv_file = tmp_path / "nums.csv"
    csv_file.write_text("n\n1\n2\n")
    got = sql.query(csv_file, "SELECT sum(times2(n)) FROM nums", udfs=[f"{kernels_wat}:times2"])
    assert got.rows == [(8,)] and got.columns == ("sum(times2(n))",)
    db = tmp_path / "x.duckdb"
    duckdb.connect(str(db)).execute("CREATE TABLE t AS SELECT 20::BIGINT AS v").close()
    got = sql.query(db, "SELECT twice_plus_one(v) AS w FROM t", udfs=[str(kernels_wat)])
    assert got.rows == [(41,)] and got.columns == ("w",)
