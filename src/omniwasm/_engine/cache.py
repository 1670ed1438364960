"""The on-disk compile cache: serialized machine code keyed by what produced it.

Layout: ``<root>/<key[:2]>/<key>.cwasm`` where ``key = sha256(kind, wasm bytes, engine
fingerprint, wasmtime version)``. Each entry is ``MAGIC + sha256(payload) + payload``; the
checksum is verified before the payload reaches wasmtime's deserializer (which trusts its
input), so a truncated, corrupted or foreign file is detected, removed and recompiled.
Writes go to a temp file in the same directory and are renamed into place, so readers never
see half an entry and concurrent writers of the same key are harmless.

Size cap: ``$OMNIWASM_CACHE_MAX`` (default 1 GiB; ``unlimited`` for none). After each write the
least recently used entries are removed until the cache fits. An entry's mtime is its last use
(a hit touches it). Pruning holds an exclusive ``flock`` on ``<root>/.prune.lock`` so that
concurrent processes prune one after another, each seeing the others' writes; removing an entry
is one ``unlink``, so a reader either opened the old file (and reads it whole) or misses.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from .._errors import PolicyError
from .._policy import parse_size

__all__ = ["DEFAULT_CACHE_MAX", "CompileCache", "Pruned", "cache_max_from_env", "default_cache_dir"]

MAGIC = b"OMNIWASM-CACHE-1\n"
_DIGEST = 32
_SUFFIX = ".cwasm"
_TMP = ".tmp-"
_LOCK = ".prune.lock"
STALE_TMP_SECONDS = 3600.0
"""A temp file older than this was left by a writer that died; pruning removes it."""

DEFAULT_CACHE_MAX = 1 << 30
"""The cache's size cap unless ``$OMNIWASM_CACHE_MAX`` says otherwise: 1 GiB."""


def cache_max_from_env() -> int | None:
    """The size cap from ``$OMNIWASM_CACHE_MAX``: a size (``512MiB``), ``unlimited`` (None).

    Raises:
        PolicyError: the variable is set to something else.

    """
    text = os.environ.get("OMNIWASM_CACHE_MAX", "").strip()
    if not text:
        return DEFAULT_CACHE_MAX
    if text.lower() in ("unlimited", "none"):
        return None
    try:
        return parse_size(text)
    except PolicyError:
        raise PolicyError(
            f"OMNIWASM_CACHE_MAX: not a size: {text!r} (try 1GiB, 500MB or unlimited)"
        ) from None


@dataclass(frozen=True, slots=True)
class Pruned:
    """What one pruning pass did: entries removed, bytes freed, and what is left."""

    removed: int
    freed: int
    entries: int
    size: int


def default_cache_dir() -> Path:
    """Return the cache directory.

    ``$OMNIWASM_CACHE_DIR`` if set, else ``$XDG_CACHE_HOME/omniwasm``, else ``~/.cache/omniwasm``.
    """
    env = os.environ.get("OMNIWASM_CACHE_DIR")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "omniwasm"


def _default_root() -> str:
    """``default_cache_dir()`` as a string, without pathlib (it is on the load path)."""
    env = os.environ.get("OMNIWASM_CACHE_DIR")
    if env:
        return env
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = xdg if xdg else os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "omniwasm")


