"""SQL functions in DuckDB: Arrow UDFs, one Python call (and at most one guest call) a batch.

DuckDB hands an Arrow UDF whole vectors (2048 rows). The three ways down into the guest:

- a core ``batch`` function: the batch's Arrow buffers are copied into guest memory (one copy
  per buffer), the guest runs once, and its result buffers are copied out and wrapped with
  ``pyarrow.Array.from_buffers``: no value is ever a Python object;
- a component function over lists: one call with the batch's values as lists;
- a scalar function (component, or a core scalar): called for each row inside the one Python
  call of the batch, until a backend can batch them itself.

DuckDB's Python API has no user aggregates, so an aggregate (a resource with ``step`` and
``finalize``) becomes a function over each group's values as LISTs: ``total(list(x))`` with
``GROUP BY`` runs the constructor, ``step`` per value and ``finalize`` once per group.

DuckDB's own NULL handling skips NULL rows before calling (NULL in, NULL out). Functions
whose NULLs cross (an ``option`` parameter or result, a core batch function's validity
bitmaps) get every row (``null_handling="special"``) and NULL in, NULL out is applied here to
the parameters that are not options. The GIL is released while guest code runs, and every DuckDB
thread has its own instance, so threads run guest code in parallel.
"""

from __future__ import annotations

import contextlib
import inspect
import threading
from collections.abc import Callable
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from .._columnar import Column, width_of
from .._errors import OmniwasmError, Trap, ValueConversionError
from .._wit.types import (
    BoolType,
    F32Type,
    F64Type,
    IntType,
    OptionType,
    StringType,
    WitType,
)
from ._calls import aggregate_calls, batch_caller, row_caller
from ._plan import Plan
from ._pool import Pool, describe_args, guest_err
from ._sqltypes import arrow_type, duck_type, from_duck, is_blob, to_duck

__all__ = ["register_duckdb"]


def register_duckdb(con: duckdb.DuckDBPyConnection, plans: list[Plan], pool: Pool) -> None:
    """Create every plan's function on ``con`` (an aggregate as a function over LISTs).

    Raises:
        OmniwasmError: DuckDB refused a function (e.g. a built-in of that name exists);
            none of the plans stays registered.

    """
    done: list[str] = []
    for plan in plans:
        try:
            _create(con, plan, pool)
        except duckdb.Error as exc:
            for name in done:
                con.remove_function(name)
            raise OmniwasmError(
                f"DuckDB refused the function {plan.name!r} ({plan.export}): {exc}; "
                "choose another name with names={...}"
            ) from exc
        done.append(plan.name)


def _create(con: duckdb.DuckDBPyConnection, plan: Plan, pool: Pool) -> None:
    params: list[Any] = [duck_type(ty) for _, ty in plan.params]
    returns = duck_type(plan.result)
    options: dict[str, Any] = {"side_effects": not plan.deterministic}
    if not plan.params:
        fn: Callable[..., Any] = _native_nullary(plan, pool)
        options["type"] = "native"
    else:
        if plan.kind == "aggregate":
            fn = _aggregate(plan, pool)
            params = [f"{p}[]" for p in params]
        elif plan.kind == "batch" and plan.core is not None:
            fn = _core_batch(plan, pool)
        elif plan.kind == "batch":
            fn = _component_batch(plan, pool)
        else:
            fn = _per_row(plan, pool)
        options["type"] = "arrow"
        if plan.nulls:
            options["null_handling"] = "special"
        fn.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
            [
                inspect.Parameter(f"a{i}", inspect.Parameter.POSITIONAL_ONLY)
                for i in range(len(params))
            ]
        )
    con.create_function(plan.name, fn, params, returns, **options)


def _plain(ty: WitType) -> bool:
    """Values ``to_pylist`` gives that the façade takes as they are."""
    if isinstance(ty, OptionType):  # option<option<T>> comes back as Some(...): not plain
        return not isinstance(ty.inner, OptionType) and _plain(ty.inner)
    return isinstance(ty, BoolType | IntType | F32Type | F64Type | StringType) or is_blob(ty)


def _array(col: Any) -> pa.Array:
    """One contiguous array at offset 0 (what DuckDB passes is a one-chunk ChunkedArray)."""
    arr = col.chunk(0) if col.num_chunks == 1 else col.combine_chunks()
    if arr.offset:
        arr = pa.concat_arrays([arr])
    return arr


