"""WAVE text: parsing, printing, calls, and hypothesis round trips over generated types."""

from __future__ import annotations

import contextlib
import math
import pickle
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fixtures.wit_values import same, typed_values, wit_types
from omniwasm import ValueConversionError
from omniwasm._wit.convert import from_python
from omniwasm._wit.types import (
    F32,
    F64,
    S8,
    U8,
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
    RecordType,
    ResultType,
    String,
    TupleType,
    VariantType,
    WitType,
)
from omniwasm._wit.values import Err, Ok, Some, Variant, enum_class, record_class
from omniwasm._wit.wave import WaveSyntaxError, format_value, parse_args, parse_call, parse_value

DOC = RecordType("document", (("title", String), ("content", String), ("language", String)))
SIG = FuncSig("summarize", (("doc", DOC), ("max-words", U32), ("tag", OptionType(String))))


# --- scalars --------------------------------------------------------------------------------


def test_bools_and_integers() -> None:
    """Bools are true/false and integers are base-10, range-checked."""
    assert parse_value("true", Bool) is True
    assert parse_value(" false ", Bool) is False
    assert parse_value("-128", S8) == -128
    assert parse_value("18446744073709551615", U64) == 2**64 - 1
    with pytest.raises(WaveSyntaxError):
        parse_value("256", U8)
    with pytest.raises(WaveSyntaxError):
        parse_value("1.5", U32)


def test_floats_accept_json_numbers_nan_and_inf() -> None:
    """Floats are JSON numbers or nan, inf, -inf, and print the same way."""
    assert parse_value("1.5e3", F64) == 1500.0
    assert parse_value("-2", F64) == -2.0
    assert math.isnan(parse_value("nan", F32))
    assert parse_value("inf", F64) == math.inf
    assert parse_value("-inf", F64) == -math.inf
    assert [format_value(x, F64) for x in (math.nan, math.inf, -math.inf, 0.5)] == [
        "nan",
        "inf",
        "-inf",
        "0.5",
    ]


def test_f32_prints_shortest_decimal() -> None:
    """An f32 prints as the shortest decimal that reads back to the same f32."""
    assert format_value(0.1, F32) == "0.1"
    assert format_value(-0.0, F32) == "-0"
    assert format_value(3.4028234663852886e38, F32) == "340282350000000000000000000000000000000"
    assert parse_value(format_value(1e-45, F32), F32) == from_python(1e-45, F32)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        (r'"a\"b"', 'a"b'),
        (r'"\\"', "\\"),
        (r'"\t\n\r"', "\t\n\r"),
        (r'"it\'s"', "it's"),
        ('"it\'s"', "it's"),
        (r'"\u{1F600}"', "😀"),
        (r'"\u{41}"', "A"),
    ],
)
def test_string_escapes(text: str, value: str) -> None:
    """Strings decode every escape WAVE defines."""
    assert parse_value(text, String) == value


@pytest.mark.parametrize("text", ['"a\nb"', r'"\q"', r'"\u{D800}"', r'"\u{110000}"', '"abc'])
def test_bad_strings_raise(text: str) -> None:
    """Raw newlines, unknown escapes, surrogates and unterminated strings are errors."""
    with pytest.raises(WaveSyntaxError):
        parse_value(text, String)


def test_chars() -> None:
    """Chars are one code point in single quotes; quotes escape as needed."""
    assert parse_value("'x'", Char) == "x"
    assert parse_value(r"'\''", Char) == "'"
    assert parse_value("'\"'", Char) == '"'
    assert format_value("'", Char) == r"'\''"
    assert format_value('"', Char) == "'\\\"'"  # wasm-wave escapes both quotes
    with pytest.raises(WaveSyntaxError):
        parse_value("'ab'", Char)


def test_string_printing_escapes() -> None:
    """The printer escapes the delimiter, backslash and control characters."""
    assert format_value('a"\\\n\t\r\x01', String) == r'"a\"\\\n\t\r\u{1}"'


def test_multiline_strings() -> None:
    """A triple-quoted string drops the closing line's indentation from every line."""
    text = '"""\n    first\n      second\n    """'
    assert parse_value(text, String) == "first\n  second"
    with pytest.raises(WaveSyntaxError):
        parse_value('"""x"""', String)


