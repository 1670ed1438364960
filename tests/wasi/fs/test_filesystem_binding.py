"""The wasi:filesystem binding: every descriptor method, as the guest sees it (WIT shapes).

The backends are tested in ``test_fs_backends.py`` and the C guest drives the common paths;
here each WIT method of ``descriptor`` and ``directory-entry-stream`` is called on the binding
over a MemoryFs, checking the WIT values it returns (records, flags, variants) and that
backend failures arrive as the ``error-code`` raised in ``omniwasm.Err``.
"""

from __future__ import annotations

from typing import Any

import pytest

from omniwasm import Err, Variant
from omniwasm.wasi import MemoryFs
from omniwasm.wasi.fs._binding import FILESYSTEM_INTERFACES, Descriptor

FOLLOW = {"symlink-follow"}
RW = {"read", "write"}


@pytest.fixture
def fs() -> MemoryFs:
    """A small tree: a.txt and an empty directory sub/."""
    return MemoryFs({"a.txt": b"hello", "sub/": None}, clock=lambda: 1_000_000_007)


@pytest.fixture
def root(fs: MemoryFs) -> Descriptor:
    """The binding's root descriptor over the tree."""
    return Descriptor(fs.root())


def err_code(fn: Any) -> Any:
    """The error-code case ``fn()`` fails with."""
    with pytest.raises(Err) as info:
        fn()
    return info.value.value


def test_read_write_and_streams(root: Descriptor, fs: MemoryFs) -> None:
    """read/write at offsets and the three stream forms move the file's bytes."""
    f = root.open_at(set(), "a.txt", set(), RW)
    assert f.read(3, 1) == (b"ell", False)
    assert f.read(10, 5) == (b"", True)
    assert f.write(b"J", 0) == 1
    out = f.write_via_stream(5)
    out.write(b" world")
    app = f.append_via_stream()
    app.blocking_write_and_flush(b"!")
    stream = f.read_via_stream(0)
    assert stream.read(100) == b"Jello world!"
    assert fs.read("a.txt") == b"Jello world!"


def test_type_flags_stat_and_size(root: Descriptor) -> None:
    """get-type, get-flags, stat and set-size report and change the file as the WIT says."""
    f = root.open_at(set(), "a.txt", set(), RW)
    assert f.get_type() == "regular-file"
    assert {"read", "write"} <= f.get_flags()
    f.set_size(2)
    st = f.stat()
    assert (st["type"], st["size"], st["link-count"]) == ("regular-file", 2, 1)
    assert st["data-modification-timestamp"] == {"seconds": 1, "nanoseconds": 7}
    assert root.get_type() == "directory"
    f.sync_data()
    f.sync()
    f.advise(0, 2, "sequential")


def test_set_times_takes_new_timestamp_variants(root: Descriptor) -> None:
    """set-times and set-times-at take no-change, now and a timestamp record."""
    when = Variant("timestamp", {"seconds": 42, "nanoseconds": 5})
    root.set_times_at(set(), "a.txt", Variant("no-change"), when)
    st = root.stat_at(set(), "a.txt")
    assert st["data-modification-timestamp"] == {"seconds": 42, "nanoseconds": 5}
    f = root.open_at(set(), "a.txt", set(), RW)
    f.set_times(when, Variant("now"))
    assert f.stat()["data-access-timestamp"] == {"seconds": 42, "nanoseconds": 5}


def test_directory_operations(root: Descriptor, fs: MemoryFs) -> None:
    """create-directory-at, rename-at, link-at, unlink-file-at and remove-directory-at."""
    root.create_directory_at("d")
    root.rename_at("a.txt", root, "d/b.txt")
    root.link_at(set(), "d/b.txt", root, "c.txt")
    assert root.stat_at(set(), "c.txt")["link-count"] == 2
    root.unlink_file_at("d/b.txt")
    root.remove_directory_at("d")
    assert fs.files() == {"/c.txt": b"hello"}


def test_symlinks(root: Descriptor) -> None:
    """symlink-at and readlink-at; stat-at follows only with symlink-follow."""
    root.symlink_at("a.txt", "ln")
    assert root.readlink_at("ln") == "a.txt"
    assert root.stat_at(set(), "ln")["type"] == "symbolic-link"
    assert root.stat_at(FOLLOW, "ln")["type"] == "regular-file"


def test_read_directory_stream(root: Descriptor) -> None:
    """read-directory yields directory-entry records in name order, then None."""
    entries = root.read_directory()
    assert entries.read_directory_entry() == {"type": "regular-file", "name": "a.txt"}
    assert entries.read_directory_entry() == {"type": "directory", "name": "sub"}
    assert entries.read_directory_entry() is None


def test_identity_and_metadata_hashes(root: Descriptor) -> None:
    """is-same-object and metadata-hash(-at) identify the same object through two paths."""
    a = root.open_at(set(), "a.txt", set(), {"read"})
    again = root.open_at(set(), "a.txt", set(), {"read"})
    assert a.is_same_object(again)
    assert not a.is_same_object(root)
    assert a.metadata_hash() == root.metadata_hash_at(set(), "a.txt")
    assert set(a.metadata_hash()) == {"lower", "upper"}
    assert a.subscribe().ready()


def test_errors_are_wit_error_codes(root: Descriptor) -> None:
    """Backend failures reach the guest as the WIT error-code names."""
    assert err_code(lambda: root.open_at(set(), "missing", set(), {"read"})) == "no-entry"
    assert err_code(lambda: root.open_at(set(), "a.txt", {"create", "exclusive"}, RW)) == "exist"
    assert err_code(lambda: root.open_at(set(), "../x", set(), {"read"})) == "not-permitted"
    assert err_code(lambda: root.create_directory_at("sub")) == "exist"
    assert err_code(lambda: root.remove_directory_at("a.txt")) == "not-directory"


def test_read_only_filesystem_refuses_writes() -> None:
    """Under a read-only MemoryFs, opening for write fails with not-permitted."""
    ro = Descriptor(MemoryFs({"a.txt": b"x"}, read_only=True).root())
    assert err_code(lambda: ro.open_at(set(), "a.txt", set(), RW)) == "not-permitted"
    assert "write" not in ro.get_flags()


def test_every_descriptor_method_of_the_wit_is_defined() -> None:
    """The binding defines each method wasi:filesystem/types gives descriptor (0.2.x)."""
    wit_methods = [
        "read-via-stream",
        "write-via-stream",
        "append-via-stream",
        "advise",
        "sync-data",
        "get-flags",
        "get-type",
        "set-size",
        "set-times",
        "read",
        "write",
        "read-directory",
        "sync",
        "create-directory-at",
        "stat",
        "stat-at",
        "set-times-at",
        "link-at",
        "open-at",
        "readlink-at",
        "remove-directory-at",
        "rename-at",
        "symlink-at",
        "unlink-file-at",
        "is-same-object",
        "metadata-hash",
        "metadata-hash-at",
    ]
    missing = [
        m for m in wit_methods if not callable(getattr(Descriptor, m.replace("-", "_"), None))
    ]
    assert missing == []
    members = FILESYSTEM_INTERFACES["wasi:filesystem/types"]
    assert {"descriptor", "directory_entry_stream", "filesystem_error_code"} <= set(members)
