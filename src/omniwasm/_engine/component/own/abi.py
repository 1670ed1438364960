"""The canonical ABI in Python: layouts, flattening, lift and lower of every value type.

One :class:`Codec` is compiled per WIT type (cached by descriptor) and does four things, as
``CanonicalABI.md`` of WebAssembly/component-model defines them: ``load``/``store`` a value in
linear memory at an offset, and ``lift``/``lower`` it from/to flat core values. Values are the
canonical Python forms of ``_wit.values`` (records as their generated classes, ``Variant``,
``Ok``/``Err``, ``Some`` for nested options, ``frozenset`` flags, ``bytes`` for ``list<u8>``),
so both component backends hand the same objects to Python code.

Bytes move at memcpy speed: a ``list<u8>`` is one slice of the guest's memory each way, and
lists of numbers are one ``memoryview.cast`` each way. Everything a guest controls is checked:
pointers and lengths against the memory's size, alignment, UTF-8/UTF-16, chars, variant
discriminants; a violation raises :class:`AbiTrap`, which the caller turns into a ``Trap``.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Callable, Iterator
from typing import Any

from ...._wit import types as t
from ...._wit.values import Err, Ok, Some, Variant, _field_names, enum_class, record_class
from .abi_scalars import (
    _I32,
    _LITTLE,
    _ZERO,
    MAX_FLAT_PARAMS,
    MAX_FLAT_RESULTS,
    AbiTrap,
    BadValue,
    Codec,
    Cx,
    _align_to,
    _Bool,
    _canon_nan,
    _Char,
    _coerce_in,
    _coerce_out,
    _Float,
    _Int,
    _join,
)

__all__ = [
    "MAX_FLAT_ASYNC_PARAMS",
    "MAX_FLAT_PARAMS",
    "MAX_FLAT_RESULTS",
    "AbiTrap",
    "BadValue",
    "Codec",
    "Cx",
    "async_lower_layout",
    "codec",
    "flatten_func",
    "lower_params",
]


MAX_FLAT_ASYNC_PARAMS = 4
"""Flat parameters an async-lowered function takes in registers (more spill to memory)."""

_PAIR = struct.Struct("<II")
_UTF16_TAG = 1 << 31


class _String(Codec):
    size = 8
    align = 4
    flat = ("i32", "i32")

    def load(self, cx: Cx, ptr: int) -> Any:
        p, n = _PAIR.unpack_from(cx.check(ptr, 8, 4), ptr)
        return self.from_pair(cx, p, n)

    def from_pair(self, cx: Cx, p: int, n: int) -> str:
        enc = cx.encoding
        if enc == "utf8":
            view = cx.check(p, n)
            try:
                return str(view[p : p + n], "utf-8")
            except UnicodeDecodeError:
                raise AbiTrap("invalid utf-8 in a string") from None
        if enc == "latin1+utf16" and not n & _UTF16_TAG:
            view = cx.check(p, n, 2)
            return str(view[p : p + n], "latin-1")
        n &= ~_UTF16_TAG
        view = cx.check(p, 2 * n, 2)
        try:
            return str(view[p : p + 2 * n], "utf-16-le")
        except UnicodeDecodeError:
            raise AbiTrap("invalid utf-16 in a string") from None

    def to_pair(self, cx: Cx, value: str) -> tuple[int, int]:
        enc = cx.encoding
        if enc == "utf8":
            data = value.encode("utf-8")
            n, align, tagged = len(data), 1, len(data)
        elif enc == "latin1+utf16":
            try:
                data = value.encode("latin-1")
                n, align, tagged = len(data), 2, len(data)
            except UnicodeEncodeError:
                data = value.encode("utf-16-le")
                n, align, tagged = len(data), 2, (len(data) // 2) | _UTF16_TAG
        else:
            data = value.encode("utf-16-le")
            n, align, tagged = len(data), 2, len(data) // 2
        if n > 0x7FFFFFFF:
            raise AbiTrap("string too long for a 32-bit memory")
        p = cx.alloc(align, n)
        cx.mem()[p : p + n] = data
        return p, tagged

    def store(self, cx: Cx, value: Any, ptr: int) -> None:
        p, n = self.to_pair(cx, value)
        _PAIR.pack_into(cx.check(ptr, 8, 4), ptr, p, n)

    def lift(self, cx: Cx, vals: Iterator[Any]) -> Any:
        p = next(vals) & 0xFFFFFFFF
        return self.from_pair(cx, p, next(vals) & 0xFFFFFFFF)

    def lower(self, cx: Cx, value: Any, out: list[Any]) -> None:
        out.extend(self.to_pair(cx, value))


_NUMERIC_FORMATS = {
    t.U8Type: "B",
    t.S8Type: "b",
    t.U16Type: "H",
    t.S16Type: "h",
    t.U32Type: "I",
    t.S32Type: "i",
    t.U64Type: "Q",
    t.S64Type: "q",
    t.F32Type: "f",
    t.F64Type: "d",
}


class _List(Codec):
    size = 8
    align = 4
    flat = ("i32", "i32")

    def __init__(self, elem: Codec, ty: t.ListType) -> None:
        self.elem = elem
        self.fmt = _NUMERIC_FORMATS.get(type(ty.elem)) if _LITTLE else None
        self.is_bytes = isinstance(ty.elem, t.U8Type)
        self.floats = isinstance(ty.elem, t.F32Type | t.F64Type)

    def from_pair(self, cx: Cx, p: int, n: int) -> Any:
        esize = self.elem.size
        total = n * esize
        view = cx.check(p, total, self.elem.align)
        if self.is_bytes:
            return bytes(view[p : p + n])
        if self.fmt is not None:
            items = view[p : p + total].cast(self.fmt).tolist()  # type: ignore[call-overload]
            return [_canon_nan(x) for x in items] if self.floats else items
        load = self.elem.load
        return [load(cx, p + i * esize) for i in range(n)]

    def to_pair(self, cx: Cx, value: Any) -> tuple[int, int]:
        esize = self.elem.size
        n = len(value)
        total = n * esize
        if total > 0xFFFFFFFF:
            raise AbiTrap("list too long for a 32-bit memory")
        p = cx.alloc(self.elem.align, total)
        if self.is_bytes:
            cx.mem()[p : p + n] = value
        elif self.fmt is not None:
            cx.mem()[p : p + total].cast(self.fmt)[:] = _array(self.fmt, value)  # type: ignore[call-overload]
        else:
            store = self.elem.store
            for i, v in enumerate(value):
                store(cx, v, p + i * esize)
        return p, n

    def load(self, cx: Cx, ptr: int) -> Any:
        p, n = _PAIR.unpack_from(cx.check(ptr, 8, 4), ptr)
        return self.from_pair(cx, p, n)

    def store(self, cx: Cx, value: Any, ptr: int) -> None:
        p, n = self.to_pair(cx, value)
        _PAIR.pack_into(cx.check(ptr, 8, 4), ptr, p, n)

    def lift(self, cx: Cx, vals: Iterator[Any]) -> Any:
        p = next(vals) & 0xFFFFFFFF
        return self.from_pair(cx, p, next(vals) & 0xFFFFFFFF)

    def lower(self, cx: Cx, value: Any, out: list[Any]) -> None:
        out.extend(self.to_pair(cx, value))


def _array(fmt: str, value: Any) -> Any:
    import array

    return array.array(fmt, value)


class _Fields(Codec):
    """Records and tuples: fields at aligned offsets, flattened one after another."""

    def __init__(self, fields: list[Codec], build: Callable[[list[Any]], Any], get: Any) -> None:
        self.fields = fields
        self.build = build
        self.get = get  # value -> list of field values
        offset, align = 0, 1
        self.offsets = []
        for f in fields:
            offset = _align_to(offset, f.align)
            self.offsets.append(offset)
            offset += f.size
            align = max(align, f.align)
        self.align = align
        self.size = _align_to(offset, align)
        self.flat = tuple(x for f in fields for x in f.flat)
        self.pairs = list(zip(fields, self.offsets, strict=True))

    def load(self, cx: Cx, ptr: int) -> Any:
        return self.build([f.load(cx, ptr + off) for f, off in self.pairs])

    def store(self, cx: Cx, value: Any, ptr: int) -> None:
        for (f, off), v in zip(self.pairs, self.get(value), strict=True):
            f.store(cx, v, ptr + off)

    def lift(self, cx: Cx, vals: Iterator[Any]) -> Any:
        return self.build([f.lift(cx, vals) for f in self.fields])

    def lower(self, cx: Cx, value: Any, out: list[Any]) -> None:
        for f, v in zip(self.fields, self.get(value), strict=True):
            f.lower(cx, v, out)


class _Cases(Codec):
    """Variants, enums, options and results: a discriminant and a joined payload."""

    def __init__(
        self,
        cases: list[Codec | None],
        build: Callable[[int, Any], Any],
        split: Callable[[Any], tuple[int, Any]],
    ) -> None:
        self.cases = cases
        self.build = build
        self.split = split
        n = len(cases)
        self.dsize = 1 if n <= 256 else 2 if n <= 65536 else 4
        self.dst = {1: struct.Struct("<B"), 2: struct.Struct("<H"), 4: _I32}[self.dsize]
        calign = max((c.align for c in cases if c is not None), default=1)
        self.align = max(self.dsize, calign)
        self.poff = _align_to(self.dsize, calign)
        csize = max((c.size for c in cases if c is not None), default=0)
        self.size = _align_to(self.poff + csize, self.align)
        joined: list[str] = []
        for c in cases:
            if c is None:
                continue
            for i, ft in enumerate(c.flat):
                if i < len(joined):
                    joined[i] = _join(joined[i], ft)
                else:
                    joined.append(ft)
        self.joined = joined
        self.flat = ("i32", *joined)
        self.ins = [
            [] if c is None else [_coerce_in(joined[i], ft) for i, ft in enumerate(c.flat)]
            for c in cases
        ]
        self.outs = [
            [] if c is None else [_coerce_out(ft, joined[i]) for i, ft in enumerate(c.flat)]
            for c in cases
        ]

    def _case(self, d: int) -> Codec | None:
        if d >= len(self.cases):
            raise AbiTrap(f"invalid discriminant {d}")
        return self.cases[d]

    def load(self, cx: Cx, ptr: int) -> Any:
        d = self.dst.unpack_from(cx.check(ptr, self.dsize, self.align), ptr)[0]
        c = self._case(d)
        return self.build(d, None if c is None else c.load(cx, ptr + self.poff))

    def store(self, cx: Cx, value: Any, ptr: int) -> None:
        d, payload = self.split(value)
        self.dst.pack_into(cx.check(ptr, self.dsize, self.align), ptr, d)
        c = self.cases[d]
        if c is not None:
            c.store(cx, payload, ptr + self.poff)

    def lift(self, cx: Cx, vals: Iterator[Any]) -> Any:
        d = next(vals) & 0xFFFFFFFF
        c = self._case(d)
        slots = [next(vals) for _ in self.joined]
        if c is None:
            return self.build(d, None)
        coerced = [x if f is None else f(x) for x, f in zip(slots, self.ins[d], strict=False)]
        return self.build(d, c.lift(cx, iter(coerced)))

    def lower(self, cx: Cx, value: Any, out: list[Any]) -> None:
        d, payload = self.split(value)
        out.append(d)
        c = self.cases[d]
        mine: list[Any] = []
        if c is not None:
            c.lower(cx, payload, mine)
            mine = [x if f is None else f(x) for x, f in zip(mine, self.outs[d], strict=True)]
        out.extend(mine)
        out.extend(_ZERO[ft] for ft in self.joined[len(mine) :])


class _Flags(Codec):
    def __init__(self, ty: t.FlagsType) -> None:
        self.names = ty.names
        self.bit = {n: 1 << i for i, n in enumerate(ty.names)}
        n = len(ty.names)
        self.size = self.align = 1 if n <= 8 else 2 if n <= 16 else 4
        self.st = {1: struct.Struct("<B"), 2: struct.Struct("<H"), 4: _I32}[self.size]
        self.flat = ("i32",) if n else ()

    def _build(self, bits: int) -> frozenset[str]:
        return frozenset(n for n in self.names if bits & self.bit[n])

    def _bits(self, value: Any) -> int:
        bits = 0
        for n in value:
            bits |= self.bit[n]
        return bits

    def load(self, cx: Cx, ptr: int) -> Any:
        return self._build(self.st.unpack_from(cx.check(ptr, self.size, self.align), ptr)[0])

    def store(self, cx: Cx, value: Any, ptr: int) -> None:
        self.st.pack_into(cx.check(ptr, self.size, self.align), ptr, self._bits(value))

    def lift(self, cx: Cx, vals: Iterator[Any]) -> Any:
        return self._build(next(vals) & 0xFFFFFFFF) if self.flat else frozenset()

    def lower(self, cx: Cx, value: Any, out: list[Any]) -> None:
        if self.flat:
            out.append(self._bits(value))


class _Handle(Codec):
    """``own``/``borrow``: an i32 handle index, moved by the call's ``cx.res``."""

    size = align = 4
    flat = ("i32",)

    def __init__(self, ty: t.OwnType | t.BorrowType) -> None:
        self.ty = ty

    def _res(self, cx: Cx) -> Any:
        if cx.res is None or cx.table is None:
            raise AbiTrap(f"resource handles ({self.ty}) cannot cross here")
        return cx.res

    def load(self, cx: Cx, ptr: int) -> Any:
        i = _I32.unpack_from(cx.check(ptr, 4, 4), ptr)[0]
        return self._res(cx).lift(cx, self.ty, i)

    def store(self, cx: Cx, value: Any, ptr: int) -> None:
        i = self._res(cx).lower(cx, self.ty, value)
        _I32.pack_into(cx.check(ptr, 4, 4), ptr, i)

    def lift(self, cx: Cx, vals: Iterator[Any]) -> Any:
        return self._res(cx).lift(cx, self.ty, next(vals) & 0xFFFFFFFF)

    def lower(self, cx: Cx, value: Any, out: list[Any]) -> None:
        out.append(self._res(cx).lower(cx, self.ty, value))


