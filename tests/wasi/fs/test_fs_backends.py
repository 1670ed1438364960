"""The two wasi:filesystem backends: same semantics, same error codes, no escapes."""

from __future__ import annotations

import gc
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from omniwasm.wasi.fs import FsError, HostDir, MemoryFs, Node

Tree = dict[str, bytes | None]
Make = Callable[..., Node[Any]]

TREE: Tree = {
    "a.txt": b"hello",
    "sub/b.txt": b"bee",
    "sub/deeper/c.txt": b"sea",
    "empty/": None,
}

RW = {"flags": {"read", "write"}}
CREATE = {"open_flags": {"create"}, "flags": {"read", "write"}}


def _populate(root: Path, tree: Tree) -> None:
    for path, data in tree.items():
        target = root / path
        if data is None:
            target.mkdir(parents=True, exist_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)


@pytest.fixture(params=["host", "memory"])
def make(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Make]:
    """A factory for a root descriptor over TREE (or a given tree), one per backend."""
    opened: list[Node[Any]] = []

    def factory(tree: Tree = TREE, *, read_only: bool = False) -> Node[Any]:
        if request.param == "host":
            root = tmp_path / f"root{len(opened)}"
            root.mkdir()
            _populate(root, tree)
            node: Node[Any] = HostDir(root, read_only=read_only).root()
        else:
            node = MemoryFs(tree, read_only=read_only).root()
        opened.append(node)
        return node

    yield factory
    for node in opened:
        node.close()


def code(fn: Callable[[], object]) -> str:
    """The error code ``fn`` fails with."""
    with pytest.raises(FsError) as info:
        fn()
    return info.value.code


def read_all(root: Node[Any], path: str) -> bytes:
    """The whole content of the file at ``path`` under ``root``."""
    with root.open_at(path, flags={"read"}) as f:
        return f.read(1 << 20, 0)[0]


# -- the same operations through both backends -----------------------------------------------


def test_create_write_read(make: Make) -> None:
    """A created file reads back what was written, at offsets, with eof on an empty read."""
    root = make()
    with root.open_at("new.txt", **CREATE) as f:
        assert f.write(b"hello world", 0) == 11
        assert f.write(b"W", 6) == 1
        assert f.read(5, 6) == (b"World", False)
        assert f.read(10, 11) == (b"", True)
        assert f.get_type() == "regular-file"
        assert f.get_flags() == {"read", "write"}
    assert read_all(root, "new.txt") == b"hello World"


def test_write_past_end_zero_fills(make: Make) -> None:
    """Writing past the end of a file fills the gap with zero bytes."""
    root = make()
    with root.open_at("a.txt", **RW) as f:
        f.write(b"!", 8)
    assert read_all(root, "a.txt") == b"hello\0\0\0!"


def test_append_and_set_size(make: Make) -> None:
    """Appends go to the end; set-size truncates and zero-extends."""
    root = make()
    with root.open_at("a.txt", **RW) as f:
        assert f.append(b" there") == 6
        assert read_all(root, "a.txt") == b"hello there"
        f.set_size(4)
        assert read_all(root, "a.txt") == b"hell"
        f.set_size(6)
        assert f.stat().size == 6
    assert read_all(root, "a.txt") == b"hell\0\0"


def test_open_truncate(make: Make) -> None:
    """Opening with truncate empties the file."""
    root = make()
    root.open_at("a.txt", open_flags={"truncate"}, flags={"write"}).close()
    assert root.stat_at("a.txt").size == 0


def test_rename_and_unlink(make: Make) -> None:
    """Rename moves a file (replacing a file target); unlink removes it."""
    root = make()
    root.rename_at("a.txt", root, "sub/moved.txt")
    assert code(lambda: root.stat_at("a.txt")) == "no-entry"
    assert read_all(root, "sub/moved.txt") == b"hello"
    root.rename_at("sub/moved.txt", root, "sub/b.txt")
    assert read_all(root, "sub/b.txt") == b"hello"
    root.unlink_file_at("sub/b.txt")
    assert code(lambda: root.stat_at("sub/b.txt")) == "no-entry"


