"""The section layout of a binary (what inspect lists), read by _binary without an engine."""

from __future__ import annotations

import pytest

from omniwasm._binary.layout import BinaryError, parse_producers, read_layout


def _leb(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _name(s: str) -> bytes:
    return _leb(len(s.encode())) + s.encode()


def test_wasmbin_parses_producers_payload() -> None:
    """The producers payload decodes into (field, name, version) entries in order."""
    payload = (
        _leb(2)
        + _name("language")
        + _leb(1)
        + _name("C11")
        + _name("")
        + _name("processed-by")
        + _leb(2)
        + _name("clang")
        + _name("19.1.0")
        + _name("zig")
        + _name("0.14")
    )
    got = [(p.field, p.name, p.version) for p in parse_producers(payload)]
    assert got == [
        ("language", "C11", ""),
        ("processed-by", "clang", "19.1.0"),
        ("processed-by", "zig", "0.14"),
    ]


def test_wasmbin_multibyte_leb_section_sizes() -> None:
    """Sections larger than 127 bytes (multi-byte LEB128 sizes) are measured correctly."""
    body = _name("big") + b"x" * 300
    module = b"\0asm\x01\x00\x00\x00" + b"\x00" + _leb(len(body)) + body
    layout = read_layout(module)
    assert layout.kind == "module"
    assert [(c.name, c.size) for c in layout.custom_sections] == [("big", 300)]


def test_wasmbin_rejects_truncated_binaries() -> None:
    """A section that runs past the end of the data raises BinaryError."""
    with pytest.raises(BinaryError):
        read_layout(b"\0asm\x01\x00\x00\x00\x00\x10abc")
    with pytest.raises(BinaryError):
        read_layout(b"not wasm")
