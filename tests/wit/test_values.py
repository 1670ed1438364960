"""The Python mapping of WIT values: validation, normalisation and error reporting."""

from __future__ import annotations

import dataclasses
import enum
import math
import pickle
from types import SimpleNamespace
from typing import Any

import pytest

from omniwasm import ValueConversionError
from omniwasm._wit.convert import from_python, to_python
from omniwasm._wit.types import (
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
from omniwasm._wit.values import (
    Err,
    Ok,
    Some,
    Variant,
    camel,
    enum_class,
    record_class,
    snake,
    use_class,
)

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


def test_record_yields_generated_dataclass() -> None:
    """A record converts to an instance of record_class(ty) with the field values in order."""
    rec = from_python({"text": "t", "key-points": ["a"], "word-count": 1}, SUMMARY)
    cls = record_class(SUMMARY)
    assert type(rec) is cls
    assert rec == cls("t", ["a"], 1)
    assert (rec.text, rec.key_points, rec.word_count) == ("t", ["a"], 1)


def test_record_class_is_frozen() -> None:
    """Instances of a generated record class cannot be mutated."""
    rec = record_class(SUMMARY)("t", [], 1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        rec.word_count = 2


def test_record_class_is_slotted() -> None:
    """A generated record class uses __slots__, so instances have no __dict__."""
    cls = record_class(SUMMARY)
    assert cls.__slots__ == ("text", "key_points", "word_count")
    assert not hasattr(cls("t", [], 1), "__dict__")


def test_record_class_names_fields_in_snake_case() -> None:
    """Kebab-case WIT fields become snake_case dataclass fields in WIT order."""
    names = [f.name for f in dataclasses.fields(record_class(SUMMARY))]
    assert names == ["text", "key_points", "word_count"]


def test_record_class_is_named_in_camel_case() -> None:
    """A generated record class is named by camel() of the WIT name and carries __wit__."""
    ty = RecordType("key-points", (("a", U8),))
    cls = record_class(ty)
    assert cls.__name__ == "KeyPoints"
    assert cls.__wit__ is ty
    assert "__wit__" not in [f.name for f in dataclasses.fields(cls)]


def test_record_class_keyword_fields_get_trailing_underscore() -> None:
    """Fields named after Python keywords (and `type`) get a trailing underscore."""
    ty = RecordType("edge", (("from", U8), ("type", String), ("class", U8)))
    assert [f.name for f in dataclasses.fields(record_class(ty))] == ["from_", "type_", "class_"]
    assert from_python({"from": 1, "type": "x", "class_": 2}, ty) == record_class(ty)(1, "x", 2)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("word-count", "word_count"),
        ("from", "from_"),
        ("type", "type_"),
        ("HTTP-code", "http_code"),
    ],
)
def test_snake_maps_wit_names(name: str, expected: str) -> None:
    """snake() maps kebab-case to snake_case and makes keywords safe."""
    assert snake(name) == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("key-points", "KeyPoints"),
        ("point", "Point"),
        ("none", "None_"),
        ("", "Wit"),
        ("1x", "Wit1x"),
    ],
)
def test_camel_maps_wit_names(name: str, expected: str) -> None:
    """camel() maps kebab-case to CamelCase and makes keywords, empty and odd names safe."""
    assert camel(name) == expected
    assert expected.isidentifier()


def test_record_class_is_generated_once_per_type() -> None:
    """Equal record descriptors share one generated class."""
    again = RecordType("summary", tuple(SUMMARY.fields))
    assert record_class(again) is record_class(SUMMARY)


def test_record_classes_differ_for_same_name_with_different_fields() -> None:
    """Two record types with the same name but different fields get different classes."""
    a = record_class(RecordType("point", (("x", U8),)))
    b = record_class(RecordType("point", (("x", U8), ("y", U8))))
    assert a is not b
    assert a.__name__ == b.__name__ == "Point"


@pytest.mark.parametrize("key", ["key-points", "key_points"])
def test_record_accepts_kebab_or_snake_dict(key: str) -> None:
    """A record accepts a dict keyed by kebab or snake field names."""
    rec = from_python({"text": "t", key: ["a"], "word_count": 1}, SUMMARY)
    assert rec == record_class(SUMMARY)("t", ["a"], 1)


def test_record_accepts_object_with_attributes() -> None:
    """Any object with the snake_case attributes converts to a record."""
    obj = SimpleNamespace(text="t", key_points=[], word_count=3)
    assert from_python(obj, SUMMARY) == record_class(SUMMARY)("t", [], 3)


def test_record_accepts_any_dataclass() -> None:
    """An instance of an unrelated dataclass with the right fields converts to a record."""

    @dataclasses.dataclass
    class Mine:
        word_count: int
        key_points: list[str]
        text: str

    assert from_python(Mine(3, ["k"], "t"), SUMMARY) == record_class(SUMMARY)("t", ["k"], 3)


def test_record_missing_field_is_named() -> None:
    """A missing field is a ValueConversionError whose parameter path names the field."""
    with pytest.raises(ValueConversionError) as info:
        from_python({"text": "t", "key-points": []}, SUMMARY, function="f", param="s")
    assert info.value.param == "s.word_count"
    assert "word-count" in str(info.value)


