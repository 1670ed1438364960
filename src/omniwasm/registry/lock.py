"""``omniwasm.lock``: each reference a project resolved, pinned to the manifest digest it had.

A TOML file, meant to be committed::

    # Written by omniwasm: each reference resolved here, pinned to a manifest digest.
    version = 1

    [[artifact]]
    reference = "acme:tool@^1.2"
    resolved = "127.0.0.1:5000/acme/tool:1.2.3"
    digest = "sha256:..."

While a reference has an entry, resolving it yields that tag and digest: a range does not move
to a newer version, the content is fetched by digest (and verified), and if the registry's tag
now points at another digest the resolution fails with ``LockMismatch`` naming both (the tag
moved; ``omniwasm lock --update`` re-pins). A reference without an entry is resolved and added.
Writes replace the file atomically and are serialised between processes.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .._errors import RegistryError

__all__ = ["LockEntry", "LockFile"]

_HEADER = "# Written by omniwasm: each reference resolved here, pinned to a manifest digest.\n"


@dataclass(frozen=True, slots=True)
class LockEntry:
    """One pinned reference.

    Args:
        reference: the reference as the project writes it (``acme:tool@^1.2``).
        resolved: the OCI reference it resolved to, with its tag.
        digest: the manifest digest.

    """

    reference: str
    resolved: str
    digest: str


def _toml_string(text: str) -> str:
    # A JSON string with ASCII escapes is a valid TOML basic string.
    return json.dumps(text, ensure_ascii=True)


class LockFile:
    """An ``omniwasm.lock`` on disk (read on creation; ``record`` writes through).

    Args:
        path: the file; it need not exist yet (it is created on the first ``record``).

    Raises:
        RegistryError: the file exists but is not a valid lock file.

    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path).absolute()
        self.entries: dict[str, LockEntry] = {}
        self._load()

    def __repr__(self) -> str:
        return f"LockFile({str(self.path)!r}, {len(self.entries)} entries)"

    def _load(self) -> None:
        try:
            text = self.path.read_text()
        except FileNotFoundError:
            self.entries = {}
            return
        except OSError as exc:
            raise RegistryError(f"cannot read lock file {self.path}: {exc.strerror}") from exc
        import tomllib  # only when there is a file to read

        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise RegistryError(f"lock file {self.path} is not valid TOML ({exc})") from exc
        if data.get("version") != 1:
            version = data.get("version")
            raise RegistryError(f"lock file {self.path}: unsupported version {version!r}")
        entries: dict[str, LockEntry] = {}
        for i, item in enumerate(data.get("artifact", [])):
            fields = [
                item.get(k) if isinstance(item, dict) else None
                for k in ("reference", "resolved", "digest")
            ]
            if not all(isinstance(f, str) and f for f in fields):
                raise RegistryError(
                    f"lock file {self.path}: artifact {i} needs reference, resolved and digest"
                )
            entry = LockEntry(*fields)  # type: ignore[arg-type]
            entries[entry.reference] = entry
        self.entries = entries

    def get(self, reference: str) -> LockEntry | None:
        """The entry pinning ``reference``, if any."""
        return self.entries.get(reference)

    def record(self, entry: LockEntry) -> None:
        """Add or replace an entry and rewrite the file atomically.

        The file is re-read under an inter-process lock (a ``flock`` on a file in the temp
        directory named after this path), so concurrent writers lose no entries.
        """
        key = hashlib.sha256(str(self.path).encode()).hexdigest()[:24]
        lock_path = Path(tempfile.gettempdir()) / f"omniwasm-lockfile-{key}.lock"
        with lock_path.open("a+b") as handle:
            try:
                import fcntl
            except ImportError:  # pragma: no cover - not POSIX: the rename stays atomic
                fcntl = None  # type: ignore[assignment]
            if fcntl is not None:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            self._load()
            self.entries[entry.reference] = entry
            self._write()

    def remove(self, reference: str) -> None:
        """Drop a reference's entry (and rewrite the file)."""
        self._load()
        if self.entries.pop(reference, None) is not None:
            self._write()

    def _write(self) -> None:
        lines = [_HEADER, "version = 1\n"]
        for entry in sorted(self.entries.values(), key=lambda e: e.reference):
            lines.append("\n[[artifact]]\n")
            lines.append(f"reference = {_toml_string(entry.reference)}\n")
            lines.append(f"resolved = {_toml_string(entry.resolved)}\n")
            lines.append(f"digest = {_toml_string(entry.digest)}\n")
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".omniwasm.lock-")
        try:
            with os.fdopen(fd, "w") as f:
                f.write("".join(lines))
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
