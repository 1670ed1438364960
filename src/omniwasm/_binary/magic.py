"""What a file that is not WebAssembly looks like, for the message that refuses it.

``describe(data)`` names common formats by their magic numbers (ELF, zip, gzip, PDF ...) and
otherwise tells text from binary, quoting the first line of text: "a text file starting with
'#!/usr/bin/env python3'" says more than "missing the wasm magic number".
"""

from __future__ import annotations

__all__ = ["describe"]

_MAGICS: tuple[tuple[bytes, str], ...] = (
    (b"\x7fELF", "an ELF executable or library"),
    (b"PK\x03\x04", "a zip archive (a .zip, .whl or .jar?)"),
    (b"PK\x05\x06", "an empty zip archive"),
    (b"\x1f\x8b", "gzip-compressed data (a .tar.gz? unpack it first)"),
    (b"\x28\xb5\x2f\xfd", "zstd-compressed data (unpack it first)"),
    (b"BZh", "bzip2-compressed data (unpack it first)"),
    (b"\xfd7zXZ\x00", "xz-compressed data (unpack it first)"),
    (b"%PDF", "a PDF document"),
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"MZ", "a Windows executable (PE)"),
    (b"\xcf\xfa\xed\xfe", "a Mach-O binary"),
    (b"\xca\xfe\xba\xbe", "a Mach-O universal binary or a Java class file"),
    (b"SQLite format 3\x00", "an SQLite database"),
)

_QUOTE = 40


def describe(data: bytes) -> str:
    """A short description of ``data``, a file that is not WebAssembly.

    Args:
        data: the file's bytes (only the first few KiB are looked at).

    Returns:
        e.g. ``"an ELF executable or library"`` or ``"a text file starting with '# hi'"``.

    """
    if not data:
        return "an empty file"
    for magic, name in _MAGICS:
        if data.startswith(magic):
            return name
    if len(data) > 262 and data[257:262] == b"ustar":
        return "a tar archive"
    head = data[:4096]
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.reason != "unexpected end of data":  # not just a character cut at the end
            return "binary data that is not WebAssembly"
        text = head[: exc.start].decode("utf-8")
    if any(ch < " " and ch not in "\t\n\r\f" for ch in text):
        return "binary data that is not WebAssembly"
    stripped = text.lstrip("\ufeff \t\r\n")
    if stripped.startswith("{"):
        return "JSON text (an Extism manifest? `omniwasm plugin call` reads those)"
    if stripped[:15].lower().startswith(("<!doctype html", "<html")):
        return "an HTML page"
    first = stripped.split("\n", 1)[0].rstrip("\r")
    quoted = first if len(first) <= _QUOTE else first[:_QUOTE] + "..."
    return f"a text file starting with {quoted!r}" if quoted else "a blank text file"
