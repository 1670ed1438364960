"""Models a guest supplies are hostile input: external data is found, bad bytes are errors.

External data is found wherever it hides, and malformed bytes end in a wasi:nn error, never a
crash.
"""

from __future__ import annotations

import random

import pytest

from fixtures import nn_models as models
from omniwasm.wasi import nn
from omniwasm.wasi.nn._scan import MAX_DEPTH, ModelScanError, external_data


@pytest.mark.parametrize("where", ["initializer", "constant", "subgraph", "sparse"])
def test_scan_finds_external_data(where: str) -> None:
    """A tensor with data_location EXTERNAL is found wherever it is (``where``)."""
    assert external_data(models.external_initializer(where)) is not None


def test_scan_passes_self_contained_models() -> None:
    """Models that carry all their bytes (test models, magika's real one) pass."""
    for blob in (models.mlp(), models.integer_ops(), models.bf16_cast(), models.gather()):
        assert external_data(blob) is None
    assert external_data(models.magika_model().read_bytes()) is None


def _field(number: int, payload: bytes) -> bytes:
    def varint(n: int) -> bytes:
        out = bytearray()
        while True:
            out.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
            n >>= 7
            if not n:
                return bytes(out)

    return varint(number << 3 | 2) + varint(len(payload)) + payload


def test_scan_refuses_graphs_nested_too_deep() -> None:
    """Graphs nested in attributes past MAX_DEPTH levels are refused, not recursed into."""
    graph = b""
    for _ in range(MAX_DEPTH):
        graph = _field(1, _field(5, _field(6, graph)))  # graph.node.attribute.g
    with pytest.raises(ModelScanError):
        external_data(_field(7, graph))


@pytest.mark.parametrize("cut", [1, 10, 100, 1000])
def test_scan_refuses_truncated_models(cut: int) -> None:
    """A model cut short inside a field is not well-formed protobuf."""
    blob = models.mlp()
    with pytest.raises(ModelScanError):
        external_data(blob[: len(blob) - cut] if cut < 1000 else blob[:7])


def test_mutated_models_end_in_a_model_or_a_wasi_nn_error() -> None:
    """Hundreds of randomly mutated models each load or fail with a wasi:nn error code."""
    rng = random.Random(20261205)
    blobs = [models.mlp(), models.integer_ops(), models.external_initializer("subgraph")]
    cache = nn.SessionCache()
    codes = set()
    for _ in range(300):
        blob = bytearray(rng.choice(blobs))
        for _ in range(rng.randint(1, 6)):
            at = rng.randrange(len(blob))
            kind = rng.random()
            if kind < 0.5:
                blob[at] = rng.randrange(256)
            elif kind < 0.75:
                del blob[at : at + rng.randint(1, 16)]
            else:
                blob[at:at] = rng.randbytes(rng.randint(1, 8))
        try:
            cache.from_bytes(bytes(blob), 1)
        except nn.NnFailure as failure:
            codes.add(failure.code)
    assert codes <= {
        nn.ErrorCode.INVALID_ENCODING,
        nn.ErrorCode.SECURITY,
        nn.ErrorCode.UNSUPPORTED_OPERATION,
    }
    assert nn.ErrorCode.INVALID_ENCODING in codes
