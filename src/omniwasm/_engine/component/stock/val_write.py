"""The converter layer: WIT values to and from wasmtime's C ``wasmtime_component_val_t``.

One codec is generated per WIT type, once, at link time (``writer``/``reader`` are cached by
type), and shared by export calls and host imports. A value is a 32-byte struct: the kind byte
at offset 0 and the payload at offset 8 (``string``/``list``/``record``... are ``{size, ptr}``
pairs; ``variant`` adds a payload pointer at 24; ``option`` is a pointer; ``result`` an
``is_ok`` byte and a pointer). Writers pack with precompiled ``struct`` formats and readers
slice whole regions out with one ``string_at``; ``list<u8>`` moves with strided slices
(``raw[8::32]``) instead of one conversion per byte. This module holds the writers;
:mod:`.val` the layout and per-call state, :mod:`.val_read` the readers.

Two writing modes:

* *borrowed* (arguments of an export call): every byte lives in Python objects kept alive in
  ``Call.keep`` until the call returns, so nothing is allocated on the native heap and there is
  nothing to free. Strings point straight into the ``bytes`` object produced by ``encode``.
* *owned* (results of a host import): wasmtime frees what the host returns, so strings, lists
  and payloads are allocated with the C API's own constructors. Buffers are zeroed first, so a
  conversion error half-way leaves valid (all ``false``) values behind.

Readers never take ownership: the caller frees a returned value with ``val_delete`` afterwards
(resources are cloned first), and import arguments belong to wasmtime.
"""

from __future__ import annotations

import ctypes
import struct
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from ...._wit import types as t
from ...._wit import values
from . import val_write_cases as cases
from .val import (
    EMPTY_ADDR,
    ENTRY,
    INTS,
    K_BOOL,
    K_CHAR,
    K_F32,
    K_F64,
    K_LIST,
    K_RECORD,
    K_RESOURCE,
    K_STRING,
    K_TUPLE,
    K_U8,
    PAIR,
    PTR,
    VAL,
    Bad,
    Call,
    ResourceHooks,
    Writer,
    byte_vec_new,
    bytes_address,
    lock,
    vallist_new_uninit,
    valrecord_new_uninit,
    valtuple_new_uninit,
)

__all__ = ["Bad", "Call", "ResourceHooks", "writer"]

_string_at = ctypes.string_at
_memmove = ctypes.memmove
_memset = ctypes.memset
_addressof = ctypes.addressof
_buffer = ctypes.create_string_buffer

_HDR = struct.Struct("<B7x")
_KIND_PAIR = struct.Struct("<B7xQQ")
_KIND_PTR = struct.Struct("<B7xQ")
_KIND_VARIANT = struct.Struct("<B7xQQQ")
_KIND_RESULT = struct.Struct("<B7x?7xQ")


def writer(ty: t.WitType, *, owned: bool, hooks: ResourceHooks) -> Writer:
    """The writer of ``ty``: ``w(value, buf, offset, call)`` stores a val at ``buf[offset]``.

    Raises:
        Bad: (when called) the value does not fit ``ty``.

    """
    key = (ty, owned)
    w = hooks.writers.get(key)
    if w is None:
        w = _make_writer(ty, owned, hooks)
        with lock:
            hooks.writers[key] = w
    return w


# -- writers -----------------------------------------------------------------------------


def _make_writer(ty: t.WitType, owned: bool, hooks: ResourceHooks) -> Writer:
    spec = str(ty)
    if isinstance(ty, t.BoolType):

        def w_bool(v: Any, buf: Any, off: int, c: Call) -> None:
            if v is not True and v is not False:
                raise Bad("", spec, v)
            _KIND_PTR.pack_into(buf, off, K_BOOL, v)

        return w_bool
    if isinstance(ty, t.IntType):
        kind, code, lo, hi = INTS[type(ty)]
        packer = struct.Struct(f"<B7x{code}")

        def w_int(v: Any, buf: Any, off: int, c: Call) -> None:
            if type(v) is not int and (not isinstance(v, int) or isinstance(v, bool)):
                raise Bad("", spec, v)
            if not lo <= v <= hi:
                raise Bad("", spec, v)
            packer.pack_into(buf, off, kind, v)

        return w_int
    if isinstance(ty, t.F32Type | t.F64Type):
        kind, code = (K_F32, "f") if isinstance(ty, t.F32Type) else (K_F64, "d")
        fpack = struct.Struct(f"<B7x{code}")

        def w_float(v: Any, buf: Any, off: int, c: Call) -> None:
            if type(v) is not float and (not isinstance(v, int | float) or isinstance(v, bool)):
                raise Bad("", spec, v)
            try:
                fpack.pack_into(buf, off, kind, v)
            except (OverflowError, struct.error):
                raise Bad("", spec, v) from None

        return w_float
    if isinstance(ty, t.CharType):
        cpack = struct.Struct("<B7xI")

        def w_char(v: Any, buf: Any, off: int, c: Call) -> None:
            if type(v) is not str or len(v) != 1 or 0xD800 <= ord(v) <= 0xDFFF:
                raise Bad("", spec, v)
            cpack.pack_into(buf, off, K_CHAR, ord(v))

        return w_char
    if isinstance(ty, t.StringType):
        return _string_writer(owned)
    if isinstance(ty, t.ListType):
        return _list_writer(ty, owned, hooks)
    if isinstance(ty, t.TupleType):
        return _tuple_writer(ty, owned, hooks)
    if isinstance(ty, t.RecordType):
        return _record_writer(ty, owned, hooks)
    if isinstance(ty, t.EnumType):
        return cases.enum_writer(ty, owned)
    if isinstance(ty, t.FlagsType):
        return cases.flags_writer(ty, owned)

    def sub(payload: t.WitType) -> Writer:
        return writer(payload, owned=owned, hooks=hooks)

    if isinstance(ty, t.VariantType):
        return cases.variant_writer(ty, owned, sub)
    if isinstance(ty, t.OptionType):
        return cases.option_writer(ty, owned, sub)
    if isinstance(ty, t.ResultType):
        return cases.result_writer(ty, owned, sub)
    return _resource_writer(ty, owned, hooks)


