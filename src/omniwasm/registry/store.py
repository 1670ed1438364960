"""The local content-addressed store: blobs named by their sha256, tags remembered for offline use.

Layout under the root (``$OMNIWASM_STORE_DIR``, else ``<cache dir>/registry``)::

    blobs/sha256/<hex>              content (manifests, configs, components), read-only files
    refs/<registry>/<repo>/_tags/<tag>  the manifest digest a tag had when last resolved
    uploads/<key>.json              an unfinished upload's session URL and offset (resume)
    tmp/                            files being written; renamed into place when complete

Every write goes to a fresh file in ``tmp/`` (same file system), is hashed as it is written,
checked against the digest it must have, flushed, and then ``os.replace``-d into place: a reader
sees a whole blob or none, and a crashed or interrupted writer leaves only a stray temp file
(cleared on the next ``Store`` open after an hour). Every read hashes the content again and
compares; a blob that no longer matches its name is deleted and reported as ``DigestMismatch``,
so a corrupted file never reaches the engine and the next fetch replaces it. Concurrent
processes may write the same blob: each writes its own temp file and the renames are atomic, so
the last one wins with identical content. ``lock()`` serialises fetches of one digest across
processes (``fcntl.flock``) so they download it once.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO
from urllib.parse import quote

from .._errors import DigestMismatch, RegistryError

__all__ = ["BlobWriter", "Store", "default_store_dir", "sha256_digest"]

_HEX = re.compile(r"^[a-f0-9]{64}$")
_STALE_TMP_SECONDS = 3600
_READ_CHUNK = 1 << 20


def sha256_digest(data: bytes | bytearray | memoryview) -> str:
    """The OCI digest of ``data``: ``sha256:<hex>``."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def default_store_dir() -> Path:
    """``$OMNIWASM_STORE_DIR``, else ``registry/`` in omniwasm's cache directory.

    The cache directory is ``$OMNIWASM_CACHE_DIR``, else ``$XDG_CACHE_HOME/omniwasm``, else
    ``~/.cache/omniwasm`` (the compile cache's own rule).
    """
    env = os.environ.get("OMNIWASM_STORE_DIR")
    if env:
        return Path(env)
    cache = os.environ.get("OMNIWASM_CACHE_DIR")
    if cache:
        return Path(cache) / "registry"
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "omniwasm" / "registry"


def _hex_of(digest: str) -> str:
    algo, _, hexpart = digest.partition(":")
    if algo != "sha256" or not _HEX.match(hexpart):
        raise RegistryError(f"unsupported digest {digest!r} (only sha256:<64 hex> is)")
    return hexpart


class BlobWriter:
    """A blob being written: feed it chunks, then ``commit()`` checks and publishes it.

    Made by ``Store.writer()``; use it as a context manager so an exception discards the
    temp file. ``commit()`` raises ``DigestMismatch`` if the bytes do not hash to the expected
    digest or their count is not the expected size (a truncated download), leaving nothing.
    """

    def __init__(
        self, store: Store, digest: str, size: int | None, reference: str, what: str
    ) -> None:
        self._store = store
        self.digest = digest
        self._hex = _hex_of(digest)
        self.size = size
        self._reference = reference
        self._what = what
        self._hash = hashlib.sha256()
        self.written = 0
        fd, tmp = tempfile.mkstemp(dir=store.root / "tmp", prefix=f"{self._hex[:16]}-")
        self._tmp = Path(tmp)
        self._file: IO[bytes] | None = os.fdopen(fd, "wb")

    def write(self, chunk: bytes | memoryview) -> None:
        """Append ``chunk``; fails as soon as the blob grows past its expected size."""
        assert self._file is not None, "blob writer already closed"
        self.written += len(chunk)
        if self.size is not None and self.written > self.size:
            raise DigestMismatch(
                f"{self._what} is longer than its descriptor's {self.size} bytes",
                self._reference,
                expected=self.digest,
            )
        self._hash.update(chunk)
        self._file.write(chunk)

    def commit(self) -> Path:
        """Check size and digest, then move the blob into place; return its path."""
        assert self._file is not None, "blob writer already closed"
        file, self._file = self._file, None
        try:
            file.flush()
            os.fsync(file.fileno())
        finally:
            file.close()
        actual = "sha256:" + self._hash.hexdigest()
        if self.size is not None and self.written != self.size:
            self.discard()
            raise DigestMismatch(
                f"{self._what} truncated: got {self.written} of {self.size} bytes",
                self._reference,
                expected=self.digest,
                actual=actual,
            )
        if actual != self.digest:
            self.discard()
            raise DigestMismatch(
                f"{self._what} does not match its digest (got {actual})",
                self._reference,
                expected=self.digest,
                actual=actual,
            )
        final = self._store.blob_path(self.digest)
        os.chmod(self._tmp, 0o444)
        os.replace(self._tmp, final)
        return final

    def discard(self) -> None:
        """Drop the temp file (idempotent)."""
        if self._file is not None:
            self._file.close()
            self._file = None
        with contextlib.suppress(FileNotFoundError):
            self._tmp.unlink()

    def __enter__(self) -> BlobWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.discard()