def _core_batch(plan: Plan, pool: Pool) -> Callable[..., Any]:
    fuel = pool.policy.fuel
    slot = pool.slot(lambda inst: batch_caller(plan, inst, fuel))
    values, ident = slot.values, threading.get_ident
    name = plan.name
    rtype = arrow_type(plan.result)
    variable = width_of(plan.result) < 0
    # Per parameter: the Arrow type to cast variable-width input to (string_view and
    # large_string arrive from some sources), or None for fixed width.
    casts = [arrow_type(ty) if width_of(ty) < 0 else None for _, ty in plan.params]
    allocate, from_buffers = pa.allocate_buffer, pa.Array.from_buffers

    fixed = all(c is None for c in casts) and not variable

    def udf(*cols: Any) -> Any:
        arrays = [_array(c) for c in cols]
        n = len(arrays[0])
        try:
            fn = values.get(ident()) or pool.bound(slot)
            if fixed and not any(a.null_count for a in arrays):
                out, validity, nulls = fn.call_fixed([a.buffers()[1] for a in arrays], n, allocate)
                return from_buffers(rtype, n, [validity, out], null_count=nulls)
            return _general(fn, arrays, n)
        except OmniwasmError as exc:
            raise pool.fail(exc, name, f"a batch of {n} rows") from exc

    def _general(fn: Any, arrays: list[Any], n: int) -> Any:
        columns = []
        for i, cast in enumerate(casts):
            if cast is not None and arrays[i].type != cast:
                arrays[i] = arrays[i].cast(cast)  # string_view / large_string
            bufs = arrays[i].buffers()
            nulls = arrays[i].null_count
            columns.append(
                Column(n, bufs[1], bufs[0] if nulls else None, bufs[2] if cast else None, nulls)
            )
        out = fn(columns, n, allocate)
        bufs = [out.validity, out.values, out.data] if variable else [out.validity, out.values]
        result = from_buffers(rtype, n, bufs, null_count=out.null_count)
        if variable:
            try:
                result.validate(full=True)
            except pa.ArrowInvalid as exc:
                raise Trap(f"{plan.core} returned a malformed column: {exc}") from None
        if any(c.null_count for c in columns):  # NULL in, NULL out
            valid = pc.is_valid(arrays[0])
            for a in arrays[1:]:
                valid = pc.and_(valid, pc.is_valid(a))
            result = pc.if_else(valid, result, pa.nulls(n, rtype))
        return result

    return udf


def _rows(cols: tuple[Any, ...], plan: Plan) -> tuple[int, list[list[Any]]]:
    """The batch as Python lists of façade-ready values, one list per parameter."""
    name = plan.name
    out = []
    for col, (pname, ty) in zip(cols, plan.params, strict=True):
        values = col.to_pylist()
        if not _plain(ty):
            values = [from_duck(v, ty, name, pname) for v in values]
        out.append(values)
    return (len(out[0]) if out else 0), out


def _result(values: list[Any], ty: WitType) -> pa.Array:
    if not _plain(ty):
        values = [to_duck(v, ty) for v in values]
    return pa.array(values, type=arrow_type(ty))


def _strict_rows(plan: Plan, lists: list[list[Any]], n: int) -> list[int] | None:
    """Indices of rows without a NULL in a non-option parameter (None: every row)."""
    if not plan.nulls:
        return None
    strict = [
        v for v, (_, ty) in zip(lists, plan.params, strict=True) if not isinstance(ty, OptionType)
    ]
    if not strict or not any(None in v for v in strict):
        return None
    return [i for i in range(n) if all(v[i] is not None for v in strict)]


def _component_batch(plan: Plan, pool: Pool) -> Callable[..., Any]:
    fuel = pool.policy.fuel
    slot = pool.slot(lambda inst: batch_caller(plan, inst, fuel))
    name = plan.name
    pnames = [n for n, _ in plan.params]

    def udf(*cols: Any) -> Any:
        try:
            n, lists = _rows(cols, plan)
            keep = _strict_rows(plan, lists, n)
            args = lists if keep is None else [[v[i] for i in keep] for v in lists]
            rows = n if keep is None else len(keep)
            out = pool.bound(slot)(*args)
            if len(out) != rows:
                raise guest_err(f"returned {len(out)} values for {rows} rows", name)
            if keep is not None:
                full: list[Any] = [None] * n
                for i, v in zip(keep, out, strict=True):
                    full[i] = v
                out = full
            return _result(out, plan.result)
        except OmniwasmError as exc:
            first = describe_args(pnames, tuple(c[0] for c in cols)) if len(cols[0]) else ""
            raise pool.fail(exc, name, f"a batch of {len(cols[0])} rows from {first}") from exc

    return udf


