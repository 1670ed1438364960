"""SQL functions in SQLite (the standard library's ``sqlite3``): scalars and aggregates.

SQLite calls a function once per row, so every plan is called row by row (a batch plan gets
one-row batches). A failed call raises the omniwasm error inside SQLite's callback; CPython's
``sqlite3`` then fails the statement with its fixed text "user-defined function raised
exception" and drops the exception, so the error with its context is kept on the
registration (``Registration.last_error``, ``omniwasm.sql.last_error(con)``) and
``omniwasm.sql.execute`` re-raises it.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from typing import Any

from .._coreabi import unary_function, unary_types
from .._errors import OmniwasmError
from .._wit.types import OptionType
from ._calls import aggregate_calls, row_caller
from ._plan import Plan
from ._pool import Pool, describe_args
from ._sqltypes import from_sqlite, to_sqlite

__all__ = ["register_sqlite"]


def register_sqlite(con: sqlite3.Connection, plans: list[Plan], pool: Pool) -> None:
    """Create every plan's function on ``con``."""
    for plan in plans:
        if plan.kind == "aggregate":
            con.create_aggregate(plan.name, len(plan.params), _aggregate_class(plan, pool))
        else:
            con.create_function(
                plan.name, len(plan.params), _scalar(plan, pool), deterministic=plan.deterministic
            )


def _numeric_core(plan: Plan) -> bool:
    """A core scalar of one number to one SQLite can pass as is (the per-row fast path)."""
    return (
        plan.core is not None
        and plan.kind == "scalar"
        and unary_types(plan.core)
        and str(plan.result) != "u64"  # may exceed SQLite's INTEGER: checked on the slow path
    )


def _scalar(plan: Plan, pool: Pool) -> Callable[..., Any]:
    fuel = pool.policy.fuel
    slot = pool.slot(lambda inst: row_caller(plan, inst, fuel))
    values, ident = slot.values, threading.get_ident
    name = plan.name
    pnames = [n for n, _ in plan.params]

    if _numeric_core(plan):
        assert plan.core is not None

        def any_thread(a: Any) -> Any:
            if a is None:
                return None
            try:
                fn = values.get(ident()) or pool.bound(slot)
                return fn(a)
            except OmniwasmError as exc:
                raise pool.fail(exc, name, describe_args(pnames, (a,))) from exc

        def failure(exc: BaseException, a: Any) -> BaseException:
            if not isinstance(exc, OmniwasmError):
                return exc
            return pool.fail(exc, name, describe_args(pnames, (a,)))

        # The registering thread calls straight into its instance (one Python frame a row);
        # other threads, and this one after a failure replaced the instance, take any_thread.
        return unary_function(
            pool.instance(),
            plan.core,
            fuel_per_call=fuel,
            nulls=True,
            failure=failure,
            fallback=any_thread,
        )

    ptypes = [ty for _, ty in plan.params]
    strict = [not isinstance(ty, OptionType) for ty in ptypes]
    result = plan.result

    def udf(*args: Any) -> Any:
        for a, s in zip(args, strict, strict=True):
            if a is None and s:
                return None
        try:
            values = [
                from_sqlite(a, ty, name, n) for a, ty, n in zip(args, ptypes, pnames, strict=True)
            ]
            return to_sqlite(pool.bound(slot)(*values), result, name)
        except OmniwasmError as exc:
            raise pool.fail(exc, name, describe_args(pnames, args)) from exc

    return udf


def _aggregate_class(plan: Plan, pool: Pool) -> type:
    name = plan.name
    pnames = [n for n, _ in plan.params]
    ptypes = [ty for _, ty in plan.params]
    strict = [not isinstance(ty, OptionType) for ty in ptypes]

    slot, call = aggregate_calls(plan, pool)

    class Aggregate:
        """One group's state: a guest resource made on the group's first row."""

        def __init__(self) -> None:
            self.handle: Any = None
            self.rows = 0
            self.failed = False

        def _handle(self) -> tuple[Any, tuple[Any, ...]]:
            bound = pool.bound(slot)
            if self.handle is None:
                inst, ctor = bound[0], bound[1]
                self.handle = call(ctor, inst)
            return self.handle, bound

        def step(self, *args: Any) -> None:
            if self.failed or any(a is None and s for a, s in zip(args, strict, strict=True)):
                return  # SQL aggregates skip NULLs
            try:
                handle, bound = self._handle()
                values = [
                    from_sqlite(a, t, name, n) for a, t, n in zip(args, ptypes, pnames, strict=True)
                ]
                call(bound[2], bound[0], handle, *values)
                self.rows += 1
            except OmniwasmError as exc:
                self.failed, self.handle = True, None  # its instance is gone: nothing to drop
                raise pool.fail(
                    exc, name, f"row {self.rows + 1}: " + describe_args(pnames, args)
                ) from exc

        def finalize(self) -> Any:
            if self.failed:  # CPython finalizes after a failed step: keep the step's error
                return None
            try:
                handle, bound = self._handle()
                try:
                    value = call(bound[3], bound[0], handle)
                finally:
                    self.handle = None
                    handle.drop()
                return to_sqlite(value, plan.result, name)
            except OmniwasmError as exc:
                raise pool.fail(exc, name, f"finalize after {self.rows} rows") from exc

    Aggregate.__name__ = Aggregate.__qualname__ = f"Aggregate_{name}"
    return Aggregate