class Store:
    """A content-addressed blob store on the local disk, safe to share between processes.

    Args:
        root: the directory (created if missing); default ``default_store_dir()``.

    """

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        self.root = Path(root) if root is not None else default_store_dir()
        for sub in ("blobs/sha256", "refs", "tmp", "uploads", "locks"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self._clear_stale_tmp()

    def __repr__(self) -> str:
        return f"Store({str(self.root)!r})"

    def _clear_stale_tmp(self) -> None:
        cutoff = time.time() - _STALE_TMP_SECONDS
        for entry in (self.root / "tmp").iterdir():
            with contextlib.suppress(OSError):
                if entry.stat().st_mtime < cutoff:
                    entry.unlink()

    # -- blobs ------------------------------------------------------------------------------

    def blob_path(self, digest: str) -> Path:
        """Where the blob named ``digest`` lives (it may not exist)."""
        return self.root / "blobs" / "sha256" / _hex_of(digest)

    def has(self, digest: str) -> bool:
        """Whether a blob of that name is present (not verified: ``read`` verifies)."""
        return self.blob_path(digest).is_file()

    def writer(
        self, digest: str, size: int | None = None, *, reference: str = "", what: str = "blob"
    ) -> BlobWriter:
        """Start writing the blob ``digest``; see ``BlobWriter``."""
        return BlobWriter(self, digest, size, reference, what)

    def put(self, data: bytes | bytearray | memoryview, digest: str | None = None) -> str:
        """Store ``data`` (checked against ``digest`` when given); return its digest."""
        digest = digest or sha256_digest(data)
        with self.writer(digest, len(data)) as w:
            w.write(memoryview(data))
            w.commit()
        return digest

    def read(self, digest: str, *, reference: str = "") -> bytes:
        """Return the blob's bytes after checking they still hash to ``digest``.

        Raises:
            RegistryError: no such blob (``ArtifactNotFound`` is the caller's to raise).
            DigestMismatch: the file on disk was changed or damaged; it is deleted.

        """
        path = self.blob_path(digest)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise RegistryError(f"blob {digest} is not in the store", reference) from None
        actual = sha256_digest(data)
        if actual != digest:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            raise DigestMismatch(
                f"stored blob {digest} is corrupted (it hashes to {actual}); removed it",
                reference,
                expected=digest,
                actual=actual,
            )
        return data

    def verify(self, digest: str, *, reference: str = "") -> Path:
        """Check a stored blob by streaming it through sha256; return its path.

        Raises:
            RegistryError: no such blob.
            DigestMismatch: the content no longer matches; the file is deleted.

        """
        path = self.blob_path(digest)
        h = hashlib.sha256()
        try:
            with path.open("rb") as f:
                while chunk := f.read(_READ_CHUNK):
                    h.update(chunk)
        except FileNotFoundError:
            raise RegistryError(f"blob {digest} is not in the store", reference) from None
        actual = "sha256:" + h.hexdigest()
        if actual != digest:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            raise DigestMismatch(
                f"stored blob {digest} is corrupted (it hashes to {actual}); removed it",
                reference,
                expected=digest,
                actual=actual,
            )
        return path

    def copy_to(
        self, digest: str, dest: str | os.PathLike[str], *, verify: bool = True, reference: str = ""
    ) -> Path:
        """Write the blob to ``dest`` atomically (temp file beside it, then rename).

        With ``verify`` the content is hashed as it is copied, in one pass; on a mismatch the
        stored blob and the temp file are removed and nothing appears at ``dest``.

        Raises:
            RegistryError: no such blob, or ``dest`` cannot be written.
            DigestMismatch: the stored blob is damaged.

        """
        src, out = self.blob_path(digest), Path(dest)
        try:
            fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}-")
        except OSError as exc:
            raise RegistryError(f"cannot write {out}: {exc.strerror}", reference) from exc
        try:
            with os.fdopen(fd, "wb") as dst:
                try:
                    reader = src.open("rb")
                except FileNotFoundError:
                    raise RegistryError(f"blob {digest} is not in the store", reference) from None
                with reader:
                    if verify:
                        h = hashlib.sha256()
                        while chunk := reader.read(_READ_CHUNK):
                            h.update(chunk)
                            dst.write(chunk)
                        actual = "sha256:" + h.hexdigest()
                        if actual != digest:
                            src.unlink(missing_ok=True)
                            raise DigestMismatch(
                                f"stored blob {digest} is corrupted (it hashes to {actual}); "
                                "removed it",
                                reference,
                                expected=digest,
                                actual=actual,
                            )
                    else:
                        _copy_file(reader, dst)
            os.replace(tmp, out)
        except OSError as exc:
            Path(tmp).unlink(missing_ok=True)
            raise RegistryError(f"cannot write {out}: {exc.strerror}", reference) from exc
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return out

    def remove(self, digest: str) -> bool:
        """Delete a blob; return whether it was there."""
        try:
            self.blob_path(digest).unlink()
        except FileNotFoundError:
            return False
        return True

    @contextlib.contextmanager
    def lock(self, name: str) -> Iterator[None]:
        """Hold an exclusive inter-process lock named ``name`` (a digest or any key)."""
        path = self.root / "locks" / (quote(name, safe="") + ".lock")
        with path.open("a+b") as f:
            try:
                import fcntl
            except ImportError:  # pragma: no cover - not POSIX: writes stay atomic, may repeat
                yield
                return
            fcntl.flock(f.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f.fileno(), fcntl.LOCK_UN)

    # -- tags -------------------------------------------------------------------------------

    def _ref_dir(self, registry: str, repository: str) -> Path:
        # "_tags" cannot be a repository path component (they start with [a-z0-9]), so the
        # tags of repo "a" never collide with the folder of repo "a/b".
        return self.root / "refs" / quote(registry, safe="") / repository / "_tags"

    def set_tag(self, registry: str, repository: str, tag: str, digest: str) -> None:
        """Remember that ``registry/repository:tag`` pointed at manifest ``digest``."""
        _hex_of(digest)
        folder = self._ref_dir(registry, repository)
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.root / "tmp", prefix="ref-")
        with os.fdopen(fd, "w") as f:
            f.write(digest + "\n")
        os.replace(tmp, folder / tag)

    def get_tag(self, registry: str, repository: str, tag: str) -> str | None:
        """The manifest digest last seen for a tag, or None."""
        try:
            text = (self._ref_dir(registry, repository) / tag).read_text().strip()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return None
        try:
            _hex_of(text)
        except RegistryError:
            return None
        return text

    def tags(self, registry: str, repository: str) -> list[str]:
        """The tags of a repository this store has seen (for offline version resolution)."""
        folder = self._ref_dir(registry, repository)
        if not folder.is_dir():
            return []
        return sorted(p.name for p in folder.iterdir() if p.is_file())

    # -- upload sessions --------------------------------------------------------------------

    def upload_state_path(self, key: str) -> Path:
        """Where an unfinished upload keyed by ``key`` records its session."""
        return self.root / "uploads" / (hashlib.sha256(key.encode()).hexdigest()[:32] + ".json")

    def write_small(self, path: Path, text: str) -> None:
        """Write a small text file atomically (temp file and rename)."""
        fd, tmp = tempfile.mkstemp(dir=self.root / "tmp", prefix="state-")
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)


def _copy_file(src: IO[bytes], dst: IO[bytes]) -> None:
    """Copy a whole file, inside the kernel where it can, else through a buffer.

    ``copy_file_range`` never passes the bytes through Python, and on file systems that share
    extents it makes a reflink.
    """
    copy_range = getattr(os, "copy_file_range", None)
    if copy_range is not None:
        try:
            while copy_range(src.fileno(), dst.fileno(), 1 << 30):
                pass
            return
        except OSError:  # EXDEV, ENOSYS, EINVAL on some file systems: fall back from the start
            src.seek(0)
            dst.seek(0)
            dst.truncate()
    shutil.copyfileobj(src, dst, _READ_CHUNK)
