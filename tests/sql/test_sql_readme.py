"""The README's SQL example runs as written, and its results are the ones its comments show."""

from __future__ import annotations

import ast
import contextlib
import io
import re
from pathlib import Path

README = Path(__file__).parents[2] / "README.md"


def sql_example() -> str:
    """The first Python block of the README's "SQL functions" section."""
    text = README.read_text()
    section = text[text.index("## SQL functions") :]
    return section[
        section.index("```python\n") + 10 : section.index("```\n", section.index("```python"))
    ]


def test_readme_sql_example(summarizer_cwasm: Path) -> None:
    """Every expression with a commented result evaluates to it; printed lines match too."""
    code = sql_example().replace('"summarizer.wasm"', repr(str(summarizer_cwasm)))
    lines = code.splitlines()
    namespace: dict[str, object] = {}
    printed = io.StringIO()
    for node in ast.parse(code).body:
        source = "\n".join(lines[node.lineno - 1 : node.end_lineno])
        comment = re.search(r"  # (.*)$", lines[node.end_lineno - 1])  # type: ignore[index]
        with contextlib.redirect_stdout(printed):
            if isinstance(node, ast.Expr) and comment:
                expr = source.split("  # ")[0]
                want = ast.literal_eval(comment.group(1))
                assert eval(expr, namespace) == want, source
            else:
                exec(source, namespace)
    for line in lines:
        m = re.search(r"print\(.*\)  # (.*)$", line)
        if m:
            assert m.group(1) in printed.getvalue()
