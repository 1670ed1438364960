"""The WAVE lexer: tokens of the WebAssembly Value Encoding, and its syntax error.

Split from :mod:`omniwasm._wit.wave` (the type-directed parser and printer) to keep each module to
one concept.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .._errors import ValueConversionError

__all__ = ["KEYWORDS", "WaveSyntaxError"]

KEYWORDS = frozenset({"true", "false", "inf", "nan", "some", "none", "ok", "err"})


class WaveSyntaxError(ValueConversionError):
    """WAVE text is malformed or does not match the expected type.

    Args:
        message: what is wrong.
        text: the text being parsed.
        position: the character offset of the problem in ``text``.
        expected: the WIT type (or token) expected there.
        function: the function whose argument is being parsed, if any.
        param: the parameter being parsed, if any.

    """

    def __init__(
        self,
        message: str,
        text: str,
        position: int,
        *,
        expected: str = "",
        function: str = "",
        param: str = "",
    ) -> None:
        got = text[position : position + 20] or "end of input"
        super().__init__(function or "wave", param or f"at {position}", expected, repr(got))
        where = f"{function}: parameter {param}: " if function else ""
        wanted = f" (expected {expected})" if expected else ""
        self.message = f"{where}WAVE syntax error at position {position}: {message}{wanted}"
        self.args = (self.message,)
        self.reason = message
        self.text = text
        self.position = position


@dataclass(frozen=True, slots=True)
class _Tok:
    kind: str  # one of: punct, label, kw, str, char, num, mstr
    text: str  # the decoded value (string contents, label without %, punct char)
    start: int
    end: int


_NUM = re.compile(r"-?(?:inf(?![A-Za-z0-9-])|[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)")
_LABEL = re.compile(r"%?[A-Za-z][A-Za-z0-9]*(?:-[A-Za-z0-9]+)*")
_CLOSING = re.compile(r'[ \t]*"""')
_ESCAPES = {"'": "'", '"': '"', "\\": "\\", "t": "\t", "n": "\n", "r": "\r"}


class _Lexer:
    """Splits WAVE text into tokens, skipping whitespace and ``//`` comments."""

    def __init__(self, text: str, start: int = 0) -> None:
        self.text = text
        self.pos = start
        self.toks: list[_Tok] = []
        while (tok := self._next()) is not None:
            self.toks.append(tok)

    def error(self, message: str, pos: int, expected: str = "") -> WaveSyntaxError:
        return WaveSyntaxError(message, self.text, pos, expected=expected)

    def _skip(self) -> None:
        text = self.text
        while self.pos < len(text):
            if text[self.pos].isspace():
                self.pos += 1
            elif text.startswith("//", self.pos):
                nl = text.find("\n", self.pos)
                self.pos = len(text) if nl < 0 else nl + 1
            else:
                return

    def _next(self) -> _Tok | None:
        self._skip()
        text, start = self.text, self.pos
        if start >= len(text):
            return None
        c = text[start]
        if c in "()[]{},:":
            self.pos += 1
            return _Tok("punct", c, start, self.pos)
        if text.startswith('"""', start):
            return self._multiline(start)
        if c in "\"'":
            value = self._quoted(c)
            if c == "'" and len(value) != 1:
                raise self.error("a char holds exactly one code point", start, "char")
            return _Tok("str" if c == '"' else "char", value, start, self.pos)
        if m := _NUM.match(text, start):
            self.pos = m.end()
            return _Tok("num", m.group(), start, self.pos)
        if m := _LABEL.match(text, start):
            self.pos = m.end()
            word = m.group()
            if word.startswith("%"):
                return _Tok("label", word[1:], start, self.pos)
            return _Tok("kw" if word in KEYWORDS else "label", word, start, self.pos)
        raise self.error(f"unexpected character {c!r}", start)

    def _escape(self) -> str:
        text, pos = self.text, self.pos
        c = text[pos + 1 : pos + 2]
        if c in _ESCAPES:
            self.pos += 2
            return _ESCAPES[c]
        if c == "u" and text.startswith("{", pos + 2):
            close = text.find("}", pos + 3)
            digits = text[pos + 3 : close] if close > 0 else ""
            if re.fullmatch(r"[0-9A-Fa-f]{1,6}", digits):
                cp = int(digits, 16)
                if cp <= 0x10FFFF and not 0xD800 <= cp <= 0xDFFF:
                    self.pos = close + 1
                    return chr(cp)
        raise self.error("invalid escape", pos)

    def _quoted(self, delim: str) -> str:
        text = self.text
        start = self.pos
        self.pos += 1
        out: list[str] = []
        while True:
            if self.pos >= len(text):
                raise self.error("unterminated literal", start)
            c = text[self.pos]
            if c == delim:
                self.pos += 1
                return "".join(out)
            if c == "\n":
                raise self.error("a newline must be escaped", self.pos)
            if c == "\\":
                out.append(self._escape())
            else:
                out.append(c)
                self.pos += 1

    def _multiline(self, start: int) -> _Tok:
        text = self.text
        self.pos = start + 3
        if not text.startswith("\n", self.pos):
            raise self.error('a multiline string starts with """ and a newline', self.pos)
        self.pos += 1
        lines: list[str] = []
        current: list[str] = []
        while True:
            if self.pos >= len(text):
                raise self.error("unterminated multiline string", start)
            if not current:
                m = _CLOSING.match(text, self.pos)
                if m:
                    indent = m.group()[:-3]
                    self.pos = m.end()
                    break
            c = text[self.pos]
            if c == "\n":
                lines.append("".join(current))
                current = []
                self.pos += 1
            elif c == "\\":
                current.append(self._escape())
            else:
                current.append(c)
                self.pos += 1
        for i, line in enumerate(lines):
            if line and not line.startswith(indent):
                raise self.error("a line is indented less than the closing quotes", start)
            lines[i] = line[len(indent) :]
        return _Tok("str", "\n".join(lines), start, self.pos)
