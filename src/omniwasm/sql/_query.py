"""Running SQL with WebAssembly functions: open a database by its name, query, load from SQL.

What ``omniwasm sql DB "SELECT ..." --udf name=path.wasm[:function]`` does, callable from
Python: ``connect`` picks the engine from the file (DuckDB for ``.duckdb``, Parquet and CSV;
SQLite for ``.db``/``.sqlite``/``.sqlite3``; ``:memory:`` is DuckDB), ``query`` registers the
functions, runs the statement and returns its rows, and ``execute`` runs a statement and turns
a failed function call back into its omniwasm error. ``enable_loading`` gives a DuckDB session
the SQL function ``omniwasm_register('path.wasm')``.
"""

from __future__ import annotations

import re
import sqlite3
import threading
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from .._compiled import is_reference
from .._errors import OmniwasmError, PolicyError, Timeout
from .._policy import Policy
from .._runtime import keep_trap_handlers
from ._register import _POOLS, dialect_of, last_error, register

__all__ = [
    "QueryResult",
    "UdfSpec",
    "connect",
    "enable_loading",
    "execute",
    "parse_udf",
    "query",
    "relation",
]

_SQLITE_SUFFIXES = (".db", ".sqlite", ".sqlite3")
_DATA_SUFFIXES = {".parquet": "read_parquet", ".csv": "read_csv_auto", ".tsv": "read_csv_auto"}
Engine = Literal["sqlite", "duckdb"]


@dataclass(frozen=True, slots=True)
class QueryResult:
    """What a query returned.

    Args:
        columns: the column names.
        rows: the rows, as tuples of Python values.

    """

    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]


@dataclass(frozen=True, slots=True)
class UdfSpec:
    """A function to register: ``name=path.wasm[:function]``, or a bare path (all exports).

    Args:
        path: the module or component.
        name: the SQL name (None: the exports' own names).
        function: the export (None: the only function, or all when ``name`` is None).

    """

    path: str
    name: str | None = None
    function: str | None = None


def parse_udf(text: str) -> UdfSpec:
    """Parse ``name=path.wasm[:function]`` or ``path.wasm``.

    A registry reference may stand for the path: ``acme:kernels@1.0.0:add``,
    ``oci://host/repo:1.0:add``.

    Raises:
        PolicyError: an empty name or path.

    """
    name: str | None = None
    if "=" in text:
        name, _, text = text.partition("=")
        if not name.strip():
            raise PolicyError(f"--udf {text!r}: the SQL name before '=' is empty")
        name = name.strip()
    path, function = text, None
    head, sep, tail = text.rpartition(":")
    # FILE:FUNCTION, unless the whole text names an existing file (a name may hold ':', as
    # registry references do: only a bare identifier after the last ':' is a function), or
    # it is a tagged reference whose ':TAG' would otherwise be read as the function
    if sep and head and re.fullmatch(r"[A-Za-z_][\w-]*", tail) and not Path(text).exists():
        tagged_head = is_reference(head) and ("@" in head or ":" in head.rsplit("/", 1)[-1])
        if tagged_head or Path(head).exists() or not is_reference(text):
            path, function = head, tail
    if not path:
        raise PolicyError("--udf: the path is empty")
    return UdfSpec(path, name, function)


def connect(database: str | Path, *, engine: Engine | None = None) -> Any:
    """Open ``database`` with the engine its name calls for.

    Parquet and CSV files open in an in-memory DuckDB with the file as the view ``data`` (and
    under its stem, e.g. ``sales`` for ``sales.parquet``, when that is an identifier).

    Raises:
        PolicyError: the file does not exist, or its kind is unknown (pass ``engine``).

    """
    target = str(database)
    suffix = Path(target).suffix.lower()
    if target == ":memory:":
        return sqlite3.connect(":memory:") if engine == "sqlite" else _duck(":memory:")
    path = Path(target)
    if not path.exists():
        raise PolicyError(f"no such database file: {target}")
    if engine == "sqlite" or (engine is None and suffix in _SQLITE_SUFFIXES):
        return sqlite3.connect(f"file:{path}?mode=rw", uri=True)
    if suffix in _DATA_SUFFIXES and engine in (None, "duckdb"):
        con = _duck(":memory:")
        reader = _DATA_SUFFIXES[suffix]
        literal = "'" + str(path).replace("'", "''") + "'"
        con.execute(f"CREATE VIEW data AS SELECT * FROM {reader}({literal})")
        stem = path.stem
        if re.fullmatch(r"[A-Za-z_]\w*", stem) and stem.lower() != "data":
            con.execute(f'CREATE VIEW "{stem}" AS SELECT * FROM data')
        return con
    if engine == "duckdb" or suffix == ".duckdb":
        return _duck(str(path))
    raise PolicyError(
        f"cannot tell which database {target} is: use .duckdb, .parquet, .csv, .db, .sqlite "
        "or choose the engine"
    )


