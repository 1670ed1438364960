"""``wasi:filesystem`` 0.3 and the ``wasi:cli`` terminal interfaces on the virtual host.

The same filesystem as WASI 0.2 (:mod:`omniwasm.wasi.fs`: the policy's host directories
confined by the one path walk, :class:`~omniwasm.wasi.fs.MemoryFs`, deterministic
timestamps), with 0.3's shapes: a file is read as a ``stream<u8>`` plus a ``future`` of the
read's result, written or appended from a guest's ``stream<u8>`` by an ``async func`` that
ends when the stream does, and a directory is listed as a ``stream<directory-entry>``. Every
other descriptor method is 0.2's, now an ``async func`` the host answers at once. Errors are
0.2's ``error-code`` names; timestamps are ``system-clock.instant`` (0.2's ``datetime``
fields). A file's bytes are read in chunks of :data:`CHUNK` as the guest reads them.

The terminal interfaces hand out no terminal (``none``): standard streams here are never a
terminal, as under ``wasmtime run`` with captured output.
"""

from __future__ import annotations

import concurrent.futures
from typing import Any

from ..._component import host_data
from ..._wit.values import Err, Ok
from ..fs import Descriptor as Descriptor2
from ..fs import FsError

__all__ = ["CHUNK", "FS_INTERFACES", "TERMINAL_INTERFACES", "Descriptor"]

CHUNK = 64 << 10
"""Bytes read from a file per chunk of a ``read-via-stream`` stream."""


class _FileChunks:
    """A file's bytes from an offset as an async iterator; ``result`` gets the read's outcome.

    The outcome is ``Ok(None)`` at the end of the file (or when the guest stops reading),
    ``Err(code)`` when a read fails.
    """

    def __init__(self, node: Any, offset: int) -> None:
        self._node = node
        self._offset = offset
        self.result: concurrent.futures.Future[Any] = concurrent.futures.Future()

    def __aiter__(self) -> _FileChunks:
        return self

    async def __anext__(self) -> bytes:
        if self.result.done():
            raise StopAsyncIteration
        try:
            data, eof = self._node.read(CHUNK, self._offset)
        except FsError as exc:
            self._end(Err(exc.code))
            raise StopAsyncIteration from None
        if not data:
            self._end(Ok(None))
            raise StopAsyncIteration
        self._offset += len(data)
        if eof:
            self._end(Ok(None))
        return bytes(data)

    async def aclose(self) -> None:
        """The guest dropped the stream: the read ends without an error."""
        self._end(Ok(None))

    def _end(self, outcome: Any) -> None:
        if not self.result.done():
            self.result.set_result(outcome)


async def _write_all(node: Any, data: Any, offset: int | None) -> Ok | Err:
    """Write a guest's stream to ``node`` at ``offset`` (None: append) until it ends."""
    try:
        async for chunk in data:
            if offset is None:
                node.append(bytes(chunk))
            else:
                offset += node.write(bytes(chunk), offset)
    except FsError as exc:
        return Err(exc.code)
    return Ok(None)


class Descriptor(Descriptor2):
    """``wasi:filesystem/types.descriptor`` of WASI 0.3 over one open backend node."""

    # 0.3 changes these methods' shapes: overriding 0.2's signatures is the point here.
    def read_via_stream(self, offset: int) -> tuple[Any, Any]:  # type: ignore[override]
        """The file's bytes from ``offset`` as a stream, and the future of the read's result."""
        try:
            self.node.check_read()
        except FsError as exc:
            return b"", Err(exc.code)
        chunks = _FileChunks(self.node, offset)
        return chunks, chunks.result

    def write_via_stream(self, data: Any, offset: int) -> Any:  # type: ignore[override]
        """Write the guest's stream at ``offset``: what it resolves to when the stream ends.

        An awaitable, so it serves both 0.3 shapes: a ``future`` result (``0.3.0``) or an
        ``async func`` (release candidates).
        """
        return self._write(data, offset)

    def append_via_stream(self, data: Any) -> Any:  # type: ignore[override]
        """Append the guest's stream: what it resolves to when the stream ends."""
        return self._write(data, None)

    async def _write(self, data: Any, offset: int | None) -> Ok | Err:
        try:
            self.node.check_write()
        except FsError as exc:
            return Err(exc.code)
        return await _write_all(self.node, data, offset)

    def read_directory(self) -> tuple[list[dict[str, str]], Any]:  # type: ignore[override]
        """The directory's entries as a stream, and the future of the listing's result."""
        try:
            entries = [{"type": kind, "name": name} for kind, name in self.node.read_directory()]
        except FsError as exc:
            return [], Err(exc.code)
        return entries, Ok(None)

    def open_at(self, path_flags: Any, path: str, open_flags: Any, flags: Any) -> Descriptor:
        """``open-at``: a 0.3 descriptor for what ``path`` names."""
        opened = super().open_at(path_flags, path, open_flags, flags)
        return Descriptor(opened.node)


def _get_directories() -> list[tuple[Descriptor, str]]:
    ctx = host_data()
    return [(Descriptor(p.open_root()), p.guest_path) for p in ctx.preopens]


FS_INTERFACES: dict[str, dict[str, Any]] = {
    "wasi:filesystem/types": {"descriptor": Descriptor},
    "wasi:filesystem/preopens": {"get_directories": _get_directories},
}
"""Member definitions of the ``wasi:filesystem`` 0.3 interfaces, for ``Linker.define``."""


class TerminalInput:
    """``wasi:cli/terminal-input.terminal-input`` of 0.3 (never handed out)."""


class TerminalOutput:
    """``wasi:cli/terminal-output.terminal-output`` of 0.3 (never handed out)."""


TERMINAL_INTERFACES: dict[str, dict[str, Any]] = {
    "wasi:cli/terminal-input": {"terminal_input": TerminalInput},
    "wasi:cli/terminal-output": {"terminal_output": TerminalOutput},
    "wasi:cli/terminal-stdin": {"get_terminal_stdin": lambda: None},
    "wasi:cli/terminal-stdout": {"get_terminal_stdout": lambda: None},
    "wasi:cli/terminal-stderr": {"get_terminal_stderr": lambda: None},
}
"""Member definitions of the 0.3 terminal interfaces: no standard stream is a terminal."""