class CompileCache:
    """A directory of compiled artifacts. Every failure to read is a miss, never a crash.

    Args:
        root: the cache directory; None means ``default_cache_dir()`` at each use.
        enabled: when False every lookup misses and nothing is written.
        max_size: the size cap in bytes (None: no cap); by default ``cache_max_from_env()``.

    Raises:
        PolicyError: ``$OMNIWASM_CACHE_MAX`` is malformed.

    """

    def __init__(
        self,
        root: Path | None = None,
        *,
        enabled: bool = True,
        max_size: int | Literal["env"] | None = "env",
    ) -> None:
        self._root = root
        self.enabled = enabled
        if max_size == "env":
            max_size = cache_max_from_env() if enabled else None
        self.max_size = max_size
        self.hits = 0
        self.misses = 0
        self.rejected = 0

    @property
    def root(self) -> Path:
        """The cache directory in use now."""
        return self._root if self._root is not None else default_cache_dir()

    @staticmethod
    def key(kind: str, wasm: bytes, fingerprint: str) -> str:
        """Return the cache key of ``wasm`` compiled as ``kind`` by the engine ``fingerprint``."""
        h = hashlib.sha256()
        for part in (kind.encode(), fingerprint.encode(), wasm):
            h.update(len(part).to_bytes(8, "little"))
            h.update(part)
        return h.hexdigest()

    def _path(self, key: str) -> Path:
        return Path(self._path_str(key))

    def _path_str(self, key: str) -> str:
        root = os.fspath(self._root) if self._root is not None else _default_root()
        return os.path.join(root, key[:2], key + ".cwasm")

    def get(self, key: str) -> bytes | None:
        """Return the verified payload for ``key``, or None (missing or damaged entries miss)."""
        if not self.enabled:
            return None
        try:
            with open(self._path_str(key), "rb") as f:
                blob = f.read()
        except OSError:
            self.misses += 1
            return None
        head = len(MAGIC) + _DIGEST
        payload = blob[head:]
        if (
            len(blob) < head
            or not blob.startswith(MAGIC)
            or hashlib.sha256(payload).digest() != blob[len(MAGIC) : head]
        ):
            self.reject(key)
            return None
        self.hits += 1
        with contextlib.suppress(OSError):
            os.utime(self._path_str(key))  # its last use, for least-recently-used eviction
        return payload

    def reject(self, key: str) -> None:
        """Forget a damaged or unusable entry so that it is recompiled."""
        self.rejected += 1
        self.misses += 1
        with contextlib.suppress(OSError):
            self._path(key).unlink()

    def put(self, key: str, payload: bytes) -> None:
        """Store ``payload`` atomically; a cache that cannot be written is silently skipped."""
        if not self.enabled:
            return
        path = self._path(key)
        try:
            import tempfile  # only when writing: its imports cost a run that hits the cache

            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".cwasm")
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(MAGIC)
                    f.write(hashlib.sha256(payload).digest())
                    f.write(payload)
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(tmp, path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
            if self.max_size is not None:
                self.prune(self.max_size, keep=key)
        except OSError:
            # A read-only or full disk must not fail the load: the code is compiled already.
            return

    def _scan(self) -> tuple[list[tuple[float, int, str]], list[str]]:
        """Every entry as (mtime, size, path), and the stale temp files."""
        entries: list[tuple[float, int, str]] = []
        stale: list[str] = []
        root = os.fspath(self.root)
        now = time.time()
        try:
            shards = [d for d in os.scandir(root) if d.is_dir(follow_symlinks=False)]
        except OSError:
            return entries, stale
        for shard in shards:
            with contextlib.suppress(OSError), os.scandir(shard.path) as it:
                for item in it:
                    if not item.name.endswith(_SUFFIX):
                        continue
                    with contextlib.suppress(OSError):
                        st = item.stat(follow_symlinks=False)
                        if item.name.startswith(_TMP):
                            if now - st.st_mtime > STALE_TMP_SECONDS:
                                stale.append(item.path)
                        else:
                            entries.append((st.st_mtime, st.st_size, item.path))
        return entries, stale

    def prune(self, max_size: int, *, keep: str | None = None) -> Pruned:
        """Remove least recently used entries until the cache holds at most ``max_size`` bytes.

        Safe under concurrent processes: passes run one at a time (an exclusive ``flock``),
        and each removal is a single ``unlink``. The entry ``keep`` (the one just written) is
        never removed, even when it alone is larger than the cap. Temp files left by writers
        that died are removed too.

        Raises:
            OSError: the cache directory exists but its lock file cannot be created.

        """
        root = os.fspath(self.root)
        if not os.path.isdir(root):
            return Pruned(0, 0, 0, 0)
        import fcntl  # POSIX; only a pass that prunes needs it

        fd = os.open(os.path.join(root, _LOCK), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            entries, stale = self._scan()
            for path in stale:
                with contextlib.suppress(OSError):
                    os.unlink(path)
            total = sum(size for _, size, _ in entries)
            kept = self._path_str(keep) if keep is not None else None
            removed = freed = 0
            # oldest first; the path breaks ties so that every process agrees on the order
            for _, size, path in sorted(entries, key=lambda e: (e[0], e[2])):
                if total <= max_size:
                    break
                if path == kept:
                    continue
                try:
                    os.unlink(path)
                except FileNotFoundError:
                    pass  # removed by `cache clear` or by hand meanwhile: it is gone either way
                except OSError:
                    continue
                else:
                    removed += 1
                    freed += size
                total -= size
            return Pruned(removed, freed, len(entries) - removed, total)
        finally:
            os.close(fd)  # releases the lock

    def usage(self) -> tuple[int, int]:
        """Count the entries and bytes in the cache directory: ``(entries, bytes)``."""
        entries, _ = self._scan()
        return len(entries), sum(size for _, size, _ in entries)

    def clear(self) -> int:
        """Delete every entry (and stray temp files); return how many entries were removed."""
        removed = 0
        root = self.root
        if not root.is_dir():
            return 0
        for p in list(root.glob("*/*.cwasm")):
            with contextlib.suppress(OSError):
                is_entry = not p.name.startswith(".tmp-")
                p.unlink()
                removed += is_entry
        for d in root.iterdir():
            with contextlib.suppress(OSError):
                if d.is_dir():
                    d.rmdir()
        return removed
