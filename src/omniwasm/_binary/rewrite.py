"""Rewriting a core module for a pre-initialised snapshot (what wizer does), in pure Python.

Two steps around a run of the module's init function (the run itself is the engine's, in
``_engine/snapshot.py``):

1. :func:`plan` reads the module and says what a snapshot must capture: every defined memory,
   every mutable global and every table's size. :meth:`SnapshotPlan.instrumented` returns the
   module with each of them exported under a reserved name, so the engine can read them.
2. :meth:`SnapshotPlan.write` returns the snapshot: memories start at their captured size with
   the captured bytes as active data segments (long runs of zeros left out), mutable globals
   start at their captured values, the start section and the init export are gone (their
   work is done), and the original active segments become empty passive ones so that every
   data index the code uses keeps its meaning.

What a snapshot cannot hold is refused with :class:`SnapshotRefused`: imports other than WASI
preview 1 functions (state outside the module), imported memories, tables or globals, shared
or 64-bit memories, reference-typed and vector mutable globals.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from .reader import (
    MAGIC,
    MODULE_VERSION,
    Reader,
    const_instr,
    sections,
    skip_const_expr,
    sleb_bytes,
    uleb_bytes,
)

__all__ = ["EXPORT_PREFIX", "WASI_MODULES", "SnapshotPlan", "SnapshotRefused", "plan"]

EXPORT_PREFIX = "__omniwasm_snapshot_"
"""Exports the instrumented module adds (``memory0``, ``global3``, ``table0`` ...)."""

WASI_MODULES = frozenset({"wasi_snapshot_preview1", "wasi_unstable"})
"""Import modules whose functions a snapshotted init may call (no state outside the guest
survives them except open files, which the engine checks)."""

_ORDER = {1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 13: 6, 6: 7, 7: 8, 8: 9, 9: 10, 12: 11, 10: 12, 11: 13}
_NUMERIC = {0x7F: "i32", 0x7E: "i64", 0x7D: "f32", 0x7C: "f64"}
_ZERO_GAP = re.compile(rb"\x00{64,}")  # zero runs this long end a data segment


class SnapshotRefused(ValueError):
    """The module holds state a snapshot cannot capture (the message says which)."""


@dataclass
class _Global:
    index: int  # in the global index space (imports first)
    valtype: bytes
    mutable: bool
    raw: bytes  # the whole entry as written: type, mutability, init expression


@dataclass
class SnapshotPlan:
    """What a module's snapshot captures, and how to write it (see the module docstring)."""

    wasm: bytes
    sections: list[tuple[int, bytes]]
    memories: list[tuple[int, int | None]] = field(default_factory=list)
    """(flags, maximum) of each defined memory."""
    tables: list[int] = field(default_factory=list)
    """The initial size of each defined table."""
    globals: list[_Global] = field(default_factory=list)
    exports: list[tuple[str, int, int]] = field(default_factory=list)
    imported_globals: int = 0
    imported_tables: int = 0

    @property
    def captured_globals(self) -> list[_Global]:
        """The mutable globals, whose values the snapshot records."""
        return [g for g in self.globals if g.mutable]

    def instrumented(self) -> bytes:
        """The module with every memory, mutable global and table exported (reserved names)."""
        extra = [(f"{EXPORT_PREFIX}memory{i}", 2, i) for i in range(len(self.memories))]
        extra += [(f"{EXPORT_PREFIX}global{g.index}", 3, g.index) for g in self.captured_globals]
        extra += [
            (f"{EXPORT_PREFIX}table{i}", 1, self.imported_tables + i)
            for i in range(len(self.tables))
        ]
        return self._assemble({7: _export_section([*self.exports, *extra])})

    def write(
        self,
        memories: Sequence[bytes | bytearray],
        globals_: Sequence[int | float],
        *,
        drop_export: str | None,
    ) -> bytes:
        """The snapshot module: ``memories`` and ``globals_`` (in plan order) as initial state.

        Args:
            memories: the bytes of each defined memory after init (whole pages).
            globals_: the value of each mutable global after init.
            drop_export: the init export, removed from the snapshot.

        """
        mems = bytearray(uleb_bytes(len(memories)))
        for (flags, maximum), data in zip(self.memories, memories, strict=True):
            pages = len(data) // 65536
            mems += (
                bytes([flags])
                + uleb_bytes(pages)
                + (b"" if maximum is None else uleb_bytes(maximum))
            )
        glob = bytearray(uleb_bytes(len(self.globals)))
        values = iter(globals_)
        for g in self.globals:
            if g.mutable:
                init = const_instr(_NUMERIC[g.valtype[0]], next(values))
                glob += g.valtype + b"\x01" + init + b"\x0b"
            else:
                glob += g.raw
        exports = [e for e in self.exports if e[0] != drop_export]
        replace: dict[int, bytes | None] = {
            5: bytes(mems),
            6: bytes(glob),
            7: _export_section(exports),
            8: None,  # the start function ran before init: its work is in the snapshot
            11: self._data(memories),
        }
        out = self._assemble(replace)
        if any(sid == 12 for sid, _ in self.sections):
            out = self._with_data_count(out)
        return out

    # -- helpers -------------------------------------------------------------------------

    def _data(self, memories: Sequence[bytes | bytearray]) -> bytes:
        """Old active segments emptied (passive), passive ones kept, then the captured bytes."""
        entries: list[bytes] = []
        for sid, body in self.sections:
            if sid != 11:
                continue
            r = Reader(body)
            for _ in range(r.uleb()):
                start = r.pos
                mode = r.uleb()
                if mode == 1:
                    size = r.uleb()
                    r.take(size)
                    entries.append(body[start : r.pos])
                    continue
                if mode == 2:
                    r.uleb()
                elif mode != 0:
                    raise SnapshotRefused(f"data segment mode {mode} is not supported")
                skip_const_expr(r)
                r.take(r.uleb())
                entries.append(b"\x01\x00")  # dropped after instantiation anyway
        for index, data in enumerate(memories):
            for lo, hi in _runs(data):
                offset = b"\x41" + sleb_bytes(lo if lo < 1 << 31 else lo - (1 << 32)) + b"\x0b"
                head = b"\x00" if index == 0 else b"\x02" + uleb_bytes(index)
                entries.append(head + offset + uleb_bytes(hi - lo) + bytes(data[lo:hi]))
        return uleb_bytes(len(entries)) + b"".join(entries)

    def _with_data_count(self, wasm: bytes) -> bytes:
        """Set the data count section of ``wasm`` to its data section's segment count."""
        secs = [(sid, bytes(r.take(r.end - r.pos))) for sid, r in sections(wasm)]
        data = next((body for sid, body in secs if sid == 11), None)
        count = Reader(data).uleb() if data is not None else 0
        secs = [(sid, uleb_bytes(count) if sid == 12 else body) for sid, body in secs]
        return _join(secs)

    def _assemble(self, replace: dict[int, bytes | None]) -> bytes:
        present = {sid for sid, _ in self.sections}
        out: list[tuple[int, bytes]] = []
        for sid, body in self.sections:
            if sid in replace:
                new = replace[sid]
                if new is not None:
                    out.append((sid, new))
                continue
            out.append((sid, body))
        for sid, new in replace.items():
            if sid in present or new is None:
                continue
            rank = _ORDER[sid]
            at = next(
                (i for i, (s, _) in enumerate(out) if s != 0 and _ORDER.get(s, 99) > rank),
                len(out),
            )
            out.insert(at, (sid, new))
        return _join(out)


