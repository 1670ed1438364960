"""What a worker runs: a function bound to this process's instance, per item or per batch.

Core ``batch`` functions take the batch's Arrow buffers through the columnar ABI
(``_columnar.py``, the same path as DuckDB's): one guest call per batch, buffers copied into
guest memory once, results wrapped with ``pyarrow.Array.from_buffers``. A component function
whose parameters are all ``list<T>`` and whose result is a ``list<U>`` is called once per
batch with the columns as lists; any other function (a core scalar, a component function) is
called row by row inside the one task. NULL in a column gives NULL out, without a call.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

from .._columnar import BatchFunction, Column, width_of
from .._coreabi import core_signatures, row_function, short_repr
from .._errors import GuestError, InvalidModule, OmniwasmError, Trap
from .._policy import Policy
from .._runtime import Instance
from .._wit.types import ListType, ResultType, WitType
from .._wit.values import Err, Ok
from ._code import Code, compiled, failed, instance

__all__ = ["apply_batch", "contextualise", "run_items"]

_ARROW = {
    "bool": "bool_",
    "s8": "int8",
    "s16": "int16",
    "s32": "int32",
    "s64": "int64",
    "u8": "uint8",
    "u16": "uint16",
    "u32": "uint32",
    "u64": "uint64",
    "f32": "float32",
    "f64": "float64",
    "string": "string",
    "list<u8>": "binary",
}


def contextualise(exc: OmniwasmError, function: str, where: str) -> OmniwasmError:
    """The same error (class and fields) with a message naming the call first."""
    err = copy.copy(exc)
    err.message = f"omniwasm.ray: {function}({where}): {exc.message}"
    err.args = (err.message,)
    err.__traceback__ = None
    return err


def _unwrap(value: Any, function: str) -> Any:
    if isinstance(value, Err):
        raise GuestError(1, f"err: {value.value!r}", function=function)
    return value.value if isinstance(value, Ok) else value


def _plain(value: Any) -> Any:
    """A guest value as plain Python (records as dicts), what pickle and pyarrow take."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


class _Bound:
    """One function of one instance, called per item or per batch."""

    def __init__(self, inst: Instance, code: Code, function: str, policy: Policy) -> None:
        self.inst = inst
        self.name = function
        self.fuel = policy.fuel
        self.batch: BatchFunction | None = None
        self.vector = False
        self.result: WitType | None = None
        self.params: list[str] = []
        if inst.kind == "module":
            sig = core_signatures(compiled(code, policy)).get(function)
            if sig is None:
                raise InvalidModule(
                    f"{function}: no such export with a declared signature (the "
                    "omniwasm:signatures section)",
                    source=code.name,
                )
            self.result = sig.result
            self.params = [n for n, _ in sig.params]
            if sig.batch:
                self.batch = BatchFunction(inst, sig, fuel_per_call=self.fuel)
                self.call: Callable[..., Any] = self._batch_row
            else:
                self.call = row_function(inst, sig, fuel_per_call=self.fuel)
            return
        fn = inst.func(function)
        sig = getattr(fn, "sig", None)
        result = None if sig is None else sig.result
        if isinstance(result, ResultType):
            result = result.ok
        self.result = result
        self.params = [n for n, _ in sig.params] if sig is not None else []
        self.vector = bool(
            sig is not None
            and sig.params
            and all(_column_list(ty) for _, ty in sig.params)
            and _column_list(result)
        )
        raw = fn

        def call(*args: Any) -> Any:
            if self.fuel is not None:
                inst.refuel(self.fuel)
            return _plain(_unwrap(raw(*args, raw=True), function))

        self.call = call

    def _batch_row(self, *args: Any) -> Any:
        import pyarrow as pa

        table = pa.table({f"a{i}": [a] for i, a in enumerate(args)})
        return self.column(table, list(table.column_names)).to_pylist()[0]

    def column(self, table: Any, columns: Sequence[str]) -> Any:
        """The function over ``columns`` of an Arrow table: one result array."""
        import pyarrow as pa

        n = table.num_rows
        arrays = [_array(table.column(c)) for c in columns]
        if self.batch is not None:
            return _core_batch(self.batch, self.result, arrays, n)
        lists = [a.to_pylist() for a in arrays]
        keep = [i for i in range(n) if all(v[i] is not None for v in lists)]
        rows = len(keep)
        args = lists if rows == n else [[v[i] for i in keep] for v in lists]
        if self.vector:
            out = self.call(*args) if rows else []
            if len(out) != rows:
                why = f"returned {len(out)} values for {rows} rows"
                raise GuestError(1, why, function=self.name)
        else:
            out = []
            for k, row in enumerate(zip(*args, strict=True)):
                try:
                    out.append(self.call(*row))
                except OmniwasmError as exc:
                    where = ", ".join(short_repr(a) for a in row)
                    raise contextualise(exc, self.name, f"row {keep[k]}: {where}") from exc
        if rows != n:
            full: list[Any] = [None] * n
            for i, v in zip(keep, out, strict=True):
                full[i] = v
            out = full
        ty = _arrow_type(self.result)
        return pa.array(out, type=ty) if ty is not None else pa.array(out)