def test_rename_between_descriptors(make: Make) -> None:
    """Rename works between two descriptors of the same filesystem, including directories."""
    root = make()
    with root.open_at("sub", flags={"read"}) as sub:
        root.rename_at("empty", sub, "was-empty")
        assert ("directory", "was-empty") in sub.read_directory()
        sub.rename_at("b.txt", root, "b.txt")
    assert read_all(root, "b.txt") == b"bee"


def test_read_directory_sorted(make: Make) -> None:
    """read-directory lists (type, name) sorted by name, without . and .."""
    root = make()
    for name in ("zeta", "Alpha", "mid"):
        root.open_at(name, **CREATE).close()
    root.symlink_at("a.txt", "link")
    assert root.read_directory() == [
        ("regular-file", "Alpha"),
        ("regular-file", "a.txt"),
        ("directory", "empty"),
        ("symbolic-link", "link"),
        ("regular-file", "mid"),
        ("directory", "sub"),
        ("regular-file", "zeta"),
    ]


def test_stat(make: Make) -> None:
    """stat-at reports type, size and link count; set times read back exactly."""
    root = make()
    st = root.stat_at("a.txt")
    assert (st.type, st.size, st.link_count) == ("regular-file", 5, 1)
    assert root.stat_at("sub").type == "directory"
    root.set_times_at("a.txt", (1_000, 5), (2_000, 7))
    st = root.stat_at("a.txt")
    assert (st.access, st.modification) == ((1_000, 5), (2_000, 7))
    root.set_times_at("a.txt", None, (3_000, 0))
    assert root.stat_at("a.txt").access == (1_000, 5)
    with root.open_at("a.txt", flags={"read"}) as f:
        f.set_times((4, 0), None)
        assert f.stat().access == (4, 0)
        assert f.stat().modification == (3_000, 0)


def test_mkdir_rmdir(make: Make) -> None:
    """Directories are created and removed; only empty ones can be removed."""
    root = make()
    root.create_directory_at("new")
    root.create_directory_at("new/inner")
    assert code(lambda: root.create_directory_at("new")) == "exist"
    assert code(lambda: root.remove_directory_at("new")) == "not-empty"
    root.remove_directory_at("new/inner")
    root.remove_directory_at("new/")
    assert code(lambda: root.stat_at("new")) == "no-entry"


def test_hard_links(make: Make) -> None:
    """A hard link shares content and identity; link-count counts both names."""
    root = make()
    root.link_at("a.txt", root, "sub/a2.txt")
    assert root.stat_at("a.txt").link_count == 2
    assert root.metadata_hash_at("a.txt") == root.metadata_hash_at("sub/a2.txt")
    assert root.metadata_hash_at("a.txt") != root.metadata_hash_at("sub/b.txt")
    with root.open_at("a.txt", **RW) as f, root.open_at("sub/a2.txt", flags={"read"}) as g:
        f.write(b"J", 0)
        assert g.read(5, 0)[0] == b"Jello"
        assert f.is_same_object(g)
        assert f.metadata_hash() == g.metadata_hash()
        assert not f.is_same_object(root)


def test_symlinks_inside(make: Make) -> None:
    """Symlinks inside the tree are made, read and followed only when asked."""
    root = make()
    root.symlink_at("sub/b.txt", "ln")
    root.symlink_at("../a.txt", "sub/up")
    assert root.readlink_at("ln") == "sub/b.txt"
    assert root.stat_at("ln").type == "symbolic-link"
    assert root.stat_at("ln", follow=True).type == "regular-file"
    assert code(lambda: root.open_at("ln", flags={"read"})) == "loop"
    with root.open_at("ln", follow=True, flags={"read"}) as f:
        assert f.read(10, 0)[0] == b"bee"
    with root.open_at("sub/up", follow=True, flags={"read"}) as f:
        assert f.read(10, 0)[0] == b"hello"
    root.symlink_at("sub", "dirlink")
    assert read_all(root, "dirlink/b.txt") == b"bee"
    assert root.stat_at("dirlink/").type == "directory"
    root.unlink_file_at("ln")
    assert root.stat_at("sub/b.txt").type == "regular-file"


