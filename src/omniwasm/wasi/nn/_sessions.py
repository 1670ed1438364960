"""ONNX Runtime sessions, cached for the process and shared by every instance.

A session is built once per model and per session setting (the thread count) and then shared:
ONNX Runtime's ``run`` is safe to call from several threads at once, and it releases the GIL.
Named models are keyed by their path and file identity (device, inode, size, modification and
change times), so a model replaced or rewritten on disk is loaded again on the next
``load-by-name`` instead of being served stale; checking costs one ``stat``. Models a guest
supplies are keyed by the sha256 of their bytes, in a small LRU.

Building a session runs under the calling store's deadline: on a helper thread, waited for
no longer than the policy's ``timeout`` allows (or a ``cancel()``), so a slow build ends the
guest's call with ``Timeout`` (ONNX Runtime cannot stop a build; it finishes on its own and its
session is kept for the next load). Guest-supplied models are built at most
:data:`GUEST_BUILDS` at once.

``onnxruntime`` and ``numpy`` are imported on the first load (the ``omniwasm[nn]`` extra).
"""

from __future__ import annotations

import hashlib
import os
import stat
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from ..._deadline import Deadline, call_within
from ..._errors import PolicyError
from ..._policy import parse_size
from ._scan import ModelScanError, external_data
from ._types import BY_ORT, ErrorCode, TypeInfo

__all__ = [
    "GUEST_BUILDS",
    "GUEST_MODELS_KEPT",
    "MEMORY_ENV",
    "Model",
    "NnFailure",
    "SessionCache",
    "memory_limit",
    "numpy",
    "onnxruntime",
]

GUEST_MODELS_KEPT = 8
"""Sessions of guest-supplied models kept for reuse (least recently used go first)."""

GUEST_BUILDS = 2
"""Sessions of guest-supplied models built at once in the process. A build cannot be stopped
once ONNX Runtime has started it, so one whose caller reached its deadline runs on to its end;
this bounds how many such builds can pile up."""


class NnFailure(Exception):
    """A wasi:nn error for the guest: an ``error-code`` and a description."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.code, self.message))


def onnxruntime() -> Any:
    """The ``onnxruntime`` module.

    Raises:
        NnFailure: unsupported-operation when it is not installed.

    """
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise NnFailure(
            ErrorCode.UNSUPPORTED_OPERATION,
            f"ONNX Runtime is not installed on the host (pip install 'omniwasm[nn]'): {exc}",
        ) from exc
    return ort


MEMORY_ENV = "OMNIWASM_NN_MEMORY"
"""The environment variable with the bytes ONNX Runtime may allocate for every session of the
process together (``"4GiB"``); half the machine's memory when unset."""


def memory_limit() -> int:
    """Bytes ONNX Runtime may hold for all sessions of the process (see :data:`MEMORY_ENV`).

    Raises:
        PolicyError: the variable is not a size.

    """
    text = os.environ.get(MEMORY_ENV, "").strip()
    if text:
        try:
            return parse_size(text)
        except PolicyError as exc:
            raise PolicyError(f"{MEMORY_ENV}: {exc}") from None
    return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 2


_arena_lock = threading.Lock()
_arena: list[int] = []


def _shared_arena(ort: Any) -> None:
    """Register the process's one CPU arena, capped at :func:`memory_limit`, once.

    Every session allocates from it (``session.use_env_allocators``), so what a model makes
    ONNX Runtime allocate (weights folded at build, the buffers of a run, a tensor whose shape
    the guest chose) is refused past the cap with an error, instead of growing the host
    without bound.
    """
    with _arena_lock:
        if _arena:
            return
        limit = memory_limit()
        info = ort.OrtMemoryInfo(
            "Cpu", ort.OrtAllocatorType.ORT_ARENA_ALLOCATOR, 0, ort.OrtMemType.DEFAULT
        )
        ort.create_and_register_allocator(info, ort.OrtArenaCfg({"max_mem": limit}))
        _arena.append(limit)


def numpy() -> Any:
    """The ``numpy`` module (installed with onnxruntime)."""
    import numpy as np

    return np


@dataclass(frozen=True, slots=True)
class Port:
    """One input or output of a model.

    Args:
        name: its name in the graph.
        ort_type: ONNX Runtime's type string (``tensor(float)``, ``seq(...)``...).
        info: the wasi:nn tensor type that carries it, None when none can.
        shape: the declared dimensions; None (or a string) for a free one.

    """

    name: str
    ort_type: str
    info: TypeInfo | None
    shape: tuple[int | None, ...] | None


