"""The README's Ray example runs as written, in its own process with ``ray.init()``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).parents[2] / "README.md"
pytestmark = pytest.mark.usefixtures("_one_session")

CHECK = r"""
import ast, re, sys
code = sys.stdin.read()
lines = code.splitlines()
namespace = {}
for node in ast.parse(code).body:
    source = "\n".join(lines[node.lineno - 1 : node.end_lineno])
    comment = re.search(r"  # (.*)$", lines[node.end_lineno - 1])
    if isinstance(node, ast.Expr) and comment:
        got = eval(source.split("  # ")[0], namespace)
        want = ast.literal_eval(comment.group(1))
        assert got == want, (source, got)
    else:
        exec(source, namespace)
print("README example ok")
"""


def ray_example() -> str:
    """The first Python block of the README's Ray section."""
    text = README.read_text()
    section = text[text.index("## Ray:") :]
    start = section.index("```python\n") + 10
    return section[start : section.index("```\n", start)]


def test_readme_ray_example(tmp_path: Path) -> None:
    """Every commented result of the example is what it evaluates to, on an in-process Ray."""
    src = Path(__file__).parents[2] / "src"
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    env |= {"PYTHONPATH": str(src), "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"}
    code = ray_example().replace(
        "ray.init(num_cpus=2, object_store_memory=100_000_000)",
        "ray.init(num_cpus=2, object_store_memory=100_000_000, include_dashboard=False, "
        f"_temp_dir='/tmp/owrr-{os.getpid()}')",
    )
    proc = subprocess.run(
        [sys.executable, "-c", CHECK],
        input=code,
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "README example ok" in proc.stdout
