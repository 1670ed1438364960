"""Scalar values straight to and from raw core slots: the fast path of small calls.

A function whose parameters and result are all scalars (integers, ``bool``, floats, ``char``)
needs no memory, ``realloc`` or handle table: each value is one core slot. For such types this
module compiles, once per signature, the two conversions a call makes per value:
:func:`to_raw` (a host value, validated exactly as ``from_python`` validates it, to the
unsigned or float number a ``wasmtime_val_raw`` slot holds) and :func:`from_raw` (a slot's
number to the value, with the canonical ABI's lift rules: truncation to the width, sign,
canonical NaN, ``char`` checks raising :class:`AbiTrap`). :func:`from_raw` returns ``None``
when the conversion is the identity (``u32``, ``u64``), so callers skip the call.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ...._wit import types as t
from ...._wit.convert import from_python
from .abi_scalars import _canon_nan, _char

__all__ = ["from_raw", "is_scalar", "to_raw"]

Conv = Callable[[Any], Any] | None

_SCALARS = (t.IntType, t.BoolType, t.F32Type, t.F64Type, t.CharType)


def is_scalar(ty: t.WitType | None) -> bool:
    """Whether ``ty`` is one core slot with no memory or handle behind it."""
    return isinstance(ty, _SCALARS)


def to_raw(ty: t.WitType, function: str, param: str) -> Callable[[Any], Any]:
    """A host value of scalar type ``ty`` to its raw slot number.

    The conversion raises :class:`ValueConversionError` (naming ``function`` and ``param``)
    wherever ``from_python`` would: the common exact types are checked inline and anything
    else goes through ``from_python`` itself.
    """

    def slow(v: Any) -> Any:
        return from_python(v, ty, function=function, param=param)

    if isinstance(ty, t.IntType):
        lo, hi = ty.min, ty.max
        if not ty.signed:

            def unsigned(v: Any) -> Any:
                if type(v) is int and 0 <= v <= hi:
                    return v
                return slow(v)

            return unsigned
        mask = (1 << (64 if ty.bits == 64 else 32)) - 1

        def signed(v: Any) -> Any:
            if type(v) is not int or not lo <= v <= hi:
                v = slow(v)
            return v & mask

        return signed
    if isinstance(ty, t.BoolType):

        def boolean(v: Any) -> Any:
            if v is True:
                return 1
            if v is False:
                return 0
            return 1 if slow(v) else 0

        return boolean
    if isinstance(ty, t.F64Type):

        def f64(v: Any) -> Any:
            return v if type(v) is float else float(slow(v))

        return f64
    if isinstance(ty, t.F32Type):

        def f32(v: Any) -> Any:
            return float(slow(v))  # rounds to f32 and refuses what overflows it

        return f32
    if isinstance(ty, t.CharType):

        def char(v: Any) -> Any:
            return ord(slow(v))

        return char
    raise TypeError(f"{ty} is not a scalar")


def from_raw(ty: t.WitType) -> Conv:
    """A raw slot number (unsigned, or a float) to the value of scalar type ``ty``.

    ``None`` is the identity: ``u32`` and ``u64`` slots are read at their exact width.
    """
    if isinstance(ty, t.IntType):
        bits = ty.bits
        if not ty.signed:
            if bits in (32, 64):
                return None
            mask = (1 << bits) - 1
            return lambda v: v & mask
        mask = (1 << bits) - 1
        top = 1 << (bits - 1)
        full = 1 << bits

        def signed(v: Any) -> Any:
            v &= mask
            return v - full if v & top else v

        return signed
    if isinstance(ty, t.BoolType):
        return lambda v: v != 0
    if isinstance(ty, t.F32Type | t.F64Type):
        return _canon_nan
    if isinstance(ty, t.CharType):
        return _char
    raise TypeError(f"{ty} is not a scalar")