def _encode(v: Any, spec: str) -> bytes:
    if type(v) is not str:
        raise Bad("", spec, v)
    try:
        return v.encode()
    except UnicodeEncodeError:
        raise Bad("", spec, v) from None


def _string_writer(owned: bool) -> Writer:
    if owned:

        def w_str_owned(v: Any, buf: Any, off: int, c: Call) -> None:
            b = _encode(v, "string")
            _HDR.pack_into(buf, off, K_STRING)
            byte_vec_new(_addressof(buf) + off + 8, len(b), b)

        return w_str_owned

    def w_str(v: Any, buf: Any, off: int, c: Call) -> None:
        b = _encode(v, "string")
        c.keep.append(b)
        _KIND_PAIR.pack_into(buf, off, K_STRING, len(b), bytes_address(b) if b else EMPTY_ADDR)

    return w_str


def _elements(v: Any, spec: str) -> list[Any] | tuple[Any, ...]:
    if type(v) is list or type(v) is tuple:
        return v
    if isinstance(v, str | bytes | Mapping) or not isinstance(v, Iterable):
        raise Bad("", spec, v)
    return list(v)


def _fill(items: Iterable[Any], w: Writer, arr: Any, c: Call) -> None:
    i = -1
    try:
        for i, item in enumerate(items):
            w(item, arr, i * VAL, c)
    except Bad as exc:
        exc.path = f"[{i}]{exc.path}"
        raise


def _list_u8_bytes(v: Any) -> bytes:
    if isinstance(v, bytes | bytearray | memoryview):
        return bytes(v)
    if isinstance(v, list | tuple):
        # ints only, as from_python: bytes() would also take True and __index__ objects
        if not all(type(x) is int or (isinstance(x, int) and type(x) is not bool) for x in v):
            raise Bad("", "list<u8>", v)
        try:
            return bytes(v)
        except (ValueError, TypeError):
            raise Bad("", "list<u8>", v) from None
    raise Bad("", "list<u8>", v)


def _u8_region(data: bytes) -> bytearray:
    n = len(data)
    region = bytearray(n * VAL)
    region[0::VAL] = bytes((K_U8,)) * n
    region[8::VAL] = data
    return region


def _list_writer(ty: t.ListType, owned: bool, hooks: ResourceHooks) -> Writer:
    spec = str(ty)
    if isinstance(ty.elem, t.U8Type):
        if owned:

            def w_bytes_owned(v: Any, buf: Any, off: int, c: Call) -> None:
                data = _list_u8_bytes(v)
                n = len(data)
                _HDR.pack_into(buf, off, K_LIST)
                vallist_new_uninit(_addressof(buf) + off + 8, n)
                if n:
                    ptr = PTR.unpack_from(buf, off + 16)[0]
                    _memmove(ptr, bytes(_u8_region(data)), n * VAL)

            return w_bytes_owned

        def w_bytes(v: Any, buf: Any, off: int, c: Call) -> None:
            data = _list_u8_bytes(v)
            n = len(data)
            if not n:
                _KIND_PAIR.pack_into(buf, off, K_LIST, 0, EMPTY_ADDR)
                return
            region = bytes(_u8_region(data))
            c.keep.append(region)
            _KIND_PAIR.pack_into(buf, off, K_LIST, n, bytes_address(region))

        return w_bytes
    ew = writer(ty.elem, owned=owned, hooks=hooks)
    return _sequence_writer(spec, K_LIST, None, ew, owned=owned)


