"""The README's Python sandbox example runs as written, with the results its comments show."""

from __future__ import annotations

import ast
import re
from pathlib import Path

README = Path(__file__).parents[2] / "README.md"


def example() -> str:
    """The first Python block of the README's "Python sandbox" section."""
    text = README.read_text()
    section = text[text.index("## Python sandbox") :]
    start = section.index("```python\n") + 10
    return section[start : section.index("```\n", start)]


def test_readme_python_sandbox_example() -> None:
    """Every expression with a commented result evaluates to it."""
    code = example()
    lines = code.splitlines()
    namespace: dict[str, object] = {}
    checked = 0

    def walk(body: list[ast.stmt]) -> None:
        nonlocal checked
        for node in body:
            if isinstance(node, ast.With):  # `with X() as s:` checks its body, then closes
                item = node.items[0]
                assert isinstance(item.optional_vars, ast.Name)
                value = eval(
                    compile(ast.Expression(item.context_expr), "README", "eval"), namespace
                )
                namespace[item.optional_vars.id] = value
                try:
                    walk(node.body)
                finally:
                    value.close()  # type: ignore[attr-defined]
                continue
            source = "\n".join(lines[node.lineno - 1 : node.end_lineno])
            comment = re.search(r"  # (.*)$", lines[node.end_lineno - 1])  # type: ignore[index]
            if isinstance(node, ast.Expr) and comment:
                want = ast.literal_eval(comment.group(1))
                assert eval(source.split("  # ")[0].strip(), namespace) == want, source
                checked += 1
            else:
                exec(compile(ast.Module([node], []), "README", "exec"), namespace)

    walk(ast.parse(code).body)
    assert checked >= 7