def test_descriptor_flags_and_types(make: Make) -> None:
    """get-flags reports the rights a descriptor really has."""
    root = make()
    assert root.get_flags() == {"read", "mutate-directory"}
    assert root.get_type() == "directory"
    with root.open_at("a.txt") as f:
        assert f.get_flags() == {"read"}
    with root.open_at("a.txt", flags={"write"}) as f:
        assert f.get_flags() == {"write"}
    with root.open_at("sub", open_flags={"directory"}) as d:
        assert d.get_flags() == {"read", "mutate-directory"}


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        (lambda r: r.open_at("missing"), "no-entry"),
        (lambda r: r.open_at("missing/x", **CREATE), "no-entry"),
        (lambda r: r.open_at("a.txt", open_flags={"create", "exclusive"}), "exist"),
        (lambda r: r.open_at("a.txt", open_flags={"directory"}), "not-directory"),
        (lambda r: r.open_at("a.txt/", flags={"read"}), "not-directory"),
        (lambda r: r.open_at("a.txt/x"), "not-directory"),
        (lambda r: r.open_at("sub", flags={"write"}), "is-directory"),
        (lambda r: r.open_at("sub", open_flags={"create"}), "is-directory"),
        (lambda r: r.open_at("sub", open_flags={"directory", "create"}), "invalid"),
        (lambda r: r.open_at("a.txt", flags={"read", "file-integrity-sync"}), "unsupported"),
        (lambda r: r.open_at("a.txt", open_flags={"sideways"}), "invalid"),
        (lambda r: r.open_at(""), "no-entry"),
        (lambda r: r.open_at("x" * 256, **CREATE), "name-too-long"),
        (lambda r: r.open_at("nul\0byte"), "invalid"),
        (lambda r: r.create_directory_at("a.txt"), "exist"),
        (lambda r: r.create_directory_at("."), "exist"),
        (lambda r: r.remove_directory_at("a.txt"), "not-directory"),
        (lambda r: r.remove_directory_at("."), "invalid"),
        (lambda r: r.remove_directory_at("missing"), "no-entry"),
        (lambda r: r.unlink_file_at("sub"), "is-directory"),
        (lambda r: r.unlink_file_at("missing"), "no-entry"),
        (lambda r: r.readlink_at("a.txt"), "invalid"),
        (lambda r: r.rename_at("missing", r, "x"), "no-entry"),
        (lambda r: r.rename_at("sub", r, "sub/deeper/sub"), "invalid"),
        (lambda r: r.rename_at("a.txt", r, "empty"), "is-directory"),
        (lambda r: r.rename_at("empty", r, "a.txt"), "not-directory"),
        (lambda r: r.rename_at("empty", r, "sub"), "not-empty"),
        (lambda r: r.rename_at(".", r, "x"), "busy"),
        (lambda r: r.link_at("sub", r, "sub2"), "not-permitted"),
        (lambda r: r.link_at("a.txt", r, "sub/b.txt"), "exist"),
        (lambda r: r.link_at("a.txt", r, "x", follow=True), "invalid"),
        (lambda r: r.symlink_at("a.txt", "sub"), "exist"),
        (lambda r: r.stat_at("a.txt/"), "not-directory"),
        (lambda r: r.set_times_at("a.txt", (1, 10**9), None), "invalid"),
        (lambda r: r.read(1, 0), "bad-descriptor"),
        (lambda r: r.write(b"x", 0), "bad-descriptor"),
        (lambda r: r.set_size(0), "bad-descriptor"),
        (lambda r: r.check_read(), "bad-descriptor"),
    ],
)
def test_error_codes(make: Make, call: Callable[[Node[Any]], object], expected: str) -> None:
    """Each failing call fails with the same WIT error code in both backends."""
    root = make()
    assert code(lambda: call(root)) == expected


def test_file_descriptor_errors(make: Make) -> None:
    """A file refuses directory calls, and the rights it was not opened with."""
    root = make()
    with root.open_at("a.txt", flags={"read"}) as f:
        assert code(lambda: f.stat_at("x")) == "not-directory"
        assert code(f.read_directory) == "not-directory"
        assert code(lambda: f.write(b"x", 0)) == "bad-descriptor"
        assert code(lambda: f.append(b"x")) == "bad-descriptor"
        assert code(f.check_write) == "bad-descriptor"
        assert code(lambda: f.set_size(0)) == "invalid"
        assert code(lambda: f.read(1, -1)) == "invalid"
    with root.open_at("a.txt", flags={"write"}) as f:
        assert code(lambda: f.read(1, 0)) == "bad-descriptor"
    assert code(f.stat) == "bad-descriptor"
    f.close()  # idempotent


