"""The README's error tree is omniwasm's: every class under its parent, none missing."""

from __future__ import annotations

import re

import omniwasm
from fixtures.readme import blocks, section


def readme_tree() -> dict[str, str]:
    """Each class of the README's tree -> its parent (the root's parent is "")."""
    parents: dict[str, str] = {}
    stack: list[str] = []
    for line in blocks(section("Errors"), "")[0].splitlines():
        names = re.findall(r"── (\w+)", line)
        if not names:  # the root
            stack = [line.split()[0]]
            parents[stack[0]] = ""
            continue
        depth = line.index("──") // 4 + 1
        if len(names) > 1:  # the last line: siblings written side by side
            depth = (len(line) - len(line.lstrip("│ "))) // 4 + 1
        del stack[depth:]
        for name in names:
            parents[name] = stack[-1]
        stack.append(names[-1])
    return parents


def test_the_readme_tree_is_the_class_tree() -> None:
    """Each class the README names exists in omniwasm with the parent the README draws."""
    tree = readme_tree()
    assert len(tree) > 20
    for name, parent in tree.items():
        cls = getattr(omniwasm, name)
        if parent:
            assert getattr(omniwasm, parent) in cls.__bases__, (name, parent)


def test_every_public_error_is_in_the_readme_tree() -> None:
    """Every OmniwasmError subclass omniwasm exports is drawn in the README's tree."""
    public = {
        name
        for name in omniwasm.__all__
        if isinstance(getattr(omniwasm, name), type)
        and issubclass(getattr(omniwasm, name), omniwasm.OmniwasmError)
    }
    assert public - set(readme_tree()) == set()
