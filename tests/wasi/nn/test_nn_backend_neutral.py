"""The wasi:nn host is backend-neutral: public host-import API only, any bytes-like input.

A component backend may hand host code a ``list<u8>`` as ``bytes`` (the stock backend) or as
a ``memoryview`` of linear memory valid only during the call (a backend that moves bytes by
memcpy); either must work, and a lent view must not be kept.
"""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import onnxruntime as ort

from fixtures import nn_models as models
from omniwasm.wasi import nn

PACKAGE = Path(nn.__file__).parent
# What the host may use from the rest of omniwasm: the backend-neutral host-import API
# (Linker, host_data, the calling store's deadline, Ok/Err) and pure-Python foundations.
ALLOWED = {
    "_component": {"Linker", "host_data", "current_deadline"},
    "_wit.values": {"Ok", "Err"},
    "_deadline": {"Deadline", "call_within"},
    "_errors": {"MemoryLimitExceeded", "PolicyError"},
    "_policy": {"Policy", "parse_size"},
}


def test_host_imports_only_the_host_import_api() -> None:
    """Every import of omniwasm.wasi.nn from the rest of omniwasm is in ALLOWED.

    So no engine, no backend, no wasmtime or ctypes.
    """
    found = []
    for path in sorted(PACKAGE.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [a.name.split(".")[0] for a in node.names]
                assert not {"wasmtime", "ctypes", "omniwasm"} & set(names), path.name
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                top = (node.module or "").split(".")[0]
                assert top not in {"wasmtime", "ctypes", "omniwasm"}, (path.name, node.module)
            elif isinstance(node, ast.ImportFrom) and node.level >= 3:
                module = node.module or ""
                for alias in node.names:
                    found.append((path.name, module, alias.name))
                    assert alias.name in ALLOWED.get(module, set()), (path.name, module, alias)
    assert found  # the walk saw the host's imports


def test_a_lent_memoryview_is_copied_not_kept(tmp_path: Path) -> None:
    """A tensor built from a lent memoryview keeps its own copy of the bytes.

    Overwriting the buffer after the constructor returns changes neither the tensor nor
    compute's result.
    """
    path = models.save(tmp_path, "mlp", models.mlp())
    context = nn.NnContext(models={"mlp": path})
    bound = type("Tensor", (nn.Tensor,), {"__slots__": (), "_bound": context})
    x = np.random.default_rng(9).standard_normal((2, 16)).astype(np.float32)
    lent = bytearray(x.tobytes())
    t = bound([2, 16], "FP32", memoryview(lent))
    lent[:] = bytes(len(lent))  # the backend reuses its linear memory after the call
    assert bytes(t.data()) == x.tobytes()
    exe = nn.ExecutionContext(context, context.cache.named("mlp", str(path), 1), bound)
    result = exe.compute([("x", t)])
    ((name, out),) = result.value
    got = np.frombuffer(out.data(), np.float32).reshape(out.dimensions())
    want = ort.InferenceSession(str(path)).run(None, {"x": x})[0]
    assert name == "scores"
    np.testing.assert_allclose(got, want, rtol=1e-6)
    out.close()
    exe.close()
    assert context.held == 0 and context.open_resources() == {}