def test_cross_device(make: Make) -> None:
    """Renames and links between different filesystems fail with cross-device."""
    root = make()
    with MemoryFs({"x": b"1"}).root() as other:
        assert code(lambda: root.rename_at("a.txt", other, "a.txt")) == "cross-device"
        assert code(lambda: other.link_at("x", root, "x")) == "cross-device"


def test_removed_directory(make: Make) -> None:
    """Nothing can be created in a directory that was removed while open."""
    root = make()
    with root.open_at("empty", flags={"read"}) as d:
        root.remove_directory_at("empty")
        assert code(lambda: d.create_directory_at("x")) == "no-entry"
        assert code(lambda: d.open_at("f", **CREATE)) == "no-entry"
        assert d.read_directory() == []


# -- read-only ---------------------------------------------------------------------------------


def test_read_only_refuses_every_mutation(make: Make) -> None:
    """A read-only preopen reads but refuses every write and mutation with not-permitted."""
    root = make(read_only=True)
    assert root.get_flags() == {"read"}
    assert read_all(root, "sub/b.txt") == b"bee"
    refused = [
        lambda: root.open_at("a.txt", flags={"read", "write"}),
        lambda: root.open_at("a.txt", open_flags={"truncate"}),
        lambda: root.open_at("new", open_flags={"create"}),
        lambda: root.create_directory_at("d"),
        lambda: root.remove_directory_at("empty"),
        lambda: root.unlink_file_at("a.txt"),
        lambda: root.rename_at("a.txt", root, "b"),
        lambda: root.link_at("a.txt", root, "b"),
        lambda: root.symlink_at("a.txt", "b"),
        lambda: root.set_times_at("a.txt", "now", "now"),
        lambda: root.set_times("now", None),
    ]
    assert [code(fn) for fn in refused] == ["not-permitted"] * len(refused)
    with root.open_at("sub", flags={"read"}) as sub:
        assert sub.get_flags() == {"read"}
        assert code(lambda: sub.unlink_file_at("b.txt")) == "not-permitted"
    with root.open_at("a.txt", flags={"read"}) as f:
        assert code(lambda: f.set_size(0)) == "not-permitted"
        assert code(lambda: f.set_times("now", "now")) == "not-permitted"
    assert read_all(root, "a.txt") == b"hello"


def test_read_only_peer(tmp_path: Path) -> None:
    """A rename or link into a read-only preopen is refused even from a writable one."""
    (tmp_path / "x").write_bytes(b"1")
    with HostDir(tmp_path).root() as rw, HostDir(tmp_path, read_only=True).root() as ro:
        assert code(lambda: rw.rename_at("x", ro, "y")) == "not-permitted"
        assert code(lambda: rw.link_at("x", ro, "y")) == "not-permitted"
        rw.rename_at("x", rw, "y")  # the same directory, through the writable preopen


# -- no escapes --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["../x", "/etc/passwd", "a/../../x", "sub/../../a.txt", "..", "sub/deeper/../../.."]
)
def test_paths_cannot_leave_the_root(make: Make, path: str) -> None:
    """Absolute paths and .. above the descriptor fail with not-permitted."""
    root = make({**TREE, "a/": None})
    for fn in (
        lambda: root.stat_at(path),
        lambda: root.open_at(path, **CREATE),
        lambda: root.create_directory_at(path),
        lambda: root.unlink_file_at(path),
    ):
        assert code(fn) == "not-permitted"


def test_dotdot_inside_is_fine(make: Make) -> None:
    """A .. that stays inside the descriptor resolves normally."""
    root = make()
    assert read_all(root, "sub/deeper/../../a.txt") == b"hello"
    assert root.stat_at("sub/..").type == "directory"