def _record(ty: t.RecordType) -> Codec:
    names = _field_names(ty)
    return _Fields(
        [codec(ft) for _, ft in ty.fields],
        lambda vs: record_class(ty)(*vs),  # looked up per value: bindgen may register one
        lambda v: [getattr(v, n) for n in names],
    )


def _variant(ty: t.VariantType) -> Codec:
    names = [n for n, _ in ty.cases]
    index = {n: i for i, n in enumerate(names)}
    return _Cases(
        [None if ct is None else codec(ct) for _, ct in ty.cases],
        lambda d, p: Variant(names[d], p),
        lambda v: (index[v.case], v.value),
    )


def _enum(ty: t.EnumType) -> Codec:
    cls = enum_class(ty)
    members = [cls(c) for c in ty.cases]
    index: dict[Any, int] = {m: i for i, m in enumerate(members)}
    index.update({c: i for i, c in enumerate(ty.cases)})

    def split(v: Any) -> tuple[int, None]:
        found = index.get(v)
        if found is None:  # another class's member of the same enum (bindgen's): by WIT name
            found = index[getattr(v, "value", v)]
        return found, None

    cases = ty.cases
    return _Cases([None] * len(cases), lambda d, p: enum_class(ty)(cases[d]), split)


def _option(ty: t.OptionType) -> Codec:
    nested = isinstance(ty.inner, t.OptionType)
    if nested:
        return _Cases(
            [None, codec(ty.inner)],
            lambda d, p: Some(p) if d else None,
            lambda v: (0, None) if v is None else (1, v.value),
        )
    return _Cases(
        [None, codec(ty.inner)],
        lambda d, p: p if d else None,
        lambda v: (0, None) if v is None else (1, v),
    )