def test_record_bad_field_is_named() -> None:
    """A field of the wrong type is reported with the field's path."""
    with pytest.raises(ValueConversionError) as info:
        from_python({"text": "t", "key-points": [], "word-count": -1}, SUMMARY, param="s")
    assert info.value.param == "s.word_count"


def test_record_rejects_a_string() -> None:
    """A string where a record is expected is rejected as not a record."""
    with pytest.raises(ValueConversionError) as info:
        from_python("summary", SUMMARY, param="s")
    assert (info.value.param, info.value.expected) == ("s", "record summary")


def test_record_option_fields_default_to_none() -> None:
    """Option-typed record fields may be omitted and become None."""
    ty = RecordType("r", (("a", U8), ("b", OptionType(U8))))
    assert from_python({"a": 1}, ty) == record_class(ty)(1, None)


def test_record_pickles() -> None:
    """A generated record survives a pickle round trip as the same class."""
    rec = from_python({"text": "t", "key-points": ["a"], "word-count": 1}, SUMMARY)
    back = pickle.loads(pickle.dumps(rec))
    assert type(back) is type(rec)
    assert back == rec


def test_use_class_registers_a_record_dataclass() -> None:
    """After use_class, record values come back as the registered dataclass."""
    ty = RecordType("registered", (("word-count", U32), ("from", String)))

    @dataclasses.dataclass(frozen=True)
    class Registered:
        word_count: int
        from_: str

    use_class(ty, Registered)
    assert record_class(ty) is Registered
    assert from_python({"word-count": 2, "from": "x"}, ty) == Registered(2, "x")


def test_use_class_rejects_mismatched_record_fields() -> None:
    """use_class refuses a dataclass whose fields differ from the record's, naming them."""
    ty = RecordType("pair", (("first", U8), ("second", U8)))

    @dataclasses.dataclass
    class Swapped:
        second: int
        first: int

    with pytest.raises(ValueError, match="expected \\('first', 'second'\\)"):
        use_class(ty, Swapped)


def test_use_class_rejects_a_non_dataclass_for_a_record() -> None:
    """use_class refuses a record class that is not a dataclass."""
    with pytest.raises(ValueError, match="not a dataclass"):
        use_class(RecordType("pair", (("first", U8),)), dict)


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


COLOR = EnumType("color", ("red", "blue-ish"))


def test_enum_class_members_are_upper_snake_with_case_values() -> None:
    """A generated enum has UPPER_SNAKE members whose values are the case names, in order."""
    cls = enum_class(COLOR)
    assert issubclass(cls, enum.Enum)
    assert cls.__name__ == "Color"
    assert cls.__wit__ is COLOR
    assert [(m.name, m.value) for m in cls] == [("RED", "red"), ("BLUE_ISH", "blue-ish")]


def test_enum_class_is_generated_once_per_type() -> None:
    """Equal enum descriptors share one generated Enum class."""
    assert enum_class(EnumType("color", ("red", "blue-ish"))) is enum_class(COLOR)


@pytest.mark.parametrize("value", ["blue-ish", "blue_ish", "BLUE_ISH"])
def test_enum_accepts_case_name_strings(value: str) -> None:
    """An enum accepts the case name in kebab or snake form, or the member name."""
    assert from_python(value, COLOR) is enum_class(COLOR).BLUE_ISH


def test_enum_accepts_its_own_member() -> None:
    """A member of the generated Enum passes through unchanged."""
    member = enum_class(COLOR).RED
    assert from_python(member, COLOR) is member


def test_enum_accepts_foreign_enum_members() -> None:
    """Any Enum member whose value or lower-cased name is a case converts to that case."""

    class Mine(enum.Enum):
        RED = "red"
        BLUE_ISH = 2

    assert from_python(Mine.RED, COLOR) is enum_class(COLOR).RED
    assert from_python(Mine.BLUE_ISH, COLOR) is enum_class(COLOR).BLUE_ISH


def test_enum_rejects_unknown_case_naming_the_type() -> None:
    """An unknown case is a ValueConversionError naming the enum type and its cases."""
    with pytest.raises(ValueConversionError) as info:
        from_python("green", COLOR, param="c")
    assert info.value.expected == "enum color {red, blue-ish}"


def test_enum_member_pickles() -> None:
    """A generated enum member survives a pickle round trip as the same member."""
    member = enum_class(COLOR).BLUE_ISH
    assert pickle.loads(pickle.dumps(member)) is member


def test_use_class_registers_an_enum() -> None:
    """After use_class, enum values come back as members of the registered Enum."""
    ty = EnumType("level", ("low", "very-high"))

    class Level(enum.Enum):
        LOW = "low"
        VERY_HIGH = "very-high"

    use_class(ty, Level)
    assert enum_class(ty) is Level
    assert from_python("very-high", ty) is Level.VERY_HIGH


def test_use_class_rejects_mismatched_enum_values() -> None:
    """use_class refuses an Enum whose member values are not exactly the case names."""
    ty = EnumType("level", ("low", "high"))

    class Wrong(enum.Enum):
        LOW = "low"
        HIGH = 2

    with pytest.raises(ValueError, match="member values"):
        use_class(ty, Wrong)


def test_use_class_rejects_a_non_enum_for_an_enum() -> None:
    """use_class refuses an enum class that is not an enum.Enum subclass."""
    with pytest.raises(ValueError, match=r"not an enum\.Enum"):
        use_class(EnumType("level", ("low",)), str)


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
