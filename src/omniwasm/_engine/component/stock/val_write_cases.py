"""Writers for the WIT sum types: ``variant``, ``enum``, ``flags``, ``option``, ``result``.

Part of the converter layer (:mod:`.val_write` dispatches here); the payload of a case is
written by the writer of its own type (``sub``, given by :mod:`.val_write`) into a value of its own.
"""

from __future__ import annotations

import ctypes
import enum
import struct
from collections.abc import Callable, Iterable
from typing import Any

from ...._wit import types as t
from ...._wit import values
from ...._wit.values import Err, Ok, Some, Variant
from .val import (
    EMPTY_ADDR,
    K_ENUM,
    K_FLAGS,
    K_OPTION,
    K_RESULT,
    K_VARIANT,
    NAME,
    PAIR,
    PTR,
    VAL,
    Bad,
    Call,
    Writer,
    byte_vec_new,
    bytes_address,
    val_new,
    valflags_new_uninit,
)

__all__ = ["enum_writer", "flags_writer", "option_writer", "result_writer", "variant_writer"]

_addressof = ctypes.addressof
_buffer = ctypes.create_string_buffer
_HDR = struct.Struct("<B7x")
_KIND_PTR = struct.Struct("<B7xQ")
_KIND_VARIANT = struct.Struct("<B7xQQQ")
_KIND_RESULT = struct.Struct("<B7x?7xQ")
_KIND_PAIR = struct.Struct("<B7xQQ")
_memset = ctypes.memset
_VALBUF = ctypes.c_char * VAL


def _payload(w: Writer, value: Any, owned: bool, c: Call) -> int:
    """Write a payload into its own val and return its address (heap-owned when ``owned``)."""
    tmp = _VALBUF()  # zeroed, as create_string_buffer(VAL), at a third of its cost
    w(value, tmp, 0, c)
    if owned:
        return int(val_new(_addressof(tmp)))
    c.keep.append(tmp)
    return _addressof(tmp)


def _case_payload(label: str, w: Writer | None, value: Any, owned: bool, c: Call) -> int:
    """The address of a variant or result case's payload (0 for a case without one).

    Raises:
        Bad: a payload for a case that has none, or a payload that does not fit; its path
            starts with ``label``.

    """
    if w is None:
        if value is not None:
            raise Bad(label, "no payload", value)
        return 0
    try:
        return _payload(w, value, owned, c)
    except Bad as exc:
        exc.path = f"{label}{exc.path}"
        raise


def _case_of(v: Any) -> tuple[Any, Any]:
    if isinstance(v, Variant):
        return v.case, v.value
    if isinstance(v, str):
        return v, None
    tag = getattr(v, "tag", None)
    if tag is not None and hasattr(v, "payload"):
        return tag, v.payload
    return None, None


def variant_writer(ty: t.VariantType, owned: bool, sub: Callable[[t.WitType], Writer]) -> Writer:
    spec = str(ty)
    cases: dict[str, tuple[bytes, Writer | None]] = {}
    for name, pty in ty.cases:
        w = None if pty is None else sub(pty)
        cases[name] = (name.encode(), w)
        cases.setdefault(values.snake(name), (name.encode(), w))

    def w_var(v: Any, buf: Any, off: int, c: Call) -> None:
        case, value = _case_of(v)
        entry = cases.get(case) if isinstance(case, str) else None
        if entry is None:
            raise Bad("", spec, v)
        name, w = entry
        ptr = _case_payload(f"({name.decode()})", w, value, owned, c)
        if owned:
            _KIND_VARIANT.pack_into(buf, off, K_VARIANT, 0, 0, ptr)
            byte_vec_new(_addressof(buf) + off + 8, len(name), name)
        else:
            _KIND_VARIANT.pack_into(buf, off, K_VARIANT, len(name), bytes_address(name), ptr)

    return w_var


def _enum_names(ty: t.EnumType) -> dict[Any, bytes]:
    cls = values.enum_class(ty)
    out: dict[Any, bytes] = {}
    for case, member in zip(ty.cases, cls, strict=True):
        out[case] = out[values.snake(case)] = out[member] = out[member.name] = case.encode()
    return out


