"""The grow probe: a module records the memory growth the store's limiter refused it.

wasmtime's store limiter (the only one its C API offers: ``wasmtime_store_limiter``) refuses a
``memory.grow`` past ``max_memory`` by returning -1 to the guest, silently: the C API has no
limiter callback and no "trap on grow failure" switch. Guests usually answer -1 with a trap
(an allocator's abort), which on its own says nothing about the limit, and a memory the module
does not export cannot even be looked at from the host.

So before compiling, every ``memory.grow`` instruction of a core module is replaced by a call
to a small function appended to the module: it does the same ``memory.grow`` and, when it
returns -1, records in two exported globals how large the memory was asked to become and how
large it was. After a trap, the engine reads them (:func:`refused`): a refused request larger
than the policy's ``max_memory`` is a ``MemoryLimitExceeded``, whatever the guest did next.

Nothing else changes: function, type, global and memory indices keep their values (the new
functions, types and globals come last), and :class:`OffsetMap` maps code offsets in the
rewritten binary back to the original, so backtraces point into the module the user gave.
A module without ``memory.grow`` is left as it is. Anything the decoder does not know (an
opcode newer than it) leaves the module uninstrumented; the caller then falls back to what
the exported memories show.
"""

from __future__ import annotations

import bisect
import ctypes
from dataclasses import dataclass
from typing import Any

from wasmtime import _ffi as ffi

from ..._binary.module import PROBE_PREFIX, MemoryInfo, scan_module
from ..._binary.reader import BinaryError, Reader, sleb_bytes, uleb_bytes

__all__ = ["REFUSED", "USED", "OffsetMap", "Probe", "instrument", "refused"]

REFUSED = PROBE_PREFIX + "grow-refused"
"""Exported i64 global: the largest size in bytes a refused ``memory.grow`` asked for."""
USED = PROBE_PREFIX + "grow-used"
"""Exported i64 global: the memory's size in bytes when that request was refused."""

_SATURATE = 1 << 40  # more pages than any memory can have: the request is recorded as "huge"


class _Unknown(BinaryError):
    """An instruction or construct the decoder does not follow."""


@dataclass(frozen=True, slots=True)
class OffsetMap:
    """Maps byte offsets in the instrumented binary back to the original one."""

    new: tuple[int, ...]
    old: tuple[int, ...]

    def original(self, offset: int) -> int:
        """The original module's offset for ``offset`` in the instrumented one."""
        i = bisect.bisect_right(self.new, offset) - 1
        if i < 0:
            return offset
        return self.old[i] + (offset - self.new[i])


@dataclass(frozen=True, slots=True)
class Probe:
    """An instrumented module: its bytes and how to map its offsets back."""

    wasm: bytes
    offsets: OffsetMap


# --- instruction decoding --------------------------------------------------------------------

_NONE, _U32, _U32X2, _BLOCK, _MEMARG, _BR_TABLE, _TRY_TABLE, _SELECT = range(8)
_F32, _F64, _HEAP, _GC, _MISC, _SIMD, _ATOMIC = range(8, 15)
_OPS: dict[int, int] = {}
for _op in (0x00, 0x01, 0x05, 0x0A, 0x0B, 0x0F, 0x19, 0x1A, 0x1B, 0xD1, 0xD3, 0xD4):
    _OPS[_op] = _NONE
for _op in range(0x45, 0xC5):  # numeric and sign-extension instructions
    _OPS[_op] = _NONE
for _op in (0x07, 0x08, 0x09, 0x0C, 0x0D, 0x10, 0x12, 0x14, 0x15, 0x18, 0x25, 0x26, 0x3F, 0x40):
    _OPS[_op] = _U32
for _op in (*range(0x20, 0x25), 0x41, 0x42, 0xD2, 0xD5, 0xD6):  # LEB immediates (s32/s64 too)
    _OPS[_op] = _U32
for _op in range(0x28, 0x3F):
    _OPS[_op] = _MEMARG
