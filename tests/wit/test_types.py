"""WIT type descriptors: structure, equality and WIT spelling."""

from __future__ import annotations

import dataclasses

import pytest

from omniwasm._wit.types import (
    F32,
    F64,
    S8,
    S16,
    S32,
    S64,
    U8,
    U16,
    U32,
    U64,
    Bool,
    BorrowType,
    Char,
    EnumType,
    FlagsType,
    FuncSig,
    ListType,
    OptionType,
    OwnType,
    RecordType,
    ResultType,
    String,
    TupleType,
    U32Type,
    VariantType,
)


@pytest.mark.parametrize(
    ("ty", "text"),
    [
        (Bool, "bool"),
        (S8, "s8"),
        (S16, "s16"),
        (S32, "s32"),
        (S64, "s64"),
        (U8, "u8"),
        (U16, "u16"),
        (U32, "u32"),
        (U64, "u64"),
        (F32, "f32"),
        (F64, "f64"),
        (Char, "char"),
        (String, "string"),
        (ListType(U8), "list<u8>"),
        (ListType(ListType(String)), "list<list<string>>"),
        (TupleType((U32, String)), "tuple<u32, string>"),
        (OptionType(String), "option<string>"),
        (ResultType(U32, String), "result<u32, string>"),
        (ResultType(None, String), "result<_, string>"),
        (ResultType(U32, None), "result<u32>"),
        (ResultType(), "result"),
        (OwnType("blob"), "own<blob>"),
        (BorrowType("blob"), "borrow<blob>"),
        (RecordType("point", (("x", S32),)), "point"),
        (VariantType("shape", (("circle", F64),)), "shape"),
        (EnumType("color", ("red",)), "color"),
        (FlagsType("perms", ("read",)), "perms"),
    ],
)
def test_str_is_wit_syntax(ty: object, text: str) -> None:
    """str() of every type descriptor is its WIT spelling; named types print their name."""
    assert str(ty) == text


def test_named_types_render_their_definition() -> None:
    """Records, variants, enums and flags can print their full WIT declaration."""
    assert RecordType("point", (("x", S32), ("y", S32))).definition() == (
        "record point { x: s32, y: s32 }"
    )
    assert VariantType("v", (("a", U8), ("b", None))).definition() == "variant v { a(u8), b }"
    assert EnumType("color", ("red", "green")).definition() == "enum color { red, green }"
    assert FlagsType("p", ("read", "write")).definition() == "flags p { read, write }"


def test_func_sig_str_is_wit() -> None:
    """A function signature prints as a WIT func declaration, with or without a result."""
    sig = FuncSig("summarize", (("doc", String), ("max-words", U32)), ResultType(String, String))
    assert str(sig) == "summarize: func(doc: string, max-words: u32) -> result<string, string>"
    assert str(FuncSig("tick", ())) == "tick: func()"


def test_types_compare_and_hash_by_structure() -> None:
    """Descriptors built separately are equal and hash alike, so they can key caches."""
    a = ListType(OptionType(U32Type()))
    b = ListType(OptionType(U32))
    assert a == b
    assert hash(a) == hash(b)
    assert {a: 1}[b] == 1
    assert ListType(U32) != ListType(S32)


def test_types_are_frozen_and_slotted() -> None:
    """Descriptors cannot be mutated and carry no per-instance dict."""
    ty = ListType(U8)
    with pytest.raises(dataclasses.FrozenInstanceError):
        ty.elem = U32  # type: ignore[misc]
    assert not hasattr(ty, "__dict__")


@pytest.mark.parametrize(
    ("ty", "lo", "hi"),
    [
        (S8, -128, 127),
        (U8, 0, 255),
        (S16, -32768, 32767),
        (U16, 0, 65535),
        (S32, -(2**31), 2**31 - 1),
        (U32, 0, 2**32 - 1),
        (S64, -(2**63), 2**63 - 1),
        (U64, 0, 2**64 - 1),
    ],
)
def test_integer_ranges(ty: U32Type, lo: int, hi: int) -> None:
    """Each integer type knows its inclusive range."""
    assert (ty.min, ty.max) == (lo, hi)