def enum_writer(ty: t.EnumType, owned: bool) -> Writer:
    spec = str(ty)
    names = _enum_names(ty)

    def lookup(v: Any) -> bytes:
        try:
            found = names.get(v)
        except TypeError:
            found = None
        if found is None and isinstance(v, enum.Enum):
            # Another Enum: its value, else its lower-cased name, must be a case name.
            found = names.get(v.value) if isinstance(v.value, str) else None
            if found is None:
                found = names.get(v.name.lower().replace("_", "-"))
        if found is None:
            raise Bad("", spec, v)
        return found

    if owned:

        def w_enum_owned(v: Any, buf: Any, off: int, c: Call) -> None:
            name = lookup(v)
            _HDR.pack_into(buf, off, K_ENUM)
            byte_vec_new(_addressof(buf) + off + 8, len(name), name)

        return w_enum_owned

    def w_enum(v: Any, buf: Any, off: int, c: Call) -> None:
        name = lookup(v)
        _KIND_PAIR.pack_into(buf, off, K_ENUM, len(name), bytes_address(name))

    return w_enum


def flags_writer(ty: t.FlagsType, owned: bool) -> Writer:
    spec = str(ty)
    known = {n: n.encode() for n in ty.names}
    known.update({values.snake(n): n.encode() for n in ty.names})
    order = {n.encode(): i for i, n in enumerate(ty.names)}

    def chosen(v: Any) -> list[bytes]:
        if isinstance(v, str | bytes) or not isinstance(v, Iterable):
            raise Bad("", spec, v)
        out = set()
        for name in v:
            b = known.get(name) if isinstance(name, str) else None
            if b is None:
                raise Bad("", spec, v)
            out.add(b)
        return sorted(out, key=order.__getitem__)

    if owned:

        def w_flags_owned(v: Any, buf: Any, off: int, c: Call) -> None:
            names = chosen(v)
            k = len(names)
            _HDR.pack_into(buf, off, K_FLAGS)
            valflags_new_uninit(_addressof(buf) + off + 8, k)
            if k:
                ptr = PTR.unpack_from(buf, off + 16)[0]
                _memset(ptr, 0, k * NAME)
                for i, name in enumerate(names):
                    byte_vec_new(ptr + i * NAME, len(name), name)

        return w_flags_owned

    def w_flags(v: Any, buf: Any, off: int, c: Call) -> None:
        names = chosen(v)
        k = len(names)
        if not k:
            _KIND_PAIR.pack_into(buf, off, K_FLAGS, 0, EMPTY_ADDR)
            return
        arr = _buffer(k * NAME)
        c.keep.append(arr)
        for i, name in enumerate(names):
            PAIR.pack_into(arr, i * NAME, len(name), bytes_address(name))
        _KIND_PAIR.pack_into(buf, off, K_FLAGS, k, _addressof(arr))

    return w_flags


def option_writer(ty: t.OptionType, owned: bool, sub: Callable[[t.WitType], Writer]) -> Writer:
    inner = sub(ty.inner)
    nested = isinstance(ty.inner, t.OptionType)

    def w_opt(v: Any, buf: Any, off: int, c: Call) -> None:
        if v is None:
            _KIND_PTR.pack_into(buf, off, K_OPTION, 0)
            return
        if nested and isinstance(v, Some):
            v = v.value
        _KIND_PTR.pack_into(buf, off, K_OPTION, _payload(inner, v, owned, c))

    return w_opt


def result_writer(ty: t.ResultType, owned: bool, sub: Callable[[t.WitType], Writer]) -> Writer:
    spec = str(ty)
    ok_w = None if ty.ok is None else sub(ty.ok)
    err_w = None if ty.err is None else sub(ty.err)

    def w_res(v: Any, buf: Any, off: int, c: Call) -> None:
        if isinstance(v, Ok):
            is_ok, w, value, label = True, ok_w, v.value, "(ok)"
        elif isinstance(v, Err):
            is_ok, w, value, label = False, err_w, v.value, "(err)"
        else:
            raise Bad("", f"{spec} (Ok(...) or Err(...))", v)
        ptr = _case_payload(label, w, value, owned, c)
        _KIND_RESULT.pack_into(buf, off, K_RESULT, is_ok, ptr)

    return w_res
