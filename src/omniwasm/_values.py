"""The Python side of component-model values, and their validation against WIT types.

The mapping, one WIT type at a time (``from_python`` accepts the left column's inputs and
returns the canonical form; ``to_python`` returns the same canonical form):

==========================  ==========================================================
WIT                         Python
==========================  ==========================================================
``bool``                    ``bool`` (exactly; ``1`` is not a bool)
``s8`` .. ``u64``           ``int``, range-checked: out of range is an error, never a wrap
``f32``, ``f64``            ``float`` (ints accepted); f32 values are rounded to f32
``char``                    ``str`` of exactly one code point (not a surrogate)
``string``                  ``str`` (must be encodable as UTF-8)
``list<u8>``                ``bytes`` (accepts bytes, bytearray, memoryview, list of ints)
``list<T>``                 ``list``
``tuple<...>``              ``tuple``
``record``                  :class:`Record`, a read-only mapping keyed by the WIT (kebab-case)
                            field names that also offers snake_case attribute access; accepts
                            a mapping (kebab or snake keys) or any object with the attributes
``variant``                 :class:`Variant` ``(case, value)``; ``value`` is None without payload
``enum``                    the case name as ``str`` (an ``enum.Enum`` member whose value or
                            name is the case is accepted too)
``flags``                   ``frozenset[str]`` (accepts any iterable of flag names)
``option<T>``               ``None`` or the value of ``T``
``option<option<T>>``       ``None`` for the outer ``none``; :class:`Some` ``(x)`` for
                            ``some(x)``, where ``x`` is itself ``None`` or a value of ``T``.
                            ``Some`` is used exactly when the payload is itself an option, so
                            every value stays unambiguous; a plain non-None value is accepted
                            as ``Some(value)``
``result<T, E>``            :class:`Ok` ``(value)`` or :class:`Err` ``(value)``; a missing
                            payload is ``None``. ``Err`` is also an exception, so a call can
                            raise it
``own<R>``, ``borrow<R>``   passed through unchanged (handles belong to the engine layer)
==========================  ==========================================================
"""

from __future__ import annotations

import enum
import math
import struct
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from ._errors import ValueConversionError
from ._types import (
    BoolType,
    BorrowType,
    CharType,
    EnumType,
    F32Type,
    F64Type,
    FlagsType,
    IntType,
    ListType,
    OptionType,
    OwnType,
    RecordType,
    ResultType,
    StringType,
    TupleType,
    U8Type,
    VariantType,
    WitType,
)

__all__ = ["Err", "Ok", "Record", "Some", "Variant", "from_python", "to_python"]


@dataclass(frozen=True, slots=True)
class Variant:
    """A value of a WIT ``variant``: the case name and its payload.

    Pattern-matches positionally: ``case Variant("circle", r): ...``.

    Args:
        case: the case name (kebab-case, as in WIT).
        value: the payload, or None for a case without one.

    """

    __match_args__: ClassVar[tuple[str, ...]] = ("case", "value")

    case: str
    value: Any = None


@dataclass(frozen=True, slots=True)
class Some:
    """The ``some`` of an option whose payload is itself an option.

    Only ``option<option<T>>`` (and deeper) uses it: ``Some(None)`` is ``some(none)``,
    while a bare ``None`` is the outer ``none``.

    Args:
        value: the payload, a value of the inner option type.

    """

    __match_args__: ClassVar[tuple[str, ...]] = ("value",)

    value: Any


@dataclass(frozen=True, slots=True)
class Ok:
    """The ``ok`` case of a WIT ``result``.

    Args:
        value: the ok payload, or None when the result has no ok type.

    """

    __match_args__: ClassVar[tuple[str, ...]] = ("value",)

    value: Any = None


class Err(Exception):
    """The ``err`` case of a WIT ``result``; also an exception, so calls can raise it.

    Args:
        value: the error payload, or None when the result has no err type.

    """

    __match_args__: ClassVar[tuple[str, ...]] = ("value",)

    def __init__(self, value: Any = None) -> None:
        super().__init__(value)
        self.value = value

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and bool(self.value == other.value)

    def __hash__(self) -> int:
        return hash((Err, _hashable(self.value)))

    def __repr__(self) -> str:
        return f"Err({self.value!r})"

    def __str__(self) -> str:
        return f"err({self.value!r})"


