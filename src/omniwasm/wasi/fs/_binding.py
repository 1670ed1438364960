"""``wasi:filesystem`` in Python: the WIT binding over the backends of ``_fs``.

A :class:`Descriptor` is the ``descriptor`` resource handed to the guest: it wraps one open
file or directory of a backend (a confined host directory or an in-memory tree), turns the
backend's :class:`~omniwasm.wasi.fs._backend.FsError` into the WIT ``error-code`` (raised as
``omniwasm.Err``), and adds what the WIT layers on top: streams over a file
(``read-via-stream``, ``write-via-stream``, ``append-via-stream``) and the
``directory-entry-stream`` of ``read-directory``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar

from ..._component import host_data
from ..._errors import PolicyError
from ..._policy import Policy
from ..._wit.values import Err, Variant
from .._io import InputStream, OutputStream, Pollable, ReadyPollable, closed, failed
from ._backend import ERROR_CODES, FsError
from ._host import HostDir
from ._memory import MemoryFs

__all__ = ["FILESYSTEM_INTERFACES", "Descriptor", "Preopen", "preopens_from"]

F = TypeVar("F", bound=Callable[..., Any])


def _wit_errors(fn: F) -> F:
    """Turn the backend's FsError into the WIT ``error-code`` result."""

    @functools.wraps(fn)
    def call(*args: Any) -> Any:
        try:
            return fn(*args)
        except FsError as exc:
            raise Err(exc.code) from None

    return call  # type: ignore[return-value]


class Preopen:
    """A preopened directory: a backend and the guest path it appears at.

    Every ``get-directories`` hands the guest a new root descriptor (the guest owns and drops
    it); the ones still open when the instance ends are closed by :meth:`close`.
    """

    def __init__(self, guest_path: str, backend: HostDir | MemoryFs) -> None:
        self.guest_path = guest_path
        self.backend = backend
        self._handed: list[Any] = []

    def open_root(self) -> Any:
        """A new root descriptor for the guest."""
        try:
            node = self.backend.root()
        except FsError as exc:
            raise PolicyError(f"preopen {self.guest_path} is gone: {exc.code}") from exc
        self._handed = [n for n in self._handed if not n.closed]
        self._handed.append(node)
        return node

    def close(self) -> None:
        """Close the root descriptors the guest did not drop (host file descriptors)."""
        for node in self._handed:
            node.close()
        self._handed.clear()


def preopens_from(
    policy: Policy, filesystems: Mapping[str, Any], *, deterministic: bool, clock: Any
) -> list[Preopen]:
    """The preopens of an instance: the policy's ``dirs``, then ``filesystems``.

    Raises:
        PolicyError: a host directory cannot be opened, or a filesystem is not a backend.

    """
    out = []
    for mount in policy.dirs:
        problem = mount.problem()
        if problem is not None:
            raise PolicyError(problem)
        try:
            backend = HostDir(mount.host, read_only=mount.read_only)
        except FsError as exc:
            raise PolicyError(f"cannot preopen {mount.host} ({exc.code})") from exc
        out.append(Preopen(mount.guest, backend))
    for guest, fs in filesystems.items():
        if not isinstance(fs, MemoryFs | HostDir):
            raise PolicyError(f"filesystem for {guest} must be a MemoryFs or HostDir")
        if deterministic and isinstance(fs, MemoryFs):
            fs.clock = clock.wall_ns  # new timestamps follow the virtual wall clock
        out.append(Preopen(guest, fs))
    return out


class DirectoryEntryStream:
    """``directory-entry-stream``: the entries of a directory, one at a time."""

    def __init__(self, entries: Iterator[tuple[str, str]]) -> None:
        self._entries = entries

    def read_directory_entry(self) -> dict[str, str] | None:
        """``read-directory-entry``: the next entry, or None at the end."""
        entry = next(self._entries, None)
        if entry is None:
            return None
        kind, name = entry
        return {"type": kind, "name": name}