def _per_row(plan: Plan, pool: Pool) -> Callable[..., Any]:
    fuel = pool.policy.fuel
    slot = pool.slot(lambda inst: row_caller(plan, inst, fuel))
    name = plan.name
    pnames = [n for n, _ in plan.params]

    def udf(*cols: Any) -> Any:
        n, lists = _rows(cols, plan)
        keep = _strict_rows(plan, lists, n)
        out: list[Any] = [None] * n
        i = -1
        try:
            fn = pool.bound(slot)
            rows = (
                zip(*lists, strict=True)
                if keep is None
                else (tuple(v[k] for v in lists) for k in keep)
            )
            for i, row in zip(range(n) if keep is None else keep, rows, strict=False):
                out[i] = fn(*row)
            return _result(out, plan.result)
        except OmniwasmError as exc:
            where = describe_args(pnames, tuple(v[i] for v in lists)) if i >= 0 else "a batch"
            raise pool.fail(exc, name, where) from exc

    return udf


def _aggregate(plan: Plan, pool: Pool) -> Callable[..., Any]:
    """An aggregate over LISTs: each row of the batch is one group's values.

    Each group gets its own guest resource (constructor, ``step`` per value, ``finalize``),
    dropped after ``finalize``. Values that are NULL in a non-option parameter are skipped,
    as SQL aggregates skip NULLs; a NULL list (``list()`` of no rows) gives NULL.
    """
    name = plan.name
    pnames = [n for n, _ in plan.params]
    ptypes = [ty for _, ty in plan.params]
    strict = [not isinstance(ty, OptionType) for ty in ptypes]
    plain = [_plain(ty) for ty in ptypes]

    slot, call = aggregate_calls(plan, pool)

    def group(bound: tuple[Any, ...], values: list[list[Any]], where: list[str]) -> Any:
        inst, ctor, step, fin = bound
        handle = call(ctor, inst)
        done = 0
        try:
            for row in zip(*values, strict=True):
                if any(v is None and s for v, s in zip(row, strict, strict=True)):
                    continue
                where[0] = f"value {done + 1}: " + describe_args(pnames, row)
                args = [
                    v if p else from_duck(v, t, name, n)
                    for v, p, t, n in zip(row, plain, ptypes, pnames, strict=True)
                ]
                call(step, inst, handle, *args)
                done += 1
            where[0] = f"finalize after {done} values"
            return call(fin, inst, handle)
        finally:
            with contextlib.suppress(OmniwasmError):  # a trapped instance is discarded anyway
                handle.drop()

    def udf(*cols: Any) -> Any:
        lists = [c.to_pylist() for c in cols]
        n = len(lists[0])
        out: list[Any] = [None] * n
        where = [""]
        try:
            bound = pool.bound(slot)
            for g in range(n):
                values = [v[g] for v in lists]
                if any(v is None for v in values):
                    continue
                if len({len(v) for v in values}) != 1:
                    raise ValueConversionError(
                        name,
                        pnames[-1],
                        f"a list as long as {pnames[0]}'s ({len(values[0])})",
                        f"{len(values[-1])} values",
                    )
                out[g] = group(bound, values, where)
            return _result(out, plan.result)
        except OmniwasmError as exc:
            raise pool.fail(exc, name, where[0] or "a group") from exc

    return udf


def _native_nullary(plan: Plan, pool: Pool) -> Callable[[], Any]:
    """A function without parameters, which DuckDB calls per row.

    An Arrow UDF without arguments cannot know how many rows its batch has.
    """
    fuel = pool.policy.fuel
    slot = pool.slot(lambda inst: row_caller(plan, inst, fuel))
    name = plan.name

    def udf() -> Any:
        try:
            return to_duck(pool.bound(slot)(), plan.result)
        except OmniwasmError as exc:
            raise pool.fail(exc, name, "") from exc

    return udf
