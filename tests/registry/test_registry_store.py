"""The content-addressed store: atomic, verified on every read, safe between processes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from fixtures.registry_server import env_for_subprocess
from omniwasm.registry import DigestMismatch, RegistryError, Store, sha256_digest


def test_put_then_read_returns_the_bytes(tmp_path: Path) -> None:
    """A blob put in is read back byte for byte under its sha256 name."""
    store = Store(tmp_path)
    digest = store.put(b"hello")
    assert digest == sha256_digest(b"hello")
    assert store.read(digest) == b"hello"
    assert store.blob_path(digest).name == digest.removeprefix("sha256:")


def test_put_with_the_wrong_digest_keeps_nothing(tmp_path: Path) -> None:
    """Content that does not hash to the digest given is refused and leaves no file."""
    store = Store(tmp_path)
    wrong = sha256_digest(b"other")
    with pytest.raises(DigestMismatch) as info:
        store.put(b"hello", wrong)
    assert info.value.expected == wrong
    assert not store.has(wrong)
    assert list((tmp_path / "tmp").iterdir()) == []


def test_a_truncated_write_is_not_published(tmp_path: Path) -> None:
    """A writer given fewer bytes than its descriptor's size commits nothing."""
    store = Store(tmp_path)
    data = b"x" * 1000
    digest = sha256_digest(data)
    with store.writer(digest, len(data), reference="r", what="layer") as w:
        w.write(data[:600])
        with pytest.raises(DigestMismatch, match="truncated: got 600 of 1000"):
            w.commit()
    assert not store.has(digest)
    assert list((tmp_path / "tmp").iterdir()) == []


def test_a_writer_abandoned_by_an_exception_leaves_no_file(tmp_path: Path) -> None:
    """An exception inside ``with store.writer(...)`` discards the temp file."""
    store = Store(tmp_path)
    digest = sha256_digest(b"abc")

    def interrupted() -> None:
        with store.writer(digest, 3) as w:
            w.write(b"ab")
            raise RuntimeError("connection lost")

    with pytest.raises(RuntimeError):
        interrupted()
    assert not store.has(digest)
    assert list((tmp_path / "tmp").iterdir()) == []


def test_a_writer_refuses_more_bytes_than_announced(tmp_path: Path) -> None:
    """A blob growing past its descriptor's size fails at once (no unbounded download)."""
    store = Store(tmp_path)
    with store.writer(sha256_digest(b"abc"), 3) as w, pytest.raises(DigestMismatch, match="longer"):
        w.write(b"abcd")


def test_a_corrupted_blob_is_detected_on_read_and_removed(tmp_path: Path) -> None:
    """A stored blob changed on disk fails its read with DigestMismatch and is deleted."""
    store = Store(tmp_path)
    digest = store.put(b"A" * 4096)
    path = store.blob_path(digest)
    path.chmod(0o644)
    with path.open("r+b") as f:
        f.seek(100)
        f.write(b"B")
    with pytest.raises(DigestMismatch, match="corrupted") as info:
        store.read(digest, reference="demo:app@1.0.0")
    assert "demo:app@1.0.0" in str(info.value)
    assert not store.has(digest)


def test_verify_streams_and_detects_corruption(tmp_path: Path) -> None:
    """``verify`` hashes a large blob in chunks and catches a flipped byte at its end."""
    store = Store(tmp_path)
    data = b"z" * (3 << 20)
    digest = store.put(data)
    assert store.verify(digest) == store.blob_path(digest)
    path = store.blob_path(digest)
    path.chmod(0o644)
    with path.open("r+b") as f:
        f.seek(len(data) - 1)
        f.write(b"y")
    with pytest.raises(DigestMismatch):
        store.verify(digest)
    assert not path.exists()


def test_reading_a_missing_blob_is_a_registry_error(tmp_path: Path) -> None:
    """A blob that was never stored is reported, not an OSError."""
    with pytest.raises(RegistryError, match="not in the store"):
        Store(tmp_path).read(sha256_digest(b"never"))


@pytest.mark.parametrize("digest", ["md5:abc", "sha256:XYZ", "sha256:" + "0" * 63, "../etc"])
def test_bad_digests_never_become_paths(tmp_path: Path, digest: str) -> None:
    """Only ``sha256:<64 hex>`` names a blob (no path traversal through a digest)."""
    with pytest.raises(RegistryError, match="unsupported digest"):
        Store(tmp_path).blob_path(digest)


def test_tags_are_remembered_per_registry_and_repository(tmp_path: Path) -> None:
    """A tag's digest is kept per registry and repository, and nested repositories don't clash."""
    store = Store(tmp_path)
    a, b = sha256_digest(b"a"), sha256_digest(b"b")
    store.set_tag("127.0.0.1:5000", "demo", "b", a)
    store.set_tag("127.0.0.1:5000", "demo/b", "1.0", b)
    store.set_tag("other:5000", "demo", "b", b)
    assert store.get_tag("127.0.0.1:5000", "demo", "b") == a
    assert store.get_tag("127.0.0.1:5000", "demo/b", "1.0") == b
    assert store.get_tag("other:5000", "demo", "b") == b
    assert store.get_tag("127.0.0.1:5000", "demo", "missing") is None
    assert store.tags("127.0.0.1:5000", "demo") == ["b"]


_WRITER = """
import sys
from omniwasm.registry import Store, sha256_digest
store = Store(sys.argv[1])
data = bytes(range(256)) * 40000  # 10 MB, the same in every process
digest = sha256_digest(data)
for _ in range(5):
    with store.lock(digest):
        if not store.has(digest):
            with store.writer(digest, len(data)) as w:
                for i in range(0, len(data), 65536):
                    w.write(data[i : i + 65536])
                w.commit()
    assert store.read(digest) == data
print(digest)
"""


def test_concurrent_processes_share_one_store(tmp_path: Path) -> None:
    """Four processes writing and reading the same blob all see whole, identical content."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(tmp_path)],
            env=env_for_subprocess(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    results = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0, 0], results
    digests = {out.strip() for out, _ in results}
    assert len(digests) == 1
    store = Store(tmp_path)
    assert store.verify(digests.pop())
    assert list((tmp_path / "tmp").iterdir()) == []


def test_copy_to_verifies_in_one_pass_and_writes_nothing_on_mismatch(tmp_path: Path) -> None:
    """``copy_to`` writes a good blob; a damaged one leaves no output file and is removed."""
    store = Store(tmp_path / "s")
    data = b"w" * (2 << 20)
    digest = store.put(data)
    assert store.copy_to(digest, tmp_path / "out.wasm").read_bytes() == data
    path = store.blob_path(digest)
    path.chmod(0o644)
    with path.open("r+b") as f:
        f.write(b"x")
    with pytest.raises(DigestMismatch):
        store.copy_to(digest, tmp_path / "again.wasm")
    assert not (tmp_path / "again.wasm").exists()
    assert not store.has(digest)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


@pytest.mark.parametrize("kernel_copy", [True, False])
def test_unverified_copy_is_whole_with_or_without_kernel_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kernel_copy: bool
) -> None:
    """``copy_to(verify=False)`` writes every byte, also where ``copy_file_range`` fails."""
    import os

    store = Store(tmp_path / "s")
    data = os.urandom(3 << 20)
    digest = store.put(data)
    if not kernel_copy:

        def refuse(*args: object) -> int:
            raise OSError(18, "Invalid cross-device link")

        monkeypatch.setattr(os, "copy_file_range", refuse)
    out = store.copy_to(digest, tmp_path / "out.wasm", verify=False)
    assert out.read_bytes() == data
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
