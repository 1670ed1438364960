"""Manifest ``files`` and ``exclude_files``: Spin's globs, exposing only the matched files.

The guest is ``tests/fixtures/gateway/variables.wat``: ``/file/PATH`` answers the content of the
guest file ``/PATH`` (200), or 404 ``error N`` with the wasi:filesystem error-code index
(20: no-entry).
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
from pathlib import Path
from typing import Any

import httpx
import pytest

import omniwasm
from fixtures.wat_components import assemble
from omniwasm.gateway._app import App
from omniwasm.gateway._manifest import load_app_manifest

GUESTS = Path(__file__).parents[1] / "fixtures" / "gateway"
NO_ENTRY = (404, "error 20")
TREE = {
    "index.html": "<h1>home</h1>",
    "secret.txt": "top secret",
    "notes.txt": "notes",
    "static/a.txt": "a",
    "static/.hidden": "hidden",
    "static/sub/b.css": "b",
    "static/sub/c.map": "c",
    "assets/logo.txt": "logo",
    ".omniwasm/kv.sqlite": "database",
}


@pytest.fixture(scope="module")
def guest() -> Path:
    """The guest that reads files, assembled once."""
    return assemble(GUESTS / "variables.wat", prefix="gw-")


def write_app(tmp_path: Path, guest: Path, files: str) -> Path:
    """An app directory holding TREE, with one component at /... whose keys are ``files``."""
    for rel, text in TREE.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    shutil.copy(guest, tmp_path / "guest.wasm")
    manifest = tmp_path / "omniwasm.toml"
    manifest.write_text(
        '[[trigger.http]]\nroute = "/..."\ncomponent = "web"\n'
        f'[component.web]\nsource = "guest.wasm"\n{files}\n'
    )
    return manifest


def answers(app: Any, *paths: str) -> list[tuple[int, str]]:
    """(status, body) for a GET of each path, through httpx's in-process ASGI transport."""

    async def go() -> list[tuple[int, str]]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return [((r := await client.get(p)).status_code, r.text) for p in paths]

    return asyncio.run(go())


def exposed(manifest: Path) -> dict[str, bytes]:
    """Every file the component's in-memory filesystem holds, by guest path."""
    files = load_app_manifest(manifest).components["web"].files
    assert files is not None
    fs, _ = files.filesystem()
    assert fs is not None
    assert fs.read_only
    return fs.files()


def test_a_glob_exposes_exactly_the_matched_files(tmp_path: Path, guest: Path) -> None:
    """static/**/* exposes every file below static/ (dotfiles too) at its own path, and nothing else."""
    manifest = write_app(tmp_path, guest, 'files = ["static/**/*"]')
    assert exposed(manifest) == {
        "/static/.hidden": b"hidden",
        "/static/a.txt": b"a",
        "/static/sub/b.css": b"b",
        "/static/sub/c.map": b"c",
    }


def test_the_guest_reads_matched_files_and_nothing_beside_them(tmp_path: Path, guest: Path) -> None:
    """The guest reads a matched file; a file of the app the pattern leaves out does not exist."""
    app = App(write_app(tmp_path, guest, 'files = ["static/**/*"]'))
    assert answers(app, "/file/static/a.txt", "/file/static/sub/b.css", "/file/secret.txt",
                   "/file/index.html", "/file/guest.wasm") == [
        (200, "a"), (200, "b"), NO_ENTRY, NO_ENTRY, NO_ENTRY,
    ]  # fmt: skip


def test_a_star_stays_in_one_directory(tmp_path: Path, guest: Path) -> None:
    """*.txt matches the text files at the top of the app, not those in subdirectories."""
    manifest = write_app(tmp_path, guest, 'files = ["*.txt"]')
    assert exposed(manifest) == {"/notes.txt": b"notes", "/secret.txt": b"top secret"}