def plan(wasm: bytes) -> SnapshotPlan:
    """Read ``wasm`` (a core module) for a snapshot.

    Raises:
        SnapshotRefused: the module holds state a snapshot cannot capture.
        BinaryError: the module is malformed.

    """
    if not wasm.startswith(MAGIC + MODULE_VERSION):
        raise SnapshotRefused("not a core module (a snapshot of a component is not supported)")
    secs = [(sid, bytes(r.take(r.end - r.pos))) for sid, r in sections(wasm)]
    p = SnapshotPlan(wasm=wasm, sections=secs)
    for sid, body in secs:
        r = Reader(body)
        if sid == 2:
            _imports(r, p)
        elif sid == 4:
            for _ in range(r.uleb()):
                if body[r.pos : r.pos + 2] == b"\x40\x00":
                    raise SnapshotRefused("tables with initialiser expressions are not supported")
                _reftype(r)
                _flags, minimum, _max = _limits(r)
                p.tables.append(minimum)
        elif sid == 5:
            for i in range(r.uleb()):
                flags, _min, maximum = _limits(r)
                if flags & 0x02:
                    raise SnapshotRefused(f"memory {i} is shared: threads are not captured")
                if flags & 0x04:
                    raise SnapshotRefused(f"memory {i} is 64-bit: not supported yet")
                if flags & ~0x01:
                    raise SnapshotRefused(f"memory {i} has unsupported flags {flags:#x}")
                p.memories.append((flags, maximum))
        elif sid == 6:
            for i in range(r.uleb()):
                start = r.pos
                valtype = _valtype(r)
                mutable = r.byte() == 1
                skip_const_expr(r)
                index = p.imported_globals + i
                if mutable and valtype[0] not in _NUMERIC:
                    raise SnapshotRefused(
                        f"global {index} is a mutable {'v128' if valtype == b'{' else 'reference'}"
                        ": not captured"
                    )
                p.globals.append(_Global(index, valtype, mutable, body[start : r.pos]))
        elif sid == 7:
            for _ in range(r.uleb()):
                name = r.name()
                kind = r.byte()
                p.exports.append((name, kind, r.uleb()))
        elif sid == 13:
            raise SnapshotRefused("modules with exception tags are not supported")
    return p


