"""Component files for gateway apps: Spin's ``files`` and ``exclude_files``, exposed read-only.

A component sees exactly the files its manifest names, read when the app loads (and again
when the component reloads) into a read-only in-memory filesystem mounted at ``/``: no
directory of the host is opened for it, so a file the patterns leave out cannot be reached,
whatever path the guest tries. The entries (Spin's semantics, paths relative to the manifest):

- ``"images/*.jpg"``: a glob. ``*``, ``?`` and ``[...]`` match within one path segment;
  ``**`` (a whole segment) matches any number of directories, and a trailing ``**`` every
  file below (the Rust ``glob`` crate Spin uses matches only directories there, so Spin
  exposes nothing for ``"static/**"``: write ``"static/**/*"`` for a manifest both read
  alike). ``*`` also matches names starting with a dot, as in Spin. Each matched file
  appears at its own path under ``/``. A glob matching nothing is allowed (Spin allows it);
  the app logs a warning.
- ``"index.html"`` / ``"static"``: a path without wildcards: that file, or every file below
  that directory, at the same path. A missing one is an error.
- ``{ source = "a.txt", destination = "/b.txt" }``: a file at the given guest path; with a
  directory as source, every file below it under ``destination``.

``exclude_files`` globs remove files, whichever entry matched them. They are matched against
the path relative to the manifest, as Spin does (its ``glob::Pattern``): there ``*`` and ``?``
also match ``/``. Patterns may not leave the app directory (``..``, absolute paths), a matched
symlink must point inside it, and nothing under the app's own state directory
``.omniwasm/`` (the key-value database) is ever exposed.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .._errors import PolicyError
from ..wasi import MemoryFs

__all__ = ["STATE_DIR", "FileSet", "check_pattern", "exclude_regex"]

STATE_DIR = ".omniwasm"
"""The app's own state directory beside the manifest (never exposed to a guest)."""

_MAGIC = re.compile(r"[*?\[]")


def _class(text: str, i: int, where: str) -> tuple[str, int]:
    """The regex of the ``[...]`` set starting at ``text[i]``, and the index after it."""
    j = i + 1
    negate = j < len(text) and text[j] == "!"
    j += negate
    if j < len(text) and text[j] == "]":  # a leading ] is literal
        j += 1
    end = text.find("]", j)
    if end < 0:
        raise PolicyError(f"{where}: unclosed '[' in {text!r}")
    body = text[i + 1 + negate : end].replace("\\", "\\\\").replace("^", "\\^")
    return f"[{'^' if negate else ''}{body}]", end + 1


def _translate(text: str, where: str, *, any_char: str) -> str:
    """A glob as a regex (``any_char`` is what ``*``/``?`` may match: ``.`` or ``[^/]``)."""
    out: list[str] = []
    i = 0
    while i < len(text):
        if text.startswith("**", i):
            end = i + 2
            if (i and text[i - 1] != "/") or (end < len(text) and text[end] != "/"):
                raise PolicyError(f"{where}: '**' must be a whole path segment in {text!r}")
            if end == len(text):
                out.append(".*")  # a trailing ** matches everything below
                i = end
            else:
                out.append("(?:.*/)?")  # "**/" matches zero or more directories
                i = end + 1
            continue
        c = text[i]
        if c == "*":
            out.append(f"{any_char}*")
        elif c == "?":
            out.append(any_char)
        elif c == "[":
            regex, i = _class(text, i, where)
            out.append(regex)
            continue
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out)


def exclude_regex(pattern: str, where: str) -> re.Pattern[str]:
    """An ``exclude_files`` glob, matched like Spin's (``*`` and ``?`` also match ``/``).

    Raises:
        PolicyError: a malformed pattern.

    """
    return re.compile(_translate(pattern, where, any_char="."), re.DOTALL)


def check_pattern(pattern: str, where: str) -> tuple[str, ...]:
    """The path segments of a ``files`` string entry, after checking it stays in the app.

    Raises:
        PolicyError: the pattern is empty, absolute, leaves the app directory (``..``),
            names the app directory itself, or is a malformed glob.

    """
    if pattern.startswith(("/", "\\")):
        raise PolicyError(
            f"{where}: {pattern!r} is absolute; files patterns are relative to the manifest"
        )
    parts = tuple(p for p in pattern.split("/") if p not in ("", "."))
    if ".." in parts:
        raise PolicyError(f"{where}: {pattern!r} leaves the application directory")
    if not parts:
        raise PolicyError(
            f"{where}: {pattern!r} names the application directory itself; "
            'use a glob such as "static/**/*"'
        )
    for part in parts:
        if part != "**":
            _translate(part, where, any_char="[^/]")  # raises on a malformed glob
    return parts


