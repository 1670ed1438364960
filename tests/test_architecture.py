"""The layers of ARCHITECTURE.md hold: every module has a place and imports only point down.

The checker reads a package tree (an AST walk over every import, at module level and inside
functions) and reports each breach as one line; it runs on omniwasm itself and, to show that
each rule can fail, on small throw-away trees.
"""

from __future__ import annotations

import ast
import re
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import omniwasm

PKG = Path(omniwasm.__file__).parent

# Where every module belongs, by its first path component under omniwasm/ (ARCHITECTURE.md).
# Places reserved for modules that have not landed yet are listed too, so they pass on arrival.
PLACES: dict[str, str] = {
    # the public face: re-exports only
    "__init__.py": "api",
    "__main__.py": "api",
    "types.py": "api",
    # 0 foundation: pure Python, standard library only
    "_version.py": "foundation",
    "_deadline.py": "foundation",
    "_errors.py": "foundation",
    "_policy": "foundation",
    "_wit": "foundation",
    "_binary": "foundation",  # _binary/component.py (#15) lands here
    # 1 services: pure Python and optional libraries, no engine
    "registry": "services",
    # 2 engine: the only place of wasmtime and ctypes (component/own/, snapshot.py land here)
    "_engine": "engine",
    # 3 façade: the backend-neutral Python API
    "_compiled.py": "facade",
    "_cache.py": "facade",
    "_runtime.py": "facade",
    "_instance.py": "facade",
    "_linked.py": "facade",
    "_inspect.py": "facade",
    "_coreabi.py": "facade",
    "_columnar.py": "facade",
    "_component": "facade",
    "_bindgen": "facade",
    # 4 WASI in Python on the public host-import API (wasi/nn/, wasi/p3/ land here)
    "wasi": "wasi",
    # 5 habitats, peers of each other
    "cli": "habitat",
    "plugins": "habitat",
    "gateway": "habitat",
    "python": "habitat",
    "sql": "habitat",
    "ray": "habitat",
}
RANK = {"foundation": 0, "services": 1, "engine": 2, "facade": 3, "wasi": 4, "habitat": 5, "api": 6}
# Packages whose private modules (a leading underscore below the package) are theirs alone.
PUBLIC_PACKAGES = {"registry", "wasi", "cli", "plugins", "gateway", "python", "sql", "ray"}
NATIVE = {"wasmtime", "ctypes"}


@dataclass(frozen=True, slots=True)
class Import:
    """One import of a module: the module it reaches and whether it runs at import time."""

    target: str
    line: int
    top_level: bool


