"""Each plan as Python callables bound to one thread's instance: values in, values out.

The database adapters (``_sqlite``, ``_duckdb``) add NULL handling and their own value forms
on top; everything about reaching the guest is here, on public façade objects only, so a
faster component backend (bytes and lists at memory speed) speeds these calls up unchanged.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

from .._columnar import BatchFunction, Column, width_of
from .._coreabi import row_function, short_repr
from .._errors import Trap, ValueConversionError
from .._runtime import Instance
from .._wit.types import String
from .._wit.values import Err, Ok
from ._plan import Plan
from ._pool import Pool, Slot, guest_err

__all__ = ["aggregate_calls", "batch_caller", "row_caller"]

_PACK = {"s8": "b", "u8": "B", "s16": "h", "u16": "H", "s32": "i", "u32": "I"}
_PACK |= {"s64": "q", "u64": "Q", "f32": "f", "f64": "d"}


def _component(plan: Plan, inst: Instance, fuel: int | None) -> Callable[..., Any]:
    fn = inst.func(plan.export)
    name = plan.name

    if fuel is None and not plan.fallible:
        return fn

    def call(*args: Any) -> Any:
        return _call_guest(fn, inst, fuel, name, *args)

    return call


def _call_guest(
    fn: Callable[..., Any], inst: Instance, fuel: int | None, name: str, *args: Any
) -> Any:
    """Call a component function: refuelled first, ``err(..)`` raised as a GuestError."""
    if fuel is not None:
        inst.refuel(fuel)
    value = fn(*args, raw=True)
    if isinstance(value, Err):
        raise guest_err(value.value, name)
    return value.value if isinstance(value, Ok) else value


def row_caller(plan: Plan, inst: Instance, fuel: int | None) -> Callable[..., Any]:
    """Call ``plan`` with one row's values (a batch plan gets one-row batches)."""
    if plan.kind == "scalar":
        if plan.core is not None:
            return row_function(inst, plan.core, fuel_per_call=fuel)
        return _component(plan, inst, fuel)
    if plan.core is None:
        batch = _component(plan, inst, fuel)

        def one_row(*args: Any) -> Any:
            out = batch(*([a] for a in args))
            if len(out) != 1:
                raise guest_err(f"returned {len(out)} values for 1 row", plan.name)
            return out[0]

        return one_row
    fn = BatchFunction(inst, plan.core, fuel_per_call=fuel)
    return _core_batch_row(plan, fn)


def batch_caller(plan: Plan, inst: Instance, fuel: int | None) -> Callable[..., Any]:
    """Call a batch plan: core ones take ``Column`` objects, components Python lists."""
    if plan.core is not None:
        return BatchFunction(inst, plan.core, fuel_per_call=fuel)
    return _component(plan, inst, fuel)


def _core_batch_row(plan: Plan, fn: BatchFunction) -> Callable[..., Any]:
    """A core batch function called on one row at a time (SQLite calls row by row)."""
    assert plan.core is not None
    kinds = [(str(ty), width_of(ty)) for _, ty in plan.params]
    rname, rwidth = str(plan.result), width_of(plan.result)

    def one_row(*args: Any) -> Any:
        cols = []
        for (name, width), value, (pname, _) in zip(kinds, args, plan.params, strict=True):
            try:
                if width < 0:
                    data = value.encode() if isinstance(value, str) else bytes(value)
                    cols.append(Column(1, struct.pack("<2i", 0, len(data)), data=data))
                elif width == 0:
                    if not isinstance(value, int):
                        raise TypeError
                    cols.append(Column(1, bytes([1 if value else 0])))
                else:
                    cols.append(Column(1, struct.pack("<" + _PACK[name], value)))
            except (TypeError, ValueError, OverflowError, struct.error, UnicodeEncodeError):
                raise ValueConversionError(plan.name, pname, name, short_repr(value)) from None
        out = fn(cols, 1)
        if out.validity is not None and not memoryview(out.validity).cast("B")[0] & 1:
            return None
        values = bytes(out.values)
        if rwidth < 0:
            start, end = struct.unpack_from("<2i", values)
            data = bytes(out.data)
            if not 0 <= start <= end <= len(data):
                raise Trap(f"{plan.name}: result offsets {start}..{end} outside its data")
            raw = data[start:end]
            if plan.result is not String:
                return raw
            try:
                return raw.decode()
            except UnicodeDecodeError:
                raise Trap(f"{plan.name} returned a string that is not UTF-8") from None
        if rwidth == 0:
            return bool(values[0] & 1)
        return struct.unpack_from("<" + _PACK[rname], values)[0]

    return one_row


def aggregate_calls(plan: Plan, pool: Pool) -> tuple[Slot, Callable[..., Any]]:
    """An aggregate's per-thread ``(instance, constructor, step, finalize)`` and its caller.

    ``call(fn, instance, *args)`` runs one of the three, refuelled to the policy's fuel first,
    with ``err(..)`` raised as :class:`~omniwasm.GuestError`.
    """
    agg = plan.aggregate
    assert agg is not None
    fuel = pool.policy.fuel
    name = plan.name

    def bind(inst: Instance) -> tuple[Any, ...]:
        return inst, inst.func(agg.constructor), inst.func(agg.step), inst.func(agg.finalize)

    def call(fn: Callable[..., Any], inst: Instance, *args: Any) -> Any:
        return _call_guest(fn, inst, fuel, name, *args)

    return pool.slot(bind), call
