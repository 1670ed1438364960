"""Fixtures of the SQL habitat's tests: its guests (built with the real toolchains)."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from collections.abc import Callable
from importlib.metadata import version
from importlib.resources import files
from pathlib import Path

import pytest

from fixtures._cache import digest, write_atomic

FIXTURES = Path(__file__).parent.parent / "fixtures"
KERNELS = Path(str(files("omniwasm") / "examples" / "sql_kernels.wat"))


def build_c_udf(source: Path) -> Path:
    """Compile a freestanding C file (no libc, no WASI) to a core module; cached."""
    flags = ["--target=wasm32-freestanding", "-O2", "-nostdlib", "-Wl,--no-entry"]
    key = digest(source.read_bytes(), version("ziglang").encode(), " ".join(flags).encode())
    out = FIXTURES / ".build" / f"{source.stem}-{key}.wasm"
    if not out.exists():
        with tempfile.TemporaryDirectory() as tmp:
            built = Path(tmp) / "out.wasm"
            cmd = [sys.executable, "-m", "ziglang", "cc", *flags, str(source), "-o", str(built)]
            subprocess.run(cmd, check=True, capture_output=True)
            write_atomic(out, built.read_bytes())
    return out


@pytest.fixture(scope="session")
def udfs_wasm(wat_component: Callable[[str], Path]) -> Path:
    """The component ``test:sql/udfs`` (tests/fixtures/components/sql_udfs.wat)."""
    return wat_component("sql_udfs")


@pytest.fixture(scope="session")
def types_wasm(wat_component: Callable[[str], Path]) -> Path:
    """The component ``test:types/echo``: an echo function for every WIT type."""
    return wat_component("types")


@pytest.fixture(scope="session")
def kernels_wat() -> Path:
    """The core-module example ``omniwasm/examples/sql_kernels.wat``."""
    return KERNELS


@pytest.fixture(scope="session")
def c_udf() -> Path:
    """tests/fixtures/c/sql_udf.c built with zig (scalar euclid, batch clamp, word-count)."""
    return build_c_udf(FIXTURES / "c" / "sql_udf.c")