def module_name(root: Path, path: Path) -> str:
    """``omniwasm.wasi.http`` for ``wasi/http/__init__.py`` under ``root`` (the package dir)."""
    parts = [root.name, *path.relative_to(root).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules(root: Path) -> dict[str, Path]:
    """Every module of the package at ``root`` by its dotted name."""
    return {module_name(root, p): p for p in sorted(root.rglob("*.py"))}


def imports(root: Path, path: Path, known: dict[str, Path]) -> Iterator[Import]:
    """The imports of ``path``, resolved to the deepest known module (or a foreign name)."""
    tree = ast.parse(path.read_text())
    top = {id(node) for node in tree.body if isinstance(node, ast.Import | ast.ImportFrom)}
    here = module_name(root, path).split(".")
    package = here if path.name == "__init__.py" else here[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                prefix = package[: len(package) - node.level + 1]
                base = ".".join([*prefix, *([node.module] if node.module else [])])
            names = [
                f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names
            ]
        else:
            continue
        for name in names:
            target = name
            while target not in known and "." in target:
                target = target.rpartition(".")[0]
            yield Import(target if target in known else name, node.lineno, id(node) in top)


def place_of(root: Path, module: str) -> str | None:
    """The layer of a module of the package at ``root`` (None when it has no place)."""
    parts = module.split(".")[1:]
    if not parts:
        return "api"
    first = parts[0]
    if (root / first).is_dir():
        return PLACES.get(first)
    return PLACES.get(f"{first}.py")


def problems_of(root: Path, path: Path, known: dict[str, Path]) -> list[str]:
    """Every breach of the layering by the module at ``path``, one line each."""
    rel = path.relative_to(root)
    me = module_name(root, path)
    mine = place_of(root, me)
    if mine is None:
        return [f"{rel}: unclassified module (add its directory to PLACES and ARCHITECTURE.md)"]
    top = me.split(".")[1] if "." in me else ""
    found = []
    for imp in imports(root, path, known):
        head = imp.target.split(".")[0]
        where = f"{rel}:{imp.line}"
        if head in NATIVE:
            if mine != "engine":
                found.append(f"{where} ({mine}) imports {head}: only _engine may")
            continue
        if head != root.name:
            continue
        parts = imp.target.split(".")[1:]
        theirs = place_of(root, imp.target)
        if theirs is None:
            continue  # reported where that module itself is checked
        if me.startswith(imp.target + ".") or imp.target == me:
            continue  # a module and its own package
        if parts and parts[0] != top and parts[0] in PUBLIC_PACKAGES:
            private = next((p for p in parts[1:] if p.startswith("_")), None)
            if private is not None:
                found.append(f"{where} imports {imp.target}: a private module of {parts[0]}")
        if mine == "habitat" and theirs == "habitat" and parts[0] != top:
            if top != "cli" or imp.top_level:
                found.append(
                    f"{where} habitat imports habitat {imp.target} "
                    "(only cli/ may, inside a command)"
                )
            continue
        if mine == "habitat" and parts and parts[0] == "_engine":
            found.append(f"{where} habitat imports {imp.target}: habitats stay off _engine")
            continue
        if RANK[theirs] > RANK[mine]:
            found.append(f"{where} ({mine}) imports {imp.target} ({theirs}): imports point down")
    return found


def cycles(root: Path) -> list[list[str]]:
    """Import cycles among the package's modules (module- and function-level imports).

    An import of one's own ancestor package is not an edge: a package's modules may use what
    its ``__init__`` defines before them.
    """
    known = modules(root)
    graph = {
        name: {
            imp.target
            for imp in imports(root, path, known)
            if imp.target in known and imp.target != name and not name.startswith(imp.target + ".")
        }
        for name, path in known.items()
    }
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def check(root: Path) -> list[str]:
    """Every problem of the package at ``root``: misplaced modules, bad imports, cycles."""
    known = modules(root)
    found = [p for path in known.values() for p in problems_of(root, path, known)]
    return found + [f"import cycle: {' <-> '.join(c)}" for c in cycles(root)]


KNOWN = modules(PKG)
FILES = sorted(KNOWN.values())


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(PKG)))
def test_module_has_a_place_and_imports_point_down(path: Path) -> None:
    """Each module sits in a layer and imports only from layers below (or its own package)."""
    assert problems_of(PKG, path, KNOWN) == []


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(PKG)))
def test_only_the_engine_imports_native_code(path: Path) -> None:
    """wasmtime and ctypes are imported only under omniwasm/_engine/."""
    native = {i.target.split(".")[0] for i in imports(PKG, path, KNOWN)} & NATIVE
    assert not native or path.relative_to(PKG).parts[0] == "_engine", native


def test_no_import_cycles() -> None:
    """No two modules import each other, directly or around a loop, at any level."""
    assert cycles(PKG) == []


def test_every_place_is_documented() -> None:
    """Each directory and module named in PLACES is named in ARCHITECTURE.md."""
    text = (PKG.parents[1] / "ARCHITECTURE.md").read_text()
    missing = [name for name in PLACES if name.removesuffix(".py") not in text]
    assert missing == []


def test_every_module_is_named_in_architecture_md() -> None:
    """Every package and module under omniwasm/ is named (in backticks) in ARCHITECTURE.md."""
    text = (PKG.parents[1] / "ARCHITECTURE.md").read_text()
    named = set(re.findall(r"\w+", " ".join(re.findall(r"`([^`]+)`", text))))
    missing = [
        str(path.relative_to(PKG))
        for path in sorted(PKG.rglob("*.py"))
        if path.stem != "__init__" and not {path.stem, path.stem.lstrip("_")} & named
    ]
    missing += [
        f"{path.relative_to(PKG)}/"
        for path in sorted(PKG.rglob("__init__.py"))
        if path.parent != PKG and path.parent.name not in named
    ]
    assert missing == [], "name these in ARCHITECTURE.md"


# --- the checker fails where it should: small throw-away trees ---------------------------------


def tree(tmp_path: Path, files: dict[str, str]) -> Path:
    """A package ``omniwasm`` under ``tmp_path`` with these files (path: source)."""
    root = tmp_path / "omniwasm"
    for name, source in {"__init__.py": "", **files}.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source))
    return root