def test_subdirectory_is_its_own_root(make: Make) -> None:
    """A descriptor opened on a subdirectory cannot reach its parent."""
    root = make()
    with root.open_at("sub", flags={"read"}) as sub:
        assert code(lambda: sub.stat_at("../a.txt")) == "not-permitted"
        root.symlink_at("../a.txt", "sub/up")  # inside the preopen: allowed
        assert code(lambda: sub.stat_at("up", follow=True)) == "not-permitted"
        assert sub.stat_at("up").type == "symbolic-link"


@pytest.mark.parametrize("target", ["/", "/etc/passwd"])
def test_symlink_at_refuses_absolute_targets(make: Make, target: str) -> None:
    """symlink-at refuses absolute targets (as wasmtime does)."""
    root = make()
    assert code(lambda: root.symlink_at(target, "evil")) == "not-permitted"
    assert code(lambda: root.stat_at("evil")) == "no-entry"


@pytest.mark.parametrize("target", ["../outside", "sub/../../x", "sub/../.."])
def test_symlink_climbing_out_is_made_but_never_followed(make: Make, target: str) -> None:
    """A relative link climbing above the root is created (as wasmtime) but cannot be followed."""
    root = make()
    root.symlink_at(target, "evil")
    assert root.stat_at("evil").type == "symbolic-link"
    assert code(lambda: root.stat_at("evil", follow=True)) == "not-permitted"
    assert code(lambda: root.open_at("evil", follow=True, flags={"read"})) == "not-permitted"


def test_relative_symlink_chain_leaving_the_descriptor(make: Make) -> None:
    """A chain of relative symlinks that ends outside the descriptor is refused."""
    root = make()
    root.symlink_at("b", "sub/a")
    root.symlink_at("c", "sub/b")
    root.symlink_at("../a.txt", "sub/c")
    with root.open_at("sub/a", follow=True, flags={"read"}) as f:
        assert f.read(5, 0)[0] == b"hello"
    with root.open_at("sub", flags={"read"}) as sub:
        assert code(lambda: sub.open_at("a", follow=True)) == "not-permitted"
        assert code(lambda: sub.open_at("a/x")) == "not-permitted"


@pytest.mark.parametrize(("links", "path"), [({"l": "l"}, "l"), ({"l1": "l2", "l2": "l1"}, "l1")])
def test_symlink_loop(make: Make, links: dict[str, str], path: str) -> None:
    """Following a symlink loop fails with loop."""
    root = make()
    for name, target in links.items():
        root.symlink_at(target, name)
    assert code(lambda: root.stat_at(path, follow=True)) == "loop"
    assert code(lambda: root.open_at(path + "/x")) == "loop"
    assert root.stat_at(path).type == "symbolic-link"


def test_long_symlink_chain_is_a_loop(make: Make) -> None:
    """More than 40 symlinks in one resolution is a loop; 40 is fine."""
    root = make()
    for i in range(41):
        root.symlink_at(f"l{i + 1}" if i < 40 else "a.txt", f"l{i}")
    assert root.stat_at("l1", follow=True).type == "regular-file"
    assert code(lambda: root.stat_at("l0", follow=True)) == "loop"


