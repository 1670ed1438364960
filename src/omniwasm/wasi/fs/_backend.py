"""Filesystem backends for ``wasi:filesystem@0.2.x``: their errors, types and rules.

This module holds the vocabulary (``FsError``, ``Stat``, flags, limits); the descriptor
semantics themselves are written once in :class:`~._node.Node`. A node is one
open file or directory of a backend, with the operations of the WIT
``descriptor`` resource in Python terms: offset reads and writes (the binding builds the
streams on them), ``stat``, ``open-at``, ``rename-at`` and the rest, failing with
:class:`FsError` whose ``code`` is the WIT ``error-code`` name. Two backends share it:

- :class:`~._host.HostDir`, a host directory reached only through directory
  file descriptors (``openat``-style calls with ``O_NOFOLLOW``), never through path strings;
- :class:`~._memory.MemoryFs`, a tree built from Python and read back after
  the run.

Path resolution lives here, so both backends agree on every rule:

- Paths are relative to the descriptor. An absolute path, a ``..`` above the descriptor and a
  symlink whose target is absolute or climbs above it fail with ``not-permitted`` (the WASI
  spec's rule, and what wasmtime does); more than 40 symlinks in one resolution is ``loop``.
  Symlinks are followed here, one component at a time, so the operating system never
  follows one for us. A path of :data:`MAX_PATH` bytes or more is ``name-too-long``, and one
  holding a NUL byte is ``invalid``, before any component is looked at.
- ``readlink-at`` of a symlink whose target is absolute fails with ``not-permitted``, as in
  wasmtime: such a target is a host path (only the host can make one), and no host path
  reaches a guest. A relative target is returned as it is.
- Without ``follow`` the last component is not followed (``O_NOFOLLOW``), except when the
  path ends in ``/``, which asks for a directory.
- Permissions follow wasmtime 50: under a read-only preopen, ``open-at`` asking to create,
  truncate or write, and every mutating call, fail with ``not-permitted`` (wasmtime checks
  its preopen permissions first and answers ``not-permitted``, not ``read-only``). A file
  opened without ``write`` refuses writes with ``bad-descriptor``, as the host's ``EBADF``
  does; file operations on a directory fail with ``bad-descriptor``, directory operations on
  a file with ``not-directory``. Directories opened under a preopen inherit its permissions;
  ``mutate-directory`` in the requested flags is accepted and ignored, as in wasmtime.
- ``symlink-at`` refuses an absolute target and, like wasmtime, creates a relative one that
  climbs above the preopen root; following such a link is what is refused (``not-permitted``),
  so a guest sees the same results as under native WASI.
- ``read-directory`` lists entries sorted by name, always, without ``.`` and ``..``: the
  deterministic mode needs ordered listings and sorting costs nothing worth keeping a switch.
"""

from __future__ import annotations

import errno
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "ERROR_CODES",
    "DirEntry",
    "FsError",
    "NewTimestamp",
    "OpenRequest",
    "Stat",
]

ERROR_CODES = frozenset(
    str.split(
        "access would-block already bad-descriptor busy deadlock quota exist file-too-large "
        "illegal-byte-sequence in-progress interrupted invalid io is-directory loop too-many-links "
        "message-size name-too-long no-device no-entry no-lock insufficient-memory "
        "insufficient-space not-directory not-empty not-recoverable unsupported no-tty "
        "no-such-device overflow not-permitted pipe read-only invalid-seek text-file-busy "
        "cross-device"
    )
)
"""Every case of the WIT ``error-code`` enum."""

_ERRNO_NAMES = str.split(  # errno -> error-code as wasmtime maps them, plus what it lacks
    "EACCES access EAGAIN would-block EALREADY already EBADF bad-descriptor EBUSY busy "
    "EDEADLK deadlock EDQUOT quota EEXIST exist EFBIG file-too-large "
    "EILSEQ illegal-byte-sequence EINPROGRESS in-progress EINTR interrupted EINVAL invalid "
    "EIO io EISDIR is-directory ELOOP loop EMLINK too-many-links EMSGSIZE message-size "
    "ENAMETOOLONG name-too-long ENODEV no-device ENOENT no-entry ENOLCK no-lock "
    "ENOMEM insufficient-memory ENOSPC insufficient-space ENOSYS unsupported "
    "ENOTDIR not-directory ENOTEMPTY not-empty ENOTRECOVERABLE not-recoverable "
    "ENOTSUP unsupported EOPNOTSUPP unsupported ENOTTY no-tty ENXIO no-such-device "
    "EOVERFLOW overflow EPERM not-permitted EPIPE pipe EROFS read-only ESPIPE invalid-seek "
    "ETXTBSY text-file-busy EXDEV cross-device"
)
_ERRNO = {
    getattr(errno, n): c
    for n, c in zip(_ERRNO_NAMES[::2], _ERRNO_NAMES[1::2], strict=True)
    if hasattr(errno, n)
}

