"""Compiled export runs for scalars, UTF-8 strings and byte lists: no codec objects per call.

Most exports take and return scalars, strings and ``list<u8>``. For such a signature (its
parameters flat, strings UTF-8, a memory and a ``realloc`` where needed) the run is compiled
once, when the export is first looked up: each string or byte list is written by one
``realloc`` and one slice assignment, the core function is called through its raw slots, and a
string or byte-list result is read from the pair its return pointer names. The checks and trap
messages are the codecs' own (:mod:`.abi`): pointers against the memory's current size (re-read
after each piece of guest code, which may have grown it), alignment, UTF-8. Other signatures
return ``None`` here and use the codecs.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

from ...._wit import types as t
from ...memory import LinearMemory
from .abi_flat import from_raw, is_scalar
from .abi_scalars import AbiTrap, range_trap
from .rawfunc import RawFunc

__all__ = ["direct_run", "kind_of"]

SCALAR, STRING, BYTES = 0, 1, 2
_PAIR = struct.Struct("<II")


def kind_of(ty: t.WitType) -> int | None:
    """How a direct run moves a value of ``ty`` (None: it cannot)."""
    if is_scalar(ty):
        return SCALAR
    if isinstance(ty, t.StringType):
        return STRING
    if isinstance(ty, t.ListType) and isinstance(ty.elem, t.U8Type):
        return BYTES
    return None


def direct_run(export: Any) -> Callable[[list[Any]], Any] | None:
    """The compiled run of ``export`` (an ``OwnExport``), or None if its signature needs codecs.

    The run takes the checked arguments: raw slot numbers for scalars (``abi_flat.to_raw``),
    ``str`` and ``bytes`` for the others.
    """
    sig: t.FuncSig = export.sig
    lifted = export._lifted
    opts = lifted.options
    core = lifted.core
    kinds = [kind_of(ty) for _, ty in sig.params]
    rkind = SCALAR if sig.result is None else kind_of(sig.result)
    every = [*kinds, rkind]
    if export._spill_p or None in every or not isinstance(core, RawFunc):
        return None
    if STRING in every and opts.encoding != "utf8":
        return None
    if (STRING in every or BYTES in every) and opts.memory is None:
        return None
    if (STRING in kinds or BYTES in kinds) and opts.realloc is None:
        return None
    mem = None if opts.memory is None else _Mem(export._owner.views.add(opts.memory))
    post: RawFunc | None = opts.post_return
    if len(kinds) == 1 and kinds[0] != SCALAR and rkind != SCALAR:
        assert mem is not None
        return _bytes_run(core, opts, mem, kinds[0] == STRING, rkind == BYTES)
    lower = _lowerer([k for k in kinds if k is not None], opts.realloc, mem)
    read = _reader(rkind, mem)
    lift = None if sig.result is None or rkind != SCALAR else from_raw(sig.result)
    buf = core._buf
    pack = core._in.pack_into
    unpack = core._out.unpack_from
    call = core.call
    fail = core.fail
    has_result = sig.result is not None

    def run(values: list[Any]) -> Any:
        pack(buf, 0, *(values if lower is None else lower(values)))
        error = call()
        out = unpack(buf, 0)
        if error or out[-1]:
            fail(error, out[-1])
        if not has_result:
            if post is not None:
                post()
            return None
        raw = out[0]
        if read is not None:
            value = read(raw)
        elif lift is not None:
            value = lift(raw)
        else:
            value = raw
        if post is not None:
            post(raw)
        return value

    return run


def _bytes_run(  # noqa: PLR0915 - inline on purpose: each Python call costs here
    core: RawFunc, opts: Any, mem: _Mem, string: bool, as_bytes: bool
) -> Callable[[list[Any]], Any]:
    """The run of the commonest shape, one string or byte list in and one out, all inline.

    The same steps as the general run (the writer of :func:`_writer` and the reader of
    :func:`_reader`), without their calls: a small string call is mostly Python overhead.
    """
    realloc: RawFunc = opts.realloc
    post: RawFunc | None = opts.post_return
    rbuf = realloc._buf
    rpack = realloc._in.pack_into
    runpack = realloc._out.unpack_from
    rcall = realloc.call
    rfail = realloc.fail
    buf = core._buf
    pack = core._in.pack_into
    unpack = core._out.unpack_from
    call = core.call
    fail = core.fail
    size = mem.size
    pair = _PAIR.unpack_from

    def run(values: list[Any]) -> Any:
        data = values[0].encode("utf-8") if string else values[0]
        n = len(data)
        if string and n > 0x7FFFFFFF:
            raise AbiTrap("string too long for a 32-bit memory")
        if n > 0xFFFFFFFF:
            raise AbiTrap("list too long for a 32-bit memory")
        rpack(rbuf, 0, 0, 0, 1, n)  # realloc(0, 0, 1, n)
        error = rcall()
        got = runpack(rbuf, 0)
        if error or got[1]:
            rfail(error, got[1])
        p = got[0]
        view = mem.view
        if size() != len(view):  # realloc grew the memory (which may then move)
            view = mem.view = mem.lm.view()
        if p + n > len(view):
            raise range_trap(p, n)
        view[p : p + n] = data
        pack(buf, 0, p, n)
        error = call()
        out = unpack(buf, 0)
        if error or out[1]:
            fail(error, out[1])
        ptr = out[0]
        view = mem.view
        if size() != len(view):  # the call grew the memory (which may then move)
            view = mem.view = mem.lm.view()
        if ptr & 3 or ptr + 8 > len(view):
            raise range_trap(ptr, 8, 4)
        q, m = pair(view, ptr)
        if q + m > len(view):
            raise range_trap(q, m)
        if as_bytes:
            value: Any = bytes(view[q : q + m])
        else:
            try:
                value = str(view[q : q + m], "utf-8")
            except UnicodeDecodeError:
                raise AbiTrap("invalid utf-8 in a string") from None
        if post is not None:
            post(ptr)
        return value

    return run


class _Mem:
    """A memory's view, re-taken when its size changed (a memory moves only when it grows)."""

    __slots__ = ("lm", "size", "view")

    def __init__(self, lm: LinearMemory) -> None:
        self.lm = lm
        self.size = lm.sizer()
        self.view = lm.view()


