"""``omniwasm sql DB "SELECT ..." --udf name=path.wasm[:function]``: SQL with wasm functions.

DuckDB opens ``.duckdb`` files, Parquet and CSV (as the view ``data``), SQLite ``.db``,
``.sqlite`` and ``.sqlite3`` files; ``:memory:`` is an empty DuckDB. The result prints as a
table, or as CSV or JSON. In DuckDB, ``SELECT omniwasm_register('file.wasm')`` registers more
functions from SQL.
"""

from __future__ import annotations

import base64
import csv
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from .._errors import OmniwasmError
from ._app import DEBUG, app, build_policy, guarded

__all__ = ["render", "sql_cmd"]

_FORMATS = ("table", "csv", "json")


def _plain(value: Any) -> Any:
    if isinstance(value, bytes | bytearray | memoryview):
        return "base64:" + base64.b64encode(bytes(value)).decode()
    return value


def render(columns: tuple[str, ...], rows: list[tuple[Any, ...]], fmt: str) -> None:
    """Print a result as a rich table, CSV (with a header row) or JSON (a list of objects)."""
    if fmt == "csv":
        out = csv.writer(sys.stdout, lineterminator="\n")
        out.writerow(columns)
        out.writerows([[_plain(v) for v in row] for row in rows])
    elif fmt == "json":
        data = [dict(zip(columns, (_plain(v) for v in row), strict=True)) for row in rows]
        print(json.dumps(data, ensure_ascii=False, default=str, indent=1))
    else:
        from rich.console import Console
        from rich.table import Table

        table = Table(*columns)
        for row in rows:
            table.add_row(*("NULL" if v is None else str(_plain(v)) for v in row))
        Console().print(table)


@app.command("sql")
def sql_cmd(
    database: Annotated[
        str, typer.Argument(help="A .duckdb, .parquet, .csv, .db/.sqlite file, or :memory:.")
    ],
    query: Annotated[str, typer.Argument(help="One SQL statement.")],
    udf: Annotated[
        list[str],
        typer.Option(
            "--udf",
            help="Register NAME=FILE.wasm[:FUNCTION], or every function of FILE.wasm (repeatable).",
        ),
    ] = [],  # noqa: B006 - typer reads the default, it is never mutated
    fmt: Annotated[
        str, typer.Option("--format", "-f", help="Output: table, csv or json.")
    ] = "table",
    engine: Annotated[
        str | None, typer.Option("--engine", help="Force 'duckdb' or 'sqlite'.")
    ] = None,
    timeout: Annotated[
        str | None, typer.Option("--timeout", help="Wall-clock limit per call, e.g. 2s.")
    ] = None,
    statement_timeout: Annotated[
        str | None,
        typer.Option("--statement-timeout", help="Wall-clock limit for the whole statement."),
    ] = None,
    fuel: Annotated[int | None, typer.Option("--fuel", help="Fuel per call.")] = None,
    max_memory: Annotated[
        str | None, typer.Option("--max-memory", help="Linear memory limit, e.g. 64MiB.")
    ] = None,
    policy_file: Annotated[
        Path | None, typer.Option("--policy", help="A policy file (.toml or .json).")
    ] = None,
    debug: Annotated[bool, DEBUG] = False,
) -> None:
    """Run SQL on a database with WebAssembly functions."""

    def go() -> int:
        from .. import sql
        from .._errors import PolicyError
        from .._policy import Policy, parse_duration

        if fmt not in _FORMATS:
            raise PolicyError(f"--format must be one of {', '.join(_FORMATS)}, not {fmt!r}")
        if engine not in (None, "duckdb", "sqlite"):
            raise PolicyError(f"--engine must be duckdb or sqlite, not {engine!r}")
        flags = (timeout, fuel, max_memory, policy_file)
        policy: Policy | None = None
        if any(f is not None for f in flags):
            base = build_policy(
                policy_file=policy_file,
                dirs=[],
                dirs_ro=[],
                env=[],
                fuel=fuel,
                timeout=timeout,
                max_memory=max_memory,
                max_table_elements=None,
                max_instances=None,
                stdin=None,
                args=[],
                inherit_io=False,
            )
            defaults = sql.DEFAULT_POLICY  # what the flags leave unset stays as by default
            policy = base.with_(
                timeout=base.timeout if base.timeout is not None else defaults.timeout,
                max_memory=base.max_memory if base.max_memory is not None else defaults.max_memory,
                stdout="discard",
                stderr="discard",
            )
        try:
            limit = None if statement_timeout is None else parse_duration(statement_timeout)
            result = sql.query(
                database,
                query,
                udfs=udf,
                policy=policy,
                engine=engine,  # type: ignore[arg-type]
                timeout=limit,
            )
        except OmniwasmError:
            raise
        except Exception as exc:  # the database's own errors (syntax, missing table ...)
            if type(exc).__module__.partition(".")[0] not in ("sqlite3", "duckdb", "_duckdb"):
                raise
            print(f"omniwasm: error: {type(exc).__name__}: {exc}", file=sys.stderr)
            return 1
        render(result.columns, result.rows, fmt)
        return 0

    guarded(debug, go)
