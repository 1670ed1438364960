"""The in-memory backend of ``wasi:filesystem``: a tree built from Python, read back after.

``MemoryFs({"/data/a.txt": b"hi", "/data/out/": None})`` is a filesystem of its own; mount
it at a guest path (``filesystems={"/": fs}`` shows the guest ``/data/a.txt``) and, after
the run, read what the guest left with :meth:`MemoryFs.files` or :meth:`MemoryFs.read`.
It answers every operation as the host backend does on Linux, error codes included (the
shared rules live in :mod:`omniwasm.wasi.fs._backend`), symlinks and hard links included.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from ._backend import DirEntry, FsError, NewTimestamp, OpenRequest, Stat, split_ns, timestamp_ns
from ._node import Node

__all__ = ["MemoryFs", "MemoryNode"]

_DEVICE = 0  # one constant device: inode numbers are per filesystem and deterministic


class _Inode:
    __slots__ = ("atime", "ctime", "ino", "mtime", "nlink")
    kind = "unknown"

    def __init__(self, ino: int, now: int) -> None:
        self.ino = ino
        self.nlink = 1
        self.atime = self.mtime = self.ctime = now

    def touch(self, now: int) -> None:
        self.mtime = self.ctime = now


class _File(_Inode):
    __slots__ = ("data",)
    kind = "regular-file"

    def __init__(self, ino: int, now: int, data: bytes = b"") -> None:
        super().__init__(ino, now)
        self.data = bytearray(data)


class _Link(_Inode):
    __slots__ = ("target",)
    kind = "symbolic-link"

    def __init__(self, ino: int, now: int, target: str) -> None:
        super().__init__(ino, now)
        self.target = target


class _Dir(_Inode):
    __slots__ = ("entries", "parent", "removed")
    kind = "directory"

    def __init__(self, ino: int, now: int, parent: _Dir | None) -> None:
        super().__init__(ino, now)
        self.entries: dict[str, _Inode] = {}
        self.parent = parent
        self.removed = False


def _size(inode: _Inode) -> int:
    if isinstance(inode, _File):
        return len(inode.data)
    if isinstance(inode, _Link):
        return len(inode.target.encode())
    return 0


def _stat(inode: _Inode) -> Stat:
    links = inode.nlink
    if isinstance(inode, _Dir):  # POSIX: the entry, its "." and each child's ".."
        links = 2 + sum(isinstance(c, _Dir) for c in inode.entries.values())
    return Stat(
        type=inode.kind,
        link_count=links,
        size=_size(inode),
        access=split_ns(inode.atime),
        modification=split_ns(inode.mtime),
        status_change=split_ns(inode.ctime),
    )


class MemoryFs:
    """An in-memory filesystem, built from a mapping of paths and read back after a run.

    Keys are paths inside this filesystem (a leading ``/`` is optional); a value of bytes
    makes a file, None or a key ending in ``/`` makes a directory, and missing parent
    directories are created. The guest may make and follow symlinks (relative ones that
    stay inside, as with host directories) and hard links. Access times are not updated by
    reads, so a run leaves the same times each time under a fixed clock.

    Args:
        tree: the initial content, ``{"/data/a.txt": b"...", "/data/sub/": None}``.
        read_only: the guest may only read (``not-permitted`` otherwise).
        clock: nanoseconds since the epoch for new timestamps; settable later as
            ``fs.clock`` (the deterministic mode fixes it).
        max_file_size: the largest file a guest may make (``file-too-large`` beyond).

    Raises:
        ValueError: a key contains ``.``/``..``, or a path is both a file and a directory.
        TypeError: a value is neither bytes-like nor None.

    """

    def __init__(
        self,
        tree: Mapping[str, bytes | bytearray | memoryview | None] | None = None,
        *,
        read_only: bool = False,
        clock: Callable[[], int] = time.time_ns,
        max_file_size: int = 1 << 30,
    ) -> None:
        self.read_only = read_only
        self.clock = clock
        self.max_file_size = max_file_size
        self._next_ino = 1
        self._root = _Dir(self._ino(), clock(), None)
        for path, value in (tree or {}).items():
            self._add(path, value)

    def _ino(self) -> int:
        self._next_ino += 1
        return self._next_ino - 1

    def _add(self, path: str, value: bytes | bytearray | memoryview | None) -> None:
        parts = [p for p in path.split("/") if p]
        if any(p in (".", "..") for p in parts):
            raise ValueError(f"MemoryFs path may not contain '.' or '..': {path!r}")
        is_dir = value is None or path.endswith("/") or not parts
        if value is not None and not isinstance(value, bytes | bytearray | memoryview):
            raise TypeError(f"MemoryFs value for {path!r} must be bytes or None")
        if is_dir and value is not None:
            raise ValueError(f"MemoryFs directory {path!r} cannot have content")
        now = self.clock()
        d = self._root
        for i, name in enumerate(parts):
            last = i == len(parts) - 1
            child = d.entries.get(name)
            if last and not is_dir:
                if child is not None:
                    raise ValueError(f"MemoryFs path given twice: {path!r}")
                d.entries[name] = _File(self._ino(), now, bytes(value or b""))
                return
            if child is None:
                child = d.entries[name] = _Dir(self._ino(), now, d)
            if not isinstance(child, _Dir):
                raise ValueError(f"MemoryFs path is both a file and a directory: {path!r}")
            d = child

    def root(self) -> MemoryNode:
        """A new descriptor for the root directory (the preopen)."""
        return MemoryNode(
            self, self._root, readable=True, writable=False, mutable=not self.read_only, depth=0
        )

    def files(self) -> dict[str, bytes]:
        """Every regular file, ``{"/absolute/path": content}``, sorted by path.

        A file with several hard links appears under each of its names; symlinks and
        directories do not appear.
        """

        def walk(d: _Dir, prefix: str) -> Iterator[tuple[str, bytes]]:
            for name, child in sorted(d.entries.items()):
                if isinstance(child, _File):
                    yield prefix + name, bytes(child.data)
                elif isinstance(child, _Dir):
                    yield from walk(child, prefix + name + "/")

        return dict(walk(self._root, "/"))

    def read(self, path: str) -> bytes:
        """The content of the file at ``path`` (symlinks followed, inside the filesystem).

        Raises:
            FsError: ``no-entry``, ``is-directory``, ``not-permitted`` (an escaping link).

        """
        with self.root() as root, root.open_at(path.lstrip("/") or ".", follow=True) as node:
            if node.kind == "directory":
                raise FsError("is-directory", path)
            assert isinstance(node, MemoryNode)
            return bytes(node._data())

    def __repr__(self) -> str:
        mode = "ro" if self.read_only else "rw"
        return f"<MemoryFs {len(self.files())} files {mode}>"


class MemoryNode(Node[_Dir]):
    """An open file or directory of a :class:`MemoryFs`.

    Args:
        fs: the filesystem.
        inode: the object (file data is shared with every other descriptor of it).
        readable: see :class:`~omniwasm.wasi.fs._node.Node`.
        writable: see :class:`~omniwasm.wasi.fs._node.Node`.
        mutable: see :class:`~omniwasm.wasi.fs._node.Node`.
        depth: see :class:`~omniwasm.wasi.fs._node.Node`.

    """

    def __init__(
        self,
        fs: MemoryFs,
        inode: _Inode,
        *,
        readable: bool,
        writable: bool,
        mutable: bool,
        depth: int,
    ) -> None:
        super().__init__(
            inode.kind, readable=readable, writable=writable, mutable=mutable, depth=depth
        )
        self.fs = fs
        self.inode = inode

    def _now(self) -> int:
        return self.fs.clock()

    def _close(self) -> None:
        pass

    def _compatible(self, other: Node[Any]) -> bool:
        return isinstance(other, MemoryNode) and other.fs is self.fs

    @staticmethod
    def _get(d: _Dir, name: str) -> _Inode:
        inode = d if name == "." else d.entries.get(name)
        if inode is None:
            raise FsError("no-entry", name)
        return inode

    def _free(self, d: _Dir, name: str) -> None:
        """Check that ``name`` can be created in ``d``."""
        if d.removed:
            raise FsError("no-entry", "directory was removed")
        if name == "." or name in d.entries:
            raise FsError("exist", name)

    def _grow(self, size: int) -> None:
        if size > self.fs.max_file_size:
            raise FsError("file-too-large", f"{size} bytes")

    # -- the walk

    def _as_dir(self) -> _Dir:
        assert isinstance(self.inode, _Dir)
        return self.inode

    def _step(self, d: _Dir, name: str) -> _Dir | str:
        inode = self._get(d, name)
        if isinstance(inode, _Link):
            return inode.target
        if not isinstance(inode, _Dir):
            raise FsError("not-directory", name)
        return inode

    def _kind(self, d: _Dir, name: str) -> str | None:
        inode = d.entries.get(name)
        return None if inode is None else inode.kind

    def _readlink(self, d: _Dir, name: str) -> str:
        inode = self._get(d, name)
        if not isinstance(inode, _Link):
            raise FsError("invalid", f"{name!r} is not a symlink")
        return inode.target

    def _release(self, d: _Dir) -> None:
        pass

    # -- entries

    def _listdir(self, d: _Dir) -> list[DirEntry]:
        return [(inode.kind, name) for name, inode in d.entries.items()]

    def _stat_at(self, d: _Dir, name: str) -> Stat:
        return _stat(self._get(d, name))

    def _ident_at(self, d: _Dir, name: str) -> tuple[int, int]:
        return _DEVICE, self._get(d, name).ino

    def _set_times_at(self, d: _Dir, name: str, atime: NewTimestamp, mtime: NewTimestamp) -> None:
        self._utime(self._get(d, name), atime, mtime)

    def _utime(self, inode: _Inode, atime: NewTimestamp, mtime: NewTimestamp) -> None:
        a, m = timestamp_ns(atime, self._now), timestamp_ns(mtime, self._now)
        inode.atime = inode.atime if a is None else a
        inode.mtime = inode.mtime if m is None else m
        inode.ctime = self._now()

    def _open(self, d: _Dir, name: str, request: OpenRequest, depth: int) -> Node[_Dir]:
        inode = d if name == "." else d.entries.get(name)
        # The order of checks is Linux's open(2): EEXIST, then ELOOP/ENOTDIR, then EISDIR.
        if inode is None:
            if not request.create or d.removed:
                raise FsError("no-entry", name)
            inode = d.entries[name] = _File(self.fs._ino(), self._now())
            d.touch(self._now())
        elif request.create and request.exclusive:
            raise FsError("exist", name)
        elif isinstance(inode, _Link):
            raise FsError("not-directory" if request.directory else "loop", name)
        if isinstance(inode, _Dir):
            if request.os_write:
                raise FsError("is-directory", name)
            return MemoryNode(
                self.fs, inode, readable=True, writable=False, mutable=self._mutable, depth=depth
            )
        if request.directory:
            raise FsError("not-directory", name)
        if request.truncate and isinstance(inode, _File) and inode.data:
            inode.data.clear()
            inode.touch(self._now())
        return MemoryNode(
            self.fs,
            inode,
            readable=request.readable,
            writable=request.writable,
            mutable=self._mutable,
            depth=depth,
        )

    def _mkdir(self, d: _Dir, name: str) -> None:
        self._free(d, name)
        d.entries[name] = _Dir(self.fs._ino(), self._now(), d)
        d.touch(self._now())

    def _rmdir(self, d: _Dir, name: str) -> None:
        inode = self._get(d, name)
        if not isinstance(inode, _Dir):
            raise FsError("not-directory", name)
        if inode.entries:
            raise FsError("not-empty", name)
        del d.entries[name]
        inode.removed = True
        d.touch(self._now())

    def _unlink(self, d: _Dir, name: str) -> None:
        inode = self._get(d, name)
        if isinstance(inode, _Dir):
            raise FsError("is-directory", name)
        del d.entries[name]
        inode.nlink -= 1
        inode.ctime = self._now()
        d.touch(self._now())

    def _symlink(self, target: str, d: _Dir, name: str) -> None:
        self._free(d, name)
        d.entries[name] = _Link(self.fs._ino(), self._now(), target)
        d.touch(self._now())

    def _link(self, d: _Dir, name: str, new_d: _Dir, new_name: str) -> None:
        inode = self._get(d, name)
        self._free(new_d, new_name)
        if isinstance(inode, _Dir):
            raise FsError("not-permitted", "hard link to a directory")
        new_d.entries[new_name] = inode
        inode.nlink += 1
        inode.ctime = self._now()
        new_d.touch(self._now())

    def _rename(self, d: _Dir, name: str, new_d: _Dir, new_name: str) -> None:
        inode = self._get(d, name)
        if new_d.removed:
            raise FsError("no-entry", "directory was removed")
        old = new_d.entries.get(new_name)
        if old is inode:
            return
        if isinstance(inode, _Dir):
            parent: _Dir | None = new_d
            while parent is not None:
                if parent is inode:
                    raise FsError("invalid", "cannot move a directory into itself")
                parent = parent.parent
            if old is not None and not isinstance(old, _Dir):
                raise FsError("not-directory", new_name)
            if isinstance(old, _Dir) and old.entries:
                raise FsError("not-empty", new_name)
        elif isinstance(old, _Dir):
            raise FsError("is-directory", new_name)
        now = self._now()
        del d.entries[name]
        if isinstance(old, _Dir):
            old.removed = True
        elif old is not None:
            old.nlink -= 1
            old.ctime = now
        new_d.entries[new_name] = inode
        if isinstance(inode, _Dir):
            inode.parent = new_d
        inode.ctime = now
        d.touch(now)
        new_d.touch(now)

    # -- the open object

    def _stat_self(self) -> Stat:
        return _stat(self.inode)

    def _ident_self(self) -> tuple[int, int]:
        return _DEVICE, self.inode.ino

    def _set_times_self(self, atime: NewTimestamp, mtime: NewTimestamp) -> None:
        self._utime(self.inode, atime, mtime)

    def _data(self) -> bytearray:
        assert isinstance(self.inode, _File)
        return self.inode.data

    def _pread(self, length: int, offset: int) -> bytes:
        return bytes(self._data()[offset : offset + length])

    def _pwrite(self, data: bytes, offset: int) -> int:
        buf = self._data()
        self._grow(offset + len(data))
        if offset > len(buf):
            buf.extend(bytes(offset - len(buf)))
        buf[offset : offset + len(data)] = data
        self.inode.touch(self._now())
        return len(data)

    def _append(self, data: bytes) -> int:
        buf = self._data()
        self._grow(len(buf) + len(data))
        buf.extend(data)
        self.inode.touch(self._now())
        return len(data)

    def _truncate(self, size: int) -> None:
        buf = self._data()
        self._grow(size)
        if size < len(buf):
            del buf[size:]
        else:
            buf.extend(bytes(size - len(buf)))
        self.inode.touch(self._now())

    def _sync(self, *, data_only: bool) -> None:
        pass
