"""The descriptor semantics shared by both filesystem backends: path walk, checks, ``Node``.

:class:`Node` is one open file or directory with the operations of the WIT ``descriptor``;
backends (``_host``, ``_memory``) supply a handful of primitives on a directory handle
and one name, and everything else (rights, the component-by-component path walk that follows
symlinks itself and never leaves the descriptor, the error codes) lives here once. The rules
are listed in :mod:`omniwasm.wasi.fs._backend`.
"""

from __future__ import annotations

import functools
import hashlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Generic, ParamSpec, TypeVar

from ._backend import (
    ADVICE,
    DESCRIPTOR_FLAGS,
    MAX_NAME,
    MAX_OFFSET,
    MAX_PATH,
    MAX_READ,
    MAX_SYMLINKS,
    OPEN_FLAGS,
    SYNC_FLAGS,
    DirEntry,
    FsError,
    NewTimestamp,
    OpenRequest,
    Stat,
    check_times,
)

__all__ = ["Node", "metadata_hash"]

D = TypeVar("D")
P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class _Where(Generic[D]):
    """A resolved path: directory handle, last name (``"."``: the directory), its depth."""

    dir: D
    name: str
    depth: int


def _fs_op(fn: Callable[P, R]) -> Callable[P, R]:
    """Report host ``OSError`` as :class:`FsError` (backends raise FsError themselves)."""

    @functools.wraps(fn)
    def call(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except OSError as exc:
            raise FsError.from_os(exc) from None

    return call


def _names(given: Iterable[str], known: frozenset[str], what: str) -> frozenset[str]:
    out = frozenset(str(n).replace("_", "-") for n in given)
    if unknown := out - known:
        raise FsError("invalid", f"unknown {what}: {sorted(unknown)}")
    return out


def _check_length(path: str) -> None:
    if len(path) >= MAX_PATH or len(path.encode("utf-8", "surrogatepass")) >= MAX_PATH:
        raise FsError("name-too-long", f"a path of {len(path)} characters")


def _split(path: str) -> list[str]:
    if "\0" in path:
        raise FsError("invalid", "path contains NUL")
    _check_length(path)
    if path.startswith("/"):
        raise FsError("not-permitted", f"absolute path {path!r}")
    return path.split("/")


def _check_link_target(target: str) -> None:
    """Refuse an empty, NUL-holding or too long symlink target (absolute: see symlink-at)."""
    if not target:
        raise FsError("no-entry", "empty symlink target")
    if "\0" in target:
        raise FsError("invalid", "symlink target contains NUL")
    _check_length(target)


def metadata_hash(device: int, inode: int) -> tuple[int, int]:
    """A ``metadata-hash-value`` ``(lower, upper)`` for an object's identity."""
    digest = hashlib.blake2b(f"{device}:{inode}".encode(), digest_size=16).digest()
    return int.from_bytes(digest[:8], "little"), int.from_bytes(digest[8:], "little")


class Node(ABC, Generic[D]):
    """An open file or directory: the methods of the WIT ``descriptor``, minus the streams.

    Subclasses supply the primitives (the ``_``-prefixed abstract methods), each acting on a
    directory handle ``D`` and one name that never contains ``/`` and is never followed if
    it is a symlink; this class does the checks and the path walk. Every public method
    raises :class:`FsError`; a closed node fails with ``bad-descriptor``. A node is a
    context manager; ``close()`` is idempotent.

    Args:
        kind: the WIT ``descriptor-type`` of the object.
        readable: a file's ``read`` right (directories are always readable).
        writable: a file's ``write`` right.
        mutable: the preopen is writable (directories may be mutated, times may be set).
        depth: how deep a directory sits below its preopen root (for ``symlink-at``).

    """

    def __init__(
        self, kind: str, *, readable: bool, writable: bool, mutable: bool, depth: int
    ) -> None:
        self.kind = kind
        self._readable = readable
        self._writable = writable
        self._mutable = mutable
        self._depth = depth
        self._closed = False

    # -- primitives ----------------------------------------------------------------------

    @abstractmethod
    def _as_dir(self) -> D: ...
    @abstractmethod
    def _step(self, d: D, name: str) -> D | str:
        """Enter subdirectory ``name`` (a new handle), or return its target if a symlink."""

    @abstractmethod
    def _kind(self, d: D, name: str) -> str | None: ...
    @abstractmethod
    def _readlink(self, d: D, name: str) -> str: ...
    @abstractmethod
    def _release(self, d: D) -> None: ...
    @abstractmethod
    def _listdir(self, d: D) -> list[DirEntry]: ...
    @abstractmethod
    def _stat_at(self, d: D, name: str) -> Stat: ...
    @abstractmethod
    def _ident_at(self, d: D, name: str) -> tuple[int, int]: ...
    @abstractmethod
    def _set_times_at(self, d: D, name: str, atime: NewTimestamp, mtime: NewTimestamp) -> None:
        """Set times of ``name`` (not followed); the timestamps are already validated."""

    @abstractmethod
    def _open(self, d: D, name: str, request: OpenRequest, depth: int) -> Node[D]: ...
    @abstractmethod
    def _mkdir(self, d: D, name: str) -> None: ...
    @abstractmethod
    def _rmdir(self, d: D, name: str) -> None: ...
    @abstractmethod
    def _unlink(self, d: D, name: str) -> None: ...
    @abstractmethod
    def _symlink(self, target: str, d: D, name: str) -> None: ...
    @abstractmethod
    def _link(self, d: D, name: str, new_d: D, new_name: str) -> None: ...
    @abstractmethod
    def _rename(self, d: D, name: str, new_d: D, new_name: str) -> None: ...
    @abstractmethod
    def _compatible(self, other: Node[Any]) -> bool:
        """Whether ``other`` is in the same filesystem (else ``cross-device``)."""

    @abstractmethod
    def _stat_self(self) -> Stat: ...
    @abstractmethod
    def _ident_self(self) -> tuple[int, int]: ...
    @abstractmethod
    def _set_times_self(self, atime: NewTimestamp, mtime: NewTimestamp) -> None: ...
    @abstractmethod
    def _pread(self, length: int, offset: int) -> bytes: ...
    @abstractmethod
    def _pwrite(self, data: bytes, offset: int) -> int: ...
    @abstractmethod
    def _append(self, data: bytes) -> int: ...
    @abstractmethod
    def _truncate(self, size: int) -> None: ...
    @abstractmethod
    def _sync(self, *, data_only: bool) -> None: ...
    @abstractmethod
    def _close(self) -> None: ...

    # -- checks and the path walk --------------------------------------------------------

    def _live(self) -> None:
        if self._closed:
            raise FsError("bad-descriptor", "descriptor is closed")

    def _dir(self) -> D:
        self._live()
        if self.kind != "directory":
            raise FsError("not-directory", "not a directory descriptor")
        return self._as_dir()

    def _file(self) -> None:
        self._live()
        if self.kind == "directory":
            raise FsError("bad-descriptor", "a directory descriptor")

    def _check_mutable(self) -> None:
        if not self._mutable:
            raise FsError("not-permitted", "read-only preopen")

    def _peer_dir(self, other: Node[Any]) -> None:
        other._dir()
        if not self._compatible(other):
            raise FsError("cross-device", "descriptors of different filesystems")
        other._check_mutable()

    @contextmanager
    def _resolve(self, path: str, *, follow: bool) -> Iterator[_Where[D]]:
        stack = [self._dir()]
        try:
            name = self._walk(stack, path, follow=follow)
            yield _Where(stack[-1], name, self._depth + len(stack) - 1)
        finally:
            for handle in stack[1:]:
                self._release(handle)

    def _walk(self, stack: list[D], path: str, *, follow: bool) -> str:
        """Walk ``path`` from ``stack[-1]``, pushing entered directories; return the last name.

        ``stack[0]`` is this descriptor: popping it (``..`` too far) is an escape.
        """
        if not path:
            raise FsError("no-entry", "empty path")
        parts = _split(path)
        todo = [p for p in reversed(parts) if p not in ("", ".")]
        enter_all = parts[-1] in (".", "..")  # the result is a directory itself
        must_dir = parts[-1] == ""
        links = 0
        while todo:
            name = todo.pop()
            if name == "..":
                if len(stack) == 1:
                    raise FsError("not-permitted", f"{path!r} leaves its directory")
                self._release(stack.pop())
                continue
            if len(name.encode("utf-8", "surrogatepass")) > MAX_NAME:
                raise FsError("name-too-long", name[:32] + "...")
            if todo or enter_all:
                step = self._step(stack[-1], name)
                if not isinstance(step, str):
                    stack.append(step)
                    continue
                target = step
            else:
                kind = self._kind(stack[-1], name)
                if kind != "symbolic-link" or not (follow or must_dir):
                    if must_dir and kind not in (None, "directory"):
                        raise FsError("not-directory", f"{path!r} is not a directory")
                    return name
                target = self._readlink(stack[-1], name)
            links += 1
            if links > MAX_SYMLINKS:
                raise FsError("loop", f"too many symlinks in {path!r}")
            if not target:
                raise FsError("no-entry", "empty symlink target")
            tparts = _split(target)
            if not todo:  # the link was last: its target's ending decides what is asked
                enter_all = enter_all or tparts[-1] in (".", "..")
                must_dir = must_dir or tparts[-1] == ""
            todo.extend(p for p in reversed(tparts) if p not in ("", "."))
        return "."

    # -- the descriptor ------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    def close(self) -> None:
        """Release the backend's resources (a host file descriptor); idempotent."""
        if not self._closed:
            self._closed = True
            self._close()

    def __enter__(self) -> Node[D]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get_type(self) -> str:
        """``get-type``: the WIT ``descriptor-type`` name of the open object."""
        self._live()
        return self.kind

    def get_flags(self) -> frozenset[str]:
        """``get-flags``: ``read``/``write`` for a file, ``read`` (+ ``mutate-directory``)."""
        self._live()
        if self.kind == "directory":
            return frozenset(("read", "mutate-directory") if self._mutable else ("read",))
        return frozenset(
            name for name, on in (("read", self._readable), ("write", self._writable)) if on
        )

    def check_read(self) -> None:
        """Fail with ``bad-descriptor`` unless this is a file opened for reading."""
        self._file()
        if not self._readable:
            raise FsError("bad-descriptor", "not opened for reading")

    def check_write(self) -> None:
        """Fail with ``bad-descriptor`` unless this is a file opened for writing."""
        self._file()
        if not self._writable:
            raise FsError("bad-descriptor", "not opened for writing")

    @_fs_op
    def read(self, length: int, offset: int) -> tuple[bytes, bool]:
        """``read``: up to ``length`` bytes (at most :data:`MAX_READ`) at ``offset``.

        The flag is true when no bytes came back (wasmtime's end-of-file rule). Fails with
        ``bad-descriptor`` on a directory or a file not opened for reading.
        """
        self.check_read()
        if not 0 <= offset <= MAX_OFFSET or length < 0:
            raise FsError("invalid", "bad offset or length")
        data = self._pread(min(length, MAX_READ), offset)
        return data, not data

    @_fs_op
    def write(self, data: bytes, offset: int) -> int:
        """``write``: write ``data`` at ``offset``; the count written (``bad-descriptor``)."""
        self.check_write()
        if not 0 <= offset <= MAX_OFFSET:
            raise FsError("invalid", "bad offset")
        return self._pwrite(bytes(data), offset)

    @_fs_op
    def append(self, data: bytes) -> int:
        """Write ``data`` at the end of the file (``append-via-stream``); return the count."""
        self.check_write()
        return self._append(bytes(data))

    @_fs_op
    def set_size(self, size: int) -> None:
        """``set-size``: truncate or zero-extend (``invalid`` if not writable, as ftruncate)."""
        self._file()
        self._check_mutable()
        if not self._writable or not 0 <= size <= MAX_OFFSET:
            raise FsError("invalid", "not opened for writing, or bad size")
        self._truncate(size)

    def advise(self, offset: int, length: int, advice: str) -> None:
        """``advise``: accepted and ignored (a hint) once the arguments are checked."""
        self._file()
        if str(advice).replace("_", "-") not in ADVICE or offset < 0 or length < 0:
            raise FsError("invalid", f"bad advice {advice!r}")

    @_fs_op
    def sync_data(self) -> None:
        """``sync-data``: flush the object's data to storage."""
        self._live()
        self._sync(data_only=True)

    @_fs_op
    def sync(self) -> None:
        """``sync``: flush the object's data and metadata to storage."""
        self._live()
        self._sync(data_only=False)

    @_fs_op
    def set_times(self, atime: NewTimestamp, mtime: NewTimestamp) -> None:
        """``set-times``: set the open object's access and modification times."""
        self._live()
        self._check_mutable()
        check_times(atime, mtime)
        self._set_times_self(atime, mtime)

    @_fs_op
    def stat(self) -> Stat:
        """``stat``: the open object's metadata."""
        self._live()
        return self._stat_self()

    @_fs_op
    def read_directory(self) -> list[DirEntry]:
        """``read-directory``: ``(type, name)`` of every entry, sorted by name."""
        return sorted(self._listdir(self._dir()), key=lambda e: e[1])

    @_fs_op
    def create_directory_at(self, path: str) -> None:
        """``create-directory-at``: make a directory (``exist`` if anything is there)."""
        self._dir()
        self._check_mutable()
        with self._resolve(path, follow=False) as at:
            self._mkdir(at.dir, at.name)

    @_fs_op
    def stat_at(self, path: str, *, follow: bool = False) -> Stat:
        """``stat-at``: metadata of ``path``; ``follow`` follows a final symlink."""
        with self._resolve(path, follow=follow) as at:
            return self._stat_at(at.dir, at.name)

    @_fs_op
    def set_times_at(
        self, path: str, atime: NewTimestamp, mtime: NewTimestamp, *, follow: bool = False
    ) -> None:
        """``set-times-at``: set the times of ``path`` (not-permitted when read-only)."""
        self._dir()
        self._check_mutable()
        check_times(atime, mtime)
        with self._resolve(path, follow=follow) as at:
            self._set_times_at(at.dir, at.name, atime, mtime)

    @_fs_op
    def link_at(
        self, old_path: str, new_dir: Node[Any], new_path: str, *, follow: bool = False
    ) -> None:
        """``link-at``: hard-link ``old_path`` as ``new_path`` under ``new_dir``.

        ``follow`` is ``invalid`` (as in wasmtime); linking a directory is ``not-permitted``;
        two filesystems are ``cross-device``.
        """
        self._dir()
        self._check_mutable()
        self._peer_dir(new_dir)
        if follow:
            raise FsError("invalid", "link-at does not follow symlinks")
        with (
            self._resolve(old_path, follow=False) as old,
            new_dir._resolve(new_path, follow=False) as new,
        ):
            self._link(old.dir, old.name, new.dir, new.name)

    @_fs_op
    def open_at(
        self,
        path: str,
        *,
        follow: bool = False,
        open_flags: Iterable[str] = (),
        flags: Iterable[str] = (),
    ) -> Node[D]:
        """``open-at``: open ``path`` as a new descriptor.

        Args:
            path: relative to this directory.
            follow: follow a final symlink (``symlink-follow``); without it a final symlink
                is ``loop``, as with ``O_NOFOLLOW``.
            open_flags: names of WIT ``open-flags`` (``create``, ``directory``,
                ``exclusive``, ``truncate``).
            flags: names of WIT ``descriptor-flags`` (``read``, ``write``, ...).

        Raises:
            FsError: ``not-permitted`` (writing under a read-only preopen), ``unsupported``
                (the ``*-sync`` flags, as wasmtime), ``invalid`` (``directory`` with
                ``create``/``exclusive``/``truncate``), ``exist``, ``not-directory``,
                ``is-directory`` (a directory opened for writing), ``no-entry``...

        """
        self._dir()
        oflags = _names(open_flags, OPEN_FLAGS, "open-flags")
        dflags = _names(flags, DESCRIPTOR_FLAGS, "descriptor-flags")
        create, truncate = "create" in oflags, "truncate" in oflags
        exclusive, directory = "exclusive" in oflags, "directory" in oflags
        if not self._mutable and (create or truncate or "write" in dflags):
            raise FsError("not-permitted", "read-only preopen")
        if dflags & SYNC_FLAGS:
            raise FsError("unsupported", "synchronized I/O flags")
        if directory and (create or exclusive or truncate):
            raise FsError("invalid", "directory with create, exclusive or truncate")
        request = OpenRequest(
            create=create,
            exclusive=exclusive,
            truncate=truncate,
            directory=directory,
            readable="read" in dflags or "write" not in dflags,
            writable="write" in dflags or create,
        )
        # O_CREAT|O_EXCL never follows a final symlink: the link itself is what exists.
        with self._resolve(path, follow=follow and not (create and exclusive)) as at:
            return self._open(at.dir, at.name, request, at.depth + (at.name != "."))

    @_fs_op
    def readlink_at(self, path: str) -> str:
        """``readlink-at``: the target of the symlink ``path`` (``invalid`` if not one).

        An absolute target is a host path: ``not-permitted``, as in wasmtime.
        """
        with self._resolve(path, follow=False) as at:
            target = self._readlink(at.dir, at.name)
        if target.startswith("/"):
            raise FsError("not-permitted", "the symlink's target is absolute")
        return target

    @_fs_op
    def remove_directory_at(self, path: str) -> None:
        """``remove-directory-at``: remove an empty directory."""
        self._dir()
        self._check_mutable()
        with self._resolve(path, follow=False) as at:
            if at.name == ".":
                raise FsError("invalid", "cannot remove '.'")
            self._rmdir(at.dir, at.name)

    @_fs_op
    def rename_at(self, old_path: str, new_dir: Node[Any], new_path: str) -> None:
        """``rename-at``: move ``old_path`` to ``new_path`` under ``new_dir``, as rename(2)."""
        self._dir()
        self._check_mutable()
        self._peer_dir(new_dir)
        with (
            self._resolve(old_path, follow=False) as old,
            new_dir._resolve(new_path, follow=False) as new,
        ):
            if "." in (old.name, new.name):
                raise FsError("busy", "cannot rename '.'")
            self._rename(old.dir, old.name, new.dir, new.name)

    @_fs_op
    def symlink_at(self, old_path: str, new_path: str) -> None:
        """``symlink-at``: make ``new_path`` a symlink to ``old_path`` (inside the root)."""
        self._dir()
        self._check_mutable()
        if old_path.startswith("/"):
            raise FsError("not-permitted", f"absolute symlink target {old_path!r}")
        _check_link_target(old_path)
        with self._resolve(new_path, follow=False) as at:
            self._symlink(old_path, at.dir, at.name)

    @_fs_op
    def unlink_file_at(self, path: str) -> None:
        """``unlink-file-at``: remove a non-directory (``is-directory`` for a directory)."""
        self._dir()
        self._check_mutable()
        with self._resolve(path, follow=False) as at:
            self._unlink(at.dir, at.name)

    def is_same_object(self, other: Node[Any]) -> bool:
        """``is-same-object``: whether both descriptors refer to one object."""
        if self._closed or other._closed or not self._compatible(other):
            return False
        try:
            return self._ident_self() == other._ident_self()
        except (OSError, FsError):
            return False

    @_fs_op
    def metadata_hash(self) -> tuple[int, int]:
        """``metadata-hash``: ``(lower, upper)``, equal for the same object."""
        self._live()
        return metadata_hash(*self._ident_self())

    @_fs_op
    def metadata_hash_at(self, path: str, *, follow: bool = False) -> tuple[int, int]:
        """``metadata-hash-at``: :meth:`metadata_hash` of ``path``."""
        with self._resolve(path, follow=follow) as at:
            return metadata_hash(*self._ident_at(at.dir, at.name))

    def __repr__(self) -> str:
        state = "closed" if self._closed else ",".join(sorted(self.get_flags()))
        return f"<{type(self).__name__} {self.kind} {state}>"
