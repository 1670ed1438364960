"""The wasi:nn enums as Python enums, and how each tensor type maps to ONNX Runtime's.

Host functions receive WIT enums as generated ``enum.Enum`` members whose value is the WIT case
name, and may return any ``enum.Enum`` whose value is a case name: these classes are both.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

__all__ = [
    "TENSOR_TYPES",
    "ErrorCode",
    "ExecutionTarget",
    "GraphEncoding",
    "TensorType",
    "TypeInfo",
    "case_of",
]

VERSION = "0.2.0-rc-2024-10-28"
"""The wasi:nn version this host implements."""


class ErrorCode(enum.Enum):
    """``wasi:nn/errors.error-code``."""

    INVALID_ARGUMENT = "invalid-argument"
    INVALID_ENCODING = "invalid-encoding"
    TIMEOUT = "timeout"
    RUNTIME_ERROR = "runtime-error"
    UNSUPPORTED_OPERATION = "unsupported-operation"
    TOO_LARGE = "too-large"
    NOT_FOUND = "not-found"
    SECURITY = "security"
    UNKNOWN = "unknown"


class TensorType(enum.Enum):
    """``wasi:nn/tensor.tensor-type``."""

    FP16 = "FP16"
    FP32 = "FP32"
    FP64 = "FP64"
    BF16 = "BF16"
    U8 = "U8"
    I32 = "I32"
    I64 = "I64"


class GraphEncoding(enum.Enum):
    """``wasi:nn/graph.graph-encoding``."""

    OPENVINO = "openvino"
    ONNX = "onnx"
    TENSORFLOW = "tensorflow"
    PYTORCH = "pytorch"
    TENSORFLOWLITE = "tensorflowlite"
    GGML = "ggml"
    AUTODETECT = "autodetect"


class ExecutionTarget(enum.Enum):
    """``wasi:nn/graph.execution-target``."""

    CPU = "cpu"
    GPU = "gpu"
    TPU = "tpu"


@dataclass(frozen=True, slots=True)
class TypeInfo:
    """One tensor type: its element size, numpy dtype name and ONNX names.

    Args:
        ty: the wasi:nn type.
        size: bytes per element.
        dtype: the numpy dtype that holds its bits (``uint16`` for BF16, which numpy lacks).
        ort: ONNX Runtime's type string (``tensor(float)``).
        onnx: the ONNX ``TensorProto.DataType`` number.

    """

    ty: TensorType
    size: int
    dtype: str
    ort: str
    onnx: int


TENSOR_TYPES: dict[TensorType, TypeInfo] = {
    info.ty: info
    for info in (
        TypeInfo(TensorType.FP16, 2, "<f2", "tensor(float16)", 10),
        TypeInfo(TensorType.FP32, 4, "<f4", "tensor(float)", 1),
        TypeInfo(TensorType.FP64, 8, "<f8", "tensor(double)", 11),
        TypeInfo(TensorType.BF16, 2, "<u2", "tensor(bfloat16)", 16),
        TypeInfo(TensorType.U8, 1, "|u1", "tensor(uint8)", 2),
        TypeInfo(TensorType.I32, 4, "<i4", "tensor(int32)", 6),
        TypeInfo(TensorType.I64, 8, "<i8", "tensor(int64)", 7),
    )
}
BY_ORT: dict[str, TypeInfo] = {info.ort: info for info in TENSOR_TYPES.values()}
"""Tensor types by ONNX Runtime's type string (the types a wasi:nn tensor can carry)."""


def case_of(value: Any, cls: type[enum.Enum]) -> Any:
    """The member of ``cls`` for a WIT enum value received from the guest.

    That is any ``enum.Enum`` whose value is a case name, or the case name itself.

    Raises:
        ValueError: not a case of ``cls``.

    """
    return cls(value.value if isinstance(value, enum.Enum) else value)
