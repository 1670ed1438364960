"""The Python mapping of WIT values: validation, normalisation and error reporting."""

from __future__ import annotations

import enum
import math
import pickle
from types import SimpleNamespace
from typing import Any

import pytest

from omniwasm import ValueConversionError
from omniwasm._types import (
    F32,
    F64,
    S8,
    S64,
    U8,
    U32,
    U64,
    Bool,
    Char,
    EnumType,
    FlagsType,
    ListType,
    OptionType,
    OwnType,
    RecordType,
    ResultType,
    String,
    TupleType,
    VariantType,
)
from omniwasm._values import Err, Ok, Record, Some, Variant, from_python, to_python

SUMMARY = RecordType(
    "summary",
    (("text", String), ("key-points", ListType(String)), ("word-count", U32)),
)


@pytest.mark.parametrize(
    ("ty", "value"),
    [(U8, 256), (U8, -1), (S8, 128), (S8, -129), (U64, 2**64), (S64, -(2**63) - 1)],
)
def test_integers_out_of_range_raise(ty: Any, value: int) -> None:
    """An out-of-range integer raises ValueConversionError naming function, param and type."""
    with pytest.raises(ValueConversionError) as info:
        from_python(value, ty, function="f", param="n")
    err = info.value
    assert (err.function, err.param, err.expected, err.got) == ("f", "n", str(ty), repr(value))
    assert isinstance(err, TypeError)


def test_integer_bounds_are_accepted() -> None:
    """The inclusive bounds of each integer type are valid values."""
    assert from_python(255, U8) == 255
    assert from_python(-128, S8) == -128
    assert from_python(2**64 - 1, U64) == 2**64 - 1


def test_bool_is_not_an_integer_and_vice_versa() -> None:
    """True is rejected for an integer type and 1 is rejected for bool."""
    with pytest.raises(ValueConversionError):
        from_python(True, U32)
    with pytest.raises(ValueConversionError):
        from_python(1, Bool)
    assert from_python(False, Bool) is False


def test_floats_accept_ints_and_round_f32() -> None:
    """Floats accept ints, f32 values are rounded to single precision, nan stays nan."""
    assert from_python(3, F64) == 3.0
    assert from_python(0.1, F32) == pytest.approx(0.1, rel=1e-7)
    assert from_python(0.1, F32) != 0.1
    assert math.isnan(from_python(math.nan, F32))
    with pytest.raises(ValueConversionError):
        from_python(1e300, F32)
    with pytest.raises(ValueConversionError):
        from_python("1.0", F64)


@pytest.mark.parametrize("value", ["", "ab", "\ud800", 65])
def test_char_must_be_one_scalar_value(value: Any) -> None:
    """A char is exactly one code point and never a surrogate."""
    with pytest.raises(ValueConversionError):
        from_python(value, Char)


def test_char_accepts_astral_code_point() -> None:
    """A code point outside the BMP is one char."""
    assert from_python("😀", Char) == "😀"


def test_string_rejects_lone_surrogates_and_non_strings() -> None:
    """Strings must encode as UTF-8; bytes are not strings."""
    with pytest.raises(ValueConversionError):
        from_python("a\udc00", String)
    with pytest.raises(ValueConversionError):
        from_python(b"abc", String)


@pytest.mark.parametrize("value", [b"ab", bytearray(b"ab"), memoryview(b"ab"), [97, 98]])
def test_list_u8_yields_bytes(value: Any) -> None:
    """list<u8> accepts bytes-like objects or ints and always yields bytes."""
    out = from_python(value, ListType(U8))
    assert out == b"ab"
    assert type(out) is bytes


def test_list_u8_checks_each_int() -> None:
    """A list of ints for list<u8> is range-checked element by element."""
    with pytest.raises(ValueConversionError) as info:
        from_python([1, 300], ListType(U8), param="data")
    assert info.value.param == "data[1]"


def test_lists_and_tuples() -> None:
    """Lists accept any iterable but not strings; tuples need the exact arity."""
    assert from_python((1, 2), ListType(U32)) == [1, 2]
    with pytest.raises(ValueConversionError):
        from_python("ab", ListType(Char))
    assert from_python([1, "x"], TupleType((U8, String))) == (1, "x")
    with pytest.raises(ValueConversionError):
        from_python((1,), TupleType((U8, String)))


def test_record_accepts_kebab_or_snake_dict() -> None:
    """A record accepts a dict keyed by kebab or snake names and yields a Record."""
    for key in ("key-points", "key_points"):
        rec = from_python({"text": "t", key: ["a"], "word-count": 1}, SUMMARY)
        assert isinstance(rec, Record)
        assert rec == {"text": "t", "key-points": ["a"], "word-count": 1}
        assert rec.key_points == ["a"]
        assert rec["key_points"] == ["a"]


def test_record_accepts_object_with_attributes() -> None:
    """Any object with the snake_case attributes converts to a record."""
    obj = SimpleNamespace(text="t", key_points=[], word_count=3)
    assert from_python(obj, SUMMARY)["word-count"] == 3


