"""Pre-initialised images of a core module, written in Python (what wizer does).

An image is the module with its memory and mutable globals replaced by those of a live
instance that already ran some code (here: CPython after ``import numpy, pandas``), so that
every instance made from it starts in that state, and wasmtime maps the memory copy-on-write
from the compiled file instead of running the code again.

Two steps, both pure byte rewriting (no function body is decoded):

1. :func:`export_globals` exports every mutable global the module defines under
   ``omniwasm:global:N`` (a running instance's globals are otherwise invisible to the host).
2. :func:`write_image` takes such a module and a live instance's memory and global values and
   writes a new module: the memory section's minimum is the live size, the active data
   segments are replaced by the live memory's non-zero ranges, and each mutable global's
   initialiser is the live value. Passive segments (which code may name by index) are kept;
   they must come before every active one. The exports of step 1 stay, so an image can itself
   be the base of another.

What an image cannot hold is the host's side: open files, preopens or host resources the
instance acquired. The caller runs the initialisation only through code that leaves none
(the interpreter closes what its imports opened), with the same preopens every instance gets.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from .._binary.reader import (
    BinaryError,
    Reader,
    const_instr,
    section_spans,
    skip_const_expr,
    sleb_bytes,
    uleb_bytes,
)

__all__ = [
    "GLOBAL_PREFIX",
    "SnapshotError",
    "export_globals",
    "function_index",
    "mutable_globals",
    "write_image",
]

GLOBAL_PREFIX = "omniwasm:global:"
PAGE = 4096
MERGE_GAP = 16 * PAGE  # zero runs shorter than this stay inside one segment
_VALTYPES = {0x7F: "i32", 0x7E: "i64", 0x7D: "f32", 0x7C: "f64"}
_SECTION_ORDER = {
    1: 1,
    2: 2,
    3: 3,
    4: 4,
    5: 5,
    13: 6,
    6: 7,
    7: 8,
    8: 9,
    9: 10,
    12: 11,
    10: 12,
    11: 13,
}


class SnapshotError(ValueError):
    """The module has a shape the image writer does not handle (named in the message)."""


@dataclass(frozen=True, slots=True)
class _Global:
    index: int
    valtype: str
    mutable: bool


def _section(section_id: int, payload: bytes) -> bytes:
    return bytes([section_id]) + uleb_bytes(len(payload)) + payload


def _sections(wasm: bytes) -> Iterator[tuple[int, int, int]]:
    """``(id, payload start, payload end)`` of each section."""
    for section_id, _, start, end in _spans(wasm):
        yield section_id, start, end


def _spans(wasm: bytes) -> Iterator[tuple[int, int, int, int]]:
    """``(id, section start, payload start, payload end)`` of each section."""
    if wasm[:8] != b"\0asm\x01\x00\x00\x00":
        raise SnapshotError("not a core WebAssembly module")
    try:
        yield from section_spans(wasm)
    except BinaryError as exc:
        raise SnapshotError(f"malformed module: {exc}") from None


def _limits(r: Reader) -> None:
    flags = r.byte()
    r.uleb()
    if flags & 1:
        r.uleb()


def _imported_globals(r: Reader) -> int:
    count = 0
    for _ in range(r.u32()):
        r.name()
        r.name()
        kind = r.byte()
        if kind == 0:  # function
            r.u32()
        elif kind == 1:  # table
            r.byte()
            _limits(r)
        elif kind == 2:  # memory
            _limits(r)
        elif kind == 3:  # global
            r.byte()
            r.byte()
            count += 1
        elif kind == 4:  # tag
            r.byte()
            r.u32()
        else:
            raise SnapshotError(f"import of unknown kind {kind}")
    return count


def _const_expr(r: Reader) -> None:
    """Skip a constant expression up to and including its ``end``."""
    try:
        skip_const_expr(r)
    except BinaryError as exc:
        raise SnapshotError(str(exc)) from None


def _globals(wasm: bytes) -> tuple[int, list[tuple[_Global, int, int]]]:
    """Imported global count, and each defined global with its initialiser's byte span."""
    imported = 0
    found: list[tuple[_Global, int, int]] = []
    for section_id, start, end in _sections(wasm):
        if section_id == 2:
            imported = _imported_globals(Reader(wasm, start, end))
        elif section_id == 6:
            r = Reader(wasm, start, end)
            for i in range(r.u32()):
                code = r.byte()
                mutable = r.byte() == 1
                init = r.pos
                _const_expr(r)
                valtype = _VALTYPES.get(code, f"0x{code:02x}")
                found.append((_Global(imported + i, valtype, mutable), init, r.pos))
    return imported, found


