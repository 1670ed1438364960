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
import math
import struct
import sys
from collections.abc import Callable, Iterator
from typing import Any

from ...._wit import types as t
from ...._wit.values import Err, Ok, Some, Variant, _field_names, enum_class, record_class

__all__ = [
    "MAX_FLAT_PARAMS",
    "MAX_FLAT_RESULTS",
    "AbiTrap",
    "BadValue",
    "Codec",
    "Cx",
    "codec",
    "flatten_func",
]

MAX_FLAT_PARAMS = 16
MAX_FLAT_RESULTS = 1
_LITTLE = sys.byteorder == "little"


class AbiTrap(Exception):
    """The guest broke the canonical ABI (bad pointer, UTF-8, char, discriminant...)."""


class BadValue(Exception):
    """A Python value does not fit where it goes (a handle of the wrong kind, say)."""

    def __init__(self, expected: str, value: Any) -> None:
        super().__init__(expected)
        self.expected = expected
        self.value = value


class Cx:
    """What lifting and lowering one call needs: the memory, realloc and the string encoding.

    ``view`` returns a writable ``memoryview`` of the whole memory as it is now (re-taken after
    any guest code ran); ``realloc(old, old_size, align, new_size)`` calls the guest's
    allocator. Resources: ``table`` is the guest instance's handle table, ``res`` moves handles
    between it and Python (``.resources.HostSide``), ``borrows`` counts the borrow handles the
    callee still holds and ``exits`` what to do when the call ends (:meth:`finish`).
    """

    __slots__ = ("_view", "borrows", "encoding", "exits", "realloc", "res", "table", "view_fn")

    def __init__(
        self,
        view_fn: Callable[[], memoryview] | None,
        realloc: Callable[[int, int, int, int], int] | None,
        encoding: str = "utf8",
        table: Any = None,
        res: Any = None,
    ) -> None:
        self.view_fn = view_fn
        self.realloc = realloc
        self.encoding = encoding
        self._view: memoryview | None = None
        self.table = table
        self.res = res
        self.borrows = 0
        self.exits: list[Callable[[], Any]] | None = None

    def on_exit(self, fn: Callable[[], Any]) -> None:
        """Run ``fn`` when the call ends (ends a lend, forgets a borrowed object)."""
        if self.exits is None:
            self.exits = []
        self.exits.append(fn)

    def finish(self) -> None:
        """The call ended: run the exit actions (each once)."""
        exits, self.exits = self.exits, None
        if exits:
            for fn in exits:
                fn()

    def mem(self) -> memoryview:
        """The memory now (cached until :meth:`dirty`)."""
        view = self._view
        if view is None:
            if self.view_fn is None:
                raise AbiTrap("this function has no memory option but needs one")
            view = self._view = self.view_fn()
        return view

    def dirty(self) -> None:
        """Guest code ran: the memory may have grown (and moved)."""
        self._view = None

    def check(self, ptr: int, size: int, align: int = 1) -> memoryview:
        view = self.mem()
        if ptr & (align - 1):
            raise AbiTrap(f"misaligned pointer {ptr:#x} (alignment {align})")
        if ptr < 0 or ptr + size > len(view):
            raise AbiTrap(f"out-of-bounds access at {ptr:#x}+{size}")
        return view

    def alloc(self, align: int, size: int) -> int:
        if self.realloc is None:
            raise AbiTrap("this function has no realloc option but needs one")
        ptr = self.realloc(0, 0, align, size) & 0xFFFFFFFF
        self.dirty()
        self.check(ptr, size, align)
        return ptr


def _align_to(n: int, align: int) -> int:
    return (n + align - 1) // align * align


def _join(a: str, b: str) -> str:
    if a == b:
        return a
    if {a, b} == {"i32", "f32"}:
        return "i32"
    return "i64"


_F32 = struct.Struct("<f")
_I32 = struct.Struct("<I")
_F64 = struct.Struct("<d")
_Q = struct.Struct("<Q")


def _f32_bits(x: float) -> int:
    return int(_I32.unpack(_F32.pack(x))[0])


def _bits_f32(i: int) -> float:
    return float(_F32.unpack(_I32.pack(i & 0xFFFFFFFF))[0])


def _f64_bits(x: float) -> int:
    return int(_Q.unpack(_F64.pack(x))[0])


def _bits_f64(i: int) -> float:
    return float(_F64.unpack(_Q.pack(i & 0xFFFFFFFFFFFFFFFF))[0])


def _coerce_in(have: str, want: str) -> Callable[[Any], Any] | None:
    """Read a joined slot (``have``) as the case's own flat type (``want``)."""
    if have == want:
        return None
    if have == "i32" and want == "f32":
        return _bits_f32
    if have == "i64" and want == "i32":
        return lambda x: x & 0xFFFFFFFF
    if have == "i64" and want == "f32":
        return lambda x: _bits_f32(x & 0xFFFFFFFF)
    if have == "i64" and want == "f64":
        return _bits_f64
    raise AssertionError((have, want))  # pragma: no cover - joins only widen


