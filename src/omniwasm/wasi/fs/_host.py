"""The host-directory backend of ``wasi:filesystem``: a host directory, confined.

Every operation goes through directory file descriptors this module holds, one name at a
time (``openat``, ``fstatat``, ``readlinkat``... with ``O_NOFOLLOW`` or
``follow_symlinks=False``); the shared walk in :mod:`._fs` follows symlinks itself. No path
string is ever resolved by the operating system, so there is no race between checking a
path and using it, and nothing outside the preopened directory can be reached.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat as st
import time
import weakref
from typing import Any

from ._backend import DirEntry, FsError, NewTimestamp, OpenRequest, Stat, split_ns, timestamp_ns
from ._node import Node

__all__ = ["HostDir", "HostNode"]

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_OPEN_FLAGS = os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NOCTTY | os.O_NONBLOCK


def _type(mode: int) -> str:
    """The WIT ``descriptor-type`` of a ``st_mode``."""
    if st.S_ISREG(mode):
        return "regular-file"
    if st.S_ISDIR(mode):
        return "directory"
    if st.S_ISLNK(mode):
        return "symbolic-link"
    if st.S_ISCHR(mode):
        return "character-device"
    if st.S_ISBLK(mode):
        return "block-device"
    if st.S_ISFIFO(mode):
        return "fifo"
    if st.S_ISSOCK(mode):
        return "socket"
    return "unknown"


def _stat(result: os.stat_result) -> Stat:
    return Stat(
        type=_type(result.st_mode),
        link_count=result.st_nlink,
        size=result.st_size,
        access=split_ns(result.st_atime_ns),
        modification=split_ns(result.st_mtime_ns),
        status_change=split_ns(result.st_ctime_ns),
    )


def _close_quietly(fd: int) -> None:
    with contextlib.suppress(OSError):
        os.close(fd)


def _times(current: os.stat_result, atime: NewTimestamp, mtime: NewTimestamp) -> tuple[int, int]:
    """Both times for ``os.utime``, keeping the current one where no change is asked."""
    # os.utime has no UTIME_OMIT: "no change" re-sets the value just read.
    a = timestamp_ns(atime, time.time_ns)
    m = timestamp_ns(mtime, time.time_ns)
    return (
        current.st_atime_ns if a is None else a,
        current.st_mtime_ns if m is None else m,
    )


class HostNode(Node[int]):
    """An open host file or directory: a real file descriptor, closed by :meth:`close`.

    Directory handles of the walk are file descriptors too (opened with ``O_DIRECTORY |
    O_NOFOLLOW``, closed as soon as the walk is done). A node that is dropped without
    ``close()`` still closes its descriptor when collected.

    Args:
        fd: the open descriptor (owned from now on).
        kind: its WIT ``descriptor-type``.
        readable: see :class:`~omniwasm.wasi.fs._node.Node`.
        writable: see :class:`~omniwasm.wasi.fs._node.Node`.
        mutable: see :class:`~omniwasm.wasi.fs._node.Node`.
        depth: see :class:`~omniwasm.wasi.fs._node.Node`.

    """

    def __init__(
        self, fd: int, kind: str, *, readable: bool, writable: bool, mutable: bool, depth: int
    ) -> None:
        super().__init__(kind, readable=readable, writable=writable, mutable=mutable, depth=depth)
        self.fd = fd
        self._finalizer = weakref.finalize(self, _close_quietly, fd)

    def _close(self) -> None:
        self._finalizer()

    def _compatible(self, other: Node[Any]) -> bool:
        return isinstance(other, HostNode)

    # -- the walk

    def _as_dir(self) -> int:
        return self.fd

    def _step(self, d: int, name: str) -> int | str:
        try:
            return os.open(name, _DIR_FLAGS, dir_fd=d)
        except OSError as exc:
            if exc.errno not in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK):
                raise
        try:  # O_NOFOLLOW refused it: a symlink, or not a directory at all
            return os.readlink(name, dir_fd=d)
        except OSError:
            raise FsError("not-directory", f"{name!r} is not a directory") from None

    def _kind(self, d: int, name: str) -> str | None:
        try:
            return _type(os.stat(name, dir_fd=d, follow_symlinks=False).st_mode)
        except FileNotFoundError:
            return None

    def _readlink(self, d: int, name: str) -> str:
        return os.readlink(name, dir_fd=d)

    def _release(self, d: int) -> None:
        os.close(d)

    # -- entries

    def _listdir(self, d: int) -> list[DirEntry]:
        out = []
        with os.scandir(d) as entries:
            for entry in entries:
                if entry.is_symlink():
                    kind = "symbolic-link"
                elif entry.is_dir(follow_symlinks=False):
                    kind = "directory"
                elif entry.is_file(follow_symlinks=False):
                    kind = "regular-file"
                else:
                    try:
                        kind = _type(entry.stat(follow_symlinks=False).st_mode)
                    except FileNotFoundError:  # removed while listing
                        continue
                name = entry.name
                try:
                    name.encode("utf-8")
                except UnicodeEncodeError:  # not UTF-8 on disk: a WIT string cannot carry it
                    raise FsError("illegal-byte-sequence", repr(name)) from None
                out.append((kind, name))
        return out

    def _stat_at(self, d: int, name: str) -> Stat:
        return _stat(os.stat(name, dir_fd=d, follow_symlinks=False))

    def _ident_at(self, d: int, name: str) -> tuple[int, int]:
        result = os.stat(name, dir_fd=d, follow_symlinks=False)
        return result.st_dev, result.st_ino

    def _set_times_at(self, d: int, name: str, atime: NewTimestamp, mtime: NewTimestamp) -> None:
        current = os.stat(name, dir_fd=d, follow_symlinks=False)
        ns = _times(current, atime, mtime)
        os.utime(name, ns=ns, dir_fd=d, follow_symlinks=False)

    def _open(self, d: int, name: str, request: OpenRequest, depth: int) -> Node[int]:
        flags = _OPEN_FLAGS
        if request.create:
            flags |= os.O_CREAT | (os.O_EXCL if request.exclusive else 0)
        if request.truncate:
            flags |= os.O_TRUNC
        if request.directory:
            flags |= os.O_DIRECTORY
        if request.os_write:
            flags |= os.O_RDWR if request.readable else os.O_WRONLY
        fd = os.open(name, flags, 0o666, dir_fd=d)
        try:
            kind = _type(os.fstat(fd).st_mode)
            if kind == "directory":
                return HostNode(
                    fd, kind, readable=True, writable=False, mutable=self._mutable, depth=depth
                )
            # O_NONBLOCK kept an open of a FIFO from blocking; reads and writes may block.
            os.set_blocking(fd, True)
        except BaseException:
            os.close(fd)
            raise
        return HostNode(
            fd,
            kind,
            readable=request.readable,
            writable=request.writable,
            mutable=self._mutable,
            depth=depth,
        )

    def _mkdir(self, d: int, name: str) -> None:
        os.mkdir(name, 0o777, dir_fd=d)

    def _rmdir(self, d: int, name: str) -> None:
        os.rmdir(name, dir_fd=d)

    def _unlink(self, d: int, name: str) -> None:
        os.unlink(name, dir_fd=d)

    def _symlink(self, target: str, d: int, name: str) -> None:
        os.symlink(target, name, dir_fd=d)

    def _link(self, d: int, name: str, new_d: int, new_name: str) -> None:
        os.link(name, new_name, src_dir_fd=d, dst_dir_fd=new_d, follow_symlinks=False)

    def _rename(self, d: int, name: str, new_d: int, new_name: str) -> None:
        os.rename(name, new_name, src_dir_fd=d, dst_dir_fd=new_d)

    # -- the open object

    def _stat_self(self) -> Stat:
        return _stat(os.fstat(self.fd))

    def _ident_self(self) -> tuple[int, int]:
        result = os.fstat(self.fd)
        return result.st_dev, result.st_ino

    def _set_times_self(self, atime: NewTimestamp, mtime: NewTimestamp) -> None:
        os.utime(self.fd, ns=_times(os.fstat(self.fd), atime, mtime))

    def _pread(self, length: int, offset: int) -> bytes:
        return os.pread(self.fd, length, offset)

    def _pwrite(self, data: bytes, offset: int) -> int:
        return os.pwrite(self.fd, data, offset)

    def _append(self, data: bytes) -> int:
        flag = getattr(os, "RWF_APPEND", None)
        if flag is not None:  # one atomic append, like O_APPEND (Linux >= 4.16)
            return os.pwritev(self.fd, [data], 0, flag)
        return os.pwrite(self.fd, data, os.fstat(self.fd).st_size)

    def _truncate(self, size: int) -> None:
        os.ftruncate(self.fd, size)

    def _sync(self, *, data_only: bool) -> None:
        if data_only and self.kind != "directory":
            os.fdatasync(self.fd)
        else:
            os.fsync(self.fd)

    def __repr__(self) -> str:
        return f"{super().__repr__()[:-1]} fd={self.fd}>"


class HostDir:
    """A host directory to preopen, optionally read-only.

    Nothing is held open until :meth:`root`, which opens the directory and returns a new
    :class:`HostNode` each time; its owner closes it. Everything the guest reaches is
    beneath that directory: absolute paths, ``..`` past it and symlinks leading out of it
    fail with ``not-permitted`` (see :mod:`omniwasm.wasi.fs._backend`).

    Args:
        path: the host directory.
        read_only: refuse every write and mutation (``not-permitted``, as wasmtime).

    Raises:
        FsError: the directory does not exist (``no-entry``) or is not one
            (``not-directory``).

    """

    def __init__(self, path: str | os.PathLike[str], *, read_only: bool = False) -> None:
        self.path = os.fspath(path)
        self.read_only = read_only
        try:
            mode = os.stat(self.path).st_mode
        except OSError as exc:
            raise FsError.from_os(exc) from None
        if not st.S_ISDIR(mode):
            raise FsError("not-directory", self.path)

    def root(self) -> HostNode:
        """A new descriptor for the directory itself (the preopen); close it when done.

        Raises:
            FsError: the directory cannot be opened any more.

        """
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError as exc:
            raise FsError.from_os(exc) from None
        return HostNode(
            fd, "directory", readable=True, writable=False, mutable=not self.read_only, depth=0
        )

    def __repr__(self) -> str:
        mode = "ro" if self.read_only else "rw"
        return f"HostDir({self.path!r}, {mode})"