def _duck(target: str) -> Any:
    try:
        import duckdb
    except ImportError as exc:  # pragma: no cover - the sql extra installs it
        raise PolicyError("DuckDB is not installed: pip install 'omniwasm[sql]'") from exc
    return duckdb.connect(target)


def _latest(con: Any) -> int:
    stamps = [p.error_order for r in _POOLS.get(id(con), []) if (p := r()) is not None]
    return max(stamps, default=-1)


def execute(
    con: Any, sql: str, parameters: Sequence[Any] = (), *, timeout: float | None = None
) -> QueryResult:
    """Run one statement on ``con`` and fetch its rows.

    When the statement fails because an omniwasm function failed, the omniwasm error is
    raised (its class says what happened: ``Trap``, ``Timeout``, ``OutOfFuel``,
    ``MemoryLimitExceeded``, ``GuestError`` for ``err(..)``; its message names the function,
    the row and the cause), with the database's own exception as ``__cause__``.

    Args:
        con: a ``sqlite3`` or DuckDB connection.
        sql: one statement.
        parameters: values for its ``?`` placeholders.
        timeout: seconds for the whole statement (None: no limit). The policy's ``timeout``
            bounds each call (a row, or a DuckDB batch); this bounds the statement, database
            work included: at the deadline the connection is interrupted (the function call
            running then ends within its own timeout at the latest) and the statement fails
            as ``Timeout``.

    Raises:
        OmniwasmError: a function failed.
        Timeout: the statement ran past ``timeout``.
        sqlite3.Error: any other SQLite failure.
        duckdb.Error: any other DuckDB failure.

    """
    dialect = dialect_of(con)
    keep_trap_handlers()  # the thread's instances may predate a faulthandler.enable()
    before = _latest(con)
    fired = threading.Event()
    timer: threading.Timer | None = None
    if timeout is not None:

        def interrupt() -> None:
            fired.set()
            con.interrupt()

        timer = threading.Timer(timeout, interrupt)
        timer.daemon = True
        timer.start()
    try:
        cur = con.execute(sql, list(parameters))
        rows = cur.fetchall() if cur.description else []
        columns = tuple(d[0] for d in cur.description or ())
    except Exception as exc:
        if fired.is_set():
            raise Timeout(
                f"omniwasm.sql: the statement ran past its {timeout}s timeout", limit=timeout
            ) from exc
        if _latest(con) > before:
            err = last_error(con)
            if err is not None:
                raise _fresh(err) from exc
        raise
    finally:
        if timer is not None:
            timer.cancel()
    if dialect == "duckdb":
        rows = [tuple(r) for r in rows]
    return QueryResult(columns, rows)


def _fresh(err: OmniwasmError) -> OmniwasmError:
    import copy

    out = copy.copy(err)
    out.__traceback__ = None
    return out


def query(
    database: str | Path,
    sql: str,
    *,
    udfs: Iterable[str | UdfSpec] = (),
    policy: Policy | None = None,
    engine: Engine | None = None,
    parameters: Sequence[Any] = (),
    timeout: float | None = None,
) -> QueryResult:
    """Open ``database``, register ``udfs``, run ``sql`` and return its rows.

    Args:
        database: a file (see ``connect``) or ``:memory:``.
        sql: one statement.
        udfs: ``name=path.wasm[:function]`` strings (or ``UdfSpec``); a bare path registers
            every function of the file under its own name.
        policy: the sandbox of the functions (``DEFAULT_POLICY`` when None).
        engine: force ``sqlite`` or ``duckdb``.
        parameters: values for the statement's ``?`` placeholders.
        timeout: seconds for the whole statement (see ``execute``); None for no limit.

    Raises:
        OmniwasmError: a function failed, or a file cannot be registered.
        Timeout: the statement ran past ``timeout``.
        PolicyError: the database cannot be opened.
        sqlite3.Error: any other SQLite failure.
        duckdb.Error: any other DuckDB failure.

    """
    con = connect(database, engine=engine)
    try:
        for spec in udfs:
            register_spec(con, spec if isinstance(spec, UdfSpec) else parse_udf(spec), policy)
        if dialect_of(con) == "duckdb":
            enable_loading(con, policy=policy)
        return execute(con, sql, parameters, timeout=timeout)
    finally:
        con.close()