def _coerce_out(have: str, want: str) -> Callable[[Any], Any] | None:
    """Write a case's flat value (``have``) into a joined slot (``want``)."""
    if have == want:
        return None
    if have == "f32" and want == "i32":
        return _f32_bits
    if have == "i32" and want == "i64":
        return lambda x: x & 0xFFFFFFFF
    if have == "f32" and want == "i64":
        return _f32_bits
    if have == "f64" and want == "i64":
        return _f64_bits
    raise AssertionError((have, want))  # pragma: no cover


_ZERO = {"i32": 0, "i64": 0, "f32": 0.0, "f64": 0.0}


class Codec:
    """Layout and conversions of one WIT type (see the module docstring)."""

    size = 0
    align = 1
    flat: tuple[str, ...] = ()

    def load(self, cx: Cx, ptr: int) -> Any:
        raise NotImplementedError

    def store(self, cx: Cx, value: Any, ptr: int) -> None:
        raise NotImplementedError

    def lift(self, cx: Cx, vals: Iterator[Any]) -> Any:
        raise NotImplementedError

    def lower(self, cx: Cx, value: Any, out: list[Any]) -> None:
        raise NotImplementedError


class _Int(Codec):
    def __init__(self, bits: int, signed: bool, flat: str) -> None:
        self.size = self.align = bits // 8
        self.flat = (flat,)
        self.mask = (1 << bits) - 1
        self.signed = signed
        self.bits = bits
        fmt = {1: "b", 2: "h", 4: "i", 8: "q"}[self.size]
        self.st = struct.Struct("<" + (fmt if signed else fmt.upper()))

    def load(self, cx: Cx, ptr: int) -> Any:
        view = cx.check(ptr, self.size, self.align)
        return self.st.unpack_from(view, ptr)[0]

    def store(self, cx: Cx, value: Any, ptr: int) -> None:
        view = cx.check(ptr, self.size, self.align)
        self.st.pack_into(view, ptr, value)

    def lift(self, cx: Cx, vals: Iterator[Any]) -> Any:
        v = next(vals) & self.mask
        if self.signed and v >> (self.bits - 1):
            v -= 1 << self.bits
        return v

    def lower(self, cx: Cx, value: Any, out: list[Any]) -> None:
        out.append(value)


class _Bool(Codec):
    size = align = 1
    flat = ("i32",)

    def load(self, cx: Cx, ptr: int) -> Any:
        return cx.check(ptr, 1)[ptr] != 0

    def store(self, cx: Cx, value: Any, ptr: int) -> None:
        cx.check(ptr, 1)[ptr] = 1 if value else 0

    def lift(self, cx: Cx, vals: Iterator[Any]) -> Any:
        return (next(vals) & 0xFFFFFFFF) != 0

    def lower(self, cx: Cx, value: Any, out: list[Any]) -> None:
        out.append(1 if value else 0)


def _canon_nan(x: float) -> float:
    return math.nan if math.isnan(x) else x


class _Float(Codec):
    def __init__(self, bits: int) -> None:
        self.size = self.align = bits // 8
        self.flat = ("f32" if bits == 32 else "f64",)
        self.st = _F32 if bits == 32 else _F64

    def load(self, cx: Cx, ptr: int) -> Any:
        return _canon_nan(self.st.unpack_from(cx.check(ptr, self.size, self.align), ptr)[0])

    def store(self, cx: Cx, value: Any, ptr: int) -> None:
        self.st.pack_into(cx.check(ptr, self.size, self.align), ptr, value)

    def lift(self, cx: Cx, vals: Iterator[Any]) -> Any:
        return _canon_nan(float(next(vals)))

    def lower(self, cx: Cx, value: Any, out: list[Any]) -> None:
        out.append(float(value))


def _char(i: int) -> str:
    if i >= 0x110000 or 0xD800 <= i <= 0xDFFF:
        raise AbiTrap(f"invalid char {i:#x}")
    return chr(i)


class _Char(Codec):
    size = align = 4
    flat = ("i32",)

    def load(self, cx: Cx, ptr: int) -> Any:
        return _char(_I32.unpack_from(cx.check(ptr, 4, 4), ptr)[0])

    def store(self, cx: Cx, value: Any, ptr: int) -> None:
        _I32.pack_into(cx.check(ptr, 4, 4), ptr, ord(value))

    def lift(self, cx: Cx, vals: Iterator[Any]) -> Any:
        return _char(next(vals) & 0xFFFFFFFF)

    def lower(self, cx: Cx, value: Any, out: list[Any]) -> None:
        out.append(ord(value))


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
