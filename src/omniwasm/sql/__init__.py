"""SQL functions from WebAssembly: sandboxed UDFs in SQLite and DuckDB.

::

    import sqlite3, omniwasm.sql
    con = sqlite3.connect(":memory:")
    omniwasm.sql.register(con, "udfs.wasm")           # every export it can, typed by WIT
    con.execute("SELECT double(21)").fetchone()        # (42,)

A component's exports are typed by its WIT; a core module's by its ``omniwasm:signatures``
section (or all-numeric exports by their core types). In DuckDB, functions over lists and
core ``batch`` functions run once per batch of rows (Arrow buffers straight into guest
memory); SQLite calls every function row by row. Each thread gets its own instance; a failed
call fails its statement, names the function, the row and the cause, and leaves the
connection usable. Needs the ``sql`` extra for DuckDB (``pip install 'omniwasm[sql]'``).
"""

from ._query import (
    QueryResult,
    UdfSpec,
    connect,
    enable_loading,
    execute,
    parse_udf,
    query,
    relation,
)
from ._register import DEFAULT_POLICY, Registration, SqlFunction, last_error, register

__all__ = [
    "DEFAULT_POLICY",
    "QueryResult",
    "Registration",
    "SqlFunction",
    "UdfSpec",
    "connect",
    "enable_loading",
    "execute",
    "last_error",
    "parse_udf",
    "query",
    "register",
    "relation",
]
