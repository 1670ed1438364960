"""``wasi:nn`` on ONNX Runtime: WebAssembly guests run inference with the host's ML runtime.

The guest stays sandboxed and portable (it imports the standard ``wasi:nn@0.2.0-rc-2024-10-28``
interfaces); the math runs natively in ONNX Runtime (CPU), in sessions cached for the process
and shared by every instance. What a guest may load is the policy's: the models it grants by
name, and a size limit for models the guest supplies itself (none by default)::

    from omniwasm import Linker, Runtime
    from omniwasm.wasi import nn

    context = nn.NnContext(models={"sentiment": "models/sentiment.onnx"}, max_inference_time=2)
    linker = nn.add_to_linker(Linker())
    with rt.instantiate(rt.load("app.wasm"), imports=linker, host_data=context) as inst:
        ...

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
    "sessions",
    "wit_dir",
]


def wit_dir() -> Path:
    """The directory holding ``wasi-nn.wit`` (package ``wasi:nn@0.2.0-rc-2024-10-28``)."""
    return Path(str(files(__name__).joinpath("wit")))