def test_labels_starting_with_inf_are_labels() -> None:
    """A label such as `info` is not read as the number `inf` followed by `o`."""
    ty = EnumType("level", ("info", "infinite"))
    assert parse_value("info", ty) is enum_class(ty).INFO
    assert parse_value("infinite", ty) is enum_class(ty).INFINITE
    assert parse_value("some(inf)", OptionType(F64)) == math.inf


def test_f32_overflow_is_a_positioned_error() -> None:
    """A finite number too large for f32 is a syntax error at its position."""
    with pytest.raises(WaveSyntaxError) as info:
        parse_value("[1, 1e39]", ListType(F32))
    assert info.value.position == 4


def test_comments_and_whitespace_are_ignored() -> None:
    """`//` comments and whitespace between tokens are insignificant."""
    assert parse_value("[1, // one\n 2 ,\n]", ListType(U8)) == b"\x01\x02"


# --- compound ------------------------------------------------------------------------------


def test_lists_and_tuples_with_trailing_commas() -> None:
    """Lists and tuples allow trailing commas; arity must match for tuples."""
    assert parse_value("[1, 2,]", ListType(U32)) == [1, 2]
    assert parse_value("[]", ListType(String)) == []
    assert parse_value('(1, "a",)', TupleType((U8, String))) == (1, "a")
    with pytest.raises(WaveSyntaxError):
        parse_value("(1)", TupleType((U8, U8)))
    with pytest.raises(WaveSyntaxError):
        parse_value("(1, 2, 3)", TupleType((U8, U8)))


def test_records_any_order_and_kebab_fields() -> None:
    """Record fields may come in any order and use kebab-case labels."""
    ty = RecordType("s", (("word-count", U32), ("text", String)))
    rec = parse_value('{text: "t", word-count: 3}', ty)
    assert rec == record_class(ty)(3, "t")
    assert format_value(rec, ty) == '{word-count: 3, text: "t"}'


def test_records_print_wit_field_names() -> None:
    """Record fields print under their WIT names, even when the Python field is escaped."""
    ty = RecordType("edge", (("from", U8), ("word-count", U8)))
    rec = parse_value("{from: 1, word-count: 2}", ty)
    assert (rec.from_, rec.word_count) == (1, 2)
    assert format_value(rec, ty) == "{from: 1, word-count: 2}"
    assert format_value({"from_": 1, "word_count": 2}, ty) == "{from: 1, word-count: 2}"


def test_records_omit_none_fields_and_empty_form() -> None:
    """Option fields may be omitted, and a record with all fields omitted is {:}."""
    ty = RecordType("r", (("a", OptionType(U8)), ("b", OptionType(String))))
    assert parse_value('{b: some("x")}', ty) == record_class(ty)(None, "x")
    assert parse_value("{:}", ty) == record_class(ty)(None, None)
    with pytest.raises(WaveSyntaxError):
        parse_value("{}", ty)


def test_record_errors() -> None:
    """Missing required fields, unknown and repeated fields are errors."""
    with pytest.raises(WaveSyntaxError):
        parse_value('{title: "t"}', DOC)
    with pytest.raises(WaveSyntaxError):
        parse_value('{title: "t", content: "c", language: "l", x: 1}', DOC)
    with pytest.raises(WaveSyntaxError):
        parse_value('{title: "t", title: "t", content: "c", language: "l"}', DOC)


def test_flags() -> None:
    """Flags are {a, b} or {} and print in declaration order."""
    ty = FlagsType("perms", ("read", "write", "exec"))
    assert parse_value("{write, read,}", ty) == frozenset({"read", "write"})
    assert parse_value("{}", ty) == frozenset()
    assert format_value({"exec", "read"}, ty) == "{read, exec}"
    with pytest.raises(WaveSyntaxError):
        parse_value("{delete}", ty)


