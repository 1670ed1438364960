"""The Python side of component-model values, and their validation against WIT types.

This module is in the foundation layer (it imports only the standard library, ``_errors`` and
``types``): the engine layer's converter builds these Python values directly (generated
record classes, enum members, :class:`Variant`, :class:`Ok` ...), and the engine may import
only from the foundation.

The mapping, one WIT type at a time (``convert.from_python`` accepts the left column's inputs and
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
``record``                  an instance of :func:`record_class` ``(ty)``, a frozen, slotted
                            dataclass generated per record type (``word-count`` is the
                            field ``word_count``, see :func:`snake`); accepts a dataclass of
                            any class, a mapping (kebab or snake keys) or any object with the
                            attributes. Omitted option fields are None
``variant``                 :class:`Variant` ``(case, value)``; ``value`` is None without payload
                            (accepts the case name kebab or snake)
``enum``                    a member of :func:`enum_class` ``(ty)``, an ``enum.Enum`` generated
                            per type (``blue-ish`` is ``BLUE_ISH = "blue-ish"``); accepts the
                            case name (kebab or snake) or member name as a ``str``, or any
                            ``enum.Enum`` member whose value or lower-cased name is a case
``flags``                   ``frozenset[str]`` (accepts any iterable of flag names, kebab or
                            snake, but not a ``str`` or ``bytes``)
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

Generated bindings register their own classes with :func:`use_class`, so values come back as
those classes. Names are mapped by :func:`snake` (fields, functions) and :func:`camel` (types)
and nowhere else.
"""

from __future__ import annotations

import dataclasses
import enum
import keyword
import re
import threading
from dataclasses import dataclass
from typing import Any, ClassVar

from .types import EnumType, RecordType

__all__ = [
    "Err",
    "Ok",
    "Some",
    "Variant",
    "camel",
    "enum_class",
    "record_class",
    "snake",
    "use_class",
]


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


# --- names ---------------------------------------------------------------------------------

# Keywords plus the soft keywords (``type`` is one from Python 3.12): fixed here rather than
# taken from the running interpreter, so generated names do not depend on the Python version.
_RESERVED = frozenset(keyword.kwlist) | {"_", "case", "match", "type"}
_IDENT_CACHE_SIZE = 4096
# Names are mapped on hot paths (export lookups, every instance's façade): remember them.
# Plain dicts (atomic under the GIL), bounded: past the size, names are computed each time.
_SNAKE: dict[str, str] = {}
_CAMEL: dict[str, str] = {}


def _ident(words: list[str], joiner: str, fallback: str) -> str:
    """Join words into an identifier, replacing anything Python does not allow with ``_``."""
    text = re.sub(r"\W", "_", joiner.join(w for w in words if w), flags=re.ASCII)
    if not text[:1].isalpha():  # empty, or starting with a digit or "_" (private/sunder)
        text = fallback + text
    return text


def snake(name: str) -> str:
    """Map a WIT (kebab-case) name to the Python snake_case name used for it.

    Record fields, function parameters and functions all use this mapping, so every layer that
    names a field (the converter, bindgen, WAVE) agrees: ``word-count`` is ``word_count``,
    ``HTTP-code`` is ``http_code``. A result that is a Python keyword gets a trailing
    underscore (``type`` -> ``type_``); characters that cannot appear in an identifier become
    ``_`` and a name that would not start with a letter (or be empty) gets an ``f_`` prefix.

    Args:
        name: the WIT name, without a ``%`` escape.

    """
    out = _SNAKE.get(name)
    if out is None:
        out = _ident(name.lower().split("-"), "_", "f_")
        if out in _RESERVED:
            out += "_"
        if len(_SNAKE) < _IDENT_CACHE_SIZE:
            _SNAKE[name] = out
    return out


def camel(name: str) -> str:
    """Map a WIT (kebab-case) type name to the Python CamelCase class name used for it.

    ``key-points`` is ``KeyPoints``, ``HTTP-request`` is ``HttpRequest`` (as componentize-py
    spells it). A result that is a Python keyword (``none`` -> ``None``) gets a trailing
    underscore; an empty or non-identifier name is made safe with ``_`` replacements and a
    ``Wit`` prefix.

    Args:
        name: the WIT type name.

    """
    out = _CAMEL.get(name)
    if out is None:
        out = _ident([w.capitalize() for w in name.split("-")], "", "Wit")
        if keyword.iskeyword(out):
            out += "_"
        if len(_CAMEL) < _IDENT_CACHE_SIZE:
            _CAMEL[name] = out
    return out


def _member(case: str) -> str:
    """The UPPER_SNAKE enum member name of a WIT case (``blue-ish`` -> ``BLUE_ISH``)."""
    return _ident(case.upper().split("-"), "_", "E_")


# --- generated classes ---------------------------------------------------------------------

_LOCK = threading.Lock()
_RECORDS: dict[RecordType, type[Any]] = {}
_ENUMS: dict[EnumType, type[enum.Enum]] = {}
_ENUM_LOOKUP: dict[EnumType, dict[str, enum.Enum]] = {}


def _field_names(ty: RecordType) -> tuple[str, ...]:
    names = tuple(snake(n) for n, _ in ty.fields)
    if len(set(names)) != len(names):
        clash = sorted({n for n in names if names.count(n) > 1})
        msg = f"record {ty.name}: fields {', '.join(clash)} collide after snake_case mapping"
        raise ValueError(msg)
    return names


def _rebuild_record(ty: RecordType, values: tuple[Any, ...]) -> Any:
    """Unpickle a generated record: find (or regenerate) its class, then build the value."""
    return record_class(ty)(*values)