SYNC_FLAGS = frozenset(("file-integrity-sync", "data-integrity-sync", "requested-write-sync"))
DESCRIPTOR_FLAGS = frozenset(("read", "write", "mutate-directory", *SYNC_FLAGS))
OPEN_FLAGS = frozenset(("create", "directory", "exclusive", "truncate"))
ADVICE = frozenset(("normal", "sequential", "random", "will-need", "dont-need", "no-reuse"))
MAX_SYMLINKS = 40
MAX_NAME = 255
MAX_PATH = 4096
"""Paths (and symlink targets) of this many bytes or more fail with ``name-too-long``: Linux's
``PATH_MAX``, which wasmtime's WASI meets before it looks at any component."""
MAX_READ = 1 << 20
"""The most one ``read`` returns (a short read; a guest asking for 2**63 bytes gets this)."""
MAX_OFFSET = 2**63 - 1

Timestamp = tuple[int, int]
NewTimestamp = None | Literal["now"] | Timestamp
"""A WIT ``new-timestamp``: None (no change), ``"now"``, or ``(seconds, nanoseconds)``."""
DirEntry = tuple[str, str]
"""A ``directory-entry``: ``(descriptor-type, name)``."""


class FsError(Exception):
    """A filesystem operation failed with a WIT ``error-code``.

    ``code`` is the kebab-case case name (``"no-entry"``, ``"not-permitted"``...), exactly
    what the binding returns to the guest; ``detail`` is for humans.

    Args:
        code: a member of :data:`ERROR_CODES`.
        detail: what failed, for messages and logs.

    Raises:
        ValueError: ``code`` is not a WIT error code.

    """

    def __init__(self, code: str, detail: str = "") -> None:
        if code not in ERROR_CODES:
            raise ValueError(f"not a wasi:filesystem error-code: {code!r}")
        super().__init__(code, detail)
        self.code = code
        self.detail = detail

    @classmethod
    def from_os(cls, exc: OSError) -> FsError:
        """The error for a host ``OSError``, by its ``errno`` (``io`` if WASI has no name)."""
        return cls(_ERRNO.get(exc.errno or 0, "io"), exc.strerror or "")

    def __str__(self) -> str:
        return f"{self.code}: {self.detail}" if self.detail else self.code

    def __repr__(self) -> str:
        return f"FsError({self.code!r}, {self.detail!r})"


@dataclass(frozen=True, slots=True)
class Stat:
    """A WIT ``descriptor-stat``.

    Timestamps are ``(seconds, nanoseconds)`` since the Unix epoch, or None where the backend
    keeps none (or the time is before 1970, which the WIT ``datetime`` cannot express).
    """

    type: str
    link_count: int
    size: int
    access: Timestamp | None
    modification: Timestamp | None
    status_change: Timestamp | None


def split_ns(ns: int) -> Timestamp | None:
    """Nanoseconds since the epoch as a WIT ``datetime`` pair (None before 1970)."""
    return None if ns < 0 else divmod(ns, 1_000_000_000)


def timestamp_ns(value: NewTimestamp, now: Callable[[], int]) -> int | None:
    """A ``new-timestamp`` in nanoseconds: None for no change, ``now()`` for ``"now"``.

    Raises:
        FsError: ``invalid`` for anything else than the three forms, or nanoseconds >= 1e9.

    """
    if value is None:
        return None
    if value == "now":
        return now()
    if isinstance(value, tuple) and len(value) == 2:
        seconds, nanos = value
        ints = isinstance(seconds, int) and isinstance(nanos, int)
        if ints and 0 <= nanos < 10**9 and 0 <= seconds <= MAX_OFFSET // 10**9:
            return int(seconds * 10**9 + nanos)
    raise FsError("invalid", f"bad timestamp {value!r}")


def check_times(*values: NewTimestamp) -> None:
    for value in values:
        timestamp_ns(value, int)


@dataclass(frozen=True, slots=True)
class OpenRequest:
    """What ``open-at`` asks of a backend, after the shared checks.

    ``readable``/``writable`` are the descriptor's own rights (``create`` implies
    ``writable``, as in wasmtime); ``os_write`` is whether the object must be opened for
    writing (``truncate`` needs it too).
    """

    create: bool
    exclusive: bool
    truncate: bool
    directory: bool
    readable: bool
    writable: bool

    @property
    def os_write(self) -> bool:
        """Whether the backend must open the object for writing."""
        return self.writable or self.truncate