class _FileInput(InputStream):
    """An input stream reading a file from an offset."""

    def __init__(self, node: Any, offset: int) -> None:
        super().__init__(None)
        self._node = node
        self._offset = offset

    def read(self, length: int) -> bytes:
        try:
            data, eof = self._node.read(length, self._offset)
        except FsError as exc:
            raise failed(f"read failed: {exc.code}", exc.code) from None
        if not data and (eof or length):
            raise closed()
        self._offset += len(data)
        return bytes(data)


class _FileOutput(OutputStream):
    """An output stream writing a file at an offset (or appending)."""

    def __init__(self, node: Any, offset: int | None) -> None:
        super().__init__(None)
        self._node = node
        self._offset = offset

    def _emit(self, contents: bytes | bytearray | memoryview) -> None:
        if self._closed:
            raise closed()
        if not contents:
            return
        try:
            if self._offset is None:
                self._node.append(bytes(contents))
            else:
                self._offset += self._node.write(bytes(contents), self._offset)
        except FsError as exc:
            raise failed(f"write failed: {exc.code}", exc.code) from None


class Descriptor:
    """``wasi:filesystem/types.descriptor`` over one open backend file or directory."""

    def __init__(self, node: Any) -> None:
        self.node = node

    @_wit_errors
    def read_via_stream(self, offset: int) -> InputStream:
        self.node.check_read()
        return _FileInput(self.node, offset)

    @_wit_errors
    def write_via_stream(self, offset: int) -> OutputStream:
        self.node.check_write()
        return _FileOutput(self.node, offset)

    @_wit_errors
    def append_via_stream(self) -> OutputStream:
        self.node.check_write()
        return _FileOutput(self.node, None)

    @_wit_errors
    def advise(self, offset: int, length: int, advice: Any) -> None:
        self.node.advise(offset, length, str(advice))

    @_wit_errors
    def sync_data(self) -> None:
        self.node.sync_data()

    @_wit_errors
    def sync(self) -> None:
        self.node.sync()

    @_wit_errors
    def get_flags(self) -> set[str]:
        return set(self.node.get_flags())

    @_wit_errors
    def get_type(self) -> str:
        return str(self.node.get_type())

    @_wit_errors
    def set_size(self, size: int) -> None:
        self.node.set_size(size)

    @_wit_errors
    def set_times(self, atime: Any, mtime: Any) -> None:
        self.node.set_times(_timestamp(atime), _timestamp(mtime))

    @_wit_errors
    def read(self, length: int, offset: int) -> tuple[bytes, bool]:
        data, eof = self.node.read(length, offset)
        return bytes(data), bool(eof)

    @_wit_errors
    def write(self, buffer: bytes, offset: int) -> int:
        return int(self.node.write(bytes(buffer), offset))

    @_wit_errors
    def read_directory(self) -> DirectoryEntryStream:
        return DirectoryEntryStream(iter(list(self.node.read_directory())))

    @_wit_errors
    def create_directory_at(self, path: str) -> None:
        self.node.create_directory_at(path)

    @_wit_errors
    def stat(self) -> dict[str, Any]:
        return _stat_record(self.node.stat())

    @_wit_errors
    def stat_at(self, path_flags: Any, path: str) -> dict[str, Any]:
        return _stat_record(self.node.stat_at(path, follow=_follow(path_flags)))

    @_wit_errors
    def set_times_at(self, path_flags: Any, path: str, atime: Any, mtime: Any) -> None:
        self.node.set_times_at(
            path, _timestamp(atime), _timestamp(mtime), follow=_follow(path_flags)
        )

    @_wit_errors
    def link_at(self, old_flags: Any, old_path: str, new_dir: Descriptor, new_path: str) -> None:
        self.node.link_at(old_path, new_dir.node, new_path, follow=_follow(old_flags))

    @_wit_errors
    def open_at(self, path_flags: Any, path: str, open_flags: Any, flags: Any) -> Descriptor:
        node = self.node.open_at(
            path,
            follow=_follow(path_flags),
            open_flags=_names(open_flags),
            flags=_names(flags),
        )
        return Descriptor(node)

    @_wit_errors
    def readlink_at(self, path: str) -> str:
        return str(self.node.readlink_at(path))

    @_wit_errors
    def remove_directory_at(self, path: str) -> None:
        self.node.remove_directory_at(path)

    @_wit_errors
    def rename_at(self, old_path: str, new_dir: Descriptor, new_path: str) -> None:
        self.node.rename_at(old_path, new_dir.node, new_path)

    @_wit_errors
    def symlink_at(self, old_path: str, new_path: str) -> None:
        self.node.symlink_at(old_path, new_path)

    @_wit_errors
    def unlink_file_at(self, path: str) -> None:
        self.node.unlink_file_at(path)

    def is_same_object(self, other: Descriptor) -> bool:
        return bool(self.node.is_same_object(other.node))

    @_wit_errors
    def metadata_hash(self) -> dict[str, int]:
        lower, upper = self.node.metadata_hash()
        return {"lower": lower, "upper": upper}

    @_wit_errors
    def metadata_hash_at(self, path_flags: Any, path: str) -> dict[str, int]:
        lower, upper = self.node.metadata_hash_at(path, follow=_follow(path_flags))
        return {"lower": lower, "upper": upper}

    def subscribe(self) -> Pollable:
        return ReadyPollable()

    def close(self) -> None:
        """Dropped by the guest: close the backend's file."""
        close = getattr(self.node, "close", None)
        if callable(close):
            close()


