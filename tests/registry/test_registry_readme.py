"""The README's registry section: its Python example runs against a real registry."""

from __future__ import annotations

import contextlib
import io
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from fixtures.registry_server import RegistryServer, needs_registry

pytestmark = [needs_registry, pytest.mark.usefixtures("registry_env")]
README = Path(__file__).parents[2] / "README.md"


def _section(title: str) -> str:
    text = README.read_text()
    start = text.index(f"## {title}\n")
    end = text.index("\n## ", start + 1)
    return text[start:end]


def test_readme_python_example_runs(
    registry: RegistryServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    c_component: Callable[[str], Path],
) -> None:
    """The ``In Python`` block pushes, publishes, fetches and runs by reference as it says."""
    section = _section("Registry and composition")
    after = section[section.index("**In Python.**") :]
    code = re.search(r"```python\n(.*?)```", after, re.S)
    assert code is not None
    monkeypatch.chdir(tmp_path)
    shutil.copy(c_component("hello"), "hello.wasm")
    Path("omniwasm.toml").write_text(f'[registry.namespace_registries]\nacme = "{registry.host}"\n')
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(code.group(1).replace("127.0.0.1:5000", registry.host), {})
    assert out.getvalue() == "hello from wasm\n"