def _hashable(value: Any) -> Any:
    """Return ``value`` if it hashes, else its repr (Err payloads may be lists or dicts)."""
    try:
        hash(value)
    except TypeError:
        return repr(value)
    return value


class Record(Mapping[str, Any]):
    """A WIT ``record`` value: a read-only mapping from field name to value.

    Keys are the WIT (kebab-case) field names in declaration order; the fields are also
    attributes under their snake_case names (``rec.word_count`` for ``word-count``).
    Two records are equal when their fields are; a record equals a plain dict with the same
    kebab-case keys.

    Args:
        fields: the field values keyed by WIT field name.

    """

    __slots__ = ("_fields",)

    def __init__(self, fields: Mapping[str, Any]) -> None:
        object.__setattr__(self, "_fields", dict(fields))

    def __getitem__(self, key: str) -> Any:
        fields: dict[str, Any] = object.__getattribute__(self, "_fields")
        if key in fields:
            return fields[key]
        return fields[key.replace("_", "-")]

    def __iter__(self) -> Iterator[str]:
        return iter(self._fields)

    def __len__(self) -> int:
        return len(self._fields)

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Record is read-only")

    def __reduce__(self) -> tuple[Any, ...]:
        return (Record, (self._fields,))

    def __repr__(self) -> str:
        inner = ", ".join(f"{k.replace('-', '_')}={v!r}" for k, v in self._fields.items())
        return f"Record({inner})"


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
        name = value
        if isinstance(value, enum.Enum):
            name = value.value if value.value in ty.cases else value.name.lower().replace("_", "-")
        if isinstance(name, str) and name in ty.cases:
            return name
        raise _fail(value, ty, fn, param)
    if isinstance(ty, FlagsType):
        if isinstance(value, str) or not isinstance(value, Iterable):
            raise _fail(value, ty, fn, param)
        names = frozenset(value)
        if not all(isinstance(n, str) and n in ty.names for n in names):
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
            return Ok(_convert_opt(value.value, ty.ok, fn, param))
        if isinstance(value, Err):
            return Err(_convert_opt(value.value, ty.err, fn, param))
        raise _fail(value, ty, fn, param)
    if isinstance(ty, OwnType | BorrowType):
        return value
    raise _fail(value, ty, fn, param)  # pragma: no cover - WitType is exhaustive


def _convert_opt(value: Any, ty: WitType | None, fn: str, param: str) -> Any:
    """Convert a payload whose type may be absent (then the value must be None)."""
    if ty is None:
        if value is None:
            return None
        raise _fail(value, "no payload", fn, param)
    return _convert(value, ty, fn, param)


def _convert_record(value: Any, ty: RecordType, fn: str, param: str) -> Record:
    out: dict[str, Any] = {}
    for name, fty in ty.fields:
        snake = name.replace("-", "_")
        sub = f"{param}.{snake}"
        if isinstance(value, Mapping):
            if name in value:
                raw = value[name]
            elif snake in value:
                raw = value[snake]
            elif isinstance(fty, OptionType):
                raw = None
            else:
                raise _fail(value, f"record {ty.name} with field {name}", fn, param)
        elif hasattr(value, snake):
            raw = getattr(value, snake)
        elif isinstance(fty, OptionType) and not isinstance(value, str | int | float | list):
            raw = None
        else:
            raise _fail(value, f"record {ty.name} with field {name}", fn, param)
        out[name] = _convert(raw, fty, fn, sub)
    return Record(out)


def _convert_variant(value: Any, ty: VariantType, fn: str, param: str) -> Variant:
    if isinstance(value, Variant):
        case, payload = value.case, value.value
    elif isinstance(value, str):
        case, payload = value, None
    elif hasattr(value, "tag") and hasattr(value, "payload"):
        case, payload = value.tag, value.payload
    else:
        raise _fail(value, ty, fn, param)
    for name, pty in ty.cases:
        if name == case:
            return Variant(name, _convert_opt(payload, pty, fn, f"{param}({name})"))
    raise _fail(value, ty, fn, param)