def _result(ty: t.ResultType) -> Codec:
    return _Cases(
        [None if ty.ok is None else codec(ty.ok), None if ty.err is None else codec(ty.err)],
        lambda d, p: Err(p) if d else Ok(p),
        lambda v: (1, v.value) if isinstance(v, Err) else (0, v.value),
    )


_SIMPLE: dict[type, Callable[[], Codec]] = {
    t.BoolType: _Bool,
    t.S8Type: lambda: _Int(8, True, "i32"),
    t.U8Type: lambda: _Int(8, False, "i32"),
    t.S16Type: lambda: _Int(16, True, "i32"),
    t.U16Type: lambda: _Int(16, False, "i32"),
    t.S32Type: lambda: _Int(32, True, "i32"),
    t.U32Type: lambda: _Int(32, False, "i32"),
    t.S64Type: lambda: _Int(64, True, "i64"),
    t.U64Type: lambda: _Int(64, False, "i64"),
    t.F32Type: lambda: _Float(32),
    t.F64Type: lambda: _Float(64),
    t.CharType: _Char,
    t.StringType: _String,
}


EXTRA: dict[type, Callable[[Any], Codec]] = {}
"""Codecs other modules provide (``stream``/``future``: ``async_values``)."""


@functools.lru_cache(maxsize=4096)
def codec(ty: t.WitType) -> Codec:
    """The codec of a WIT type (cached per descriptor)."""
    simple = _SIMPLE.get(type(ty))
    if simple is not None:
        return simple()
    extra = EXTRA.get(type(ty))
    if extra is not None:
        return extra(ty)
    if isinstance(ty, t.ListType):
        return _List(codec(ty.elem), ty)
    if isinstance(ty, t.TupleType):
        return _Fields([codec(x) for x in ty.items], tuple, list)
    if isinstance(ty, t.RecordType):
        return _record(ty)
    if isinstance(ty, t.VariantType):
        return _variant(ty)
    if isinstance(ty, t.EnumType):
        return _enum(ty)
    if isinstance(ty, t.FlagsType):
        return _Flags(ty)
    if isinstance(ty, t.OptionType):
        return _option(ty)
    if isinstance(ty, t.ResultType):
        return _result(ty)
    if isinstance(ty, t.OwnType | t.BorrowType):
        return _Handle(ty)
    raise TypeError(f"no canonical ABI for {ty}")