@dataclass(frozen=True, slots=True)
class FileSet:
    """A component's ``files`` entries and ``exclude_files``, relative to the app directory.

    Args:
        base: the application directory (the manifest's, resolved).
        patterns: the string entries (globs or paths), as written.
        placements: ``(source, destination)`` pairs: a file or directory (its path relative
            to ``base``, normalised: no ``.``/``..`` segments) and the guest path it appears at.
        exclude: the ``exclude_files`` globs.
        where: the table the entries are written in, e.g. ``[component.web]`` (for errors).

    """

    base: Path
    patterns: tuple[str, ...] = ()
    placements: tuple[tuple[str, str], ...] = ()
    exclude: tuple[str, ...] = ()
    where: str = "[component]"

    def collect(self) -> tuple[dict[str, Path], list[str]]:
        """The files to expose, ``{guest path: host file}``, and the globs that matched none.

        Raises:
            PolicyError: a path without wildcards does not exist, a symlink points outside
                the app directory, or two different files claim one guest path.

        """
        where = f"{self.where}.files"
        excluded = [exclude_regex(p, f"{self.where}.exclude_files") for p in self.exclude]
        out: dict[str, Path] = {}
        empty: list[str] = []

        def add(guest: str, rel: str, host: Path) -> None:
            if rel == STATE_DIR or rel.startswith(STATE_DIR + "/"):
                return
            if any(rx.fullmatch(rel) for rx in excluded):
                return
            known = out.get(guest)
            if known is not None and known.resolve() != host.resolve():
                raise PolicyError(
                    f"{where}: {guest} is given twice ({_rel(known, self.base)} and {rel})"
                )
            out[guest] = host

        for pattern in self.patterns:
            parts = check_pattern(pattern, where)
            if _MAGIC.search(pattern):
                found = list(self._glob(self.base, "", parts, frozenset()))
                if not found:
                    empty.append(pattern)
            else:
                rel = "/".join(parts)
                found = list(self._path(rel))
            for rel, host in found:
                add("/" + rel, rel, host)
        for rel, destination in self.placements:
            dest = destination.rstrip("/")
            for sub, host in self._path(rel):
                inner = sub[len(rel) + 1 :] if rel else sub
                add(f"{dest}/{inner}" if inner else dest or "/", sub, host)
        return out, empty

    def filesystem(self) -> tuple[MemoryFs | None, list[str]]:
        """A read-only in-memory filesystem of the files (None when there are none).

        Returns:
            the filesystem, and the globs that matched no file.

        Raises:
            PolicyError: as :meth:`collect`, or a file cannot be read.

        """
        files, empty = self.collect()
        if not files:
            return None, empty
        tree: dict[str, bytes | None] = {}
        for guest, host in sorted(files.items()):
            try:
                tree[guest] = host.read_bytes()
            except OSError as exc:
                raise PolicyError(
                    f"{self.where}.files: cannot read {host}: {exc.strerror}"
                ) from exc
        try:
            return MemoryFs(tree, read_only=True), empty
        except ValueError as exc:  # a path both a file and a directory
            raise PolicyError(f"{self.where}.files: {exc}") from exc

    # -- the walk

    def _kind(self, path: Path, rel: str) -> tuple[str | None, Path]:
        """``"file"``, ``"dir"`` or None, and the real path; symlinks must stay inside."""
        real = path.resolve()
        if not real.is_relative_to(self.base):  # a symlink on the way leads out
            raise PolicyError(
                f"{self.where}.files: {rel} leads to {real}, outside the application directory"
            )
        if real.is_file():
            return "file", real
        if real.is_dir():
            return "dir", real
        return None, real

    def _path(self, rel: str) -> Iterator[tuple[str, Path]]:
        """A path without wildcards: the file, or every file below the directory."""
        kind, real = self._kind(self.base / rel, rel)
        if kind == "file":
            yield rel, self.base / rel
        elif kind == "dir":
            yield from self._every_file(
                self.base / rel, f"{rel}/" if rel else "", frozenset({real})
            )
        else:
            raise PolicyError(f"{self.where}.files: {rel!r} does not exist (and is not a glob)")

    def _children(self, d: Path, rel: str) -> Iterator[str]:
        if rel == "":
            yield from (n for n in _listdir(d) if n != STATE_DIR)
        else:
            yield from _listdir(d)

    def _every_file(self, d: Path, rel: str, seen: frozenset[Path]) -> Iterator[tuple[str, Path]]:
        for name in self._children(d, rel):
            kind, real = self._kind(d / name, rel + name)
            if kind == "file":
                yield rel + name, d / name
            elif kind == "dir" and real not in seen:  # a symlink cycle is walked once
                yield from self._every_file(d / name, f"{rel}{name}/", seen | {real})

    def _glob(
        self, d: Path, rel: str, parts: tuple[str, ...], seen: frozenset[Path]
    ) -> Iterator[tuple[str, Path]]:
        part, rest = parts[0], parts[1:]
        if part == "**":
            if not rest:
                yield from self._every_file(d, rel, seen)
                return
            yield from self._glob(d, rel, rest, seen)
            for name in self._children(d, rel):
                kind, real = self._kind(d / name, rel + name)
                if kind == "dir" and real not in seen:
                    yield from self._glob(d / name, f"{rel}{name}/", parts, seen | {real})
            return
        if _MAGIC.search(part):
            rx = re.compile(_translate(part, f"{self.where}.files", any_char="[^/]"), re.DOTALL)
            names = [n for n in self._children(d, rel) if rx.fullmatch(n)]
        else:
            names = [part] if (d / part).exists() or (d / part).is_symlink() else []
        for name in names:
            kind, real = self._kind(d / name, rel + name)
            if rest and kind == "dir" and real not in seen:
                yield from self._glob(d / name, f"{rel}{name}/", rest, seen | {real})
            elif not rest and kind == "file":
                yield rel + name, d / name


def _listdir(d: Path) -> list[str]:
    try:
        return sorted(os.listdir(d))
    except OSError:
        return []


def _rel(path: Path, base: Path) -> str:
    try:
        return path.relative_to(base).as_posix()
    except ValueError:
        return str(path)