@pytest.fixture
def planted(tmp_path: Path) -> Iterator[tuple[Node[Any], Path]]:
    """A host preopen holding symlinks planted from outside, all pointing out of it."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_bytes(b"secret")
    root = tmp_path / "root"
    root.mkdir()
    (root / "ok").write_bytes(b"ok")
    os.symlink("/", root / "to_root")
    os.symlink(str(outside / "secret"), root / "absolute")
    os.symlink("../outside/secret", root / "relative")
    os.symlink("../outside", root / "outdir")
    (root / "d").mkdir()
    os.symlink("../hop2", root / "d" / "hop1")
    os.symlink("d/../../outside/secret", root / "hop2")
    os.symlink("../outside/new", root / "dangling")
    with HostDir(root).root() as node:
        yield node, outside


@pytest.mark.parametrize(
    ("path", "link"),
    [
        ("to_root/etc/passwd", "to_root"),
        ("to_root", "to_root"),
        ("absolute", "absolute"),
        ("relative", "relative"),
        ("outdir/secret", "outdir"),
        ("outdir", "outdir"),
        ("d/hop1", "d/hop1"),
        ("hop2", "hop2"),
    ],
)
def test_planted_symlinks_do_not_escape(
    planted: tuple[Node[Any], Path], path: str, link: str
) -> None:
    """Symlinks on disk leading out of the preopen are refused wherever they are followed."""
    root, _ = planted
    assert code(lambda: root.stat_at(path, follow=True)) == "not-permitted"
    assert code(lambda: root.open_at(path, follow=True, flags={"read"})) == "not-permitted"
    assert code(lambda: root.open_at(path + "/x", flags={"read"})) == "not-permitted"
    assert code(lambda: root.metadata_hash_at(path, follow=True)) == "not-permitted"
    assert root.stat_at(link).type == "symbolic-link"


def test_planted_dangling_symlink_cannot_create_outside(planted: tuple[Node[Any], Path]) -> None:
    """Creating through a dangling symlink that points outside creates nothing outside."""
    root, outside = planted
    assert code(lambda: root.open_at("dangling", follow=True, **CREATE)) == "not-permitted"
    assert code(lambda: root.open_at("dangling", **CREATE)) == "loop"
    assert code(lambda: root.create_directory_at("outdir/newdir")) == "not-permitted"
    assert code(lambda: root.rename_at("ok", root, "outdir/ok")) == "not-permitted"
    assert code(lambda: root.symlink_at("x", "outdir/x")) == "not-permitted"
    assert sorted(p.name for p in outside.iterdir()) == ["secret"]
    root.unlink_file_at("relative")  # removes the link itself, never its target
    assert (outside / "secret").read_bytes() == b"secret"


# -- resources ---------------------------------------------------------------------------------


def _open_fds(under: Path) -> int:
    """Open fds of this process on files under ``under`` (other fds come and go meanwhile)."""
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:  # closed since the listing
            continue
        count += target.startswith(str(under))
    return count


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc/self/fd")
def test_host_descriptors_do_not_leak(tmp_path: Path) -> None:
    """Opening, walking, failing and closing many times leaves no host fd open."""
    _populate(tmp_path, TREE)
    os.symlink("sub/deeper", tmp_path / "deep")
    gc.collect()  # fds of objects earlier tests dropped are closed now, not during the count
    before = _open_fds(tmp_path)
    for _ in range(3):
        root = HostDir(tmp_path).root()
        for i in range(300):
            with root.open_at(f"f{i % 7}", **CREATE) as f:
                f.write(b"x", 0)
            with root.open_at("deep/c.txt", follow=True, flags={"read"}) as g:
                g.read(3, 0)
            root.stat_at("sub/deeper/../deeper/c.txt")
            for bad in ("sub/deeper/missing/x", "sub/deeper/../../../x"):
                with pytest.raises(FsError):
                    root.stat_at(bad)
            root.open_at("sub", flags={"read"})  # dropped without close: collected
        root.read_directory()
        root.close()
    gc.collect()
    assert _open_fds(tmp_path) == before == 0


def test_host_dir_errors(tmp_path: Path) -> None:
    """A missing or non-directory host path is refused when the preopen is made."""
    (tmp_path / "file").write_bytes(b"")
    assert code(lambda: HostDir(tmp_path / "missing")) == "no-entry"
    assert code(lambda: HostDir(tmp_path / "file")) == "not-directory"


# -- the memory backend ------------------------------------------------------------------------


def test_memory_read_back() -> None:
    """After a run the host reads every file back by absolute path."""
    fs = MemoryFs({"/data/a.txt": b"A", "/data/sub/": None, "logs": None})
    with fs.root() as root:
        with root.open_at("data/sub/out.txt", **CREATE) as f:
            f.write(b"written", 0)
        root.link_at("data/a.txt", root, "hard")
        root.symlink_at("data/a.txt", "soft")
    assert fs.files() == {"/data/a.txt": b"A", "/data/sub/out.txt": b"written", "/hard": b"A"}
    assert fs.read("/data/sub/out.txt") == b"written"
    assert fs.read("soft") == b"A"
    assert code(lambda: fs.read("/data")) == "is-directory"
    assert code(lambda: fs.read("/nope")) == "no-entry"
    assert code(lambda: fs.read("/../etc/passwd")) == "not-permitted"


def test_memory_tree_errors() -> None:
    """A tree with .., a file used as a directory or a bad value is refused."""
    with pytest.raises(ValueError, match=r"\.\."):
        MemoryFs({"/a/../b": b""})
    with pytest.raises(ValueError, match="both"):
        MemoryFs({"/a": b"", "/a/b": b""})
    with pytest.raises(ValueError, match="content"):
        MemoryFs({"/a/": b"x"})
    with pytest.raises(TypeError):
        MemoryFs({"/a": "text"})  # type: ignore[dict-item]


def test_memory_clock() -> None:
    """Timestamps come from the settable clock: creation, writes and "now"."""
    ticks = iter(range(10**9, 10**12, 10**9))
    fs = MemoryFs({"a": b""}, clock=lambda: next(ticks))
    with fs.root() as root:
        assert root.stat_at("a").modification == (2, 0)  # the root directory took tick 1
        fs.clock = lambda: 42 * 10**9 + 7
        with root.open_at("a", **RW) as f:
            f.write(b"x", 0)
        assert root.stat_at("a").modification == (42, 7)
        root.set_times_at("a", "now", None)
        st = root.stat_at("a")
        assert (st.access, st.modification, st.status_change) == ((42, 7), (42, 7), (42, 7))


def test_memory_file_size_limit() -> None:
    """A guest cannot grow a memory file past max_file_size."""
    fs = MemoryFs({"a": b""}, max_file_size=100)
    with fs.root() as root, root.open_at("a", **RW) as f:
        assert code(lambda: f.write(b"x", 100)) == "file-too-large"
        assert code(lambda: f.set_size(1 << 62)) == "file-too-large"
        f.write(b"x", 99)
    assert fs.read("a") == bytes(99) + b"x"


def test_memory_metadata_is_deterministic() -> None:
    """Two identical memory filesystems give identical stats and hashes."""

    def snapshot() -> list[object]:
        fs = MemoryFs(TREE, clock=lambda: 5)
        with fs.root() as root:
            root.open_at("sub/n", **CREATE).close()
            return [root.metadata_hash_at("sub/n"), root.stat_at("sub"), root.read_directory()]

    assert snapshot() == snapshot()


def test_fs_error() -> None:
    """FsError carries a valid WIT error code and reads well."""
    err = FsError("no-entry", "a.txt")
    assert (err.code, str(err)) == ("no-entry", "no-entry: a.txt")
    assert FsError.from_os(FileNotFoundError(2, "x")).code == "no-entry"
    with pytest.raises(ValueError, match="error-code"):
        FsError("nope")


@pytest.mark.parametrize("link", ["to_root", "absolute"])
def test_readlink_of_an_absolute_planted_link_is_refused(
    planted: tuple[Node[Any], Path], link: str
) -> None:
    """readlink-at of a host-made absolute symlink fails with not-permitted: no host path leaks."""
    root, _ = planted
    assert code(lambda: root.readlink_at(link)) == "not-permitted"
    assert root.readlink_at("relative") == "../outside/secret"  # relative: as it is (wasmtime)


@pytest.mark.parametrize(
    ("path", "error"),
    [
        ("a/" * 2047 + "b", "no-entry"),
        ("a/" * 2048, "name-too-long"),
        ("x" * 70_000, "name-too-long"),
    ],
)
def test_paths_of_path_max_bytes_or_more_are_too_long(make: Make, path: str, error: str) -> None:
    """A path of 4096 bytes or more is name-too-long before any lookup (Linux's PATH_MAX)."""
    root = make()
    assert len(path.encode()) in (4095, 4096, 70_000)
    assert code(lambda: root.stat_at(path)) == error
    assert code(lambda: root.open_at(path, **CREATE)) == error


@pytest.mark.parametrize(
    ("target", "error"), [("a\0b", "invalid"), ("x/" * 2048, "name-too-long"), ("", "no-entry")]
)
def test_symlink_at_refuses_malformed_targets(make: Make, target: str, error: str) -> None:
    """symlink-at refuses a target with a NUL byte, of PATH_MAX bytes or more, or empty."""
    root = make()
    assert code(lambda: root.symlink_at(target, "bad")) == error
    assert code(lambda: root.stat_at("bad")) == "no-entry"
