"""``register()``: a module's or component's exports as SQL functions of one connection."""

from __future__ import annotations

import sqlite3
import threading
import weakref
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from .._compiled import Compiled, Source
from .._errors import OmniwasmError, PolicyError
from .._policy import Policy
from .._runtime import Runtime
from ._plan import Plan, plan_functions
from ._pool import Pool
from ._sqltypes import duck_type, sqlite_type

__all__ = ["DEFAULT_POLICY", "Registration", "SqlFunction", "last_error", "register"]

DEFAULT_POLICY = Policy(timeout=10.0, max_memory=512 << 20, stdout="discard", stderr="discard")
"""The sandbox of SQL functions when ``register`` gets no policy: nothing but compute, 512 MiB
of memory, 10 s per call (a row, or a batch in DuckDB), output discarded."""

_RUNTIMES: dict[bool, Runtime] = {}
_RUNTIMES_LOCK = threading.Lock()
_POOLS: dict[int, list[weakref.ref[Pool]]] = {}


@dataclass(frozen=True, slots=True)
class SqlFunction:
    """One SQL function a registration created.

    Args:
        name: its SQL name.
        export: the export it calls (``iface#func`` for a component interface's function).
        kind: ``scalar`` (a call per row), ``batch`` (a call per batch; per row in SQLite)
            or ``aggregate`` (in DuckDB, a function over each group's values as LISTs:
            ``total(list(x))``).
        params: ``(name, SQL type)`` per argument, in the connection's dialect.
        returns: the SQL type of the result.
        deterministic: declared deterministic (DuckDB: no side effects), so the database may
            fold and cache calls.
        signature: the export's WIT signature.

    """

    name: str
    export: str
    kind: Literal["scalar", "batch", "aggregate"]
    params: tuple[tuple[str, str], ...]
    returns: str
    deterministic: bool
    signature: str

    def __str__(self) -> str:
        args = ", ".join(f"{n} {t}" for n, t in self.params)
        return f"{self.name}({args}) -> {self.returns}"


class Registration:
    """The SQL functions ``register`` created on one connection, with their instances.

    The instances live as long as the connection holds the functions; ``close()`` releases
    them early (later calls then fail with a clear error).
    """

    def __init__(
        self, pool: Pool, functions: tuple[SqlFunction, ...], skipped: Mapping[str, str]
    ) -> None:
        self._pool = pool
        self.functions = functions
        self.skipped = dict(skipped)
        self._keep: list[Any] = []

    @property
    def last_error(self) -> OmniwasmError | None:
        """The error of the most recent failed call (with the function, row and cause)."""
        return self._pool.last_error

    @property
    def policy(self) -> Policy:
        """The sandbox every instance of these functions runs in."""
        return self._pool.policy

    def close(self) -> None:
        """Close every instance. Idempotent; call it when no statement is running."""
        self._pool.close()

    def __enter__(self) -> Registration:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        names = ", ".join(f.name for f in self.functions)
        return f"<Registration of {self._pool.compiled.source}: {names}>"


def _runtime(policy: Policy) -> Runtime:
    fuel = policy.fuel is not None
    with _RUNTIMES_LOCK:
        rt = _RUNTIMES.get(fuel)
        if rt is None:
            rt = _RUNTIMES[fuel] = Runtime(fuel=fuel)
        return rt


def dialect_of(con: Any) -> Literal["sqlite", "duckdb"]:
    """``sqlite`` or ``duckdb`` for a connection object.

    Raises:
        PolicyError: neither a ``sqlite3.Connection`` nor a ``duckdb.DuckDBPyConnection``.

    """
    if isinstance(con, sqlite3.Connection):
        return "sqlite"
    if type(con).__module__.partition(".")[0] in ("duckdb", "_duckdb"):
        return "duckdb"
    raise PolicyError(
        f"omniwasm.sql needs a sqlite3.Connection or a duckdb.DuckDBPyConnection, not "
        f"{type(con).__name__}"
    )


