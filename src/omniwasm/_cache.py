"""The compile cache as the façade shows it: ``Runtime.cache`` and ``CacheInfo``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from . import _engine as eng

__all__ = ["Cache", "CacheInfo"]


@dataclass(frozen=True, slots=True)
class CacheInfo:
    """What the cache holds.

    Args:
        path: the cache directory.
        entries: number of entries.
        size: total bytes on disk.

    """

    path: Path
    entries: int
    size: int


class Cache:
    """A runtime's on-disk compile cache: machine code keyed by what produced it.

    Every failure to read an entry is a miss (a damaged entry is removed and recompiled), and
    entries are written atomically. ``hits``, ``misses`` and ``rejected`` count this runtime's
    lookups.
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

    def info(self) -> CacheInfo:
        """Count the entries and bytes in the cache directory."""
        entries, size = self._inner.usage()
        return CacheInfo(path=self._inner.root, entries=entries, size=size)

    def clear(self) -> int:
        """Delete every entry (and stray temp files); return how many entries were removed."""
        return self._inner.clear()

    def __repr__(self) -> str:
        return f"<Cache {self.root} hits={self.hits} misses={self.misses}>"