def _imports(r: Reader, p: SnapshotPlan) -> None:
    for _ in range(r.uleb()):
        module, name = r.name(), r.name()
        kind = r.byte()
        if kind != 0:
            what = {1: "table", 2: "memory", 3: "global", 4: "tag"}.get(kind, f"kind {kind}")
            raise SnapshotRefused(
                f"imports {what} {module}.{name}: state outside the module cannot be captured"
            )
        r.uleb()
        if module not in WASI_MODULES:
            raise SnapshotRefused(
                f"imports {module}.{name}: a host function's state cannot be captured "
                "(only WASI preview 1 imports are allowed)"
            )


def _limits(r: Reader) -> tuple[int, int, int | None]:
    flags = r.byte()
    minimum = r.uleb()
    maximum = r.uleb() if flags & 0x01 else None
    if flags & 0x08:
        raise SnapshotRefused("custom page sizes are not supported")
    return flags, minimum, maximum


def _reftype(r: Reader) -> bytes:
    start = r.pos
    code = r.byte()
    if code in (0x63, 0x64):
        r.sleb(5)
    return bytes(r.data[start : r.pos])


def _valtype(r: Reader) -> bytes:
    start = r.pos
    code = r.byte()
    if code in (0x63, 0x64):
        r.sleb(5)
    return bytes(r.data[start : r.pos])


def _runs(data: bytes | bytearray) -> list[tuple[int, int]]:
    """Ranges of ``data`` to write as segments: everything but zero runs of 64 bytes or more."""
    out = []
    pos = 0
    for m in _ZERO_GAP.finditer(data):
        if m.start() > pos:
            out.append((pos, m.start()))
        pos = m.end()
    if pos < len(data):
        out.append((pos, len(data)))
    trimmed = []
    for start, stop in out:
        chunk = bytes(data[start:stop])
        lo = start + len(chunk) - len(chunk.lstrip(b"\0"))
        hi = stop - (len(chunk) - len(chunk.rstrip(b"\0")))
        if hi > lo:
            trimmed.append((lo, hi))
    return trimmed


def _export_section(exports: Sequence[tuple[str, int, int]]) -> bytes:
    out = bytearray(uleb_bytes(len(exports)))
    for name, kind, index in exports:
        raw = name.encode()
        out += uleb_bytes(len(raw)) + raw + bytes([kind]) + uleb_bytes(index)
    return bytes(out)


def _join(secs: Sequence[tuple[int, bytes]]) -> bytes:
    out = bytearray(MAGIC + MODULE_VERSION)
    for sid, body in secs:
        out += bytes([sid]) + uleb_bytes(len(body)) + body
    return bytes(out)