def _lowerer(kinds: list[int], realloc: Any, mem: _Mem | None) -> Any:
    """``lower(values) -> flat``, writing strings and byte lists (None: all scalars)."""
    if all(k == SCALAR for k in kinds):
        return None
    assert mem is not None
    if len(kinds) == 1:
        return _writer(kinds[0], 0, realloc, mem)  # the one value's (address, length)
    writers = [None if k == SCALAR else _writer(k, i, realloc, mem) for i, k in enumerate(kinds)]

    def lower(values: list[Any]) -> list[Any]:
        flat: list[Any] = []
        for i, write in enumerate(writers):
            if write is None:
                flat.append(values[i])
            else:
                flat.extend(write(values))
        return flat

    return lower


def _writer(kind: int, index: int, realloc: Any, mem: _Mem) -> Any:
    """``write(values) -> (address, length)``: ``values[index]`` copied into the guest.

    The value (a string or byte list) goes into a new allocation of the guest's ``realloc``.
    """
    rbuf = realloc._buf
    rpack = realloc._in.pack_into
    runpack = realloc._out.unpack_from
    rcall = realloc.call
    rfail = realloc.fail
    size = mem.size
    string = kind == STRING

    def write(values: list[Any]) -> tuple[int, int]:
        data = values[index].encode("utf-8") if string else values[index]
        n = len(data)
        if string and n > 0x7FFFFFFF:
            raise AbiTrap("string too long for a 32-bit memory")
        if n > 0xFFFFFFFF:
            raise AbiTrap("list too long for a 32-bit memory")
        rpack(rbuf, 0, 0, 0, 1, n)  # realloc(0, 0, 1, n), inline
        error = rcall()
        got = runpack(rbuf, 0)
        if error or got[-1]:
            rfail(error, got[-1])
        p: int = got[0]
        view = mem.view
        if size() != len(view):  # realloc grew the memory (which may then move)
            view = mem.view = mem.lm.view()
        if p + n > len(view):
            raise range_trap(p, n)
        view[p : p + n] = data
        return p, n

    return write


def _reader(rkind: int | None, mem: _Mem | None) -> Any:
    """``read(ptr)``: the string or byte-list result a return pointer names (None: a scalar)."""
    if rkind == SCALAR:
        return None
    assert mem is not None
    size = mem.size
    as_bytes = rkind == BYTES

    def read(ptr: int) -> Any:
        view = mem.view
        if size() != len(view):  # the call grew the memory (which may then move)
            view = mem.view = mem.lm.view()
        if ptr & 3 or ptr + 8 > len(view):
            raise range_trap(ptr, 8, 4)
        p, n = _PAIR.unpack_from(view, ptr)
        if p + n > len(view):
            raise range_trap(p, n)
        if as_bytes:
            return bytes(view[p : p + n])
        try:
            return str(view[p : p + n], "utf-8")
        except UnicodeDecodeError:
            raise AbiTrap("invalid utf-8 in a string") from None

    return read