def _names(flags: Any) -> frozenset[str]:
    """A WIT flags value (a set of names, or an object listing them) as a set of names."""
    if flags is None:
        return frozenset()
    if isinstance(flags, set | frozenset | list | tuple):
        return frozenset(str(f) for f in flags)
    return frozenset(str(f) for f in flags)


def _follow(path_flags: Any) -> bool:
    return "symlink-follow" in _names(path_flags)


def _timestamp(value: Any) -> Any:
    """A ``new-timestamp`` as None (no change), "now", or ``(seconds, nanoseconds)``."""
    case = value.case if isinstance(value, Variant) else getattr(value, "tag", value)
    if case == "no-change":
        return None
    if case == "now":
        return "now"
    when = value.value if isinstance(value, Variant) else getattr(value, "payload", None)
    return (_field(when, "seconds"), _field(when, "nanoseconds"))


def _field(record: Any, name: str) -> int:
    if isinstance(record, Mapping):
        return int(record[name])
    return int(getattr(record, name))


def _stat_record(st: Any) -> dict[str, Any]:
    def stamp(value: Any) -> Any:
        if value is None:
            return None
        seconds, nanoseconds = value
        return {"seconds": seconds, "nanoseconds": nanoseconds}

    return {
        "type": st.type,
        "link-count": st.link_count,
        "size": st.size,
        "data-access-timestamp": stamp(st.access),
        "data-modification-timestamp": stamp(st.modification),
        "status-change-timestamp": stamp(st.status_change),
    }


def _get_directories() -> list[tuple[Descriptor, str]]:
    ctx = host_data()
    return [(Descriptor(p.open_root()), p.guest_path) for p in ctx.preopens]


def _filesystem_error_code(err: Any) -> str | None:
    """``filesystem-error-code``: the filesystem error-code behind a stream's ``error``."""
    code = getattr(err, "code", None)
    return code if isinstance(code, str) and code in ERROR_CODES else None


FILESYSTEM_INTERFACES: dict[str, dict[str, Any]] = {
    "wasi:filesystem/types": {
        "descriptor": Descriptor,
        "directory_entry_stream": DirectoryEntryStream,
        "filesystem_error_code": _filesystem_error_code,
    },
    "wasi:filesystem/preopens": {"get_directories": _get_directories},
}
"""Member definitions of the ``wasi:filesystem`` interfaces, for ``Linker.define``."""
