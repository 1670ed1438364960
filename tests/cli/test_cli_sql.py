"""``omniwasm sql DB QUERY --udf ...``: Parquet and SQLite files, output formats, errors."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import subprocess
from importlib.resources import files
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

KERNELS = str(files("omniwasm") / "examples" / "sql_kernels.wat")


def run_cli(cli: list[str], *args: str) -> subprocess.CompletedProcess[str]:
    """Run the omniwasm CLI in a subprocess and capture its output as text."""
    return subprocess.run([*cli, *args], capture_output=True, text=True, check=False, timeout=120)


@pytest.fixture
def parquet(tmp_path: Path) -> Path:
    """A Parquet file ``sales.parquet`` with columns id (BIGINT) and item (VARCHAR)."""
    path = tmp_path / "sales.parquet"
    pq.write_table(pa.table({"id": [1, 2, 3], "item": ["tea", "milk", None]}), path)
    return path


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Path:
    """A SQLite database ``shop.db`` with a table t(x)."""
    path = tmp_path / "shop.db"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE t(x INTEGER)")
    con.executemany("INSERT INTO t VALUES (?)", [(1,), (2,), (None,)])
    con.commit()
    con.close()
    return path


def test_parquet_with_a_batch_function(omniwasm_cli: list[str], parquet: Path) -> None:
    """A Parquet file opens in DuckDB as ``data`` (and by its stem); the UDF runs per batch."""
    proc = run_cli(
        omniwasm_cli, "sql", str(parquet),
        "SELECT id, dbl(id) AS d, upper_ascii(item) AS u FROM sales ORDER BY id",
        "--udf", f"dbl={KERNELS}:times2", "--udf", f"{KERNELS}:upper-ascii", "-f", "json",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == [
        {"id": 1, "d": 3, "u": "TEA"},
        {"id": 2, "d": 5, "u": "MILK"},
        {"id": 3, "d": 7, "u": None},
    ]


def test_sqlite_database_as_csv(omniwasm_cli: list[str], sqlite_db: Path) -> None:
    """A .db file opens in SQLite; CSV output has a header row; NULL stays empty."""
    proc = run_cli(
        omniwasm_cli, "sql", str(sqlite_db), "SELECT x, next(x) AS y FROM t ORDER BY rowid",
        "--udf", f"next={KERNELS}:twice-plus-one", "--format", "csv",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert list(csv.reader(io.StringIO(proc.stdout))) == [
        ["x", "y"],
        ["1", "3"],
        ["2", "5"],
        ["", ""],
    ]


def test_table_output_and_all_functions(omniwasm_cli: list[str]) -> None:
    """A bare path registers every function; the default output is a table."""
    proc = run_cli(omniwasm_cli, "sql", ":memory:", "SELECT times2(20) AS t, shout('hi') AS s",
                   "--udf", KERNELS)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "41" in proc.stdout and "HI" in proc.stdout and "┃" in proc.stdout


def test_register_from_sql(omniwasm_cli: list[str]) -> None:
    """In DuckDB, ``omniwasm_register`` loads functions from SQL during the statement."""
    proc = run_cli(omniwasm_cli, "sql", ":memory:",
                   f"SELECT omniwasm_register('{KERNELS}') AS registered", "-f", "json")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "times2(x BIGINT) -> BIGINT" in json.loads(proc.stdout)[0]["registered"]


def test_a_trap_exits_with_its_code(omniwasm_cli: list[str], tmp_path: Path) -> None:
    """A failing function prints the omniwasm error (class, function, row) and exits 134."""
    bad = tmp_path / "bad.wat"
    bad.write_text('(module (func (export "boom") (param i64) (result i64) unreachable))')
    proc = run_cli(omniwasm_cli, "sql", ":memory:", "SELECT boom(7)", "--udf", str(bad))
    assert proc.returncode == 134
    assert "Trap: omniwasm.sql: boom(p0=7): wasm trap: wasm `unreachable`" in proc.stderr


def test_a_loop_times_out(omniwasm_cli: list[str], tmp_path: Path) -> None:
    """``--timeout`` stops a looping function; the exit code is Timeout's (124)."""
    spin = tmp_path / "spin.wat"
    spin.write_text(
        '(module (func (export "spin") (param i64) (result i64) (loop (br 0)) (i64.const 0)))'
    )
    proc = run_cli(omniwasm_cli, "sql", ":memory:", "SELECT spin(1)", "--udf", str(spin),
                   "--timeout", "200ms")  # fmt: skip
    assert proc.returncode == 124, proc.stderr
    assert "Timeout" in proc.stderr


def test_a_statement_timeout(omniwasm_cli: list[str]) -> None:
    """``--statement-timeout`` ends an endless statement of fast calls with Timeout's code (124)."""
    endless = "SELECT sum(times2(i)) FROM range(1000000000000) t(i)"
    proc = run_cli(omniwasm_cli, "sql", ":memory:", endless, "--udf", KERNELS,
                   "--statement-timeout", "300ms")  # fmt: skip
    assert proc.returncode == 124, proc.stderr
    assert "statement ran past its 0.3s timeout" in proc.stderr


def test_sql_errors_are_reported(omniwasm_cli: list[str], sqlite_db: Path) -> None:
    """A database error (here a missing table) prints one line and exits 1."""
    proc = run_cli(omniwasm_cli, "sql", str(sqlite_db), "SELECT * FROM nope")
    assert proc.returncode == 1
    assert "no such table: nope" in proc.stderr


def test_missing_database_file(omniwasm_cli: list[str], tmp_path: Path) -> None:
    """A database file that does not exist is a PolicyError (78), nothing is created."""
    proc = run_cli(omniwasm_cli, "sql", str(tmp_path / "none.db"), "SELECT 1")
    assert proc.returncode == 78 and "no such database file" in proc.stderr
    assert not (tmp_path / "none.db").exists()