_OPS.update(
    {
        0x02: _BLOCK,
        0x03: _BLOCK,
        0x04: _BLOCK,
        0x06: _BLOCK,
        0x0E: _BR_TABLE,
        0x11: _U32X2,
        0x13: _U32X2,
        0x1C: _SELECT,
        0x1F: _TRY_TABLE,
        0x43: _F32,
        0x44: _F64,
        0xD0: _HEAP,
        0xFB: _GC,
        0xFC: _MISC,
        0xFD: _SIMD,
        0xFE: _ATOMIC,
    }
)
# 0xFB (GC) sub-opcode -> number of LEB immediates; the casts are special-cased
_GC_IMM = {0: 1, 1: 1, 2: 2, 3: 2, 4: 2, 5: 2, 6: 1, 7: 1, 8: 2, 9: 2, 10: 2, 11: 1, 12: 1}
_GC_IMM.update({13: 1, 14: 1, 15: 0, 16: 1, 17: 2, 18: 2, 19: 2})
_GC_IMM.update({26: 0, 27: 0, 28: 0, 29: 0, 30: 0})
_MISC_IMM = {8: 2, 9: 1, 10: 2, 11: 1, 12: 2, 13: 1, 14: 2, 15: 1, 16: 1, 17: 1}
_MISC_IMM.update(dict.fromkeys((0, 1, 2, 3, 4, 5, 6, 7, 19, 20, 21, 22), 0))
_ABSTRACT_HEAP = frozenset(range(0x69, 0x76))


class _Code(Reader):
    """Walks instructions; ``pos`` moves through ``data`` up to ``end``."""

    __slots__ = ()

    def skip_leb(self) -> None:
        data, end = self.data, self.end
        while True:
            if self.pos >= end:
                raise _Unknown
            b = data[self.pos]
            self.pos += 1
            if b < 0x80:
                return

    def heaptype(self) -> None:
        if self.pos < self.end and self.data[self.pos] in _ABSTRACT_HEAP:
            self.pos += 1
        else:
            self.skip_leb()

    def valtype(self) -> None:
        b = self.byte()
        if b in (0x63, 0x64):
            self.heaptype()
        elif not 0x69 <= b <= 0x7F:
            raise _Unknown

    def blocktype(self) -> None:
        b = self.data[self.pos] if self.pos < self.end else -1
        if b == 0x40 or 0x69 <= b <= 0x7F:
            self.pos += 1
        elif b in (0x63, 0x64):
            self.pos += 1
            self.heaptype()
        else:
            self.skip_leb()  # a type index (s33)

    def memarg(self) -> None:
        align = self.uleb()
        if align & 0x40:
            self.skip_leb()
        self.skip_leb()

    def instruction(self) -> int:
        """Skip one instruction; returns its first byte."""
        op = self.byte()
        kind = _OPS.get(op)
        if kind is None:
            raise _Unknown
        if kind == _NONE:
            return op
        if kind == _U32:
            self.skip_leb()
        elif kind == _MEMARG:
            self.memarg()
        elif kind == _BLOCK:
            self.blocktype()
        elif kind == _U32X2:
            self.skip_leb()
            self.skip_leb()
        elif kind == _F32:
            self.pos += 4
        elif kind == _F64:
            self.pos += 8
        elif kind == _HEAP:
            self.heaptype()
        elif kind == _BR_TABLE:
            for _ in range(self.uleb() + 1):
                self.skip_leb()
        elif kind == _SELECT:
            for _ in range(self.uleb()):
                self.valtype()
        elif kind == _TRY_TABLE:
            self.blocktype()
            for _ in range(self.uleb()):
                catch = self.byte()
                if catch > 3:
                    raise _Unknown
                if catch < 2:
                    self.skip_leb()
                self.skip_leb()
        else:
            self._prefixed(kind)
        if self.pos > self.end:
            raise _Unknown
        return op

    def _prefixed(self, kind: int) -> None:
        sub = self.uleb()
        if kind == _GC:
            n = _GC_IMM.get(sub)
            if n is not None:
                for _ in range(n):
                    self.skip_leb()
            elif sub in (20, 21, 22, 23):  # ref.test, ref.cast
                self.heaptype()
            elif sub in (24, 25):  # br_on_cast(_fail): flags, label, two heap types
                self.byte()
                self.skip_leb()
                self.heaptype()
                self.heaptype()
            else:
                raise _Unknown
        elif kind == _MISC:
            n = _MISC_IMM.get(sub)
            if n is None:
                raise _Unknown
            for _ in range(n):
                self.skip_leb()
        elif kind == _SIMD:
            if sub <= 11 or sub in (92, 93):
                self.memarg()
            elif sub in (12, 13):  # v128.const, i8x16.shuffle
                self.pos += 16
            elif 21 <= sub <= 34:  # extract/replace lane
                self.pos += 1
            elif 84 <= sub <= 91:  # load/store lane
                self.memarg()
                self.pos += 1
            elif sub > 0x113:
                raise _Unknown
        elif sub == 3:  # atomic.fence
            self.byte()
        elif sub <= 2 or 0x10 <= sub <= 0x4E:
            self.memarg()
        else:
            raise _Unknown


# --- rewriting -------------------------------------------------------------------------------

_ORDER = {1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 13: 6, 6: 7, 7: 8, 8: 9, 9: 10, 12: 11, 10: 12, 11: 13}


