"""The one reader of the wasm binary format: LEB128, names, header, sections."""

from __future__ import annotations

import pytest

from omniwasm._binary.reader import BinaryError, Reader, header, sections


@pytest.mark.parametrize(
    ("data", "value"),
    [(b"\x00", 0), (b"\x7f", 127), (b"\x80\x01", 128), (b"\xff\xff\xff\xff\x0f", 2**32 - 1)],
)
def test_u32_decodes_leb128(data: bytes, value: int) -> None:
    """u32 reads one- to five-byte unsigned LEB128 values."""
    r = Reader(data)
    assert r.u32() == value
    assert r.done()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x80", "unexpected end"),
        (b"\xff\xff\xff\xff\x1f", "out of range"),
        (b"\x80\x80\x80\x80\x80\x00", "too long"),
    ],
)
def test_u32_refuses_malformed_leb128(data: bytes, message: str) -> None:
    """A truncated, too large or too long u32 is a BinaryError."""
    with pytest.raises(BinaryError, match=message):
        Reader(data).u32()


@pytest.mark.parametrize(
    ("data", "value"),
    [(b"\x7f", -1), (b"\x80\x7f", -128), (b"\x3f", 63), (b"\xc0\xbb\x78", -123456)],
)
def test_sleb_decodes_signed_leb128(data: bytes, value: int) -> None:
    """sleb reads signed LEB128 values, sign-extended from the last byte."""
    assert Reader(data).sleb(5) == value


def test_uleb_reads_u64() -> None:
    """uleb reads values wider than 32 bits, up to its byte limit."""
    assert Reader(b"\xff" * 9 + b"\x01").uleb() == 2**64 - 1
    with pytest.raises(BinaryError, match="too long"):
        Reader(b"\xff" * 10 + b"\x01").uleb()


def test_names_are_utf8_and_bounded() -> None:
    """A name is length-prefixed UTF-8; bad UTF-8 or a length past the end is a BinaryError."""
    assert Reader(b"\x03abc").name() == "abc"
    with pytest.raises(BinaryError, match="UTF-8"):
        Reader(b"\x01\xff").name()
    with pytest.raises(BinaryError, match="runs past the end"):
        Reader(b"\x05ab").name()


def test_header_and_sections() -> None:
    """header() names the kind; sections() yields each section's id and a reader of its payload."""
    module = b"\0asm\x01\x00\x00\x00" + b"\x00\x03\x01x\x07" + b"\x01\x00"
    assert header(module) == "module"
    found = [(sid, bytes(r.take(r.end - r.pos))) for sid, r in sections(module)]
    assert found == [(0, b"\x01x\x07"), (1, b"")]
    assert header(b"\0asm\x0d\x00\x01\x00") == "component"
    with pytest.raises(BinaryError, match="magic"):
        header(b"\0wasm\x01\x00\x00")
    with pytest.raises(BinaryError, match="runs past the end"):
        list(sections(b"\0asm\x01\x00\x00\x00\x00\x09abc"))