def _sequence_writer(
    spec: str, kind: int, arity: int | None, ew: Writer | list[Writer], *, owned: bool
) -> Writer:
    new_uninit = vallist_new_uninit if kind == K_LIST else valtuple_new_uninit

    def items_of(v: Any) -> tuple[Iterable[Any], int]:
        items = _elements(v, spec)
        if arity is not None and len(items) != arity:
            raise Bad("", spec, v)
        return items, len(items)

    def store(items: Iterable[Any], arr: Any, c: Call) -> None:
        if isinstance(ew, list):
            i = -1
            try:
                for i, (item, w) in enumerate(zip(items, ew, strict=True)):
                    w(item, arr, i * VAL, c)
            except Bad as exc:
                exc.path = f"[{i}]{exc.path}"
                raise
        else:
            _fill(items, ew, arr, c)

    if owned:

        def w_seq_owned(v: Any, buf: Any, off: int, c: Call) -> None:
            items, n = items_of(v)
            _HDR.pack_into(buf, off, kind)
            new_uninit(_addressof(buf) + off + 8, n)
            if n:
                ptr = PTR.unpack_from(buf, off + 16)[0]
                _memset(ptr, 0, n * VAL)
                store(items, (ctypes.c_char * (n * VAL)).from_address(ptr), c)

        return w_seq_owned

    def w_seq(v: Any, buf: Any, off: int, c: Call) -> None:
        items, n = items_of(v)
        if not n:
            _KIND_PAIR.pack_into(buf, off, kind, 0, EMPTY_ADDR)
            return
        arr = _buffer(n * VAL)
        c.keep.append(arr)
        store(items, arr, c)
        _KIND_PAIR.pack_into(buf, off, kind, n, _addressof(arr))

    return w_seq


def _tuple_writer(ty: t.TupleType, owned: bool, hooks: ResourceHooks) -> Writer:
    ws = [writer(e, owned=owned, hooks=hooks) for e in ty.items]
    return _sequence_writer(str(ty), K_TUPLE, len(ws), ws, owned=owned)


def _field_getter(fname: str, attr: str, optional: bool) -> Callable[[Any], Any]:
    missing = object()

    def get(v: Any) -> Any:
        if isinstance(v, Mapping):
            if fname in v:
                return v[fname]
            if attr in v:
                return v[attr]
            found = missing
        else:
            found = getattr(v, attr, missing)
        if found is missing:
            if optional:
                return None
            raise Bad(f".{attr}", f"a record field {fname}", v)
        return found

    return get


def _record_writer(ty: t.RecordType, owned: bool, hooks: ResourceHooks) -> Writer:
    spec = f"record {ty.name}"
    names = [n.encode() for n, _ in ty.fields]
    attrs = [values.snake(n) for n, _ in ty.fields]
    getters = [
        _field_getter(n, a, isinstance(ft, t.OptionType))
        for (n, ft), a in zip(ty.fields, attrs, strict=True)
    ]
    ws = [writer(ft, owned=owned, hooks=hooks) for _, ft in ty.fields]
    plan = list(zip(names, attrs, getters, ws, strict=True))
    n = len(plan)
    cls = values.record_class(ty)

    def check(v: Any) -> None:
        if v is None or isinstance(v, str | bytes | int | float | list | tuple):
            raise Bad("", spec, v)

    def fields_of(v: Any) -> list[Any]:
        if type(v) is cls:
            return [getattr(v, a) for a in attrs]
        return [g(v) for g in getters]

    def store(v: Any, arr: Any, base: int, c: Call, addr: int | None) -> None:
        values = fields_of(v)
        for i, (name, attr, _g, w) in enumerate(plan):
            at = base + i * ENTRY
            if addr is not None:
                byte_vec_new(addr + at, len(name), name)
            else:
                PAIR.pack_into(arr, at, len(name), bytes_address(name))
            try:
                w(values[i], arr, at + 16, c)
            except Bad as exc:
                exc.path = f".{attr}{exc.path}"
                raise

    if owned:

        def w_rec_owned(v: Any, buf: Any, off: int, c: Call) -> None:
            check(v)
            _HDR.pack_into(buf, off, K_RECORD)
            valrecord_new_uninit(_addressof(buf) + off + 8, n)
            if n:
                ptr = PTR.unpack_from(buf, off + 16)[0]
                _memset(ptr, 0, n * ENTRY)
                store(v, (ctypes.c_char * (n * ENTRY)).from_address(ptr), 0, c, ptr)

        return w_rec_owned

    def w_rec(v: Any, buf: Any, off: int, c: Call) -> None:
        check(v)
        arr = _buffer(max(n, 1) * ENTRY)
        c.keep.append(arr)
        store(v, arr, 0, c, None)
        _KIND_PAIR.pack_into(buf, off, K_RECORD, n, _addressof(arr))

    return w_rec


def _resource_writer(ty: t.WitType, owned: bool, hooks: ResourceHooks) -> Writer:
    assert isinstance(ty, t.OwnType | t.BorrowType)
    rty = ty
    tid = hooks.host_type(rty)

    if tid is not None:
        lower = hooks.host_lowerer(rty, tid, owned)
        pack = _KIND_PTR.pack_into

        def w_host(v: Any, buf: Any, off: int, c: Call) -> None:
            pack(buf, off, K_RESOURCE, lower(c, v))

        return w_host

    def w_guest(v: Any, buf: Any, off: int, c: Call) -> None:
        _KIND_PTR.pack_into(buf, off, K_RESOURCE, hooks.lower_guest(c, rty, v, owned))

    return w_guest
