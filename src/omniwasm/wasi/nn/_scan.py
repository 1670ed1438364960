"""Find external data in an ONNX model a guest supplies, without the ``onnx`` package.

A tensor in an ONNX model may keep its bytes outside the model: ``data_location = EXTERNAL``
with a file ``location`` (read relative to the model, or the working directory for a model
given as bytes) or an in-memory address tag. Either lets a model read what the guest must not
see (host files, host memory) into its weights and then out through its outputs, so a model a
guest supplies must carry every byte inside itself. This walks the protobuf wire format along
every path that can hold a ``TensorProto`` (initializers, sparse initializers, node attributes,
subgraphs of ``If``/``Loop``/``Scan``, functions, training graphs) and reports the first tensor
that points outside. Only the fields on those paths are decoded; everything else (weights
included) is skipped by its length, so a scan costs little more than the number of nodes.

Field numbers are those of ``onnx.proto`` (the wire format is stable by protobuf's rules).
"""

from __future__ import annotations

__all__ = ["MAX_DEPTH", "ModelScanError", "external_data"]

MAX_DEPTH = 64
"""Deepest nesting of graphs in attributes that a model may use (protobuf's own limit is 100)."""

# message kind -> {field number: kind of the message in that field}
_MODEL, _GRAPH, _NODE, _ATTR, _SPARSE, _TENSOR, _FUNC, _TRAIN = range(8)
_CHILDREN: dict[int, dict[int, int]] = {
    _MODEL: {7: _GRAPH, 25: _FUNC, 20: _TRAIN},
    _GRAPH: {1: _NODE, 5: _TENSOR, 15: _SPARSE},
    _NODE: {5: _ATTR},
    _ATTR: {5: _TENSOR, 6: _GRAPH, 10: _TENSOR, 11: _GRAPH, 22: _SPARSE, 23: _SPARSE},
    _SPARSE: {1: _TENSOR, 2: _TENSOR},
    _FUNC: {7: _NODE, 11: _ATTR},
    _TRAIN: {1: _GRAPH, 2: _GRAPH},
    _TENSOR: {},
}
_TENSOR_EXTERNAL_DATA = 13
_TENSOR_DATA_LOCATION = 14
_EXTERNAL = 1


class ModelScanError(ValueError):
    """The bytes are not a well-formed protobuf message (truncated, bad wire type, too deep)."""


def _varint(buf: memoryview, pos: int, end: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= end:
            raise ModelScanError("truncated varint")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ModelScanError("varint longer than 10 bytes")


def _walk(buf: memoryview, pos: int, end: int, kind: int, *, depth: int, path: str) -> str | None:
    if depth > MAX_DEPTH:
        raise ModelScanError(f"messages nested deeper than {MAX_DEPTH} levels")
    children = _CHILDREN[kind]
    while pos < end:
        key, pos = _varint(buf, pos, end)
        field, wire = key >> 3, key & 7
        if field == 0:
            raise ModelScanError("field number 0")
        if wire == 0:
            value, pos = _varint(buf, pos, end)
            if kind == _TENSOR and field == _TENSOR_DATA_LOCATION and value == _EXTERNAL:
                return path
        elif wire == 1:
            pos += 8
        elif wire == 5:
            pos += 4
        elif wire == 2:
            length, pos = _varint(buf, pos, end)
            stop = pos + length
            if stop > end:
                raise ModelScanError("a field runs past the end of its message")
            if kind == _TENSOR and field in (_TENSOR_EXTERNAL_DATA, _TENSOR_DATA_LOCATION):
                return path
            child = children.get(field)
            if child is not None:
                found = _walk(buf, pos, stop, child, depth=depth + 1, path=f"{path}/{field}")
                if found is not None:
                    return found
            pos = stop
        else:  # groups (3, 4) are not used by onnx.proto; 6, 7 do not exist
            raise ModelScanError(f"wire type {wire} is not allowed in an ONNX model")
        if pos > end:
            raise ModelScanError("a field runs past the end of its message")
    return None


def external_data(model: bytes | memoryview) -> str | None:
    """Where the model's first tensor with external data is (a field path), or None.

    Raises:
        ModelScanError: the bytes are not a well-formed protobuf message.

    """
    view = memoryview(model).cast("B")
    return _walk(view, 0, len(view), _MODEL, depth=0, path="model")