def mutable_globals(wasm: bytes) -> dict[int, str]:
    """``{global index: value type}`` of the mutable globals ``wasm`` defines."""
    return {g.index: g.valtype for g, _, _ in _globals(wasm)[1] if g.mutable}


def function_index(wasm: bytes, name: str) -> int | None:
    """The index of the function the module's ``name`` section calls ``name`` (None: none)."""
    for section_id, start, end in _sections(wasm):
        if section_id != 0:
            continue
        r = Reader(wasm, start, end)
        if r.name() != "name":
            continue
        while not r.done():
            sub = r.byte()
            size = r.u32()
            stop = r.pos + size
            if sub == 1:
                for _ in range(r.u32()):
                    index = r.u32()
                    if r.name() == name:
                        return index
            r.pos = stop
    return None


def export_globals(wasm: bytes, functions: Mapping[str, str] | None = None) -> bytes:
    """``wasm`` with each mutable global it defines exported as ``omniwasm:global:N``.

    Args:
        wasm: the module.
        functions: internal functions to export too, ``{name in the name section: export
            name}`` (those the name section does not list are left out).

    Raises:
        SnapshotError: a mutable global is not a number (references cannot be snapshotted),
            or the module has a start function (it would run again in every instance).

    """
    wanted = mutable_globals(wasm)
    for index, valtype in wanted.items():
        if valtype not in _VALTYPES.values():
            raise SnapshotError(f"mutable global {index} of type {valtype}")
    out = bytearray(wasm[:8])
    exported = False
    entries = [(f"{GLOBAL_PREFIX}{index}".encode(), 3, index) for index in sorted(wanted)]
    for internal, export in (functions or {}).items():
        found = function_index(wasm, internal)
        if found is not None:
            entries.append((export.encode(), 0, found))
    extra = b"".join(
        uleb_bytes(len(n)) + n + bytes([kind]) + uleb_bytes(i) for n, kind, i in entries
    )
    for section_id, head, start, end in _spans(wasm):
        if section_id == 8:
            raise SnapshotError("the module has a start function")
        if section_id == 7:
            r = Reader(wasm, start, end)
            count = r.u32()
            body = bytes(wasm[r.pos : end])
            if GLOBAL_PREFIX.encode() in body:
                return wasm  # already exported
            out += _section(7, uleb_bytes(count + len(entries)) + body + extra)
            exported = True
            continue
        if not exported and _SECTION_ORDER.get(section_id, 0) > _SECTION_ORDER[7]:
            out += _section(7, uleb_bytes(len(entries)) + extra)
            exported = True
        out += wasm[head:end]
    if not exported:
        out += _section(7, uleb_bytes(len(entries)) + extra)
    return bytes(out)


def _const(valtype: str, value: float) -> bytes:
    return const_instr(valtype, value) + b"\x0b"


def _segments(memory: bytes | memoryview) -> list[tuple[int, int]]:
    """``(offset, end)`` of the memory's non-zero ranges, page-granular, small gaps merged."""
    view = memoryview(memory)
    zero = bytes(PAGE)
    runs: list[tuple[int, int]] = []
    size = len(view)
    off = 0
    while off < size:
        end = min(off + PAGE, size)
        if view[off:end] != zero[: end - off]:
            if runs and off - runs[-1][1] < MERGE_GAP:
                runs[-1] = (runs[-1][0], end)
            else:
                runs.append((off, end))
        off = end
    return runs