@dataclass(frozen=True, slots=True, eq=False)
class Model:
    """An ONNX Runtime session and what its inputs and outputs are.

    Args:
        session: the ``onnxruntime.InferenceSession``.
        label: what the model is called in messages (its name, or the digest of guest bytes).
        inputs: the graph inputs the caller must feed, by name.
        outputs: the outputs a wasi:nn tensor can carry, in the graph's order.
        omitted: outputs of other types (sequences, maps, strings, bool...), not returned.
        raw_values: some input or output is BF16 (numpy has no such type): run with OrtValues.

    """

    session: Any
    label: str
    inputs: dict[str, Port]
    outputs: tuple[Port, ...]
    omitted: tuple[str, ...]
    raw_values: bool


def _ports(args: Any) -> list[Port]:
    out = []
    for arg in args:
        shape = arg.shape
        dims = (
            None
            if shape is None
            else tuple(d if isinstance(d, int) and d >= 0 else None for d in shape)
        )
        out.append(Port(arg.name, arg.type, BY_ORT.get(arg.type), dims))
    return out


def _describe(session: Any, label: str) -> Model:
    inputs = _ports(session.get_inputs())
    outputs = _ports(session.get_outputs())
    carried = tuple(p for p in outputs if p.info is not None)
    if not carried:
        names = ", ".join(f"{p.name} ({p.ort_type})" for p in outputs)
        raise NnFailure(
            ErrorCode.UNSUPPORTED_OPERATION,
            f"model {label}: no output is a tensor wasi:nn can carry: {names}",
        )
    return Model(
        session=session,
        label=label,
        inputs={p.name: p for p in inputs},
        outputs=carried,
        omitted=tuple(p.name for p in outputs if p.info is None),
        raw_values=any(p.ort_type == "tensor(bfloat16)" for p in (*inputs, *carried)),
    )


def _described(session: Any, label: str, default: ErrorCode) -> Model:
    try:
        return _describe(session, label)
    except NnFailure:
        raise
    except Exception as exc:  # names or dimensions ONNX Runtime cannot decode (not UTF-8)
        raise NnFailure(default, f"model {label}: unreadable inputs or outputs: {exc}") from None


_LOAD_CODES = {
    "NotImplemented": ErrorCode.UNSUPPORTED_OPERATION,
    "InvalidProtobuf": ErrorCode.INVALID_ENCODING,
    "NoModel": ErrorCode.INVALID_ENCODING,
    "InvalidGraph": ErrorCode.INVALID_ENCODING,
    "InvalidArgument": ErrorCode.INVALID_ENCODING,
    "Fail": ErrorCode.INVALID_ENCODING,
    "NoSuchFile": ErrorCode.NOT_FOUND,
}


def load_failure(exc: BaseException, label: str, default: ErrorCode) -> NnFailure:
    """The wasi:nn error for a session ONNX Runtime could not build."""
    code = _LOAD_CODES.get(type(exc).__name__, default)
    return NnFailure(code, f"model {label}: {_ort_message(exc)}")


def _ort_message(exc: BaseException) -> str:
    """ONNX Runtime's message without its ``[ONNXRuntimeError] : 2 : NAME :`` prefix."""
    text = str(exc).strip()
    if text.startswith("[ONNXRuntimeError]"):
        text = text.split(" : ", 3)[-1]
    return " ".join(text.split())[:2000]


def _options(ort: Any, threads: int, *, guest: bool) -> Any:
    _shared_arena(ort)
    options = ort.SessionOptions()
    options.add_session_config_entry("session.use_env_allocators", "1")
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 4  # failures reach the guest as errors, not on host stderr
    if guest:
        # bytes from a guest are read as ONNX only (never as an ORT flatbuffer model)
        options.add_session_config_entry("session.load_model_format", "ONNX")
    return options