def _rebuild_enum(ty: EnumType, case: str) -> enum.Enum:
    """Unpickle a generated enum member: find (or regenerate) its class, then look it up."""
    return enum_class(ty)(case)


def _reduce_record(self: Any) -> tuple[Any, ...]:
    return (_rebuild_record, (type(self).__wit__, tuple(getattr(self, f) for f in self.__slots__)))


def _make_record(ty: RecordType) -> type[Any]:
    name = camel(ty.name)
    cls = dataclasses.make_dataclass(
        name,
        [(f, Any) for f in _field_names(ty)],
        namespace={"__reduce__": _reduce_record, "__doc__": f"WIT ``{ty.definition()}``."},
        frozen=True,
        slots=True,
    )
    cls.__module__ = __name__
    cls.__qualname__ = name
    # A class attribute, set after creation so it is not a dataclass field.
    cls.__wit__ = ty  # type: ignore[attr-defined]
    return cls


class _WitEnum(enum.Enum):
    """Base of the generated enums: pickles members through :func:`enum_class`."""

    __wit__: ClassVar[EnumType]

    def __reduce_ex__(self, protocol: object) -> tuple[Any, ...]:
        return (_rebuild_enum, (type(self).__wit__, self.value))


def _make_enum(ty: EnumType) -> type[enum.Enum]:
    members: list[tuple[str, str]] = []
    taken: set[str] = set()
    for case in ty.cases:
        member = _member(case)
        while member in taken:  # only cases differing in letter case can collide
            member += "_"
        taken.add(member)
        members.append((member, case))
    name = camel(ty.name)
    # The functional API (a name and members) makes a subclass; typeshed does not model it.
    factory: Any = _WitEnum
    cls: type[_WitEnum] = factory(name, members, module=__name__, qualname=name)
    cls.__wit__ = ty
    cls.__doc__ = f"WIT ``{ty.definition()}``."
    return cls


def _enum_lookup(ty: EnumType, cls: type[enum.Enum]) -> dict[str, enum.Enum]:
    """Every string accepted for a case: member name, snake form, kebab case name (last wins)."""
    out: dict[str, enum.Enum] = {}
    for member in cls:
        out[member.name] = member
    for case in ty.cases:
        member = cls(case)
        out[snake(case)] = out[case.replace("-", "_")] = out[case] = member
    return out


def record_class(ty: RecordType) -> type[Any]:
    """Return the Python class of a WIT record type, generating it on first use.

    The class is a frozen, slotted dataclass named ``camel(ty.name)`` whose fields are
    ``snake(field)`` in WIT order, so ``cls(*values)`` builds a value; its ``__wit__`` class
    attribute is ``ty``. Equal descriptors share one class; instances pickle. A class
    registered with :func:`use_class` is returned instead.

    Args:
        ty: the record type.

    Raises:
        ValueError: two field names map to the same snake_case name.

    """
    cls = _RECORDS.get(ty)
    if cls is None:
        with _LOCK:
            cls = _RECORDS.get(ty)
            if cls is None:
                cls = _RECORDS[ty] = _make_record(ty)
    return cls


def enum_class(ty: EnumType) -> type[enum.Enum]:
    """Return the Python ``enum.Enum`` of a WIT enum type, generating it on first use.

    Members are named in UPPER_SNAKE (``blue-ish`` -> ``BLUE_ISH``, as componentize-py does)
    and their values are the WIT case names, in case order; ``__wit__`` is ``ty``. Equal
    descriptors share one class; members pickle. A class registered with :func:`use_class`
    is returned instead.

    Args:
        ty: the enum type.

    """
    cls = _ENUMS.get(ty)
    if cls is None:
        with _LOCK:
            cls = _ENUMS.get(ty)
            if cls is None:
                cls = _make_enum(ty)
                _ENUM_LOOKUP[ty] = _enum_lookup(ty, cls)
                _ENUMS[ty] = cls
    return cls


def use_class(ty: RecordType | EnumType, cls: type) -> None:
    """Make ``cls`` the Python class of a WIT record or enum type.

    Generated bindings call this at import, so values of ``ty`` (from guests, WAVE, or
    ``from_python``) come back as their own classes. A record class must be a dataclass whose
    fields are exactly ``snake(field)`` in WIT order; an enum class must be an ``enum.Enum``
    whose member values are exactly the case names. Registering again replaces the class.

    Args:
        ty: the record or enum type.
        cls: the class to use for it.

    Raises:
        ValueError: ``cls`` does not fit ``ty``; the message says what differs.

    """
    if isinstance(ty, RecordType):
        if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):
            raise ValueError(f"record {ty.name}: {cls!r} is not a dataclass")
        want = _field_names(ty)
        got = tuple(f.name for f in dataclasses.fields(cls))
        if got != want:
            raise ValueError(f"record {ty.name}: {cls.__name__} has fields {got}, expected {want}")
        with _LOCK:
            _RECORDS[ty] = cls
        return
    if not (isinstance(cls, type) and issubclass(cls, enum.Enum)):
        raise ValueError(f"enum {ty.name}: {cls!r} is not an enum.Enum")
    values = [m.value for m in cls]
    if values != list(ty.cases):
        # Order matters too: converters pair cases with members by position.
        raise ValueError(
            f"enum {ty.name}: {cls.__name__} has member values {values}, "
            f"expected the case names {list(ty.cases)} in that order"
        )
    with _LOCK:
        _ENUM_LOOKUP[ty] = _enum_lookup(ty, cls)
        _ENUMS[ty] = cls