def write_image(wasm: bytes, memory: bytes | memoryview, values: Mapping[int, float]) -> bytes:
    """A module like ``wasm`` whose memory 0 and mutable globals start as given.

    Args:
        wasm: the module the live instance was made from (with its globals exported).
        memory: the live instance's whole memory 0 (its length is a multiple of 64 KiB).
        values: each mutable global's live value by index.

    Raises:
        SnapshotError: the module has no single memory, a passive segment follows an active
            one, or a mutable global has no value.

    """
    _, defined = _globals(wasm)
    for g, _, _ in defined:
        if g.mutable and g.index not in values:
            raise SnapshotError(f"no value for mutable global {g.index}")
    runs = _segments(memory)
    out = bytearray(wasm[:8])
    saw_memory = False
    for section_id, head, start, end in _spans(wasm):
        if section_id == 5:
            out += _section(5, _memory_section(wasm, start, end, len(memory) // 65536))
            saw_memory = True
        elif section_id == 6:
            out += _section(6, _global_section(wasm, start, end, defined, values))
        elif section_id == 11:
            out += _section(11, _data_section(wasm, start, end, memory, runs))
        elif section_id == 12:
            out += _section(12, uleb_bytes(_data_count(wasm, runs)))
        else:
            out += wasm[head:end]
    if not saw_memory:
        raise SnapshotError("the module must define exactly one memory")
    return bytes(out)


def _memory_section(wasm: bytes, start: int, end: int, pages: int) -> bytes:
    r = Reader(wasm, start, end)
    if r.u32() != 1:
        raise SnapshotError("the module must define exactly one memory")
    flags = r.byte()
    r.uleb()
    return b"\x01" + bytes([flags]) + uleb_bytes(pages) + bytes(wasm[r.pos : end])


def _global_section(
    wasm: bytes,
    start: int,
    end: int,
    defined: list[tuple[_Global, int, int]],
    values: Mapping[int, float],
) -> bytes:
    r = Reader(wasm, start, end)
    body = bytearray(uleb_bytes(r.u32()))
    cursor = r.pos
    for g, a, b in defined:
        body += wasm[cursor:a]
        body += _const(g.valtype, values[g.index]) if g.mutable else wasm[a:b]
        cursor = b
    body += wasm[cursor:end]
    return bytes(body)


def _data_section(
    wasm: bytes, start: int, end: int, memory: bytes | memoryview, runs: list[tuple[int, int]]
) -> bytes:
    passive = bytearray()
    active_seen = False
    kept = 0
    r = Reader(wasm, start, end)
    for _ in range(r.u32()):
        flag = r.u32()
        seg_start = r.pos
        if flag == 1:
            if active_seen:
                raise SnapshotError("a passive data segment follows an active one")
            r.take(r.u32())
            passive += b"\x01" + wasm[seg_start : r.pos]
            kept += 1
            continue
        active_seen = True
        if flag == 2:
            r.u32()
        elif flag != 0:
            raise SnapshotError(f"data segment kind {flag}")
        _const_expr(r)
        r.take(r.u32())
    view = memoryview(memory)
    body = bytearray(uleb_bytes(kept + len(runs)))
    body += passive
    for a, b in runs:
        body += b"\x00\x41" + sleb_bytes(a) + b"\x0b" + uleb_bytes(b - a)
        body += view[a:b]
    return bytes(body)


def _data_count(wasm: bytes, runs: list[tuple[int, int]]) -> int:
    """The new data count: the passive segments kept plus one per run."""
    for section_id, start, end in _sections(wasm):
        if section_id == 11:
            r = Reader(wasm, start, end)
            kept = 0
            for _ in range(r.u32()):
                flag = r.u32()
                if flag == 1:
                    kept += 1
                    r.take(r.u32())
                    continue
                if flag == 2:
                    r.u32()
                _const_expr(r)
                r.take(r.u32())
            return kept + len(runs)
    return len(runs)