def test_variants_and_enums() -> None:
    """Variants are case or case(payload); enums are bare case names."""
    ty = VariantType("shape", (("circle", F64), ("empty", None)))
    assert parse_value("circle(1.5)", ty) == Variant("circle", 1.5)
    assert parse_value("empty", ty) == Variant("empty")
    assert format_value(Variant("circle", 2.0), ty) == "circle(2)"  # Rust Display: no ".0"
    color = EnumType("color", ("red", "dark-blue"))
    assert parse_value("dark-blue", color) is enum_class(color).DARK_BLUE
    assert format_value(enum_class(color).DARK_BLUE, color) == "dark-blue"
    with pytest.raises(WaveSyntaxError):
        parse_value("green", color)
    with pytest.raises(WaveSyntaxError):
        parse_value("circle", ty)


def test_keyword_labels_use_percent() -> None:
    """Case labels colliding with keywords are written and read with a % prefix."""
    ty = VariantType("outcome", (("ok", None), ("err", String), ("none", None)))
    assert parse_value("%ok", ty) == Variant("ok")
    assert parse_value('%err("oops")', ty) == Variant("err", "oops")
    assert format_value(Variant("err", "x"), ty) == '%err("x")'
    assert format_value("true", EnumType("e", ("true", "false"))) == "%true"
    with pytest.raises(WaveSyntaxError):
        parse_value("ok", ty)
    flags = FlagsType("f", ("none", "a"))
    assert parse_value("{%none, a}", flags) == frozenset({"none", "a"})


def test_options() -> None:
    """Options are some(x)/none, or plain x when the payload is not an option or result."""
    ty = OptionType(U8)
    assert parse_value("some(3)", ty) == 3
    assert parse_value("3", ty) == 3
    assert parse_value("none", ty) is None
    assert format_value(3, ty) == "some(3)"
    nested = OptionType(OptionType(U8))
    assert parse_value("some(none)", nested) == Some(None)
    assert parse_value("some(some(1))", nested) == Some(1)
    assert format_value(Some(None), nested) == "some(none)"
    with pytest.raises(WaveSyntaxError):
        parse_value("1", nested)


def test_results() -> None:
    """Results are ok(x)/err(e)/ok/err, and plain x means ok(x)."""
    ty = ResultType(U32, String)
    assert parse_value("ok(1)", ty) == Ok(1)
    assert parse_value("1", ty) == Ok(1)
    assert parse_value('err("no")', ty) == Err("no")
    assert parse_value("ok", ResultType(None, String)) == Ok()
    assert parse_value("err", ResultType(U8, None)) == Err()
    assert format_value(Err("no"), ty) == 'err("no")'
    assert format_value(Ok(), ResultType()) == "ok"
    with pytest.raises(WaveSyntaxError):
        parse_value("ok", ty)


def test_resources_have_no_encoding() -> None:
    """Parsing or printing a resource handle is an error."""
    with pytest.raises(ValueConversionError):
        parse_value("1", BorrowType("blob"))
    with pytest.raises(ValueConversionError):
        format_value(object(), BorrowType("blob"))


def test_syntax_error_carries_position() -> None:
    """A syntax error reports the offset of the problem, is a ValueConversionError and pickles."""
    with pytest.raises(WaveSyntaxError) as info:
        parse_value("[1, 2, x]", ListType(U8))
    err = info.value
    assert err.position == 7
    assert isinstance(err, ValueConversionError)
    assert "position 7" in str(err)
    assert pickle.loads(pickle.dumps(err)).position == 7


def test_trailing_text_is_an_error() -> None:
    """Anything after the value other than whitespace or comments is an error."""
    assert parse_value("1 // done", U8) == 1
    with pytest.raises(WaveSyntaxError):
        parse_value("1 2", U8)
    with pytest.raises(WaveSyntaxError):
        parse_value("", U8)
    with pytest.raises(WaveSyntaxError):
        parse_value("@", U8)


# --- calls ---------------------------------------------------------------------------------


def test_parse_call_splits_arguments() -> None:
    """A call splits into its name and each argument's text, respecting brackets and strings."""
    name, args = parse_call('summarize({title: "a, b)", content: "c", language: "en"}, 5)')
    assert name == "summarize"
    assert args == ['{title: "a, b)", content: "c", language: "en"}', "5"]