def test_a_trailing_double_star_matches_every_file_below(tmp_path: Path, guest: Path) -> None:
    """static/** exposes every file below static/ (Spin's glob would match only directories)."""
    manifest = write_app(tmp_path, guest, 'files = ["static/**"]')
    assert set(exposed(manifest)) == {
        "/static/.hidden", "/static/a.txt", "/static/sub/b.css", "/static/sub/c.map",
    }  # fmt: skip


def test_exclude_files_removes_matches(tmp_path: Path, guest: Path) -> None:
    """exclude_files globs remove files the files entries matched."""
    manifest = write_app(
        tmp_path, guest, 'files = ["static/**/*"]\nexclude_files = ["**/*.map", "static/.*"]'
    )
    assert set(exposed(manifest)) == {"/static/a.txt", "/static/sub/b.css"}
    app = App(manifest)
    assert answers(app, "/file/static/sub/c.map", "/file/static/sub/b.css") == [
        NO_ENTRY,
        (200, "b"),
    ]


def test_an_exclude_star_also_crosses_directories_as_in_spin(tmp_path: Path, guest: Path) -> None:
    """In exclude_files, as in Spin's glob::Pattern, * also matches '/'."""
    manifest = write_app(
        tmp_path, guest, 'files = ["static/**/*"]\nexclude_files = ["static/*.css"]'
    )
    assert "/static/sub/b.css" not in exposed(manifest)


def test_paths_without_wildcards_name_a_file_or_a_directory(tmp_path: Path, guest: Path) -> None:
    """A plain file path exposes that file; a plain directory path every file below it."""
    manifest = write_app(tmp_path, guest, 'files = ["index.html", "static/sub"]')
    assert exposed(manifest) == {
        "/index.html": b"<h1>home</h1>",
        "/static/sub/b.css": b"b",
        "/static/sub/c.map": b"c",
    }


def test_placements_put_a_file_or_a_directory_at_a_guest_path(tmp_path: Path, guest: Path) -> None:
    """{ source, destination } places a file, or (with exclude_files) a directory's files, in memory."""
    manifest = write_app(
        tmp_path,
        guest,
        'files = [{ source = "assets/logo.txt", destination = "/img/logo.txt" },\n'
        '         { source = "static", destination = "/web" }]\n'
        'exclude_files = ["static/sub/**"]',
    )
    assert exposed(manifest) == {
        "/img/logo.txt": b"logo",
        "/web/.hidden": b"hidden",
        "/web/a.txt": b"a",
    }
    assert answers(App(manifest), "/file/img/logo.txt", "/file/web/a.txt") == [
        (200, "logo"),
        (200, "a"),
    ]


def test_a_placed_directory_without_exclusions_is_a_read_only_mount(
    tmp_path: Path, guest: Path
) -> None:
    """A placed directory with no exclude_files is mounted read-only as it is, beside the globs."""
    manifest = write_app(
        tmp_path,
        guest,
        'files = ["*.html", { source = "assets", destination = "/assets" }]',
    )
    spec = load_app_manifest(manifest).components["web"]
    assert [(m.host, m.guest, m.read_only) for m in spec.policy.dirs] == [
        (str(tmp_path / "assets"), "/assets", True)
    ]
    assert answers(App(manifest), "/file/assets/logo.txt", "/file/index.html") == [
        (200, "logo"),
        (200, "<h1>home</h1>"),
    ]


def test_the_apps_state_directory_is_never_exposed(tmp_path: Path, guest: Path) -> None:
    """**/* skips .omniwasm/ (the key-value database lives there)."""
    manifest = write_app(tmp_path, guest, 'files = ["**/*"]')
    files = exposed(manifest)
    assert "/index.html" in files
    assert not [p for p in files if p.startswith("/.omniwasm")]