def register(
    con: Any,
    source: Compiled | Source,
    *,
    policy: Policy | None = None,
    functions: Iterable[str] | None = None,
    names: Mapping[str, str] | None = None,
    runtime: Runtime | None = None,
    deterministic: bool | None = None,
    vectorized: bool | Collection[str] | None = None,
    signatures: Iterable[str] | str | None = None,
) -> Registration:
    """Register a module's or component's exports as SQL functions of ``con``.

    A component's functions are typed by its WIT (see the type table in the README); a core
    module's by its ``omniwasm:signatures`` section or ``signatures``, or, when all-numeric,
    by its core types. Each thread that runs one of the functions gets its own instance,
    reused for every later row and batch; a failed call (trap, limit, ``err``) fails the
    statement, and the next call starts from a fresh instance.

    Args:
        con: a ``sqlite3.Connection`` or a ``duckdb.DuckDBPyConnection``.
        source: the code: a path, bytes, WebAssembly text, or a ``Compiled``.
        policy: the sandbox of every instance (``DEFAULT_POLICY`` when None). Its ``timeout``
            and ``fuel`` apply to each call: a row, or a batch in DuckDB.
        functions: the exports to register (export names, ``iface#func`` or SQL names);
            all that can be by default.
        names: SQL names for exports (``{"double-all": "dbl"}``); snake_case by default.
        runtime: the runtime to compile and instantiate with (a shared one by default).
        deterministic: declare the functions deterministic (DuckDB: free of side effects);
            by default, True unless the code imports a clock or a random source.
        vectorized: which component functions over lists are batch functions: None or True
            for every one whose parameters are all ``list<T>`` and whose result is a
            ``list<U>``, False for none, or a collection of export names.
        signatures: extra signature lines for a core module's exports (the
            ``omniwasm:signatures`` syntax), e.g. ``"upper: func(s: string) -> string"``.

    Raises:
        InvalidModule: the code is invalid, or a wanted export cannot be a SQL function.
        PolicyError: ``con`` is not a supported connection, or the policy cannot apply.
        LinkError: the code imports what the sandbox does not provide (checked now).

    """
    dialect = dialect_of(con)
    policy = policy if policy is not None else DEFAULT_POLICY
    if runtime is None:
        runtime = _runtime(policy)
    compiled = source if isinstance(source, Compiled) else runtime.load(source)
    plans, skipped = plan_functions(
        compiled,
        functions=functions,
        names=names,
        deterministic=deterministic,
        vectorized=vectorized,
        signatures=signatures,
    )
    if dialect == "duckdb":  # an aggregate there takes its group's values as LISTs
        for p in [p for p in plans if p.kind == "aggregate" and not p.params]:
            if functions is not None:
                raise PolicyError(f"cannot register {p.name!r} in DuckDB: it takes no values")
            skipped[p.export] = "a DuckDB aggregate takes its group's values: this one has none"
            plans.remove(p)
    pool = Pool(runtime, compiled, policy)
    pool.instance()  # link and start one now: fail at register time, not mid-query
    if dialect == "sqlite":
        from ._sqlite import register_sqlite

        register_sqlite(con, plans, pool)
    else:
        from ._duckdb import register_duckdb

        register_duckdb(con, plans, pool)
    refs = _POOLS.setdefault(id(con), [])
    refs[:] = [r for r in refs if r() is not None]
    refs.append(weakref.ref(pool))
    return Registration(pool, tuple(_describe(p, dialect) for p in plans), skipped)


def _describe(plan: Plan, dialect: str) -> SqlFunction:
    render = duck_type if dialect == "duckdb" else sqlite_type
    lists = dialect == "duckdb" and plan.kind == "aggregate"  # DuckDB: over each group's LIST
    return SqlFunction(
        plan.name,
        plan.export,
        plan.kind,
        tuple((n, render(ty) + ("[]" if lists else "")) for n, ty in plan.params),
        render(plan.result),
        plan.deterministic,
        plan.signature,
    )


def last_error(con: Any) -> OmniwasmError | None:
    """The error of the most recent failed omniwasm function call on ``con``, if any.

    SQLite reports every failed Python function as "user-defined function raised
    exception"; this is the error behind it: its class (``Trap``, ``Timeout``, ``GuestError``
    ...) and a message naming the function, the row's arguments and the cause.
    """
    best: tuple[int, OmniwasmError] | None = None
    for ref in _POOLS.get(id(con), []):
        pool = ref()
        if pool is not None and pool.last_error is not None:
            stamp = pool.error_order
            if best is None or stamp > best[0]:
                best = (stamp, pool.last_error)
    return None if best is None else best[1]
