"""The layer picture in DESIGN.md holds: imports only point down."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import omniwasm

PKG = Path(omniwasm.__file__).parent
FOUNDATION = {"_binary", "_errors", "_policy", "_wit"}
FACADE = {
    "_runtime",
    "_component",
    "_linker",
    "_bindgen",
    "_bindgen_gen",
    "_inspect",
}
HABITATS = {"cli", "plugins", "gateway", "sql", "registry", "compose", "nn", "cluster"}
RANK = {"foundation": 0, "engine": 1, "facade": 2, "wasi": 3, "habitat": 4, "package": 5}


def layer_of(parts: tuple[str, ...]) -> str:
    """Name the layer of a module given its path parts under omniwasm/."""
    head = parts[0].removesuffix(".py")
    if head in FOUNDATION:
        return "foundation"
    if head == "_engine":
        return "engine"
    if head in FACADE:
        return "facade"
    if head == "wasi":
        return "wasi"
    if head in HABITATS:
        return "habitat"
    return "package"


def imports_of(path: Path) -> list[tuple[str, int]]:
    """Return the omniwasm-internal modules a file imports (resolved), with line numbers."""
    rel = path.relative_to(PKG).with_suffix("").parts
    pkg_parts = list(rel[:-1])
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg_parts[: len(pkg_parts) - (node.level - 1)]
                target = [*base, *(node.module.split(".") if node.module else [])]
                if not target:
                    target = [alias.name for alias in node.names][:1]
                found.append((".".join(target), node.lineno))
            elif node.module and node.module.startswith("omniwasm."):
                found.append((node.module.removeprefix("omniwasm."), node.lineno))
        elif isinstance(node, ast.Import):
            found += [
                (a.name.removeprefix("omniwasm."), node.lineno)
                for a in node.names
                if a.name.startswith("omniwasm.")
            ]
    return found


FILES = sorted(p for p in PKG.rglob("*.py") if p.name != "__main__.py")


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(PKG)))
def test_imports_point_down(path: Path) -> None:
    """No module imports from a layer above its own, and habitats never import each other."""
    rel = path.relative_to(PKG).parts
    if rel == ("__init__.py",):
        return
    mine = layer_of(rel)
    top_level = {
        node.lineno
        for node in ast.parse(path.read_text()).body
        if isinstance(node, ast.Import | ast.ImportFrom)
    }
    for target, line in imports_of(path):
        parts = tuple(target.split("."))
        theirs = layer_of(parts)
        if mine == "habitat" and theirs == "habitat":
            # DESIGN.md: only cli/ may import another habitat, lazily, inside a command.
            lazy_cli = rel[0] == "cli" and line not in top_level
            assert parts[0] == rel[0] or lazy_cli, (
                f"{path.name}:{line} habitat imports habitat {target}"
                + (" at module level (import it inside the command)" if rel[0] == "cli" else "")
            )
            continue
        assert RANK[theirs] <= RANK[mine] or theirs == "package", (
            f"{'/'.join(rel)}:{line} ({mine}) imports {target} ({theirs})"
        )


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(PKG)))
def test_only_the_engine_imports_wasmtime(path: Path) -> None:
    """wasmtime is imported only under omniwasm/_engine/."""
    rel = path.relative_to(PKG).parts
    if rel[0] == "_engine":
        return
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        assert not any(n == "wasmtime" or n.startswith("wasmtime.") for n in names), path