def register_spec(con: Any, spec: UdfSpec, policy: Policy | None) -> None:
    """Register what one ``--udf`` names.

    Raises:
        OmniwasmError: the file cannot be loaded, or it has no such function.

    """
    if spec.name is None:
        functions = None if spec.function is None else [spec.function]
        register(con, spec.path, policy=policy, functions=functions)
        return
    function = spec.function
    if function is None:
        from ._plan import plan_functions
        from ._register import _runtime

        rt = _runtime(policy or Policy())
        plans, _ = plan_functions(rt.load(spec.path))
        plain = [p for p in plans if p.kind != "aggregate"] or plans
        if len(plain) != 1:
            have = ", ".join(p.export for p in plans) or "none"
            raise OmniwasmError(
                f"{spec.path} has {len(plain)} SQL functions ({have}): "
                f"name one, as {spec.name}={spec.path}:FUNCTION"
            )
        function = plain[0].export
    register(con, spec.path, policy=policy, functions=[function], names={function: spec.name})


def enable_loading(
    con: Any, *, policy: Policy | None = None, root: str | Path | None = None
) -> None:
    """Give a DuckDB connection ``omniwasm_register(path)``, which registers from SQL.

    ``SELECT omniwasm_register('udfs.wasm')`` registers every function of the file (on a
    cursor of ``con``, which DuckDB allows while a query runs) and returns their signatures,
    one a line; later statements can call them. Only files under ``root`` may be loaded when
    it is given.

    Raises:
        PolicyError: ``con`` is not a DuckDB connection.

    """
    if dialect_of(con) != "duckdb":
        raise PolicyError("omniwasm_register() needs DuckDB: SQLite cannot register from SQL")
    cursor = con.cursor()
    base = Path(root).resolve() if root is not None else None
    keep: list[Any] = [cursor]

    def omniwasm_register(path: str) -> str:
        target = Path(path)
        if base is not None:
            resolved = (base / target).resolve()
            if not resolved.is_relative_to(base):
                raise PolicyError(f"omniwasm_register: {path} is outside {base}")
            target = resolved
        reg = register(cursor, target, policy=policy)
        keep.append(reg)
        _POOLS.setdefault(id(con), []).append(weakref.ref(reg._pool))  # for last_error(con)
        return "\n".join(str(f) for f in reg.functions)

    con.create_function(
        "omniwasm_register", omniwasm_register, ["VARCHAR"], "VARCHAR", side_effects=True
    )


def relation(
    con: Any,
    source: Any,
    function: str,
    *args: Any,
    policy: Policy | None = None,
) -> Any:
    """Call a component export that returns ``list<record>`` and give its rows to DuckDB.

    DuckDB's Python API has no user table functions; this is the nearest thing: the
    function runs once (in a fresh instance under ``policy``) and its records become a
    relation over an Arrow table, one column per field (snake_case), which can be queried,
    joined or kept as a view (``rel.create_view("name")``).

    Args:
        con: a DuckDB connection.
        source: the component (anything ``register`` takes).
        function: the export (``func`` or ``iface#func``).
        args: its arguments, as Python values.
        policy: the sandbox (``DEFAULT_POLICY`` when None).

    Raises:
        PolicyError: ``con`` is not DuckDB, or the export does not return ``list<record>``.
        OmniwasmError: the code cannot be loaded, or the call failed.

    """
    import pyarrow as pa

    from .._compiled import Compiled
    from .._wit.types import ListType, RecordType, ResultType
    from .._wit.values import Err, Ok
    from ._register import DEFAULT_POLICY, _runtime
    from ._sqltypes import arrow_type, to_duck

    if dialect_of(con) != "duckdb":
        raise PolicyError("relation() needs DuckDB (SQLite's Python API has no table functions)")
    policy = policy if policy is not None else DEFAULT_POLICY
    rt = _runtime(policy)
    compiled = source if isinstance(source, Compiled) else rt.load(source)
    with rt.instantiate(compiled, policy) as inst:
        fn = inst.func(function)
        sig = getattr(fn, "sig", None)  # a component function's WIT signature
        if sig is None:
            raise PolicyError(f"{function} is not a component function")
        result = sig.result
        if isinstance(result, ResultType):
            result = result.ok
        if not (isinstance(result, ListType) and isinstance(result.elem, RecordType)):
            raise PolicyError(f"{function} returns {sig.result}, not list<record>")
        value = fn(*args, raw=True)
        if isinstance(value, Err):
            from ._pool import guest_err

            raise guest_err(value.value, function)
        rows = value.value if isinstance(value, Ok) else value
        schema = pa.schema(arrow_type(result.elem))
        table = pa.Table.from_pylist([to_duck(r, result.elem) for r in rows], schema=schema)
    return con.from_arrow(table)
