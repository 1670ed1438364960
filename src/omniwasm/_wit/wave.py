"""WAVE, the WebAssembly Value Encoding: parse and print component values as text.

WAVE is the syntax ``wasmtime run --invoke`` uses: ``summarize({title: "t"}, 5)``. Parsing is
type-directed: the WIT type decides what a token means (``none`` is an option case, ``red`` an
enum case). Values use the Python mapping of :mod:`.values` (records are instances of
:func:`~.values.record_class`, enums members of :func:`~.values.enum_class`, results
:class:`~.values.Ok`/``Err`` ...); the printer accepts anything
``from_python`` does and writes record fields under their WIT (kebab-case) names.

The printer writes the canonical form: options always as ``some(x)``/``none``, results as
``ok(x)``/``err(e)``, every record field, floats as ``nan``/``inf``/``-inf`` or the shortest
decimal that reads back to the same value. Labels that collide with keywords get a ``%``.
"""

from __future__ import annotations

import contextlib
import decimal
import math
import re
import struct
import unicodedata
from collections.abc import Sequence
from typing import Any

from .._errors import ValueConversionError
from .convert import from_python
from .types import (
    BoolType,
    BorrowType,
    CharType,
    EnumType,
    F32Type,
    F64Type,
    FlagsType,
    FuncSig,
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
from .values import Err, Ok, Some, Variant, enum_class, record_class, snake

__all__ = ["WaveSyntaxError", "format_value", "parse_args", "parse_call", "parse_value"]

from .wave_lex import KEYWORDS, WaveSyntaxError, _Lexer, _Tok


class _Parser:
    """Type-directed recursive descent over the tokens of one value."""

    def __init__(self, text: str) -> None:
        self.lex = _Lexer(text)
        self.toks = self.lex.toks
        self.i = 0

    def peek(self, ahead: int = 0) -> _Tok | None:
        j = self.i + ahead
        return self.toks[j] if j < len(self.toks) else None

    def here(self) -> int:
        tok = self.peek()
        return tok.start if tok else len(self.lex.text)

    def error(self, message: str, expected: WitType | str = "") -> WaveSyntaxError:
        return self.lex.error(message, self.here(), str(expected))

    def take(self) -> _Tok:
        tok = self.peek()
        if tok is None:
            raise self.error("unexpected end of input")
        self.i += 1
        return tok

    def is_punct(self, c: str) -> bool:
        tok = self.peek()
        return tok is not None and tok.kind == "punct" and tok.text == c

    def expect(self, c: str) -> None:
        if not self.is_punct(c):
            raise self.error(f"expected {c!r}", c)
        self.i += 1

    def seq(self, close: str, item: Any) -> None:
        """Parse ``item`` repeatedly, comma-separated with an optional trailing comma."""
        while not self.is_punct(close):
            item()
            if not self.is_punct(close):
                self.expect(",")
        self.i += 1

    def label(self, expected: WitType | str) -> str:
        tok = self.peek()
        if tok is None or tok.kind != "label":
            raise self.error("expected a label", expected)
        self.i += 1
        return tok.text

    def value(self, ty: WitType) -> Any:  # noqa: PLR0915
        tok = self.peek()
        if tok is None:
            raise self.error("unexpected end of input", ty)
        if isinstance(ty, BoolType):
            if tok.kind == "kw" and tok.text in {"true", "false"}:
                self.i += 1
                return tok.text == "true"
            raise self.error("expected true or false", ty)
        if isinstance(ty, IntType):
            if tok.kind == "num" and re.fullmatch(r"-?[0-9]+", tok.text):
                n = int(tok.text)
                if ty.min <= n <= ty.max:
                    self.i += 1
                    return n
                raise self.error(f"{n} is out of range", ty)
            raise self.error("expected an integer", ty)
        if isinstance(ty, F32Type | F64Type):
            if tok.kind == "num" or (tok.kind == "kw" and tok.text in {"nan", "inf"}):
                try:
                    value = from_python(float(tok.text), ty)
                except ValueConversionError:
                    raise self.error(f"{tok.text} is out of range", ty) from None
                self.i += 1
                return value
            raise self.error("expected a number", ty)
        if isinstance(ty, CharType):
            if tok.kind == "char":
                self.i += 1
                return tok.text
            raise self.error("expected a char", ty)
        if isinstance(ty, StringType):
            if tok.kind == "str":
                self.i += 1
                return tok.text
            raise self.error("expected a string", ty)
        if isinstance(ty, ListType):
            self.expect("[")
            items: list[Any] = []
            self.seq("]", lambda: items.append(self.value(ty.elem)))
            return bytes(items) if isinstance(ty.elem, U8Type) else items
        if isinstance(ty, TupleType):
            start = self.here()
            self.expect("(")
            parts: list[Any] = []

            def item() -> None:
                if len(parts) == len(ty.items):
                    raise self.error(f"expected {len(ty.items)} items", ty)
                parts.append(self.value(ty.items[len(parts)]))

            self.seq(")", item)
            if len(parts) != len(ty.items):
                raise self.lex.error(f"expected {len(ty.items)} items", start, str(ty))
            return tuple(parts)
        if isinstance(ty, RecordType):
            return self.record(ty)
        if isinstance(ty, VariantType):
            name = self.label(ty)
            cases = dict(ty.cases)
            if name not in cases:
                self.i -= 1
                raise self.error(f"no case {name!r}", ty)
            payload = cases[name]
            if payload is None:
                return Variant(name)
            self.expect("(")
            inner = self.value(payload)
            self.close_payload()
            return Variant(name, inner)
        if isinstance(ty, EnumType):
            name = self.label(ty)
            if name not in ty.cases:
                self.i -= 1
                raise self.error(f"no case {name!r}", ty)
            return enum_class(ty)(name)
        if isinstance(ty, FlagsType):
            self.expect("{")
            names: set[str] = set()
            self.seq("}", lambda: names.add(self.flag(ty)))
            return frozenset(names)
        if isinstance(ty, OptionType):
            if tok.kind == "kw" and tok.text == "none":
                self.i += 1
                return None
            if tok.kind == "kw" and tok.text == "some":
                inner = self.payload(ty.inner, ty)
                return Some(inner) if isinstance(ty.inner, OptionType) else inner
            if isinstance(ty.inner, OptionType | ResultType):
                raise self.error("expected some(...) or none", ty)
            return self.value(ty.inner)
        if isinstance(ty, ResultType):
            if tok.kind == "kw" and tok.text in {"ok", "err"}:
                side = ty.ok if tok.text == "ok" else ty.err
                if side is None:
                    self.i += 1
                    return Ok() if tok.text == "ok" else Err()
                inner = self.payload(side, ty)
                return Ok(inner) if tok.text == "ok" else Err(inner)
            if ty.ok is None or isinstance(ty.ok, ResultType):
                raise self.error("expected ok or err", ty)
            return Ok(self.value(ty.ok))
        if isinstance(ty, OwnType | BorrowType):
            raise self.error("resources have no WAVE encoding", ty)
        raise self.error("unsupported type", ty)  # pragma: no cover - WitType is exhaustive

    def close_payload(self) -> None:
        """Consume the ``)`` closing a payload, after an optional trailing comma."""
        if self.is_punct(","):
            self.i += 1
        self.expect(")")

    def payload(self, inner: WitType, ty: WitType) -> Any:
        """Parse ``keyword(value)`` after the keyword; trailing commas allowed."""
        self.i += 1
        self.expect("(")
        value = self.value(inner)
        self.close_payload()
        return value

    def flag(self, ty: FlagsType) -> str:
        tok = self.peek()
        if tok is not None and tok.kind == "kw":
            self.i += 1
            name = tok.text
        else:
            name = self.label(ty)
        if name not in ty.names:
            self.i -= 1
            raise self.error(f"no flag {name!r}", ty)
        return name

    def record(self, ty: RecordType) -> Any:
        self.expect("{")
        types = dict(ty.fields)
        got: dict[str, Any] = {}
        if self.is_punct(":"):
            self.i += 1
            self.expect("}")
        else:

            def field() -> None:
                tok = self.peek()
                name = tok.text if tok is not None and tok.kind == "kw" else self.label(ty)
                if tok is not None and tok.kind == "kw":
                    self.i += 1
                if name not in types or name in got:
                    self.i -= 1
                    raise self.error(f"unknown or repeated field {name!r}", ty)
                self.expect(":")
                got[name] = self.value(types[name])

            self.seq("}", field)
            if not got:
                self.i -= 1
                raise self.error("a record with no fields is written {:}", ty)
        out: list[Any] = []
        for name, fty in ty.fields:
            if name in got:
                out.append(got[name])
            elif isinstance(fty, OptionType):
                out.append(None)
            else:
                raise self.error(f"missing field {name!r}", ty)
        return record_class(ty)(*out)


def parse_value(text: str, ty: WitType) -> Any:
    """Parse one WAVE value of the given type.

    Args:
        text: the WAVE text, e.g. ``{title: "t", tags: ["a"]}``.
        ty: the WIT type the value must have.

    Raises:
        WaveSyntaxError: the text is malformed or does not match ``ty`` (a
            ``ValueConversionError``); ``position`` says where.

    """
    p = _Parser(text)
    value = p.value(ty)
    if p.peek() is not None:
        raise p.error("unexpected text after the value", ty)
    return value


def parse_call(text: str) -> tuple[str, list[str]]:
    """Split a WAVE call ``name(arg, ...)`` into the function name and each argument's text.

    Args:
        text: the call, e.g. ``my:pkg/iface.func("x", [1, 2],)``.

    Raises:
        WaveSyntaxError: the text is not a call.

    """
    m = re.match(r"\s*([A-Za-z0-9_%:/@.+-]+)\s*\(", text)
    if not m:
        raise WaveSyntaxError("expected name(arguments)", text, 0, expected="call")
    name = m.group(1)
    lex = _Lexer(text, m.end())
    args: list[str] = []
    depth = 0
    arg_start: int | None = None
    close: int | None = None
    for i, tok in enumerate(lex.toks):
        if tok.kind == "punct" and tok.text in "([{":
            depth += 1
        elif tok.kind == "punct" and tok.text in ")]}":
            if depth == 0:
                if tok.text != ")":
                    raise WaveSyntaxError("unbalanced brackets", text, tok.start)
                if arg_start is not None:
                    args.append(lex.text[arg_start : lex.toks[i - 1].end])
                close = i
                break
            depth -= 1
        elif tok.kind == "punct" and tok.text == "," and depth == 0:
            if arg_start is None:
                raise WaveSyntaxError("empty argument", text, tok.start)
            args.append(lex.text[arg_start : lex.toks[i - 1].end])
            arg_start = None
            continue
        if arg_start is None:
            arg_start = tok.start
    if close is None:
        raise WaveSyntaxError("missing ')'", text, len(text))
    if close + 1 < len(lex.toks):
        raise WaveSyntaxError("unexpected text after the call", text, lex.toks[close + 1].start)
    return name, args


def parse_args(texts: Sequence[str], sig: FuncSig) -> list[Any]:
    """Parse argument texts (from :func:`parse_call`) against a function's signature.

    Trailing arguments may be omitted when their type is an option; they become None.

    Args:
        texts: one WAVE text per argument.
        sig: the function's signature.

    Raises:
        WaveSyntaxError: an argument is malformed or of the wrong type.
        ValueConversionError: too many arguments, or a missing one is not an option.

    """
    if len(texts) > len(sig.params):
        raise ValueConversionError(
            sig.name, f"#{len(sig.params)}", "no more arguments", f"{len(texts)} arguments"
        )
    out: list[Any] = []
    for i, (pname, pty) in enumerate(sig.params):
        if i >= len(texts):
            if not isinstance(pty, OptionType):
                raise ValueConversionError(sig.name, pname, str(pty), "nothing")
            out.append(None)
            continue
        try:
            out.append(parse_value(texts[i], pty))
        except WaveSyntaxError as exc:
            raise WaveSyntaxError(
                exc.reason,
                exc.text,
                exc.position,
                expected=exc.expected,
                function=sig.name,
                param=pname,
            ) from None
    return out


def format_value(value: Any, ty: WitType) -> str:
    """Print a value of the given type as canonical WAVE text.

    Args:
        value: a Python value (validated with ``from_python`` first).
        ty: its WIT type.

    Raises:
        ValueConversionError: the value does not fit the type, or is a resource.

    """
    return _fmt(from_python(value, ty), ty)


def _label(name: str) -> str:
    return f"%{name}" if name in KEYWORDS else name


def _float(f: float, single: bool) -> str:
    """Print a float as wasm-wave does (Rust's ``Display``): shortest digits, no exponent."""
    if math.isnan(f):
        return "nan"
    if math.isinf(f):
        return "inf" if f > 0 else "-inf"
    text = repr(f)
    if single:
        # repr() of an f32 widened to f64 shows f64 noise (0.10000000149011612); use the
        # shortest decimal that rounds back to the same f32 instead.
        for digits in range(1, 10):
            candidate = f"{f:.{digits}g}"
            with contextlib.suppress(OverflowError):  # rounded up past the f32 maximum
                if struct.unpack("<f", struct.pack("<f", float(candidate)))[0] == f:
                    text = candidate
                    break
    plain = format(decimal.Decimal(text), "f")
    if "." in plain:
        plain = plain.rstrip("0").rstrip(".")
    return plain


_ESCAPES = {"\\": "\\\\", '"': '\\"', "'": "\\'", "\t": "\\t", "\r": "\\r", "\n": "\\n"}


def _escape(c: str) -> str:
    """Escape one character as wasm-wave does (Rust ``escape_default``/``escape_debug``)."""
    esc = _ESCAPES.get(c)
    if esc is not None:
        return esc
    if c.isprintable() and unicodedata.category(c) not in ("Mn", "Me"):
        return c
    return f"\\u{{{ord(c):x}}}"


def _quote(s: str, delim: str) -> str:
    return delim + "".join(map(_escape, s)) + delim


def _fmt(v: Any, ty: WitType) -> str:
    if isinstance(ty, BoolType):
        return "true" if v else "false"
    if isinstance(ty, IntType):
        return str(v)
    if isinstance(ty, F32Type | F64Type):
        return _float(v, isinstance(ty, F32Type))
    if isinstance(ty, CharType):
        return _quote(v, "'")
    if isinstance(ty, StringType):
        return _quote(v, '"')
    if isinstance(ty, ListType):
        return "[" + ", ".join(_fmt(x, ty.elem) for x in v) + "]"
    if isinstance(ty, TupleType):
        return "(" + ", ".join(_fmt(x, t) for x, t in zip(v, ty.items, strict=True)) + ")"
    if isinstance(ty, RecordType):
        parts = [f"{_label(n)}: {_fmt(getattr(v, snake(n)), t)}" for n, t in ty.fields]
        return "{" + ", ".join(parts) + "}" if parts else "{:}"
    if isinstance(ty, VariantType):
        payload = dict(ty.cases)[v.case]
        head = _label(v.case)
        return head if payload is None else f"{head}({_fmt(v.value, payload)})"
    if isinstance(ty, EnumType):
        return _label(v.value)
    if isinstance(ty, FlagsType):
        return "{" + ", ".join(_label(n) for n in ty.names if n in v) + "}"
    if isinstance(ty, OptionType):
        if v is None:
            return "none"
        inner = v.value if isinstance(v, Some) else v
        return f"some({_fmt(inner, ty.inner)})"
    if isinstance(ty, ResultType):
        word, side = ("ok", ty.ok) if isinstance(v, Ok) else ("err", ty.err)
        return word if side is None else f"{word}({_fmt(v.value, side)})"
    raise ValueConversionError("wave", "value", str(ty), "a resource (no WAVE encoding)")