def test_parse_call_qualified_names_and_trailing_comma() -> None:
    """Fully qualified names are kept whole and a trailing comma is allowed."""
    assert parse_call('my:pkg/iface@1.0.0.func("x", [1, (2, 3)],)') == (
        "my:pkg/iface@1.0.0.func",
        ['"x"', "[1, (2, 3)]"],
    )
    assert parse_call("f()") == ("f", [])
    assert parse_call("  f ( // none\n )") == ("f", [])


@pytest.mark.parametrize("text", ["f", "f(1", "f(1,,2)", "f(1]", "f(1) x", "(1)"])
def test_parse_call_rejects_malformed(text: str) -> None:
    """Missing parentheses, empty arguments, unbalanced brackets and trailing text are errors."""
    with pytest.raises(WaveSyntaxError):
        parse_call(text)


def test_parse_args_against_signature() -> None:
    """Arguments parse against the signature and trailing option arguments may be omitted."""
    _, texts = parse_call('summarize({title: "t", content: "c", language: "en"}, 5)')
    doc, words, tag = parse_args(texts, SIG)
    assert doc == record_class(DOC)("t", "c", "en")
    assert (words, tag) == (5, None)


def test_parse_args_errors_name_the_parameter() -> None:
    """A bad argument names the function and parameter; missing or extra arguments fail."""
    with pytest.raises(WaveSyntaxError) as info:
        parse_args(['"t"', "5"], SIG)
    assert (info.value.function, info.value.param) == ("summarize", "doc")
    with pytest.raises(ValueConversionError):
        parse_args(["{:}"], FuncSig("f", (("a", U8),)))
    with pytest.raises(ValueConversionError):
        parse_args([], FuncSig("f", (("a", U8),)))
    with pytest.raises(ValueConversionError):
        parse_args(["1", "2"], FuncSig("f", (("a", U8),)))


# --- round trips ---------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(typed_values())
def test_round_trip(tv: tuple[WitType, Any]) -> None:
    """parse_value(format_value(v, t), t) gives back v for generated types and values."""
    ty, value = tv
    text = format_value(value, ty)
    assert same(parse_value(text, ty), from_python(value, ty)), text


@settings(max_examples=100, deadline=None)
@given(typed_values())
def test_from_python_is_idempotent_on_canonical_values(tv: tuple[WitType, Any]) -> None:
    """Canonical values pass from_python unchanged (except f32 rounding)."""
    ty, value = tv
    once = from_python(value, ty)
    assert same(from_python(once, ty), once)


@settings(max_examples=100, deadline=None)
@given(typed_values())
def test_round_trip_through_a_call(tv: tuple[WitType, Any]) -> None:
    """A formatted value survives being an argument of a call alongside another argument."""
    ty, value = tv
    sig = FuncSig("pkg:x/y.f", (("a", ty), ("b", U8)))
    name, texts = parse_call(f"pkg:x/y.f({format_value(value, ty)}, 7,)")
    assert name == "pkg:x/y.f"
    got = parse_args(texts, sig)
    assert same(got[0], from_python(value, ty))
    assert got[1] == 7


@settings(max_examples=300, deadline=None)
@given(wit_types(), st.text(alphabet="()[]{},:%\"'\\ \n/-.0123456789abefiklnorstuwxe", max_size=20))
def test_malformed_text_only_raises_conversion_errors(ty: WitType, text: str) -> None:
    """Arbitrary text either parses or raises ValueConversionError, never anything else."""
    with contextlib.suppress(ValueConversionError):
        parse_value(text, ty)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet='()[]{},:"\\ \nfg.0123456789', max_size=20))
def test_malformed_calls_only_raise_conversion_errors(text: str) -> None:
    """Arbitrary text either splits as a call or raises ValueConversionError."""
    with contextlib.suppress(ValueConversionError):
        parse_call(text)


@settings(max_examples=100, deadline=None)
@given(typed_values())
def test_plain_payloads_read_as_some_and_ok(tv: tuple[WitType, Any]) -> None:
    """A bare value reads as some(x) for an option and ok(x) for a result when unambiguous."""
    ty, value = tv
    if isinstance(ty, OptionType | ResultType):
        return
    text = format_value(value, ty)
    expected = from_python(value, ty)
    assert same(parse_value(text, OptionType(ty)), expected)
    assert same(parse_value(text, ResultType(ty, String)), Ok(expected))
