"""Readers of the converter layer: a ``wasmtime_component_val_t`` to its Python value.

One reader per WIT type, generated once and cached on the link's :class:`.val_write.ResourceHooks`
(see :mod:`.val_write` for the layout). A reader copies whole regions out with one ``string_at``
and never takes ownership: the caller frees a returned value afterwards, and import arguments
belong to wasmtime.
"""

from __future__ import annotations

import ctypes
import struct
from typing import Any

from ...._wit import types as t
from ...._wit import values
from ...._wit.values import Err, Ok, Some, Variant
from .val import (
    ENTRY,
    INTS,
    NAME,
    PAIR,
    PTR,
    RESULT,
    TRIPLE,
    VAL,
    Call,
    Reader,
    ResourceHooks,
    lock,
)

__all__ = ["is_plain", "reader"]

_string_at = ctypes.string_at


def reader(ty: t.WitType, *, hooks: ResourceHooks) -> Reader:
    """The reader of ``ty``: ``r(mem, offset, call)`` returns the Python value of a val."""
    r = hooks.readers.get(ty)
    if r is None:
        r = _make_reader(ty, hooks)
        with lock:
            hooks.readers[ty] = r
    return r


def _make_reader(ty: t.WitType, hooks: ResourceHooks) -> Reader:  # noqa: PLR0915
    if isinstance(ty, t.BoolType):
        unpack_bool = struct.Struct("<?").unpack_from
        return lambda m, o, c: unpack_bool(m, o + 8)[0]
    if isinstance(ty, t.IntType):
        _, code, _, _ = INTS[type(ty)]
        unpack = struct.Struct(f"<{code}").unpack_from
        return lambda m, o, c: unpack(m, o + 8)[0]
    if isinstance(ty, t.F32Type | t.F64Type):
        unpack = struct.Struct("<f" if isinstance(ty, t.F32Type) else "<d").unpack_from
        return lambda m, o, c: unpack(m, o + 8)[0]
    if isinstance(ty, t.CharType):
        u32 = struct.Struct("<I").unpack_from
        return lambda m, o, c: chr(u32(m, o + 8)[0])
    pair = PAIR.unpack_from
    if isinstance(ty, t.StringType):

        def r_str(m: bytes, o: int, c: Call) -> str:
            n, p = pair(m, o + 8)
            return _string_at(p, n).decode() if n else ""

        return r_str
    if isinstance(ty, t.ListType):
        if isinstance(ty.elem, t.U8Type):

            def r_bytes(m: bytes, o: int, c: Call) -> bytes:
                n, p = pair(m, o + 8)
                return _string_at(p, n * VAL)[8::VAL] if n else b""

            return r_bytes
        er = reader(ty.elem, hooks=hooks)

        def r_list(m: bytes, o: int, c: Call) -> list[Any]:
            n, p = pair(m, o + 8)
            if not n:
                return []
            sub = _string_at(p, n * VAL)
            return [er(sub, i * VAL, c) for i in range(n)]

        return r_list
    if isinstance(ty, t.TupleType):
        rs = [reader(e, hooks=hooks) for e in ty.items]

        def r_tuple(m: bytes, o: int, c: Call) -> tuple[Any, ...]:
            n, p = pair(m, o + 8)
            sub = _string_at(p, n * VAL) if n else b""
            return tuple(r(sub, i * VAL, c) for i, r in enumerate(rs))

        return r_tuple
    if isinstance(ty, t.RecordType):
        return _record_reader(ty, hooks)
    if isinstance(ty, t.VariantType):
        return _variant_reader(ty, hooks)
    if isinstance(ty, t.EnumType):
        cls = values.enum_class(ty)
        members = {case.encode(): m for case, m in zip(ty.cases, cls, strict=True)}

        def r_enum(m: bytes, o: int, c: Call) -> Any:
            n, p = pair(m, o + 8)
            return members[_string_at(p, n)]

        return r_enum
    if isinstance(ty, t.FlagsType):

        def r_flags(m: bytes, o: int, c: Call) -> frozenset[str]:
            k, p = pair(m, o + 8)
            if not k:
                return frozenset()
            sub = _string_at(p, k * NAME)
            out = []
            for i in range(k):
                n, q = pair(sub, i * NAME)
                out.append(_string_at(q, n).decode())
            return frozenset(out)

        return r_flags
    if isinstance(ty, t.OptionType):
        inner = reader(ty.inner, hooks=hooks)
        nested = isinstance(ty.inner, t.OptionType)
        ptr = PTR.unpack_from

        def r_opt(m: bytes, o: int, c: Call) -> Any:
            p = ptr(m, o + 8)[0]
            if not p:
                return None
            value = inner(_string_at(p, VAL), 0, c)
            return Some(value) if nested else value

        return r_opt
    if isinstance(ty, t.ResultType):
        ok_r = None if ty.ok is None else reader(ty.ok, hooks=hooks)
        err_r = None if ty.err is None else reader(ty.err, hooks=hooks)
        res = RESULT.unpack_from

        def r_res(m: bytes, o: int, c: Call) -> Ok | Err:
            is_ok, p = res(m, o + 8)
            r = ok_r if is_ok else err_r
            value = None if r is None or not p else r(_string_at(p, VAL), 0, c)
            return Ok(value) if is_ok else Err(value)

        return r_res
    assert isinstance(ty, t.OwnType | t.BorrowType)
    rty = ty
    ptr_of = PTR.unpack_from
    if hooks.host_type(rty) is not None:
        lift = hooks.host_lifter(rty)
        return lambda m, o, c: lift(c, ptr_of(m, o + 8)[0])
    return lambda m, o, c: hooks.lift_guest(c, rty, ptr_of(m, o + 8)[0])


def _record_reader(ty: t.RecordType, hooks: ResourceHooks) -> Reader:
    cls = values.record_class(ty)
    rs = [reader(ft, hooks=hooks) for _, ft in ty.fields]
    pair = PAIR.unpack_from

    def r_rec(m: bytes, o: int, c: Call) -> Any:
        n, p = pair(m, o + 8)
        sub = _string_at(p, n * ENTRY) if n else b""
        return cls(*[r(sub, i * ENTRY + 16, c) for i, r in enumerate(rs)])

    return r_rec


def _variant_reader(ty: t.VariantType, hooks: ResourceHooks) -> Reader:
    cases = {
        name.encode(): (name, None if pty is None else reader(pty, hooks=hooks))
        for name, pty in ty.cases
    }
    triple = TRIPLE.unpack_from

    def r_var(m: bytes, o: int, c: Call) -> Variant:
        n, q, p = triple(m, o + 8)
        name, r = cases[_string_at(q, n)]
        value = None if r is None or not p else r(_string_at(p, VAL), 0, c)
        return Variant(name, value)

    return r_var


def is_plain(ty: t.WitType | None) -> bool:
    """True when a value of ``ty`` owns no native memory (nothing to free after reading)."""
    return ty is None or isinstance(ty, t.BoolType | t.IntType | t.F32Type | t.F64Type | t.CharType)
