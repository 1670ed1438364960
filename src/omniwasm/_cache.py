"""The compile cache as the façade shows it: ``Runtime.cache`` and ``CacheInfo``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from . import _engine as eng
from ._errors import PolicyError

__all__ = ["Cache", "CacheInfo", "cache_dir"]


def cache_dir() -> Path:
    """The cache directory: ``$OMNIWASM_CACHE_DIR``, else ``~/.cache/omniwasm`` (XDG)."""
    return eng.default_cache_dir()


@dataclass(frozen=True, slots=True)
class CacheInfo:
    """What the cache holds.

    Args:
        path: the cache directory.
        entries: number of entries.
        size: total bytes on disk.
        max_size: the size cap (``$OMNIWASM_CACHE_MAX``, 1 GiB by default; None: no cap).

    """

    path: Path
    entries: int
    size: int
    max_size: int | None = None


class Cache:
    """A runtime's on-disk compile cache: machine code keyed by what produced it.

    Every failure to read an entry is a miss (a damaged entry is removed and recompiled), and
    entries are written atomically. ``hits``, ``misses`` and ``rejected`` count this runtime's
    lookups. The cache keeps to a size cap (``max_size``: ``$OMNIWASM_CACHE_MAX``, 1 GiB by
    default): after each write the least recently used entries are removed, one process at a
    time.
    """

    __slots__ = ("_inner",)

    def __init__(self, inner: eng.CompileCache) -> None:
        self._inner = inner

    @property
    def root(self) -> Path:
        """The cache directory in use now."""
        return self._inner.root

    @property
    def enabled(self) -> bool:
        """False when this runtime neither reads nor writes the cache."""
        return self._inner.enabled

    @property
    def hits(self) -> int:
        """Loads answered from the cache."""
        return self._inner.hits

    @property
    def misses(self) -> int:
        """Loads that compiled (no entry, or a damaged one)."""
        return self._inner.misses

    @property
    def rejected(self) -> int:
        """Damaged or unusable entries found and removed."""
        return self._inner.rejected

    @property
    def max_size(self) -> int | None:
        """The size cap in bytes (None: no cap)."""
        return self._inner.max_size

    def info(self) -> CacheInfo:
        """Count the entries and bytes in the cache directory."""
        entries, size = self._inner.usage()
        return CacheInfo(
            path=self._inner.root, entries=entries, size=size, max_size=self._inner.max_size
        )

    def prune(self, max_size: int | None = None) -> tuple[int, int]:
        """Remove least recently used entries until the cache fits; return (entries, bytes).

        Args:
            max_size: the size to fit in; by default ``max_size`` (with no cap, only temp
                files left by writers that died are removed).

        Raises:
            PolicyError: the cache directory cannot be locked or changed.

        """
        limit = max_size if max_size is not None else self._inner.max_size
        try:
            done = self._inner.prune(limit if limit is not None else 1 << 62)
        except OSError as exc:
            raise PolicyError(f"cannot prune the cache at {self.root}: {exc.strerror}") from exc
        return done.removed, done.freed

    def clear(self) -> int:
        """Delete every entry (and stray temp files); return how many entries were removed."""
        return self._inner.clear()

    def __repr__(self) -> str:
        return f"<Cache {self.root} hits={self.hits} misses={self.misses}>"
