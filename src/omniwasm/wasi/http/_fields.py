"""``wasi:http/types`` fields and error codes: headers, trailers and ``error-code`` values.

:class:`Fields` is the ordered, case-insensitive multimap behind ``fields``, ``headers`` and
``trailers``: guest-made fields are mutable, host-made ones immutable (``header-error.immutable``);
names must be HTTP tokens, values may not hold control characters (``invalid-syntax``), and
hop-by-hop headers and ``host`` are ``forbidden``, as in wasmtime. ``error-code`` values are
:class:`~omniwasm.Variant` values built with :func:`error_code`; a body stream that fails
carries one in an :class:`HttpIoError`, which ``http-error-code`` reads back.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from ..._wit.values import Err, Variant
from .._io import IoError

__all__ = [
    "FORBIDDEN_HEADERS",
    "Fields",
    "HttpIoError",
    "error_code",
    "http_error_code",
    "valid_name",
    "variant_case",
]

FORBIDDEN_HEADERS = frozenset({
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization",
    "proxy-connection", "transfer-encoding", "upgrade", "host", "http2-settings",
})  # fmt: skip
"""Header names a guest may not set (hop-by-hop headers and ``host``, as wasmtime)."""

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_BAD_VALUE = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")


def error_code(case: str, payload: Any = None) -> Variant:
    """A ``wasi:http/types.error-code`` value, e.g. ``error_code("connection-refused")``."""
    return Variant(case, payload)


def variant_case(value: Any) -> tuple[str, Any]:
    """``(case, payload)`` of a variant given as a Variant or a bare case name."""
    if isinstance(value, Variant):
        return value.case, value.value
    return str(value), None


def valid_name(name: str) -> bool:
    return bool(_TOKEN.fullmatch(name))


def _valid_value(value: bytes) -> bool:
    return not _BAD_VALUE.search(value)


class Fields:
    """``fields`` (also ``headers`` and ``trailers``): an ordered multimap of HTTP fields.

    Names compare case-insensitively and keep their original spelling; values are bytes.
    Fields built by the guest (constructor, ``from-list``, ``clone``) are mutable; those the
    host hands out as part of a request or response are immutable: ``set``, ``append`` and
    ``delete`` raise ``Err(Variant("immutable"))``.

    Args:
        entries: initial ``(name, value)`` pairs (not validated: host-made fields).
        immutable: refuse changes.

    """

    def __init__(
        self, entries: Iterable[tuple[str, bytes]] | None = None, *, immutable: bool = False
    ) -> None:
        self._entries: list[tuple[str, bytes]] = list(entries or ())
        self.immutable = immutable

    @staticmethod
    def from_list(entries: list[tuple[str, bytes]]) -> Fields:
        """``from-list``: mutable fields from pairs; ``header-error`` for a bad pair."""
        out = Fields()
        for name, value in entries:
            out.append(name, value)
        return out

    def _check(self, name: str, values: Iterable[bytes] = ()) -> None:
        if self.immutable:
            raise Err(Variant("immutable"))
        if not valid_name(name) or not all(_valid_value(bytes(v)) for v in values):
            raise Err(Variant("invalid-syntax"))
        if name.lower() in FORBIDDEN_HEADERS:
            raise Err(Variant("forbidden"))

    def get(self, name: str) -> list[bytes]:
        """``get``: every value of ``name`` in order (empty when absent or invalid)."""
        key = name.lower()
        return [v for n, v in self._entries if n.lower() == key]

    def has(self, name: str) -> bool:
        """``has``: whether ``name`` has at least one value."""
        key = name.lower()
        return any(n.lower() == key for n, _ in self._entries)

    def set(self, name: str, value: list[bytes]) -> None:
        """``set``: replace every value of ``name``."""
        values = [bytes(v) for v in value]
        self._check(name, values)
        key = name.lower()
        self._entries[:] = [(n, v) for n, v in self._entries if n.lower() != key]
        self._entries.extend((name, v) for v in values)

    def delete(self, name: str) -> None:
        """``delete``: remove every value of ``name`` (nothing to do when absent)."""
        self._check(name)
        key = name.lower()
        self._entries[:] = [(n, v) for n, v in self._entries if n.lower() != key]

    def append(self, name: str, value: bytes) -> None:
        """``append``: add one value, keeping the existing ones."""
        data = bytes(value)
        self._check(name, (data,))
        self._entries.append((name, data))

    def entries(self) -> list[tuple[str, bytes]]:
        """``entries``: every ``(name, value)`` pair in order."""
        return list(self._entries)

    def clone(self) -> Fields:
        """``clone``: a mutable deep copy."""
        return Fields(self._entries)

    def view(self) -> Fields:
        """An immutable view sharing these entries (what ``headers()`` hands out)."""
        out = Fields(immutable=True)
        out._entries = self._entries
        return out

    def __repr__(self) -> str:
        return f"Fields({self._entries!r}{', immutable' if self.immutable else ''})"


class HttpIoError(IoError):
    """A ``wasi:io/error`` that carries the HTTP ``error-code`` behind a stream failure."""

    def __init__(self, code: Variant) -> None:
        super().__init__(f"HTTP body failed: {code.case}")
        self.code = code


def http_error_code(err: IoError) -> Variant | None:
    """``http-error-code``: the ``error-code`` behind a body stream's failure, if any."""
    code = getattr(err, "code", None)
    return code if isinstance(code, Variant) else None  # a filesystem error has a name