def test_a_glob_matching_nothing_loads_with_a_warning(
    tmp_path: Path, guest: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A glob that matches no file is allowed (as in Spin) and logged as a warning."""
    manifest = write_app(tmp_path, guest, 'files = ["*.png"]')
    with caplog.at_level(logging.WARNING, logger="omniwasm.gateway"):
        app = App(manifest)
    assert "files pattern '*.png' matches no file" in caplog.text
    assert answers(app, "/file/x.png") == [(404, "no preopen")]


def test_reload_reads_the_files_again(tmp_path: Path, guest: Path) -> None:
    """Files are read when the component is built, so a reload serves their new content."""
    app = App(write_app(tmp_path, guest, 'files = ["static/*.txt"]'))
    (tmp_path / "static" / "a.txt").write_text("changed")
    (tmp_path / "static" / "new.txt").write_text("new")
    assert answers(app, "/file/static/a.txt", "/file/static/new.txt") == [(200, "a"), NO_ENTRY]
    app.reload("web")
    assert answers(app, "/file/static/a.txt", "/file/static/new.txt") == [
        (200, "changed"),
        (200, "new"),
    ]


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ('files = ["../*.txt"]', r"'\.\./\*\.txt' leaves the application directory"),
        ('files = ["static/../../x"]', "leaves the application directory"),
        ('files = ["/etc/*"]', r"'/etc/\*' is absolute"),
        ('files = ["."]', "names the application directory itself"),
        ('files = ["nothing.txt"]', r"'nothing.txt' does not exist \(and is not a glob\)"),
        ('files = ["static/a**"]', r"'\*\*' must be a whole path segment"),
        ('files = ["static/[a"]', "unclosed"),
        ('files = [{ source = "../x", destination = "/x" }]', "leaves the application directory"),
        ('files = [{ source = "/etc", destination = "/etc" }]', "is absolute"),
        ('files = [{ source = "static", destination = "web" }]', "must be an absolute guest"),
        ('files = [{ source = "static", destination = "/../x" }]', r"may not contain '\.\.'"),
        ('files = [{ source = "static" }]', "needs a source and a destination"),
        ('files = [{ source = "nostatic", destination = "/s" }]', "'nostatic' does not exist"),
        ('files = ["static/**/*"]\nexclude_files = "*.map"', "exclude_files must be a list"),
        (
            'files = ["index.html", { source = "notes.txt", destination = "/index.html" }]',
            "/index.html is given twice",
        ),
    ],
)
def test_bad_files_entries_are_policy_errors(
    tmp_path: Path, guest: Path, files: str, message: str
) -> None:
    """A pattern or source outside the app, or a malformed entry, fails at load with its place."""
    with pytest.raises(omniwasm.PolicyError, match=r"\[component\.web\]") as info:
        load_app_manifest(write_app(tmp_path, guest, files))
    assert info.match(message)


def test_a_symlink_leading_out_of_the_app_is_refused(tmp_path: Path, guest: Path) -> None:
    """A matched symlink (to a file or a directory) pointing outside the app directory fails."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "passwd").write_text("root")
    app_dir = tmp_path / "app"
    app_dir.mkdir()
    manifest = write_app(app_dir, guest, 'files = ["static/**/*"]')
    os.symlink(outside / "passwd", app_dir / "static" / "passwd")
    with pytest.raises(omniwasm.PolicyError, match=r"static/passwd leads to .*outside the app"):
        load_app_manifest(manifest)
    (app_dir / "static" / "passwd").unlink()
    os.symlink(outside, app_dir / "static" / "etc")
    with pytest.raises(omniwasm.PolicyError, match="static/etc leads to"):
        load_app_manifest(manifest)


def test_a_symlink_inside_the_app_is_followed(tmp_path: Path, guest: Path) -> None:
    """A symlink to a file or directory inside the app is followed; one to an ancestor is not."""
    manifest = write_app(tmp_path, guest, 'files = ["static/**/*"]')
    os.symlink(tmp_path / "notes.txt", tmp_path / "static" / "notes.txt")
    os.symlink(tmp_path / "assets", tmp_path / "static" / "assets")
    os.symlink(tmp_path / "static", tmp_path / "static" / "sub" / "loop")  # a cycle
    files = exposed(manifest)
    assert files["/static/notes.txt"] == b"notes"
    assert files["/static/assets/logo.txt"] == b"logo"
    assert not [p for p in files if "/loop/" in p]  # a link back to an ancestor is not walked
