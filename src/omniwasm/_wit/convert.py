"""Python values checked and normalised against WIT types: ``from_python`` and ``to_python``.

Foundation layer, like :mod:`.values` (whose value classes it produces): the façade validates
host values with it before they cross into a guest, and WAVE formats from its canonical forms.
"""

from __future__ import annotations

import enum
import functools
import math
import struct
from collections.abc import Iterable, Mapping
from typing import Any

from .._errors import ValueConversionError
from .types import (
    BoolType,
    BorrowType,
    CharType,
    EnumType,
    F32Type,
    F64Type,
    FlagsType,
    FutureType,
    IntType,
    ListType,
    OptionType,
    OwnType,
    RecordType,
    ResultType,
    StreamType,
    StringType,
    TupleType,
    U8Type,
    VariantType,
    WitType,
)
from .values import (
    _ENUM_LOOKUP,
    Err,
    Ok,
    Some,
    Variant,
    _field_names,
    enum_class,
    record_class,
    snake,
)

__all__ = ["from_python", "to_python"]


def from_python(value: Any, ty: WitType, *, function: str = "", param: str = "") -> Any:
    """Validate a host-side value against a WIT type and return its canonical form.

    Args:
        value: the Python value (see the module docstring for what each type accepts).
        ty: the WIT type it must have.
        function: the function's name, for error messages.
        param: the parameter's name, for error messages; nested positions are appended
            (``doc.title``, ``items[3]``).

    Raises:
        ValueConversionError: the value does not fit the type.

    """
    return _convert(value, ty, function, param or "value")


def to_python(value: Any, ty: WitType) -> Any:
    """Normalise a value coming from a guest into its canonical Python form.

    Besides everything ``from_python`` accepts, variants may be any object with ``tag``
    and ``payload`` attributes (the shape wasmtime-py returns).

    Args:
        value: the value as produced by the engine.
        ty: its WIT type.

    Raises:
        ValueConversionError: the value does not fit the type.

    """
    return _convert(value, ty, "<result>", "value")


def _fail(value: Any, ty: WitType | str, function: str, param: str) -> ValueConversionError:
    got = repr(value)
    if len(got) > 60:
        got = got[:57] + "..."
    return ValueConversionError(function, param, str(ty), got)


def _is_option(ty: WitType | None) -> bool:
    return isinstance(ty, OptionType)


def _convert(value: Any, ty: WitType, fn: str, param: str) -> Any:  # noqa: PLR0915
    if isinstance(ty, BoolType):
        if isinstance(value, bool):
            return value
        raise _fail(value, ty, fn, param)
    if isinstance(ty, IntType):
        if isinstance(value, int) and not isinstance(value, bool) and ty.min <= value <= ty.max:
            return int(value)
        raise _fail(value, ty, fn, param)
    if isinstance(ty, F32Type | F64Type):
        if isinstance(value, int | float) and not isinstance(value, bool):
            f = float(value)
            if isinstance(ty, F32Type) and math.isfinite(f):
                try:
                    f = struct.unpack("<f", struct.pack("<f", f))[0]
                except OverflowError:
                    raise _fail(value, ty, fn, param) from None
            return f
        raise _fail(value, ty, fn, param)
    if isinstance(ty, CharType):
        if isinstance(value, str) and len(value) == 1 and not 0xD800 <= ord(value) <= 0xDFFF:
            return value
        raise _fail(value, ty, fn, param)
    if isinstance(ty, StringType):
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise _fail(value, ty, fn, param) from None
            return value
        raise _fail(value, ty, fn, param)
    if isinstance(ty, ListType):
        if isinstance(ty.elem, U8Type):
            if isinstance(value, bytes | bytearray | memoryview):
                return bytes(value)
            if isinstance(value, list | tuple):
                return bytes(_convert(v, ty.elem, fn, f"{param}[{i}]") for i, v in enumerate(value))
            raise _fail(value, ty, fn, param)
        if isinstance(value, str | bytes | Mapping) or not isinstance(value, Iterable):
            raise _fail(value, ty, fn, param)
        return [_convert(v, ty.elem, fn, f"{param}[{i}]") for i, v in enumerate(value)]
    if isinstance(ty, TupleType):
        if not isinstance(value, tuple | list) or len(value) != len(ty.items):
            raise _fail(value, ty, fn, param)
        return tuple(
            _convert(v, t, fn, f"{param}[{i}]")
            for i, (v, t) in enumerate(zip(value, ty.items, strict=True))
        )
    if isinstance(ty, RecordType):
        return _convert_record(value, ty, fn, param)
    if isinstance(ty, VariantType):
        return _convert_variant(value, ty, fn, param)
    if isinstance(ty, EnumType):
        return _convert_enum(value, ty, fn, param)
    if isinstance(ty, FlagsType):
        if isinstance(value, str | bytes) or not isinstance(value, Iterable):
            raise _fail(value, ty, fn, param)
        known = {**{n: n for n in ty.names}, **{snake(n): n for n in ty.names}}
        names = frozenset(known.get(n) if isinstance(n, str) else None for n in value)
        if None in names:
            raise _fail(value, ty, fn, param)
        return names
    if isinstance(ty, OptionType):
        if value is None:
            return None
        if _is_option(ty.inner):
            inner = value.value if isinstance(value, Some) else value
            return Some(_convert(inner, ty.inner, fn, param))
        return _convert(value, ty.inner, fn, param)
    if isinstance(ty, ResultType):
        if isinstance(value, Ok):
            return Ok(_convert_opt(value.value, ty.ok, fn, f"{param}(ok)"))
        if isinstance(value, Err):
            return Err(_convert_opt(value.value, ty.err, fn, f"{param}(err)"))
        raise _fail(value, ty, fn, param)
    if isinstance(ty, OwnType | BorrowType | StreamType | FutureType):
        return value  # handles: the backend checks them (a stream from bytes, a list...)
    raise _fail(value, ty, fn, param)  # pragma: no cover - WitType is exhaustive