def _sections(data: bytes) -> list[tuple[int, int, int, int]]:
    """``(id, start, payload start, end)`` of every section."""
    code = _Code(data, 8, len(data))
    out = []
    while code.pos < len(data):
        start = code.pos
        sid = code.byte()
        size = code.uleb()
        body = code.pos
        code.pos += size
        if code.pos > len(data):
            raise _Unknown
        out.append((sid, start, body, code.pos))
    return out


def _helper_body(mem: int, info: MemoryInfo, refused: int, used: int) -> bytes:
    """``(param $d IT) (result IT) (local $r IT) (local $x i64)``: grow, record a refusal."""
    it = 0x7E if info.is64 else 0x7F
    ext = b"" if info.is64 else b"\xad"  # i64.extend_i32_u
    m = uleb_bytes(mem)
    page = b"\x42" + sleb_bytes(info.page_size) + b"\x7e"  # i64.const page size; i64.mul
    delta = b"\x20\x00" + ext
    code = b"".join(
        (
            b"\x02\x01" + bytes([it]) + b"\x01\x7e",  # locals: 1 x IT, 1 x i64
            b"\x20\x00\x40" + m + b"\x22\x01",  # local.get 0; memory.grow m; local.tee 1
            (b"\x42\x7f\x51" if info.is64 else b"\x41\x7f\x46"),  # == -1
            b"\x04\x40",  # if
            delta + b"\x42" + sleb_bytes(_SATURATE) + b"\x56",  # delta > 2^40 (unsigned)
            b"\x04\x7e\x42\x7f\x05",  # if (result i64) u64 max else
            b"\x3f" + m + ext + delta + b"\x7c" + page,  # (size + delta) * page
            b"\x0b\x21\x02",  # end; local.set 2 (bytes asked for)
            b"\x20\x02\x23" + uleb_bytes(refused) + b"\x56",  # asked > refused (unsigned)
            b"\x04\x40\x20\x02\x24" + uleb_bytes(refused),  # if: refused = asked
            b"\x3f" + m + ext + page + b"\x24" + uleb_bytes(used),  # used = size * page
            b"\x0b\x0b\x20\x01\x0b",  # end; end; local.get 1; end
        )
    )
    return uleb_bytes(len(code)) + code


def instrument(wasm: bytes) -> Probe | None:
    """The module with its ``memory.grow`` instructions probed, or None to leave it as it is.

    None when the module never grows memory, or uses something this decoder does not follow.
    """
    try:
        return _instrument(wasm)
    except (IndexError, KeyError, ValueError):  # BinaryError and _Unknown among them
        return None


def _rewrite_code(
    wasm: bytes, body: int, end: int, n_funcs: int, n_memories: int
) -> tuple[int, bytearray, list[tuple[int, int]], dict[int, int]]:
    """Function bodies with ``memory.grow m`` replaced by ``call helper(m)``.

    Returns the body count, the new bodies, anchors ``(offset in the new bodies, offset in the
    original binary)`` where copied stretches start, and the helper index of each memory.
    """
    helpers: dict[int, int] = {}
    reader = _Code(wasm, body, end)
    count = reader.uleb()
    out = bytearray()
    anchors: list[tuple[int, int]] = []
    for _ in range(count):
        size = reader.uleb()
        fstart = reader.pos
        fend = fstart + size
        if wasm.find(b"\x40", fstart, fend) < 0:  # no memory.grow possible: copy as it is
            anchors.append((len(out) + len(uleb_bytes(size)), fstart))
            out += uleb_bytes(size) + wasm[fstart:fend]
            reader.pos = fend
            continue
        walker = _Code(wasm, fstart, fend)
        for _ in range(walker.uleb()):  # local declarations
            walker.skip_leb()
            walker.valtype()
        pieces: list[tuple[int, int, bytes]] = []  # (old start, old end, replacement)
        while walker.pos < fend:
            at = walker.pos
            if walker.instruction() == 0x40:
                mem = _Code(wasm, at + 1, walker.pos).uleb()
                if mem >= n_memories:
                    raise _Unknown
                index = helpers.setdefault(mem, n_funcs + len(helpers))
                pieces.append((at, walker.pos, b"\x10" + uleb_bytes(index)))
        if walker.pos != fend:
            raise _Unknown
        out += uleb_bytes(size + sum(len(r) - (b - a) for a, b, r in pieces))
        cursor = fstart
        for a, b, replacement in pieces:
            anchors.append((len(out), cursor))
            out += wasm[cursor:a]
            out += replacement
            cursor = b
        anchors.append((len(out), cursor))
        out += wasm[cursor:fend]
        reader.pos = fend
    if reader.pos != end:
        raise _Unknown
    return count, out, anchors, helpers


