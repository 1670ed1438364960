"""The on-disk compile cache: serialized machine code keyed by what produced it.

Layout: ``<root>/<key[:2]>/<key>.cwasm`` where ``key = sha256(kind, wasm bytes, engine
fingerprint, wasmtime version)``. Each entry is ``MAGIC + sha256(payload) + payload``; the
checksum is verified before the payload reaches wasmtime's deserializer (which trusts its
input), so a truncated, corrupted or foreign file is detected, removed and recompiled.
Writes go to a temp file in the same directory and are renamed into place, so readers never
see half an entry and concurrent writers of the same key are harmless.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from pathlib import Path

__all__ = ["CompileCache", "default_cache_dir"]

MAGIC = b"OMNIWASM-CACHE-1\n"
_DIGEST = 32


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

    """

    def __init__(self, root: Path | None = None, *, enabled: bool = True) -> None:
        self._root = root
        self.enabled = enabled
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
        except OSError:
            # A read-only or full disk must not fail the load: the code is compiled already.
            return

    def usage(self) -> tuple[int, int]:
        """Count the entries and bytes in the cache directory: ``(entries, bytes)``."""
        entries = size = 0
        root = self.root
        if root.is_dir():
            for p in root.glob("*/*.cwasm"):
                with contextlib.suppress(OSError):
                    size += p.stat().st_size
                    entries += 1
        return entries, size

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
