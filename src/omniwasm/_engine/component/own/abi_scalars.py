"""The canonical ABI's ground floor: the call context, the codec base and the scalar codecs.

:class:`Cx` is one lift or lower's view of a guest (its memory, ``realloc``, string encoding,
handle tables and exit hooks) and checks every pointer and length a guest hands over;
:class:`Codec` is the four-operation interface (``load``/``store`` in memory, ``lift``/``lower``
from/to flat core values) every compiled WIT type implements. This module holds the codecs of
the scalar types (integers, ``bool``, floats with canonical NaNs, ``char``), the flat-type joins
and coercions used when variants flatten, and :class:`AbiTrap`/:class:`BadValue`; the compound
codecs and the per-type compiler live in ``abi``, which re-exports these names.
"""

from __future__ import annotations

import math
import struct
import sys
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from typing import Any

__all__ = [
    "MAX_FLAT_PARAMS",
    "MAX_FLAT_RESULTS",
    "AbiTrap",
    "BadValue",
    "Codec",
    "Cx",
    "range_trap",
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
        if ptr & (align - 1) or ptr < 0 or ptr + size > len(view):
            raise range_trap(ptr, size, align)
        return view

    def alloc(self, align: int, size: int) -> int:
        if self.realloc is None:
            raise AbiTrap("this function has no realloc option but needs one")
        ptr = self.realloc(0, 0, align, size) & 0xFFFFFFFF
        self.dirty()
        self.check(ptr, size, align)
        return ptr


def range_trap(ptr: int, size: int, align: int = 1) -> AbiTrap:
    """The trap for a guest pointer that is misaligned or out of bounds (it is one of them)."""
    if ptr & (align - 1):
        return AbiTrap(f"misaligned pointer {ptr:#x} (alignment {align})")
    return AbiTrap(f"out-of-bounds access at {ptr:#x}+{size}")


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


class Codec(ABC):
    """Layout and conversions of one WIT type (see the module docstring)."""

    size = 0
    align = 1
    flat: tuple[str, ...] = ()

    @abstractmethod
    def load(self, cx: Cx, ptr: int) -> Any:
        """The value stored at ``ptr`` in the guest's memory."""

    @abstractmethod
    def store(self, cx: Cx, value: Any, ptr: int) -> None:
        """Write ``value`` at ``ptr`` in the guest's memory."""

    @abstractmethod
    def lift(self, cx: Cx, vals: Iterator[Any]) -> Any:
        """The value of the flat core values taken from ``vals``."""

    @abstractmethod
    def lower(self, cx: Cx, value: Any, out: list[Any]) -> None:
        """Append ``value``'s flat core values to ``out``."""


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