class SessionCache:
    """Sessions by model file and by guest bytes, for one process (see the module docstring).

    Args:
        guest_models_kept: sessions of guest-supplied models kept (least recently used go).
        guest_builds: sessions of guest-supplied models built at once.

    """

    def __init__(
        self, guest_models_kept: int = GUEST_MODELS_KEPT, guest_builds: int = GUEST_BUILDS
    ) -> None:
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(guest_builds)
        self._named: dict[tuple[str, int], tuple[tuple[int, ...], Model]] = {}
        self._guest: OrderedDict[tuple[bytes, int], Model] = OrderedDict()
        self._kept = guest_models_kept
        self._building: dict[Any, threading.Lock] = {}
        self.loads = 0
        """Sessions built so far (a cached load does not count)."""

    def _build_lock(self, key: Any) -> threading.Lock:
        """The lock one build of ``key`` holds, so concurrent loads of a model build it once."""
        with self._lock:
            lock = self._building.get(key)
            if lock is None:
                lock = self._building[key] = threading.Lock()
            return lock

    def _built(self, key: Any) -> None:
        with self._lock:  # later loads find the session; waiters still hold the lock object
            self._building.pop(key, None)

    def named(self, name: str, path: str, threads: int, deadline: Deadline | None = None) -> Model:
        """The session of the model file ``path`` (granted as ``name``).

        Args:
            name: the name it is granted under (for messages).
            path: the model file.
            threads: ONNX Runtime's intra-op threads.
            deadline: the calling store's deadline; a build waits no longer.

        Raises:
            NnFailure: not-found (no such file), unknown (not a readable regular file), or
                the code of ONNX Runtime's refusal.
            Timeout: the deadline came before the session was built (``Cancelled``: the call
                was cancelled).

        """
        try:
            st = os.stat(path)
        except FileNotFoundError:
            raise NnFailure(
                ErrorCode.NOT_FOUND, f"model {name!r}: its file is missing on the host"
            ) from None
        except OSError as exc:
            raise NnFailure(
                ErrorCode.UNKNOWN, f"model {name!r}: the host cannot read it ({exc.strerror})"
            ) from None
        if not stat.S_ISREG(st.st_mode):
            raise NnFailure(ErrorCode.UNKNOWN, f"model {name!r}: its path is not a regular file")
        ident = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
        key = (path, threads)
        found = self._named.get(key)
        if found is not None and found[0] == ident:
            return found[1]
        return call_within(
            deadline,
            lambda: self._build_named(name, path, threads, ident),
            "wasi:nn load-by-name",
        )

    def _build_named(self, name: str, path: str, threads: int, ident: tuple[int, ...]) -> Model:
        key = (path, threads)
        with self._build_lock(key):
            found = self._named.get(key)
            if found is not None and found[0] == ident:
                return found[1]
            ort = onnxruntime()
            try:
                session = ort.InferenceSession(
                    path,
                    _options(ort, threads, guest=False),
                    providers=["CPUExecutionProvider"],
                    enable_fallback=0,  # its fallback prints to stdout, which is the guest's
                )
            except Exception as exc:  # ONNX Runtime's own error classes, mapped to codes
                raise load_failure(exc, repr(name), ErrorCode.RUNTIME_ERROR) from None
            model = _described(session, repr(name), ErrorCode.RUNTIME_ERROR)
            with self._lock:
                self._named[key] = (ident, model)
                self.loads += 1
            self._built(key)
            return model

    def from_bytes(
        self, data: bytes | memoryview, threads: int, deadline: Deadline | None = None
    ) -> Model:
        """The session of a model a guest supplied (checked for external data first).

        Args:
            data: the model's bytes (copied: a build may outlive the guest's call).
            threads: ONNX Runtime's intra-op threads.
            deadline: the calling store's deadline; waiting for a build slot and the build
                take no longer.

        Raises:
            NnFailure: security (external data), invalid-encoding (not an ONNX model), or
                the code of ONNX Runtime's refusal.
            Timeout: the deadline came first (``Cancelled``: the call was cancelled).

        """
        data = bytes(data)
        digest = hashlib.sha256(data).digest()
        key = (digest, threads)
        label = f"sha256:{digest.hex()[:16]}"
        with self._lock:
            model = self._guest.get(key)
            if model is not None:
                self._guest.move_to_end(key)
                return model
        slots = self._slots
        if deadline is not None and deadline.active:
            deadline.wait(lambda seconds: slots.acquire(timeout=seconds), "wasi:nn load")
        else:
            slots.acquire()

        def build() -> Model:
            try:
                return self._build_guest(data, key, label, threads)
            finally:
                slots.release()

        return call_within(deadline, build, "wasi:nn load")

    def _build_guest(self, data: bytes, key: tuple[bytes, int], label: str, threads: int) -> Model:
        with self._build_lock(key):
            with self._lock:
                model = self._guest.get(key)
            if model is not None:
                return model
            try:
                where = external_data(data)
            except ModelScanError as exc:
                raise NnFailure(
                    ErrorCode.INVALID_ENCODING, f"model {label} is not an ONNX model: {exc}"
                ) from None
            if where is not None:
                raise NnFailure(
                    ErrorCode.SECURITY,
                    f"model {label}: a tensor keeps its data outside the model ({where}); "
                    "a guest's model must carry all its bytes",
                )
            ort = onnxruntime()
            try:
                session = ort.InferenceSession(
                    data,
                    _options(ort, threads, guest=True),
                    providers=["CPUExecutionProvider"],
                    enable_fallback=0,
                )
            except Exception as exc:  # ONNX Runtime's own error classes, mapped to codes
                # anything else ONNX Runtime trips over in a guest's bytes (it raises
                # UnicodeDecodeError for names that are not UTF-8, for one) is their encoding
                raise load_failure(exc, label, ErrorCode.INVALID_ENCODING) from None
            model = _described(session, label, ErrorCode.INVALID_ENCODING)
            with self._lock:
                self._guest[key] = model
                self.loads += 1
                while len(self._guest) > self._kept:
                    self._guest.popitem(last=False)
            self._built(key)
            return model


sessions = SessionCache()
"""The process's session cache."""
