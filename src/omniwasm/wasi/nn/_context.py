"""What one instance's wasi:nn may use: the models granted by name, the limits, its tensors."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ..._errors import MemoryLimitExceeded, PolicyError
from ..._policy import Policy
from ._sessions import SessionCache, sessions

__all__ = ["DEFAULT_TENSOR_BYTES", "NnContext"]

DEFAULT_TENSOR_BYTES = 4 * 1024**3
"""Tensor bytes the host holds for one instance when its policy sets no ``max_memory``: the
most a 32-bit linear memory can hold."""


class NnContext:
    """One instance's wasi:nn: granted models, limits, and the tensors the host holds for it.

    Deny by default: ``NnContext()`` grants no model and refuses models from guest bytes.

    Args:
        models: the models the guest may ``load-by-name``: ``{name: path to an .onnx file}``;
            relative paths are resolved against ``base_dir``. Nothing else is reachable.
        max_model_size: the largest model (bytes) the guest may supply to ``load``; 0 refuses
            every one (``security``).
        max_inference_time: seconds one ``compute`` may take; past it ONNX Runtime's run is
            stopped and the guest gets ``timeout``. None: only the policy's ``timeout`` bounds it.
        threads: ONNX Runtime's intra-op threads per session.
        max_tensor_bytes: bytes the host holds for this instance at once: its tensors (the
            ones it built and the outputs it has not dropped) and the models it loaded from
            its own bytes while their graphs are open; past it the guest traps with
            ``MemoryLimitExceeded``. ONNX Runtime's own memory (session weights, the buffers
            of a running inference) is not counted.
        base_dir: where relative model paths start (the working directory by default).
        deadline: returns the running call's deadline (an object with ``at``,
            ``cancelled`` and ``check()``); by default the calling store's own
            (``omniwasm._component.exports.current_deadline``), so ``compute`` also ends at the
            policy's ``timeout`` or a ``cancel()``, as ``Timeout`` or ``Cancelled``.
        cache: the session cache (the process's by default).

    Raises:
        PolicyError: a value of the wrong kind or range.

    """

    def __init__(
        self,
        *,
        models: Mapping[str, str | os.PathLike[str]] | None = None,
        max_model_size: int = 0,
        max_inference_time: float | None = None,
        threads: int = 1,
        max_tensor_bytes: int = DEFAULT_TENSOR_BYTES,
        base_dir: str | os.PathLike[str] | None = None,
        deadline: Callable[[], Any] | None = None,
        cache: SessionCache | None = None,
    ) -> None:
        base = Path(base_dir) if base_dir is not None else Path.cwd()
        self.models: dict[str, str] = {}
        for name, path in (models or {}).items():
            if not isinstance(name, str) or not name:
                raise PolicyError(f"a model name must be a non-empty string, got {name!r}")
            self.models[name] = os.path.abspath(base / os.fspath(path))
        for label, value in (("max_model_size", max_model_size), ("threads", threads)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise PolicyError(f"{label} must be a non-negative int, got {value!r}")
        if threads < 1:
            raise PolicyError("threads must be at least 1")
        if max_inference_time is not None and not max_inference_time > 0:
            raise PolicyError(f"max_inference_time must be positive, got {max_inference_time!r}")
        self.max_model_size = max_model_size
        self.max_inference_time = max_inference_time
        self.threads = threads
        self.max_tensor_bytes = max_tensor_bytes
        self.deadline = deadline
        self.cache = cache if cache is not None else sessions
        self.held = 0
        """Tensor bytes the host holds for the guest now."""
        self._open: dict[str, int] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_policy(
        cls,
        policy: Policy,
        *,
        deadline: Callable[[], Any] | None = None,
        base_dir: str | os.PathLike[str] | None = None,
    ) -> NnContext:
        """The context a :class:`~omniwasm.Policy` describes.

        Its ``models``, ``max_model_size``, ``max_inference_time`` and ``nn_threads``; the
        bytes the host holds for the guest are bounded by its ``max_memory`` (4 GiB when
        unset), counted apart from the guest's linear memory (see :meth:`hold`).

        Raises:
            PolicyError: a value of the wrong kind or range.

        """
        return cls(
            models=dict(policy.models),
            max_model_size=policy.max_model_size,
            max_inference_time=policy.max_inference_time,
            threads=policy.nn_threads,
            max_tensor_bytes=(
                policy.max_memory if policy.max_memory is not None else DEFAULT_TENSOR_BYTES
            ),
            base_dir=base_dir,
            deadline=deadline,
        )

    def hold(self, nbytes: int, kind: str = "tensor") -> None:
        """Count one more resource of ``kind`` holding ``nbytes``.

        Raises:
            MemoryLimitExceeded: the instance's tensors would pass ``max_tensor_bytes``.

        """
        with self._lock:
            if nbytes and self.held + nbytes > self.max_tensor_bytes:
                raise MemoryLimitExceeded(
                    f"wasi:nn tensors would hold {self.held + nbytes} bytes on the host "
                    f"(limit {self.max_tensor_bytes})",
                    limit=self.max_tensor_bytes,
                    used=self.held + nbytes,
                )
            self.held += nbytes
            self._open[kind] = self._open.get(kind, 0) + 1

    def release(self, nbytes: int, kind: str = "tensor") -> None:
        """A resource counted by :meth:`hold` is gone."""
        with self._lock:
            self.held -= nbytes
            self._open[kind] -= 1

    def open_resources(self) -> dict[str, int]:
        """Count the wasi:nn resources of each kind the guest holds now.

        Kinds are ``tensor``, ``graph`` and ``graph-execution-context``; zeros are left out.
        """
        with self._lock:
            return {kind: n for kind, n in self._open.items() if n}

    def __repr__(self) -> str:
        return (
            f"<NnContext models={sorted(self.models)} max_model_size={self.max_model_size} "
            f"max_inference_time={self.max_inference_time} threads={self.threads}>"
        )
