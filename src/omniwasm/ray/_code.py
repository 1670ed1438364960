"""Code as it travels to Ray workers, and each worker process's compiled code and instances.

A :class:`Code` is what a task or actor carries: the module's bytes (with their sha256) or a
registry reference, never a compiled artifact, since machine code is specific to the node
that made it. A worker compiles through omniwasm's on-disk compile cache, so each node
compiles once (a corrupted cache entry is detected by the cache, removed and recompiled), and
keeps the result in memory for the life of the process. Instances are kept per worker
process and keyed by Ray job, code, policy and thread: a worker reuses its instance across
tasks and batches of the same job and never hands it to another job.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._compiled import Compiled, Source, read_source
from .._errors import ExecutionError, OmniwasmError
from .._policy import Policy
from .._runtime import Instance, Runtime

__all__ = [
    "Code",
    "call_export",
    "code_of",
    "compiled",
    "discard",
    "failed",
    "forget",
    "instance",
    "job_id",
    "runtime",
]


@dataclass(frozen=True, slots=True)
class Code:
    """A module or component as shipped to workers: its bytes, or a registry reference.

    Args:
        data: the WebAssembly (binary or text) bytes, or None for a reference.
        reference: a registry reference (``oci://...``, ``ns:name@1.0``) each node resolves
            and verifies through its own registry store, or None.
        name: where it came from, for messages.
        digest: ``sha256:...`` of ``data``, or the reference itself: the cache key.

    """

    data: bytes | None
    reference: str | None
    name: str
    digest: str

    def __repr__(self) -> str:
        size = "" if self.data is None else f", {len(self.data)} bytes"
        return f"<Code {self.name}{size}>"


def code_of(source: Code | Compiled | Source) -> Code:
    """The shippable form of ``source`` (read on the driver, so workers need no shared files).

    A string that is not an existing file and reads as a registry reference is shipped as
    that reference.

    Raises:
        InvalidModule: a path that cannot be read.

    """
    if isinstance(source, Code):
        return source
    if isinstance(source, Compiled):
        source = source.source
    text = isinstance(source, str) and source.lstrip().startswith("(")
    if isinstance(source, str) and not text and not Path(source).exists():
        from ..registry import looks_like_reference

        if looks_like_reference(source):
            return Code(None, source, source, source)
    data, where = read_source(source)
    return Code(data, None, where, "sha256:" + hashlib.sha256(data).hexdigest())


_LOCK = threading.Lock()
_RUNTIMES: dict[bool, Runtime] = {}
_COMPILED: dict[tuple[str, bool], Compiled] = {}
_INSTANCES: dict[tuple[str, str, Policy, int, str], Instance] = {}


_JOB: list[str] = []  # a Ray worker process serves one job for its whole life


def job_id() -> str:
    """The Ray job this process works for ("" outside Ray)."""
    if _JOB:
        return _JOB[0]
    try:
        import ray

        if ray.is_initialized():
            job = str(ray.get_runtime_context().get_job_id())
            if ray.get_runtime_context().worker.mode == ray.WORKER_MODE:
                _JOB.append(job)
            return job
    except Exception:  # outside a Ray worker there is simply no job
        pass
    return ""


def runtime(policy: Policy) -> Runtime:
    """The process's runtime for ``policy`` (one with fuel metering, one without)."""
    fuel = policy.fuel is not None
    with _LOCK:
        rt = _RUNTIMES.get(fuel)
        if rt is None:
            rt = _RUNTIMES[fuel] = Runtime(fuel=fuel)
        return rt


def compiled(code: Code, policy: Policy) -> Compiled:
    """``code`` compiled in this process (through the node's compile cache), once.

    Raises:
        InvalidModule: the code is invalid.
        RegistryError: a reference cannot be resolved.

    """
    rt = runtime(policy)
    key = (code.digest, rt.fuel)
    found = _COMPILED.get(key)
    if found is not None:
        return found
    data = code.data
    if data is None:
        from ..registry import fetch_source

        assert code.reference is not None
        data = fetch_source(code.reference)
    made = rt.load(data)
    with _LOCK:
        return _COMPILED.setdefault(key, made)


def instance(code: Code, policy: Policy, tag: str = "") -> Instance:
    """The calling thread's live instance of ``code`` under ``policy`` for the current job.

    ``tag`` keeps apart instances that must not share state (e.g. two actors' in one process).

    Raises:
        OmniwasmError: the code cannot be compiled or instantiated.

    """
    key = (job_id(), code.digest, policy, threading.get_ident(), tag)
    inst = _INSTANCES.get(key)
    if inst is not None and not inst.closed:
        return inst
    inst = runtime(policy).instantiate(compiled(code, policy), policy)
    with _LOCK:
        _INSTANCES[key] = inst
    return inst


def discard(code: Code, policy: Policy, tag: str = "") -> None:
    """Close this thread's instance of ``code`` (after a failed call left it unusable)."""
    key = (job_id(), code.digest, policy, threading.get_ident(), tag)
    with _LOCK:
        inst = _INSTANCES.pop(key, None)
    if inst is not None:
        inst.close()


def failed(exc: OmniwasmError, code: Code, policy: Policy, tag: str = "") -> None:
    """After a failed call: a trap or a limit may leave the instance unusable: start afresh."""
    if isinstance(exc, ExecutionError):
        discard(code, policy, tag)


def forget() -> None:
    """Drop this process's compiled code and instances (the next use loads afresh)."""
    with _LOCK:
        instances = list(_INSTANCES.values())
        _INSTANCES.clear()
        _COMPILED.clear()
    for inst in instances:
        inst.close()


def call_export(inst: Instance, function: str, args: tuple[Any, ...]) -> Any:
    """Call ``function`` of ``inst`` with Python values."""
    return inst.func(function)(*args)
