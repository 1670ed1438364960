"""Blob uploads: monolithic, or chunked with resume.

A blob up to the client's ``monolithic_limit`` goes in one ``PUT``; a larger one in ``PATCH``
chunks of ``chunk_size``. A chunked upload records its session (URL and offset) in the store
after each chunk, so an interrupted push resumes: within the call, after a dropped connection,
by asking the registry how much it has (``GET`` on the session answers ``Range``); across
processes, from the recorded session. A session the registry has forgotten starts over. The
registry checks the digest on the final ``PUT``.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .._errors import RegistryError
from .session import Session
from .store import Store
from .transport import TransportError, with_param

__all__ = ["upload_blob"]

_UPLOAD_ATTEMPTS = 3


def upload_blob(
    session: Session,
    store: Store,
    repository: str,
    digest: str,
    source: bytes | Path,
    *,
    reference: str,
    chunked: bool,
    chunk_size: int,
    progress: Callable[[int, int], None] | None = None,
) -> None:
    """Upload one blob the registry does not have (see the module docstring).

    Args:
        session: the registry.
        store: where a chunked upload records its session.
        repository: the target repository.
        digest: the blob's digest.
        source: the bytes, or a file holding them.
        reference: named in errors.
        chunked: chunked (resumable) rather than one ``PUT``.
        chunk_size: bytes per ``PATCH``.
        progress: called with ``(bytes the registry holds, size)`` after each chunk; an
            exception it raises stops the upload between chunks (resumable later).

    Raises:
        RegistryError: the upload failed (after resuming attempts) or was rejected.

    """
    size = len(source) if isinstance(source, bytes) else source.stat().st_size
    upload = _Upload(session, repository, digest, reference)
    if not chunked:
        data = source if isinstance(source, bytes) else source.read_bytes()
        upload.finish(upload.start(), content=data)
        if progress is not None:
            progress(size, size)
        return
    state_path = store.upload_state_path(f"{session.registry}/{repository}@{digest}")
    location, offset = upload.resume_point(state_path)
    if location is None:
        location, offset = upload.start(), 0
    failures = 0
    with _open_source(source) as read_at:
        while offset < size:
            chunk = read_at(offset, min(chunk_size, size - offset))
            try:
                response = session.request(
                    "PATCH",
                    location,
                    content=chunk,
                    headers={
                        "Content-Type": "application/octet-stream",
                        "Content-Range": f"{offset}-{offset + len(chunk) - 1}",
                    },
                )
            except TransportError as exc:
                failures += 1
                if failures >= _UPLOAD_ATTEMPTS:
                    raise RegistryError(
                        f"upload of {digest} interrupted at byte {offset} of {size}: {exc}",
                        reference,
                    ) from exc
                time.sleep(0.2 * failures)
                held = upload.reachable_status(location)
                if held is None:
                    location, offset = upload.start(), 0
                else:
                    offset = held
                continue
            if response.status_code == 416:
                held = upload.status(location)
                if held is None:
                    raise RegistryError("the registry dropped the upload session", reference)
                offset = held
                continue
            session.check(response, reference, f"uploading {digest}")
            location = session.location(response, reference)
            offset += len(chunk)
            store.write_small(state_path, json.dumps({"location": location, "offset": offset}))
            if progress is not None:
                progress(offset, size)
    upload.finish(location)
    state_path.unlink(missing_ok=True)


class _Upload:
    """The requests of one blob's upload session."""

    def __init__(self, session: Session, repository: str, digest: str, reference: str) -> None:
        self.session = session
        self.repository = repository
        self.digest = digest
        self.reference = reference

    def start(self) -> str:
        """Open an upload session; its URL."""
        response = self.session.send(
            "POST",
            self.session.url(f"{self.repository}/blobs/uploads/"),
            self.reference,
            "starting an upload",
            ok=(202,),
            headers={"Content-Length": "0"},
        )
        return self.session.location(response, self.reference)

    def finish(self, location: str, *, content: bytes = b"") -> None:
        """Close the session with the digest (and the last bytes, or all of a monolithic one)."""
        self.session.send(
            "PUT",
            with_param(location, "digest", self.digest),
            self.reference,
            f"completing the upload of {self.digest}",
            ok=(201, 204),
            content=content,
            headers={"Content-Type": "application/octet-stream"},
        )

    def status(self, location: str) -> int | None:
        """How many bytes the registry holds for the session; None if it forgot it."""
        with self.session.errors(self.reference):
            response = self.session.request("GET", location)
        if response.status_code in (404, 400):
            return None
        self.session.check(response, self.reference, "upload status")
        rng = response.headers.get("Range", "")
        if not rng:
            return 0
        _, _, end = rng.partition("-")
        try:
            return int(end) + 1
        except ValueError:
            return None

    def reachable_status(self, location: str) -> int | None:
        """``status``, or None when the registry cannot be asked either."""
        try:
            return self.status(location)
        except RegistryError:
            return None

    def resume_point(self, state_path: Path) -> tuple[str | None, int]:
        """The recorded session of an earlier attempt and how far the registry has it."""
        try:
            state = json.loads(state_path.read_text())
            location = str(state["location"])
        except (OSError, ValueError, KeyError, TypeError):
            return None, 0
        if not location.startswith(self.session.base + "/"):
            return None, 0
        held = self.reachable_status(location)
        if held is None:
            state_path.unlink(missing_ok=True)
            return None, 0
        return location, held  # the registry's count is the truth


@contextmanager
def _open_source(source: bytes | Path) -> Iterator[Any]:
    """A ``read_at(offset, n)`` over bytes or a file."""
    if isinstance(source, bytes):
        view = memoryview(source)
        yield lambda offset, n: bytes(view[offset : offset + n])
        return
    fd = os.open(source, os.O_RDONLY)
    try:
        yield lambda offset, n: os.pread(fd, n, offset)
    finally:
        os.close(fd)
