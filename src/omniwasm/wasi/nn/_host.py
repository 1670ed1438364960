"""The wasi:nn host: resources ``tensor``, ``graph``, ``graph-execution-context``, ``error``.

Written on the public host-import API (:class:`omniwasm.Linker`, :func:`omniwasm.host_data`),
so it runs on every component backend. Tensor bytes: the guest's ``list<u8>`` arrives as a
bytes-like object (a ``memoryview`` valid only during the call on a backend that lends linear
memory, which is copied once here; ``bytes`` made by the backend otherwise, kept as is) and is
handed to ONNX Runtime as a numpy view of that buffer, without another copy. Outputs go back as
a view of ONNX Runtime's own output buffer, which the backend copies once into linear memory.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any, ClassVar

from ..._component import Linker, current_deadline, host_data
from ..._deadline import Deadline
from ..._policy import Policy
from ..._wit.values import Err, Ok
from ._context import NnContext
from ._sessions import Model, NnFailure, numpy, onnxruntime
from ._types import (
    TENSOR_TYPES,
    VERSION,
    ErrorCode,
    ExecutionTarget,
    GraphEncoding,
    TensorType,
    TypeInfo,
    case_of,
)

__all__ = [
    "INTERFACES",
    "ExecutionContext",
    "Graph",
    "NnError",
    "Tensor",
    "add_to_linker",
    "context_of",
    "linker",
]

INTERFACES = tuple(
    f"wasi:nn/{name}@{VERSION}" for name in ("tensor", "graph", "inference", "errors")
)
"""The interfaces this host implements."""

MAX_RANK = 64
"""Most dimensions a tensor may have (ONNX Runtime's own kernels stop well before)."""
_U32 = 0xFFFFFFFF
_DENY = NnContext()


def context_of(data: Any) -> NnContext:
    """The :class:`NnContext` of an instance whose ``host_data`` is ``data``.

    ``data`` is the context itself, or has one as its ``nn`` attribute (the virtual WASI host's
    :class:`~omniwasm.wasi.WasiContext` does); anything else gets the deny-all context.
    """
    if isinstance(data, NnContext):
        return data
    nn = getattr(data, "nn", None)
    return nn if isinstance(nn, NnContext) else _DENY


def _from_host_data() -> NnContext:
    return context_of(host_data())


def _deadline_of(context: NnContext) -> Any:
    """The running call's deadline: the context's own source, else the calling store's."""
    return context.deadline() if context.deadline is not None else current_deadline()


def _store_deadline(context: NnContext) -> Deadline | None:
    """The deadline a session build waits under (a store's :class:`Deadline` only)."""
    deadline = _deadline_of(context)
    return deadline if isinstance(deadline, Deadline) else None


class NnError:
    """``wasi:nn/errors.error``: an error code and the host's description."""

    __slots__ = ("_code", "_data")

    def __init__(self, code: ErrorCode, data: str) -> None:
        self._code = code
        self._data = data

    def code(self) -> ErrorCode:
        """The error code."""
        return self._code

    def data(self) -> str:
        """What went wrong, in words."""
        return self._data

    def __repr__(self) -> str:
        return f"<wasi:nn error {self._code.value}: {self._data}>"


def _err(failure: NnFailure) -> Err:
    return Err(NnError(failure.code, failure.message))


def _check(dims: tuple[int, ...], info: TypeInfo, nbytes: int) -> str | None:
    """Why a tensor's dimensions and bytes disagree, or None when they fit."""
    if not dims:
        return "a tensor needs at least one dimension ([1] for a single value)"
    if len(dims) > MAX_RANK:
        return f"{len(dims)} dimensions (at most {MAX_RANK})"
    count = 1
    for d in dims:
        count *= d
    if count * info.size != nbytes:
        return (
            f"dimensions {list(dims)} of {info.ty.value} need {count * info.size} bytes, "
            f"the data has {nbytes}"
        )
    return None


class Tensor:
    """``wasi:nn/tensor.tensor``: dimensions, an element type and the element bytes.

    The guest's constructor never fails (the WIT gives it no error): a tensor whose
    dimensions and bytes disagree is refused by ``compute`` with ``invalid-argument``.

    Raises:
        MemoryLimitExceeded: the instance's tensors would hold more than its limit.

    """

    __slots__ = ("_context", "_data", "_dims", "_info", "_nbytes", "_problem")
    _bound: ClassVar[NnContext | None] = None

    @classmethod
    def _resolve(cls) -> NnContext:
        """The context of the calling instance (bound by ``add_to_linker`` or its host_data)."""
        return cls._bound if cls._bound is not None else _from_host_data()

    def __init__(self, dimensions: list[int], ty: Any, data: bytes | memoryview) -> None:
        info = TENSOR_TYPES[case_of(ty, TensorType)]
        # bytes made by the backend are kept; a lent view of linear memory is copied once
        payload = data if isinstance(data, bytes) else bytes(data)
        context = self._resolve()
        context.hold(len(payload))
        self._context: NnContext | None = context
        self._info = info
        self._dims = tuple(dimensions)
        self._data: Any = payload
        self._nbytes = len(payload)
        self._problem = _check(self._dims, info, len(payload))

    @classmethod
    def _output(cls, context: NnContext, info: TypeInfo, array: Any) -> Tensor:
        """An output tensor over ONNX Runtime's buffer (already counted by ``hold``)."""
        obj = cls.__new__(cls)
        obj._context = context
        obj._info = info
        obj._dims = tuple(int(d) for d in array.shape)
        obj._data = memoryview(array.reshape(-1).view("u1"))
        obj._nbytes = array.nbytes
        obj._problem = None
        return obj

    def dimensions(self) -> list[int]:
        """The dimensions."""
        return list(self._dims)

    def ty(self) -> TensorType:
        """The element type."""
        return self._info.ty

    def data(self) -> Any:
        """The element bytes (a bytes-like object)."""
        return self._data

    def close(self) -> None:
        """Free the bytes (the guest dropped the tensor, or gave it to ``compute``)."""
        context, self._context = self._context, None
        if context is not None:
            context.release(self._nbytes)
            self._data = b""

    def __repr__(self) -> str:
        return f"<wasi:nn tensor {self._info.ty.value}{list(self._dims)}>"


class Graph:
    """``wasi:nn/graph.graph``: a loaded model (a shared ONNX Runtime session)."""

    __slots__ = ("_context", "_held", "_model", "_tensor")

    def __init__(
        self, context: NnContext, model: Model, tensor: type[Tensor], held: int | None = None
    ) -> None:
        if held is None:  # else the caller has counted ``held`` bytes as a graph already
            context.hold(0, "graph")
        self._context: NnContext | None = context
        self._held = held or 0
        self._model = model
        self._tensor = tensor

    def init_execution_context(self) -> Ok | Err:
        """A new execution context for this graph."""
        context = self._context
        if context is None:
            return _err(NnFailure(ErrorCode.INVALID_ARGUMENT, "the graph is closed"))
        return Ok(ExecutionContext(context, self._model, self._tensor))

    def close(self) -> None:
        """The guest dropped the graph (the session stays cached for other loads)."""
        context, self._context = self._context, None
        if context is not None:
            context.release(self._held, "graph")

    def __repr__(self) -> str:
        return f"<wasi:nn graph {self._model.label}>"


class ExecutionContext:
    """``wasi:nn/inference.graph-execution-context``: runs its graph on named tensors."""

    __slots__ = ("_context", "_model", "_tensor")

    def __init__(self, context: NnContext, model: Model, tensor: type[Tensor]) -> None:
        context.hold(0, "graph-execution-context")
        self._context: NnContext | None = context
        self._model = model
        self._tensor = tensor

    def compute(self, inputs: list[tuple[str, Tensor]]) -> Ok | Err:
        """Run the graph on ``inputs`` and return every output wasi:nn can carry.

        The input tensors are the guest's to give (``own``): they are freed here.
        """
        try:
            context = self._context
            if context is None:
                raise NnFailure(ErrorCode.INVALID_ARGUMENT, "the execution context is closed")
            outputs = _compute(context, self._model, inputs)
            return Ok([(name, self._tensor._output(context, info, a)) for name, info, a in outputs])
        except NnFailure as failure:
            return _err(failure)
        finally:
            for _, tensor in inputs:
                if isinstance(tensor, Tensor):
                    tensor.close()

    def close(self) -> None:
        """The guest dropped the context."""
        context, self._context = self._context, None
        if context is not None:
            context.release(0, "graph-execution-context")

    def __repr__(self) -> str:
        return f"<wasi:nn execution context of {self._model.label}>"


def _feeds(model: Model, inputs: list[tuple[str, Tensor]]) -> dict[str, Tensor]:
    """The inputs by name, checked against the model's (raises ``invalid-argument``)."""
    fed: dict[str, Tensor] = {}
    for name, tensor in inputs:
        port = model.inputs.get(name)
        if port is None:
            known = ", ".join(model.inputs) or "none"
            raise NnFailure(
                ErrorCode.INVALID_ARGUMENT,
                f"model {model.label} has no input {name!r} (its inputs: {known})",
            )
        if name in fed:
            raise NnFailure(ErrorCode.INVALID_ARGUMENT, f"input {name!r} is given twice")
        if tensor._problem is not None:
            raise NnFailure(ErrorCode.INVALID_ARGUMENT, f"input {name!r}: {tensor._problem}")
        if port.info is not tensor._info:
            raise NnFailure(
                ErrorCode.INVALID_ARGUMENT,
                f"input {name!r} takes {port.ort_type}, the tensor is {tensor._info.ty.value}",
            )
        if port.shape is not None:
            if len(port.shape) != len(tensor._dims):
                raise NnFailure(
                    ErrorCode.INVALID_ARGUMENT,
                    f"input {name!r} has {len(port.shape)} dimensions, the tensor "
                    f"{list(tensor._dims)} has {len(tensor._dims)}",
                )
            for want, got in zip(port.shape, tensor._dims, strict=True):
                if want is not None and want != got:
                    shape = ["?" if d is None else d for d in port.shape]
                    raise NnFailure(
                        ErrorCode.INVALID_ARGUMENT,
                        f"input {name!r} has dimensions {shape}, the tensor {list(tensor._dims)}",
                    )
        fed[name] = tensor
    missing = [n for n in model.inputs if n not in fed]
    if missing:
        raise NnFailure(ErrorCode.INVALID_ARGUMENT, f"inputs missing: {', '.join(missing)}")
    return fed


class _Buffer:
    """ONNX Runtime's output buffer shown to numpy (for BF16, which ``numpy()`` refuses)."""

    def __init__(self, address: int, nbytes: int) -> None:
        self.__array_interface__ = {
            "data": (address, True),
            "shape": (nbytes,),
            "typestr": "|u1",
            "version": 3,
        }


def _run(model: Model, fed: dict[str, Tensor], options: Any) -> list[Any]:
    np = numpy()
    names = [p.name for p in model.outputs]
    arrays = {n: np.frombuffer(t._data, t._info.dtype).reshape(t._dims) for n, t in fed.items()}
    if not model.raw_values:
        return list(model.session.run(names, arrays, options))
    ort = onnxruntime()
    values = {
        n: ort.OrtValue.ortvalue_from_numpy_with_onnx_type(a, fed[n]._info.onnx)
        for n, a in arrays.items()
    }
    out = []
    for port, value in zip(
        model.outputs, model.session.run_with_ort_values(names, values, options), strict=True
    ):
        if port.ort_type == "tensor(bfloat16)":
            raw = np.array(_Buffer(value.data_ptr(), value.tensor_size_in_bytes()), copy=True)
            out.append(raw.view("<u2").reshape(value.shape()))
        else:
            out.append(value.numpy())
    return out


_RUN_CODES = {"NotImplemented": ErrorCode.UNSUPPORTED_OPERATION}


def _compute(
    context: NnContext, model: Model, inputs: list[tuple[str, Tensor]]
) -> list[tuple[str, TypeInfo, Any]]:
    fed = _feeds(model, inputs)
    ort = onnxruntime()
    options = ort.RunOptions()
    options.log_severity_level = 4
    # the calling store's deadline (the policy's timeout, or a cancel()) also stops the run
    deadline = _deadline_of(context)
    limit = context.max_inference_time
    at = None if limit is None else time.monotonic() + limit
    store_at = getattr(deadline, "at", None)
    if store_at is not None and (at is None or store_at < at):
        at = store_at
    cancelled = (lambda: bool(deadline.cancelled)) if deadline is not None else None
    from ._watchdog import watch

    entry = (
        watch.add(options, math.inf if at is None else at, cancelled)
        if at is not None or cancelled
        else None
    )
    try:
        arrays = _run(model, fed, options)
    except Exception as exc:  # ONNX Runtime's own error classes, mapped to codes
        if entry is not None and entry.fired:
            check = getattr(deadline, "check", None)
            if check is not None:
                check("wasi:nn compute")  # the policy's timeout: the call ends in Timeout
            raise NnFailure(
                ErrorCode.TIMEOUT,
                f"model {model.label}: inference stopped at max_inference_time "
                f"({context.max_inference_time}s)",
            ) from None
        from ._sessions import _ort_message

        code = _RUN_CODES.get(type(exc).__name__, ErrorCode.RUNTIME_ERROR)
        raise NnFailure(code, f"model {model.label}: {_ort_message(exc)}") from None
    finally:
        if entry is not None:
            watch.finish(entry)
    out = []
    np = numpy()
    for port, array in zip(model.outputs, arrays, strict=True):
        a = np.ascontiguousarray(array)
        if a.ndim == 0:  # a scalar is the tensor [1] in wasi:nn
            a = a.reshape(1)
        if any(d > _U32 for d in a.shape):
            raise NnFailure(
                ErrorCode.RUNTIME_ERROR, f"output {port.name!r} has a dimension past 2**32"
            )
        assert port.info is not None  # the model's outputs hold only the carried ones
        out.append((port.name, port.info, a))
    held: list[int] = []
    try:  # each output tensor holds its own bytes until the guest drops it
        for _, _, a in out:
            context.hold(a.nbytes)
            held.append(a.nbytes)
    except BaseException:
        for n in held:
            context.release(n)
        raise
    return out


def _load(tensor: type[Tensor]) -> Callable[..., Ok | Err]:
    def load(builder: list[bytes], encoding: Any, target: Any) -> Ok | Err:
        """``graph.load``: an ONNX model from the guest's bytes, on the CPU."""
        context = tensor._resolve()
        try:
            enc = case_of(encoding, GraphEncoding)
            if enc not in (GraphEncoding.ONNX, GraphEncoding.AUTODETECT):
                raise NnFailure(
                    ErrorCode.INVALID_ENCODING,
                    f"this host loads onnx models only, not {enc.value}",
                )
            where = case_of(target, ExecutionTarget)
            if where is not ExecutionTarget.CPU:
                raise NnFailure(
                    ErrorCode.UNSUPPORTED_OPERATION,
                    f"this host runs models on the cpu only, not the {where.value}",
                )
            if len(builder) != 1:
                raise NnFailure(
                    ErrorCode.INVALID_ARGUMENT,
                    f"an onnx model is one builder, got {len(builder)}",
                )
            data = builder[0]
            if context.max_model_size == 0:
                raise NnFailure(
                    ErrorCode.SECURITY,
                    "the policy does not let this guest load models from its own bytes "
                    "(max_model_size); load-by-name reaches the models it grants",
                )
            if len(data) > context.max_model_size:
                raise NnFailure(
                    ErrorCode.TOO_LARGE,
                    f"the model is {len(data)} bytes, the policy allows "
                    f"{context.max_model_size} (max_model_size)",
                )
        except NnFailure as failure:
            return _err(failure)
        # the guest's model counts against its limit while its graph is open (ONNX Runtime's
        # session holds its weights, about as many bytes)
        context.hold(len(data), "graph")
        try:
            model = context.cache.from_bytes(data, context.threads, _store_deadline(context))
        except NnFailure as failure:
            context.release(len(data), "graph")
            return _err(failure)
        except BaseException:
            context.release(len(data), "graph")
            raise
        return Ok(Graph(context, model, tensor, held=len(data)))

    return load


def _load_by_name(tensor: type[Tensor]) -> Callable[[str], Ok | Err]:
    def load_by_name(name: str) -> Ok | Err:
        """``graph.load-by-name``: a model the policy grants under ``name``."""
        context = tensor._resolve()
        path = context.models.get(name)
        try:
            if path is None:
                raise NnFailure(ErrorCode.NOT_FOUND, f"no model named {name!r} is granted")
            model = context.cache.named(name, path, context.threads, _store_deadline(context))
        except NnFailure as failure:
            return _err(failure)
        return Ok(Graph(context, model, tensor))

    return load_by_name


def add_to_linker(linker: Linker, context: NnContext | None = None) -> Linker:
    """Define the four wasi:nn interfaces in ``linker``.

    Args:
        linker: any linker (native or virtual WASI: wasi:nn shares no resource with WASI).
        context: the context of every instance linked through it; None (the default) finds
            each instance's own with :func:`context_of` ``(host_data())``.

    Returns:
        the linker.

    """
    if context is None:
        tensor: type[Tensor] = Tensor
    else:
        tensor = type("Tensor", (Tensor,), {"__slots__": (), "_bound": context})
    tensor_if, graph_if, inference_if, errors_if = INTERFACES
    linker.define(tensor_if, tensor=tensor)
    linker.define(graph_if, graph=Graph, load=_load(tensor), load_by_name=_load_by_name(tensor))
    linker.define(inference_if, graph_execution_context=ExecutionContext)
    linker.define(errors_if, error=NnError)
    return linker


def linker(policy: Policy, *, wasi: bool = True) -> Linker:
    """A new linker with wasi:nn as ``policy`` describes it (see :meth:`NnContext.from_policy`).

    For one instance at a time (its tensors are counted in one context): pass it to
    ``Runtime.run(app, policy, imports=nn.linker(policy))`` or ``Runtime.instantiate``.

    Args:
        policy: the sandbox (``models``, ``max_model_size``, ``max_inference_time``,
            ``nn_threads``, ``max_memory``).
        wasi: keep the engine's native WASI 0.2 in the linker (``Linker(wasi=True)``).

    Raises:
        PolicyError: the policy's wasi:nn values cannot be applied.

    """
    return add_to_linker(Linker(wasi=wasi), NnContext.from_policy(policy))