def test_record_missing_field_and_bad_field_are_named() -> None:
    """A missing field or a wrong field type is reported with the field's path."""
    with pytest.raises(ValueConversionError):
        from_python({"text": "t"}, SUMMARY)
    with pytest.raises(ValueConversionError) as info:
        from_python({"text": "t", "key-points": [], "word-count": -1}, SUMMARY, param="s")
    assert info.value.param == "s.word_count"


def test_record_option_fields_default_to_none() -> None:
    """Option-typed record fields may be omitted and become None."""
    ty = RecordType("r", (("a", U8), ("b", OptionType(U8))))
    assert from_python({"a": 1}, ty) == {"a": 1, "b": None}


def test_record_is_read_only() -> None:
    """A Record cannot be mutated and its repr shows snake_case fields."""
    rec = Record({"word-count": 1})
    with pytest.raises(AttributeError):
        rec.word_count = 2
    with pytest.raises(AttributeError):
        _ = rec.missing
    assert repr(rec) == "Record(word_count=1)"
    assert pickle.loads(pickle.dumps(rec)) == rec


def test_variant_pattern_matches() -> None:
    """Variants are (case, value) pairs that work with positional match patterns."""
    ty = VariantType("shape", (("circle", F64), ("empty", None)))
    v = from_python(Variant("circle", 2), ty)
    match v:
        case Variant("circle", r):
            assert r == 2.0
        case _:  # pragma: no cover
            pytest.fail("no match")
    assert from_python("empty", ty) == Variant("empty")
    with pytest.raises(ValueConversionError):
        from_python(Variant("square", 1), ty)
    with pytest.raises(ValueConversionError):
        from_python(Variant("empty", 1), ty)


def test_to_python_accepts_tag_payload_objects() -> None:
    """Engine-side variants with tag/payload attributes normalise to Variant."""
    ty = VariantType("shape", (("circle", F64),))
    assert to_python(SimpleNamespace(tag="circle", payload=1.5), ty) == Variant("circle", 1.5)


def test_enum_accepts_names_and_enum_members() -> None:
    """Enums accept the case name or a Python Enum member and yield the case name."""
    ty = EnumType("color", ("red", "dark-blue"))

    class Color(enum.Enum):
        RED = "red"
        DARK_BLUE = 2

    assert from_python("red", ty) == "red"
    assert from_python(Color.RED, ty) == "red"
    assert from_python(Color.DARK_BLUE, ty) == "dark-blue"
    with pytest.raises(ValueConversionError):
        from_python("green", ty)


def test_flags_yield_frozenset() -> None:
    """Flags accept any iterable of known names and yield a frozenset."""
    ty = FlagsType("perms", ("read", "write"))
    assert from_python(["read"], ty) == frozenset({"read"})
    assert from_python(iter(()), ty) == frozenset()
    with pytest.raises(ValueConversionError):
        from_python({"exec"}, ty)
    with pytest.raises(ValueConversionError):
        from_python("read", ty)


def test_option_is_none_or_value() -> None:
    """option<T> is None or a value of T."""
    assert from_python(None, OptionType(U8)) is None
    assert from_python(3, OptionType(U8)) == 3


def test_nested_option_uses_some() -> None:
    """option<option<T>> wraps the outer some in Some, so some(none) differs from none."""
    ty = OptionType(OptionType(U8))
    assert from_python(None, ty) is None
    assert from_python(Some(None), ty) == Some(None)
    assert from_python(Some(3), ty) == Some(3)
    assert from_python(3, ty) == Some(3)


def test_results_are_ok_or_err() -> None:
    """Results are Ok/Err objects; a missing payload must be None."""
    ty = ResultType(U8, String)
    assert from_python(Ok(1), ty) == Ok(1)
    assert from_python(Err("x"), ty) == Err("x")
    assert from_python(Ok(), ResultType()) == Ok()
    with pytest.raises(ValueConversionError):
        from_python(Ok(1), ResultType())
    with pytest.raises(ValueConversionError):
        from_python(1, ty)


def test_err_is_an_exception_carrying_value() -> None:
    """Err can be raised and caught, carries .value, compares by value and pickles."""
    with pytest.raises(Err) as info:
        raise Err({"code": 1})
    assert info.value.value == {"code": 1}
    assert Err([1]) == Err([1])
    assert Err(1) != Ok(1)
    assert hash(Err([1])) == hash(Err([1]))
    assert pickle.loads(pickle.dumps(Err("x"))) == Err("x")
    assert repr(Err("x")) == "Err('x')"


def test_resources_pass_through() -> None:
    """Resource handles are passed through unchanged (the engine layer owns them)."""
    handle = object()
    assert from_python(handle, OwnType("blob")) is handle


def test_error_message_is_one_line() -> None:
    """A conversion error's message names the function, parameter, type and value."""
    with pytest.raises(ValueConversionError) as info:
        from_python("x", U32, function="add", param="a")
    assert str(info.value) == "add: parameter a expects u32, got 'x'"