def flatten_func(sig: t.FuncSig, *, lower: bool) -> tuple[list[str], list[str], bool, bool]:
    """The core signature of a function: ``(params, results, params_in_memory, results_in_memory)``.

    ``lower`` is the side the core function sits on: a lowered import receives a return
    pointer as its last parameter when the results spill; a lifted export returns one.
    """
    params = [x for _, ty in sig.params for x in codec(ty).flat]
    spill_params = len(params) > MAX_FLAT_PARAMS
    if spill_params:
        params = ["i32"]
    results = [] if sig.result is None else list(codec(sig.result).flat)
    spill_results = len(results) > MAX_FLAT_RESULTS
    if spill_results:
        if lower:
            params.append("i32")
            results = []
        else:
            results = ["i32"]
    return params, results, spill_params, spill_results


def params_codec(sig: t.FuncSig) -> _Fields:
    """The parameters as one tuple (for parameters that spill into memory)."""
    return _Fields([codec(ty) for _, ty in sig.params], tuple, list)


def lower_params(cx: Cx, sig: t.FuncSig, args: Any, spill: bool) -> list[Any]:
    """``args`` lowered as a callee's flat parameters (``spill``: stored, one pointer)."""
    flat: list[Any] = []
    if spill:
        pc = params_codec(sig)
        ptr = cx.alloc(pc.align, pc.size)
        pc.store(cx, tuple(args), ptr)
        flat.append(ptr)
    else:
        for (_, ty), v in zip(sig.params, args, strict=True):
            codec(ty).lower(cx, v, flat)
    return flat


def async_lower_layout(sig: t.FuncSig) -> tuple[list[Codec], bool, list[str], Codec | None]:
    """An async-lowered function's ``(parameter codecs, spill, core params, result codec)``.

    Its parameters spill to memory past :data:`MAX_FLAT_ASYNC_PARAMS`; a result is stored at
    a pointer, its last core parameter.
    """
    pcodecs = [codec(ty) for _, ty in sig.params]
    flat = [x for cd in pcodecs for x in cd.flat]
    spill = len(flat) > MAX_FLAT_ASYNC_PARAMS
    params = ["i32"] if spill else flat
    rcodec = None if sig.result is None else codec(sig.result)
    if rcodec is not None:
        params.append("i32")
    return pcodecs, spill, params, rcodec
