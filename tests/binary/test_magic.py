"""describe(): what a file that is not WebAssembly looks like."""

from __future__ import annotations

import pytest

from omniwasm._binary.magic import describe


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (b"", "an empty file"),
        (b"\x7fELF\x02\x01", "an ELF executable or library"),
        (b"%PDF-1.7\n", "a PDF document"),
        (b"\x89PNG\r\n\x1a\n....", "a PNG image"),
        (b"MZ\x90\x00", "a Windows executable (PE)"),
        (b"\xef\xbb\xbf<!DOCTYPE html><html>", "an HTML page"),
        (b"x" * 100 + b"\n", "a text file starting with '" + "x" * 40 + "...'"),
        (b"   \n\n", "a blank text file"),
        (b"caf\xc3\xa9 ol\xc3", "a text file starting with 'caf\u00e9 ol'"),
        (b"\xff\xfe\x00\x01", "binary data that is not WebAssembly"),
    ],
)
def test_describe(data: bytes, says: str) -> None:
    """Each kind of input gets its own short description."""
    assert describe(data) == says


def test_a_tar_archive_is_named() -> None:
    """The ustar magic at offset 257 names a tar archive."""
    assert describe(b"\0" * 257 + b"ustar\x0000" + b"\0" * 100) == "a tar archive"