def test_check_passes_a_well_layered_tree(tmp_path: Path) -> None:
    """A tree whose imports all point down has no problems."""
    root = tree(
        tmp_path,
        {
            "_errors.py": "",
            "_engine/__init__.py": "import wasmtime\nimport ctypes\nfrom .._errors import X\n",
            "_runtime.py": "from . import _engine\n",
            "wasi/__init__.py": "from .._runtime import Runtime\nfrom .http import Fields\n",
            "wasi/http/__init__.py": "from ._types import Fields\n",
            "wasi/http/_types.py": "",
            "gateway/__init__.py": "from ..wasi.http import Fields\n",
            "cli/__init__.py": "def main():\n    from ..gateway import App\n",
        },
    )
    assert check(root) == []


def test_check_fails_on_a_cycle(tmp_path: Path) -> None:
    """Two modules importing each other, one of them inside a function, are a cycle."""
    root = tree(
        tmp_path,
        {
            "_runtime.py": "from ._inspect import describe\n",
            "_inspect.py": "def describe():\n    from ._runtime import Runtime\n",
        },
    )
    assert check(root) == ["import cycle: omniwasm._inspect <-> omniwasm._runtime"]


def test_check_fails_on_an_unclassified_module(tmp_path: Path) -> None:
    """A module in a directory the layers do not name is reported, not let through."""
    root = tree(tmp_path, {"misc/__init__.py": "", "misc/util.py": ""})
    assert check(root) == [
        "misc/__init__.py: unclassified module (add its directory to PLACES and ARCHITECTURE.md)",
        "misc/util.py: unclassified module (add its directory to PLACES and ARCHITECTURE.md)",
    ]


def test_check_fails_on_a_habitat_importing_the_engine(tmp_path: Path) -> None:
    """A habitat reaching into _engine is reported, at module level or inside a function."""
    root = tree(
        tmp_path,
        {
            "_engine/__init__.py": "",
            "plugins/__init__.py": "def f():\n    from .. import _engine as eng\n",
        },
    )
    assert check(root) == [
        "plugins/__init__.py:2 habitat imports omniwasm._engine: habitats stay off _engine"
    ]


def test_check_fails_on_a_habitat_importing_ctypes(tmp_path: Path) -> None:
    """ctypes in a habitat is reported: raw memory goes through the engine."""
    root = tree(tmp_path, {"plugins/__init__.py": "import ctypes\n"})
    assert check(root) == ["plugins/__init__.py:1 (habitat) imports ctypes: only _engine may"]


def test_check_fails_on_wasmtime_outside_the_engine(tmp_path: Path) -> None:
    """wasmtime imported by the façade (or anything but _engine) is reported."""
    root = tree(tmp_path, {"_runtime.py": "from wasmtime import Store\n"})
    assert check(root) == ["_runtime.py:1 (facade) imports wasmtime: only _engine may"]


def test_check_fails_on_a_private_module_of_another_package(tmp_path: Path) -> None:
    """A habitat importing another package's private module (not its public names) is reported."""
    root = tree(
        tmp_path,
        {
            "wasi/__init__.py": "",
            "wasi/_io.py": "",
            "gateway/__init__.py": "from ..wasi._io import Pollable\n",
        },
    )
    assert check(root) == [
        "gateway/__init__.py:1 imports omniwasm.wasi._io: a private module of wasi"
    ]


def test_check_fails_on_an_upward_import(tmp_path: Path) -> None:
    """The foundation importing the façade, or a habitat another habitat, is reported."""
    root = tree(
        tmp_path,
        {
            "_runtime.py": "",
            "_errors.py": "from ._runtime import Runtime\n",
            "plugins/__init__.py": "",
            "gateway/__init__.py": "from ..plugins import Plugin\n",
        },
    )
    assert check(root) == [
        "_errors.py:1 (foundation) imports omniwasm._runtime (facade): imports point down",
        "gateway/__init__.py:1 habitat imports habitat omniwasm.plugins "
        "(only cli/ may, inside a command)",
    ]


def test_test_file_names_are_unique() -> None:
    """No two test files share a basename (pytest imports them as top-level modules by name)."""
    seen: dict[str, list[str]] = {}
    for path in Path(__file__).parent.rglob("test_*.py"):
        if ".build" not in path.parts:
            seen.setdefault(path.name, []).append(str(path))
    assert {name: paths for name, paths in seen.items() if len(paths) > 1} == {}
