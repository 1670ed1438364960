"""WIT type descriptors: pure-Python values that describe component-model types.

Every descriptor is a frozen, slotted dataclass, so types compare and hash by structure and can
key caches (the converter layer generates one converter per function type). ``str()`` of any
descriptor is its WIT spelling: ``list<u8>``, ``option<string>``, ``result<_, string>``; named
types (records, variants, enums, flags) print their name, as they do inside a WIT interface.

The primitive types are singletons (``Bool``, ``U32``, ``String`` ...), though constructing a
fresh ``U32Type()`` gives an equal value.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "F32",
    "F64",
    "S8",
    "S16",
    "S32",
    "S64",
    "U8",
    "U16",
    "U32",
    "U64",
    "Bool",
    "BoolType",
    "BorrowType",
    "Char",
    "CharType",
    "EnumType",
    "F32Type",
    "F64Type",
    "FlagsType",
    "FuncSig",
    "FutureType",
    "IntType",
    "InterfaceType",
    "ListType",
    "OptionType",
    "OwnType",
    "RecordType",
    "ResultType",
    "S8Type",
    "S16Type",
    "S32Type",
    "S64Type",
    "StreamType",
    "String",
    "StringType",
    "TupleType",
    "U8Type",
    "U16Type",
    "U32Type",
    "U64Type",
    "VariantType",
    "WitType",
    "WorldType",
]


@dataclass(frozen=True, slots=True)
class BoolType:
    """The WIT ``bool`` type."""

    def __str__(self) -> str:
        return "bool"


@dataclass(frozen=True, slots=True)
class IntType:
    """Base of the WIT integer types; subclasses fix ``bits`` and ``signed``."""

    bits = 0
    signed = False

    @property
    def min(self) -> int:
        """The smallest value of the type."""
        return -(1 << (self.bits - 1)) if self.signed else 0

    @property
    def max(self) -> int:
        """The largest value of the type."""
        return (1 << (self.bits - 1)) - 1 if self.signed else (1 << self.bits) - 1

    def __str__(self) -> str:
        return f"{'s' if self.signed else 'u'}{self.bits}"


@dataclass(frozen=True, slots=True)
class S8Type(IntType):
    """The WIT ``s8`` type."""

    bits = 8
    signed = True


@dataclass(frozen=True, slots=True)
class S16Type(IntType):
    """The WIT ``s16`` type."""

    bits = 16
    signed = True


@dataclass(frozen=True, slots=True)
class S32Type(IntType):
    """The WIT ``s32`` type."""

    bits = 32
    signed = True


@dataclass(frozen=True, slots=True)
class S64Type(IntType):
    """The WIT ``s64`` type."""

    bits = 64
    signed = True


@dataclass(frozen=True, slots=True)
class U8Type(IntType):
    """The WIT ``u8`` type."""

    bits = 8


@dataclass(frozen=True, slots=True)
class U16Type(IntType):
    """The WIT ``u16`` type."""

    bits = 16


@dataclass(frozen=True, slots=True)
class U32Type(IntType):
    """The WIT ``u32`` type."""

    bits = 32


@dataclass(frozen=True, slots=True)
class U64Type(IntType):
    """The WIT ``u64`` type."""

    bits = 64


@dataclass(frozen=True, slots=True)
class F32Type:
    """The WIT ``f32`` type."""

    def __str__(self) -> str:
        return "f32"


@dataclass(frozen=True, slots=True)
class F64Type:
    """The WIT ``f64`` type."""

    def __str__(self) -> str:
        return "f64"


@dataclass(frozen=True, slots=True)
class CharType:
    """The WIT ``char`` type: one Unicode scalar value."""

    def __str__(self) -> str:
        return "char"


@dataclass(frozen=True, slots=True)
class StringType:
    """The WIT ``string`` type."""

    def __str__(self) -> str:
        return "string"


@dataclass(frozen=True, slots=True)
class ListType:
    """``list<elem>``.

    Args:
        elem: the element type.

    """

    elem: WitType

    def __str__(self) -> str:
        return f"list<{self.elem}>"


@dataclass(frozen=True, slots=True)
class TupleType:
    """``tuple<a, b, ...>``.

    Args:
        items: the element types, in order.

    """

    items: tuple[WitType, ...]

    def __str__(self) -> str:
        return f"tuple<{', '.join(map(str, self.items))}>"


@dataclass(frozen=True, slots=True)
class RecordType:
    """A named ``record`` with ordered, kebab-case fields.

    Args:
        name: the record's WIT name.
        fields: ``(field-name, type)`` pairs in declaration order.

    """

    name: str
    fields: tuple[tuple[str, WitType], ...]

    def __str__(self) -> str:
        return self.name

    def definition(self) -> str:
        """The WIT declaration, e.g. ``record point { x: s32, y: s32 }``."""
        body = ", ".join(f"{n}: {t}" for n, t in self.fields)
        return f"record {self.name} {{ {body} }}"


@dataclass(frozen=True, slots=True)
class VariantType:
    """A named ``variant``: cases with an optional payload each.

    Args:
        name: the variant's WIT name.
        cases: ``(case-name, payload type or None)`` pairs in declaration order.

    """

    name: str
    cases: tuple[tuple[str, WitType | None], ...]

    def __str__(self) -> str:
        return self.name

    def definition(self) -> str:
        """The WIT declaration, e.g. ``variant shape { circle(f64), none }``."""
        body = ", ".join(n if t is None else f"{n}({t})" for n, t in self.cases)
        return f"variant {self.name} {{ {body} }}"


@dataclass(frozen=True, slots=True)
class EnumType:
    """A named ``enum``: cases without payloads.

    Args:
        name: the enum's WIT name.
        cases: the case names in declaration order.

    """

    name: str
    cases: tuple[str, ...]

    def __str__(self) -> str:
        return self.name

    def definition(self) -> str:
        """The WIT declaration, e.g. ``enum color { red, green }``."""
        return f"enum {self.name} {{ {', '.join(self.cases)} }}"


@dataclass(frozen=True, slots=True)
class FlagsType:
    """A named ``flags`` type: a set of independent boolean names.

    Args:
        name: the flags type's WIT name.
        names: the flag names in declaration order.

    """

    name: str
    names: tuple[str, ...]

    def __str__(self) -> str:
        return self.name

    def definition(self) -> str:
        """The WIT declaration, e.g. ``flags perms { read, write }``."""
        return f"flags {self.name} {{ {', '.join(self.names)} }}"


@dataclass(frozen=True, slots=True)
class OptionType:
    """``option<inner>``.

    Args:
        inner: the payload type of ``some``.

    """

    inner: WitType

    def __str__(self) -> str:
        return f"option<{self.inner}>"


@dataclass(frozen=True, slots=True)
class ResultType:
    """``result<ok, err>``; either side may be absent (``None``).

    Args:
        ok: the payload type of ``ok``, or None.
        err: the payload type of ``err``, or None.

    """

    ok: WitType | None = None
    err: WitType | None = None

    def __str__(self) -> str:
        if self.ok is None and self.err is None:
            return "result"
        if self.err is None:
            return f"result<{self.ok}>"
        return f"result<{'_' if self.ok is None else self.ok}, {self.err}>"


@dataclass(frozen=True, slots=True)
class OwnType:
    """``own<resource>``: an owned resource handle.

    Args:
        resource: the resource's WIT name.
        interface: the interface that defines it (empty at world level); two resources with
            the same name in different interfaces are different types.

    """

    resource: str
    interface: str = ""

    def __str__(self) -> str:
        return f"own<{self.resource}>"


@dataclass(frozen=True, slots=True)
class BorrowType:
    """``borrow<resource>``: a borrowed resource handle.

    Args:
        resource: the resource's WIT name.
        interface: the interface that defines it (empty at world level).

    """

    resource: str
    interface: str = ""

    def __str__(self) -> str:
        return f"borrow<{self.resource}>"


@dataclass(frozen=True, slots=True)
class StreamType:
    """``stream<elem>``: values that arrive over time (component-model async, WASI 0.3).

    Args:
        elem: the element type (None: a stream of no values, only its progress).

    """

    elem: WitType | None = None

    def __str__(self) -> str:
        return "stream" if self.elem is None else f"stream<{self.elem}>"


@dataclass(frozen=True, slots=True)
class FutureType:
    """``future<elem>``: one value that arrives later (component-model async, WASI 0.3).

    Args:
        elem: the value's type (None: a future that only completes).

    """

    elem: WitType | None = None

    def __str__(self) -> str:
        return "future" if self.elem is None else f"future<{self.elem}>"


WitType = (
    BoolType
    | IntType
    | F32Type
    | F64Type
    | CharType
    | StringType
    | ListType
    | TupleType
    | RecordType
    | VariantType
    | EnumType
    | FlagsType
    | OptionType
    | ResultType
    | OwnType
    | BorrowType
    | StreamType
    | FutureType
)
"""Any WIT type descriptor."""


@dataclass(frozen=True, slots=True)
class FuncSig:
    """The signature of a component function.

    Args:
        name: the function's name.
        params: ``(param-name, type)`` pairs in order.
        result: the result type, or None for a function without a result.
        is_async: an ``async func`` (component-model async).

    """

    name: str
    params: tuple[tuple[str, WitType], ...]
    result: WitType | None = None
    is_async: bool = False

    def __str__(self) -> str:
        params = ", ".join(f"{n}: {t}" for n, t in self.params)
        tail = "" if self.result is None else f" -> {self.result}"
        word = "async func" if self.is_async else "func"
        return f"{self.name}: {word}({params}){tail}"


@dataclass(frozen=True, slots=True)
class InterfaceType:
    """An interface instance a component imports or exports.

    Args:
        name: the full name, e.g. ``blog:example/summarizer@1.0.0`` (or a plain name for an
            inline instance).
        funcs: its functions. Resource members keep their component-model names:
            ``[constructor]counter``, ``[method]counter.value``, ``[static]counter.merge``.
        types: the named types it defines (records, variants, enums, flags).
        resources: the names of the resources it defines.

    """

    name: str
    funcs: tuple[FuncSig, ...] = ()
    types: tuple[WitType, ...] = ()
    resources: tuple[str, ...] = ()

    def func(self, name: str) -> FuncSig | None:
        """The function called ``name``, or None."""
        return next((f for f in self.funcs if f.name == name), None)


@dataclass(frozen=True, slots=True)
class WorldType:
    """What a component imports and exports, as WIT types.

    Args:
        imports: imported interfaces and world-level functions.
        exports: exported interfaces and world-level functions.
        types: named types at world level.

    """

    imports: tuple[InterfaceType | FuncSig, ...] = ()
    exports: tuple[InterfaceType | FuncSig, ...] = ()
    types: tuple[WitType, ...] = ()


Bool = BoolType()
S8 = S8Type()
S16 = S16Type()
S32 = S32Type()
S64 = S64Type()
U8 = U8Type()
U16 = U16Type()
U32 = U32Type()
U64 = U64Type()
F32 = F32Type()
F64 = F64Type()
Char = CharType()
String = StringType()
