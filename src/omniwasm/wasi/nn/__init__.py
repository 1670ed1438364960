"""``wasi:nn`` on ONNX Runtime: WebAssembly guests run inference with the host's ML runtime.

The guest stays sandboxed and portable (it imports the standard ``wasi:nn@0.2.0-rc-2024-10-28``
interfaces); the math runs natively in ONNX Runtime (CPU), in sessions cached for the process
and shared by every instance. What a guest may load is the policy's: the models it grants by
name, and a size limit for models the guest supplies itself (none by default)::

    from omniwasm import Policy, Runtime, wasi
    from omniwasm.wasi import nn

    policy = Policy(models={"sentiment": "models/sentiment.onnx"}, max_inference_time=2)
    wasi.run(Runtime(), "app.wasm", policy)                 # the virtual WASI host has wasi:nn
    Runtime().run("app.wasm", policy, imports=nn.linker(policy))    # native WASI + wasi:nn

The virtual WASI host (:mod:`omniwasm.wasi`, the gateway, ``omniwasm run --nn-model``) gives
each instance the :class:`NnContext` of its policy; :func:`add_to_linker` adds wasi:nn to any
linker, with one context for every instance or each instance's own from its ``host_data``.

``wit_dir()`` is the directory with the WIT to build guests against. Needs the ``omniwasm[nn]``
extra (onnxruntime, numpy), imported on the first load.
"""

from importlib.resources import files
from pathlib import Path

from ._context import DEFAULT_TENSOR_BYTES, NnContext
from ._host import (
    INTERFACES,
    ExecutionContext,
    Graph,
    NnError,
    Tensor,
    add_to_linker,
    context_of,
    linker,
)
from ._sessions import NnFailure, SessionCache, sessions
from ._types import VERSION, ErrorCode, ExecutionTarget, GraphEncoding, TensorType

__all__ = [
    "DEFAULT_TENSOR_BYTES",
    "INTERFACES",
    "VERSION",
    "ErrorCode",
    "ExecutionContext",
    "ExecutionTarget",
    "Graph",
    "GraphEncoding",
    "NnContext",
    "NnError",
    "NnFailure",
    "SessionCache",
    "Tensor",
    "TensorType",
    "add_to_linker",
    "context_of",
    "linker",
    "sessions",
    "wit_dir",
]


def wit_dir() -> Path:
    """The directory holding ``wasi-nn.wit`` (package ``wasi:nn@0.2.0-rc-2024-10-28``)."""
    return Path(str(files(__name__).joinpath("wit")))