def _column_list(ty: WitType | None) -> bool:
    return isinstance(ty, ListType) and str(ty) != "list<u8>"


def _arrow_type(ty: WitType | None) -> Any:
    import pyarrow as pa

    if ty is None:
        return None
    if isinstance(ty, ListType) and str(ty) != "list<u8>":
        ty = ty.elem
    name = _ARROW.get(str(ty))
    return None if name is None else getattr(pa, name)()


def _array(col: Any) -> Any:
    """One contiguous array at offset 0."""
    import pyarrow as pa

    arr = col.chunk(0) if col.num_chunks == 1 else col.combine_chunks()
    if isinstance(arr, pa.ChunkedArray):  # no chunks at all
        arr = pa.concat_arrays(arr.chunks) if arr.num_chunks else pa.array([], arr.type)
    if arr.offset:
        arr = pa.concat_arrays([arr])
    return arr


def _core_batch(fn: BatchFunction, result: WitType | None, arrays: list[Any], n: int) -> Any:
    import pyarrow as pa
    import pyarrow.compute as pc

    assert result is not None
    rtype = _arrow_type(result)
    variable = width_of(result) < 0
    columns = []
    for i, (_, ty) in enumerate(fn.sig.params):
        if width_of(ty) < 0:
            want = _arrow_type(ty)
            if arrays[i].type != want:
                arrays[i] = arrays[i].cast(want)  # large_string, string_view ...
        bufs = arrays[i].buffers()
        nulls = arrays[i].null_count
        data = bufs[2] if width_of(ty) < 0 else None
        columns.append(Column(n, bufs[1], bufs[0] if nulls else None, data, nulls))
    out = fn(columns, n, pa.allocate_buffer)
    bufs = [out.validity, out.values, out.data] if variable else [out.validity, out.values]
    array = pa.Array.from_buffers(rtype, n, bufs, null_count=out.null_count)
    if variable:
        try:
            array.validate(full=True)
        except pa.ArrowInvalid as exc:
            raise Trap(f"{fn.sig} returned a malformed column: {exc}") from None
    if any(c.null_count for c in columns):  # NULL in, NULL out
        valid = pc.is_valid(arrays[0])
        for a in arrays[1:]:
            valid = pc.and_(valid, pc.is_valid(a))
        array = pc.if_else(valid, array, pa.nulls(n, rtype))
    return array


_BOUND: dict[tuple[int, str], _Bound] = {}


def bound(code: Code, function: str, policy: Policy, tag: str = "") -> _Bound:
    """``function`` bound to this thread's instance (made on first use, then reused)."""
    inst = instance(code, policy, tag)
    key = (id(inst), function)
    found = _BOUND.get(key)
    if found is None or found.inst is not inst:
        found = _BOUND[key] = _Bound(inst, code, function, policy)
    return found


def run_items(
    code: Code,
    function: str,
    policy: Policy,
    items: Sequence[Any],
    *,
    star: bool = False,
    first: int = 0,
) -> list[Any]:
    """Call ``function`` once per item (``star``: each item is a tuple of arguments).

    Raises:
        OmniwasmError: a call failed; the message names the item's index and value.

    """
    out: list[Any] = []
    try:
        fn = bound(code, function, policy)
        for item in items:
            out.append(fn.call(*item) if star else fn.call(item))
    except OmniwasmError as exc:
        failed(exc, code, policy)
        k = len(out)
        what = short_repr(items[k]) if k < len(items) else ""
        raise contextualise(exc, function, f"item {first + k}: {what}") from None
    return out


def apply_batch(
    table: Any,
    *,
    code: Code,
    function: str,
    policy: Policy,
    columns: Sequence[str] | None,
    output: str,
) -> Any:
    """One Arrow batch through ``function``: the table with the result as column ``output``.

    Raises:
        OmniwasmError: the call failed; the message names the function and the batch.

    """
    try:
        fn = bound(code, function, policy)
        names = list(columns) if columns is not None else _default_columns(fn, table)
        result = fn.column(table, names)
    except OmniwasmError as exc:
        failed(exc, code, policy)
        if exc.message.startswith("omniwasm.ray:"):  # already names its row
            raise
        raise contextualise(exc, function, f"a batch of {table.num_rows} rows") from None
    if output in table.column_names:
        return table.set_column(table.column_names.index(output), output, result)
    return table.append_column(output, result)


def _default_columns(fn: _Bound, table: Any) -> list[str]:
    """The parameters' names, when the table has them all; else its first columns in order."""
    names = list(table.column_names)
    if fn.params and all(p in names for p in fn.params):
        return list(fn.params)
    return names[: len(fn.params) or 1]