def _instrument(wasm: bytes) -> Probe | None:
    scan = scan_module(wasm)
    if scan is None:
        return None
    sections = _sections(wasm)
    code_sec = next((s for s in sections if s[0] == 10), None)
    if code_sec is None or b"\x40" not in wasm[code_sec[2] : code_sec[3]]:
        return None
    refused, used = len(scan.globals), len(scan.globals) + 1
    count, bodies, anchors, helpers = _rewrite_code(
        wasm, code_sec[2], code_sec[3], len(scan.funcs), len(scan.memories)
    )
    if not helpers:
        return None
    order = sorted(helpers, key=helpers.__getitem__)
    for mem in order:
        bodies += _helper_body(mem, scan.memories[mem], refused, used)
    head = uleb_bytes(count + len(order))
    code_payload = head + bytes(bodies)
    # Helper types, function declarations, the two globals and their exports.
    type_of: dict[int, int] = {}
    new_types = bytearray()
    for mem in order:
        it = 0x7E if scan.memories[mem].is64 else 0x7F
        if it not in type_of:
            type_of[it] = len(scan.types) + len(type_of)
            new_types += bytes((0x60, 1, it, 1, it))
    funcs = b"".join(uleb_bytes(type_of[0x7E if scan.memories[m].is64 else 0x7F]) for m in order)
    exports = b"".join(
        uleb_bytes(len(name.encode())) + name.encode() + b"\x03" + uleb_bytes(index)
        for name, index in ((REFUSED, refused), (USED, used))
    )
    pending = {
        1: (len(type_of), bytes(new_types)),
        3: (len(order), funcs),
        6: (2, b"\x7e\x01\x42\x00\x0b" * 2),  # (mut i64) (i64.const 0), twice
        7: (2, exports),
    }
    result = bytearray(wasm[:8])
    code_at = 0

    def emit(section_id: int, payload: bytes) -> None:
        result.append(section_id)
        result.extend(uleb_bytes(len(payload)))
        result.extend(payload)

    def flush(rank: int) -> None:
        for missing in sorted(pending, key=_ORDER.__getitem__):
            if _ORDER[missing] < rank:
                n, items = pending.pop(missing)
                emit(missing, uleb_bytes(n) + items)

    for sid, start, body, end in sections:
        if sid != 0:
            flush(_ORDER.get(sid, 99))
        if sid in pending:
            n, items = pending.pop(sid)
            old = _Code(wasm, body, end)
            emit(sid, uleb_bytes(old.uleb() + n) + wasm[old.pos : end] + items)
        elif sid == 10:
            result.append(10)
            result.extend(uleb_bytes(len(code_payload)))
            code_at = len(result) + len(head)
            result.extend(code_payload)
        else:
            result.extend(wasm[start:end])
    flush(99)
    offsets = OffsetMap(tuple(code_at + n for n, _ in anchors), tuple(o for _, o in anchors))
    return Probe(bytes(result), offsets)


# --- reading the probe -----------------------------------------------------------------------

_vp = ctypes.c_void_p
_export_get = ctypes.CFUNCTYPE(ctypes.c_bool, _vp, _vp, ctypes.c_char_p, ctypes.c_size_t, _vp)(
    ("wasmtime_instance_export_get", ffi.dll)
)
_global_get = ctypes.CFUNCTYPE(None, _vp, _vp, _vp)(("wasmtime_global_get", ffi.dll))
_GLOBAL = ffi.WASMTIME_EXTERN_GLOBAL.value
_I64 = ffi.WASMTIME_I64.value


def _read(ctx: int, instance: Any, name: str) -> int | None:
    item = ffi.wasmtime_extern_t()
    raw = name.encode()
    if not _export_get(ctx, ctypes.addressof(instance), raw, len(raw), ctypes.addressof(item)):
        return None
    if int(item.kind) != _GLOBAL:
        return None
    val = ffi.wasmtime_val_t()
    _global_get(ctx, ctypes.addressof(item.of.global_), ctypes.addressof(val))
    if int(val.kind) != _I64:
        return None
    return int(val.of.i64) & ((1 << 64) - 1)


def refused(ctx: int, instance: Any) -> tuple[int, int] | None:
    """``(bytes asked for, bytes held)`` of the largest refused growth, or None.

    ``instance`` is the ``wasmtime_instance_t`` structure of a probed module in store ``ctx``.
    """
    asked = _read(ctx, instance, REFUSED)
    if not asked:
        return None
    return asked, _read(ctx, instance, USED) or 0
