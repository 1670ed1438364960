"""The batch ABI: one call into a core export per batch of rows, columns in Arrow's layout.

A ``batch`` function (declared in the ``omniwasm:signatures`` section, see ``_coreabi``) has
the core type ``(desc: i32) -> i32``. For each batch the host copies every input buffer into
the guest's scratch area (``omniwasm_scratch``) with one copy per buffer, writes a descriptor,
calls the function once and copies the result buffers out, again one copy per buffer. The
buffers are Arrow's physical layout, so a host holding Arrow arrays (DuckDB, Ray) moves them
without converting a single value:

- fixed width (``s8`` .. ``u64``, ``f32``, ``f64``): ``length`` little-endian values;
  ``bool`` is bit-packed, least significant bit first;
- ``string`` (UTF-8) and ``list<u8>``: ``length + 1`` ``i32`` offsets into a data buffer;
- validity: a bitmap, least significant bit first, 1 = valid; address 0 = no nulls.

Descriptor at ``desc`` (every field a little-endian ``u32``)::

    +0  rows       +4  nargs      +8  version (1)     +12  0
    +16 + 24*i     argument i: length, null_count, validity, values, data, data_len
    +16 + 24*nargs the result: the guest fills validity, values, data, data_len

For the result, ``values`` is the value buffer (the offsets for ``string`` / ``list<u8>``),
``validity`` 0 means no nulls, and the memory stays the guest's: it must stay valid until the
next call. A non-zero return status fails the batch; the guest may then point the result's
``data``/``data_len`` at a UTF-8 message.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple, NoReturn

from . import _engine as eng
from ._coreabi import SCALARS, CoreSignature, Scratch
from ._errors import GuestError, OmniwasmError, Trap, ValueConversionError
from ._wit import types as t

if TYPE_CHECKING:
    from ._runtime import Instance

__all__ = ["VERSION", "BatchFunction", "Column", "width_of"]

VERSION = 1
"""The descriptor version the host writes at ``desc + 8``."""

_HEADER = struct.Struct("<4I")
_COLUMN = struct.Struct("<6I")
_RESULT = struct.Struct("<4I")  # the result's validity, values, data, data_len
_WIDTHS = {"s8": 1, "u8": 1, "s16": 2, "u16": 2, "s32": 4, "u32": 4, "f32": 4}
_WIDTHS |= {"s64": 8, "u64": 8, "f64": 8}
_MESSAGE_LIMIT = 1000


def width_of(ty: t.WitType) -> int:
    """Bytes per value of a fixed-width type; 0 for ``bool`` (bits); -1 for variable width."""
    name = str(ty)
    if name == "bool":
        return 0
    if ty in (t.String, SCALARS["list<u8>"]):
        return -1
    return _WIDTHS[name]


class Column(NamedTuple):
    """One column of a batch, as Arrow buffers (any objects supporting the buffer protocol).

    Args:
        length: rows.
        values: fixed-width values, or ``length + 1`` ``i32`` offsets for variable width.
        validity: the validity bitmap, or None when no value is null.
        data: the bytes of a variable-width column.
        null_count: how many values are null.

    """

    length: int
    values: Any
    validity: Any = None
    data: Any = None
    null_count: int = 0


class BatchFunction:
    """A ``batch`` export of a core instance, called once per batch.

    Args:
        instance: a core instance exporting ``memory``, ``omniwasm_scratch`` and the function.
        sig: the function's signature (``batch`` must be True).
        fuel_per_call: fuel each batch starts with (None: the store's fuel runs down).

    Raises:
        OmniwasmError: the instance does not export what the ABI needs.

    """

    def __init__(
        self, instance: Instance, sig: CoreSignature, *, fuel_per_call: int | None = None
    ) -> None:
        if not sig.batch:
            raise OmniwasmError(f"{sig.name} is not a batch function")
        inner = instance._inner
        self.sig = sig
        call = eng.SlotCall(inner, sig.name, fuel_per_call=fuel_per_call)  # type: ignore[arg-type]
        self._run = call.run
        self._word = call.slots.cast("I")
        self._memory = inner.memory()  # type: ignore[union-attr]
        self._view = self._memory.view
        self._scratch = Scratch(instance, self._memory)
        self._nargs = len(sig.params)
        self._head = 16 + _COLUMN.size * (self._nargs + 1)
        self._args_struct = struct.Struct(f"<{4 + 6 * self._nargs}I")  # header and arguments
        self._widths = [width_of(ty) for _, ty in sig.params]
        self._result_width = width_of(sig.result)
        self._fixed = all(w > 0 for w in self._widths) and self._result_width > 0
        # call_fixed's layout for the last (length, scratch address): the descriptor as bytes
        # and where each argument's values go.
        self._layout: tuple[int, int, bytes, list[tuple[int, int]]] | None = None

    def __call__(
        self,
        columns: Sequence[Column],
        length: int,
        allocate: Callable[[int], Any] = bytearray,
    ) -> Column:
        """Run the function over ``columns`` (each ``length`` rows long).

        Result buffers come from ``allocate(nbytes)`` (a writable buffer; ``bytearray`` by
        default, ``pyarrow.allocate_buffer`` to hand them to ``Array.from_buffers``). The
        offsets of a variable-width result are copied as the guest wrote them: check them
        before reading through them (pyarrow: ``validate(full=True)``).

        Raises:
            ValueConversionError: wrong number of columns, or a column of another length.
            GuestError: the guest returned a non-zero status.
            Trap: the guest trapped, or described a result outside its memory.
            LimitExceeded: the batch hit a policy limit (a subclass says which).

        """
        nargs = self._nargs
        if len(columns) != nargs:
            raise ValueConversionError(
                self.sig.name, "*", f"{nargs} column(s)", f"{len(columns)} column(s)"
            )
        # Stage every buffer as a byte view and lay them out after the descriptor.
        staged: list[tuple[memoryview | None, memoryview, memoryview | None]] = []
        fields: list[int] = [length, nargs, VERSION, 0]
        at = self._head
        for col in columns:
            if col.length != length:
                raise ValueConversionError(
                    self.sig.name, "*", f"{length} rows", f"a column of {col.length} rows"
                )
            validity = None if col.validity is None else memoryview(col.validity).cast("B")
            values = memoryview(col.values).cast("B")
            data = None if col.data is None else memoryview(col.data).cast("B")
            staged.append((validity, values, data))
            fields += (length, col.null_count)
            for buf in (validity, values, data):
                if buf is None:
                    fields.append(0)
                else:
                    fields.append(at)  # relative to the area's base until it is known
                    at += (len(buf) + 7) & ~7
            fields.append(0 if data is None else len(data))
        scratch = self._scratch
        base = scratch.address if at <= scratch.capacity else scratch.reserve(at)
        for i in range(4 + 2, len(fields), 6):  # make the buffer addresses absolute
            for k in (i, i + 1, i + 2):
                if fields[k]:
                    fields[k] += base
        mem = self._view()
        self._args_struct.pack_into(mem, base, *fields)
        for (validity, values, data), i in zip(staged, range(4 + 2, len(fields), 6), strict=True):
            if validity is not None:
                mem[fields[i] : fields[i] + len(validity)] = validity
            mem[fields[i + 1] : fields[i + 1] + len(values)] = values
            if data is not None:
                mem[fields[i + 2] : fields[i + 2] + len(data)] = data
        out_at = base + self._head - _COLUMN.size
        _COLUMN.pack_into(mem, out_at, length, 0, 0, 0, 0, 0)
        self._word[0] = base
        self._run()
        status = self._word[0]
        mem = self._view()  # the call may have grown (and moved) the memory
        _, _, validity_at, values_at, data_at, data_len = _COLUMN.unpack_from(mem, out_at)
        if status:
            message = self._message(mem, data_at, data_len)
            raise GuestError(status, message, function=self.sig.name)
        width = self._result_width
        if width > 0 and not validity_at:  # the common case: fixed width, no nulls
            n = width * length
            if values_at + n > len(mem):
                _outside(self.sig.name, "values", values_at, n, len(mem))
            out = allocate(n)
            memoryview(out).cast("B")[:n] = mem[values_at : values_at + n]
            return Column(length, out)
        return self._result(
            mem,
            length,
            validity=validity_at,
            values=values_at,
            data=data_at,
            data_len=data_len,
            allocate=allocate,
        )

    def _result(
        self,
        mem: memoryview,
        length: int,
        *,
        validity: int,
        values: int,
        data: int,
        data_len: int,
        allocate: Callable[[int], Any],
    ) -> Column:
        name = self.sig.name
        width = self._result_width
        bitmap = (length + 7) // 8
        out_validity = (
            _take(mem, validity, bitmap, allocate, name=name, what="validity") if validity else None
        )
        nulls = _count_nulls(out_validity, length) if out_validity is not None else 0
        if width >= 0:
            nvals = bitmap if width == 0 else width * length
            out = _take(mem, values, nvals, allocate, name=name, what="values")
            return Column(length, out, out_validity, None, nulls)
        offsets = _take(mem, values, 4 * (length + 1), allocate, name=name, what="offsets")
        out_data = _take(mem, data, data_len, allocate, name=name, what="data")
        return Column(length, offsets, out_validity, out_data, nulls)

    def call_fixed(
        self, values: Sequence[Any], length: int, allocate: Callable[[int], Any] = bytearray
    ) -> tuple[Any, Any, int]:
        """The common case on a short path: fixed-width columns without nulls.

        Args:
            values: each argument's value buffer (``length`` values, little-endian).
            length: rows.
            allocate: as for ``__call__``.

        Returns:
            The result's value buffer, its validity bitmap (None: no nulls) and null count.

        Raises:
            OmniwasmError: the function's types are not all fixed width (use ``__call__``).
            ValueConversionError: wrong number of buffers, or one too short.
            GuestError: the guest returned a non-zero status.
            Trap: the guest trapped, or described a result outside its memory.
            LimitExceeded: the batch hit a policy limit (a subclass says which).

        """
        if not self._fixed:
            raise OmniwasmError(f"{self.sig}: call_fixed needs fixed-width types only")
        if len(values) != self._nargs:
            raise ValueConversionError(
                self.sig.name, "*", f"{self._nargs} column(s)", f"{len(values)} column(s)"
            )
        scratch = self._scratch
        layout = self._layout
        if layout is None or layout[0] != length or layout[1] != scratch.address:
            layout = self._plan_fixed(length)
        _, base, desc, places = layout
        mem = self._view()
        mem[base : base + len(desc)] = desc
        for (at, n), buf in zip(places, values, strict=True):
            view = memoryview(buf).cast("B")
            if len(view) < n:
                raise ValueConversionError(
                    self.sig.name, "*", f"{n} bytes of values", f"{len(view)} bytes"
                )
            mem[at : at + n] = view[:n] if len(view) != n else view
        word = self._word
        word[0] = base
        self._run()
        status = word[0]
        mem = self._view()
        out_at = base + self._head - _COLUMN.size
        validity_at, values_at, data_at, data_len = _RESULT.unpack_from(mem, out_at + 8)
        if status:
            message = self._message(mem, data_at, data_len)
            raise GuestError(status, message, function=self.sig.name)
        n = self._result_width * length
        if values_at + n > len(mem):
            _outside(self.sig.name, "values", values_at, n, len(mem))
        out = allocate(n)
        memoryview(out).cast("B")[:n] = mem[values_at : values_at + n]
        if not validity_at:
            return out, None, 0
        validity = _take(
            mem, validity_at, (length + 7) // 8, allocate, name=self.sig.name, what="validity"
        )
        return out, validity, _count_nulls(validity, length)

    def _plan_fixed(self, length: int) -> tuple[int, int, bytes, list[tuple[int, int]]]:
        sizes = [w * length for w in self._widths]
        total = self._head + sum((n + 7) & ~7 for n in sizes)
        scratch = self._scratch
        base = scratch.address if total <= scratch.capacity else scratch.reserve(total)
        fields = [length, self._nargs, VERSION, 0]
        places = []
        at = base + self._head
        for n in sizes:
            fields += (length, 0, 0, at, 0, 0)
            places.append((at, n))
            at += (n + 7) & ~7
        desc = self._args_struct.pack(*fields) + _COLUMN.pack(length, 0, 0, 0, 0, 0)
        self._layout = (length, base, desc, places)
        return self._layout

    def _message(self, mem: memoryview, data: int, size: int) -> str:
        size = min(size, _MESSAGE_LIMIT)
        if not data or data + size > len(mem):
            return ""
        return bytes(mem[data : data + size]).decode("utf-8", "replace")


def _take(
    mem: memoryview,
    address: int,
    n: int,
    allocate: Callable[[int], Any],
    *,
    name: str,
    what: str,
) -> Any:
    """Copy ``n`` bytes at ``address`` out of guest memory into ``allocate(n)``."""
    if address + n > len(mem):
        _outside(name, what, address, n, len(mem))
    buf = allocate(n)
    if n:
        memoryview(buf).cast("B")[:n] = mem[address : address + n]
    return buf


def _outside(name: str, what: str, address: int, n: int, size: int) -> NoReturn:
    raise Trap(
        f"{name} described its result {what} at {address}+{n}, outside memory ({size} bytes)"
    )


def _count_nulls(bitmap: Any, length: int) -> int:
    view = memoryview(bitmap).cast("B")
    full, rest = divmod(length, 8)
    valid = int.from_bytes(view[:full], "little").bit_count()
    if rest:
        valid += (view[full] & ((1 << rest) - 1)).bit_count()
    return length - valid