def _convert_opt(value: Any, ty: WitType | None, fn: str, param: str) -> Any:
    """Convert a payload whose type may be absent (then the value must be None)."""
    if ty is None:
        if value is None:
            return None
        raise _fail(value, "no payload", fn, param)
    return _convert(value, ty, fn, param)


_MISSING: Any = object()
_NOT_RECORDS = (str, bytes, bytearray, int, float, list)


@functools.lru_cache(maxsize=1024)
def _record_plan(ty: RecordType) -> tuple[tuple[str, str, str, WitType], ...]:
    """Per field: the WIT name, its snake name, its plain ``-``->``_`` name, its type."""
    return tuple(
        (name, attr, name.replace("-", "_"), fty)
        for (name, fty), attr in zip(ty.fields, _field_names(ty), strict=True)
    )


def _convert_record(value: Any, ty: RecordType, fn: str, param: str) -> Any:
    if value is None or isinstance(value, _NOT_RECORDS):
        raise _fail(value, f"record {ty.name}", fn, param)
    is_map = isinstance(value, Mapping)
    out: list[Any] = []
    for name, attr, plain, fty in _record_plan(ty):
        raw = _MISSING
        for key in (name, attr, plain):
            if is_map:
                if key in value:
                    raw = value[key]
                    break
            else:
                raw = getattr(value, key, _MISSING)
                if raw is not _MISSING:
                    break
        sub = f"{param}.{attr}"
        if raw is _MISSING:
            if not isinstance(fty, OptionType):
                got = f"a value without field {name!r} of record {ty.name}"
                raise ValueConversionError(fn, sub, f"field {name}: {fty}", got)
            raw = None
        out.append(_convert(raw, fty, fn, sub))
    return record_class(ty)(*out)


def _convert_enum(value: Any, ty: EnumType, fn: str, param: str) -> enum.Enum:
    cls = enum_class(ty)
    if isinstance(value, cls):
        return value
    found: enum.Enum | None = None
    if isinstance(value, str):
        found = _ENUM_LOOKUP[ty].get(value)
    elif isinstance(value, enum.Enum):
        case = value.value
        if not (isinstance(case, str) and case in ty.cases):
            case = value.name.lower().replace("_", "-")
        if case in ty.cases:
            found = cls(case)
    if found is None:
        raise _fail(value, f"enum {ty.name} {{{', '.join(ty.cases)}}}", fn, param)
    return found


def _convert_variant(value: Any, ty: VariantType, fn: str, param: str) -> Variant:
    if isinstance(value, Variant):
        case, payload = value.case, value.value
    elif isinstance(value, str):
        case, payload = value, None
    elif hasattr(value, "tag") and hasattr(value, "payload"):
        case, payload = value.tag, value.payload
    else:
        raise _fail(value, ty, fn, param)
    # The case's WIT name, else its snake_case name (as the engine's converters accept it).
    found = next((c for c in ty.cases if c[0] == case), None)
    if found is None:
        found = next((c for c in ty.cases if snake(c[0]) == case), None)
    if found is not None:
        name, pty = found
        return Variant(name, _convert_opt(payload, pty, fn, f"{param}({name})"))
    raise _fail(value, ty, fn, param)
