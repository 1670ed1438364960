"""wasi:nn through a real componentize-py guest (``tests/fixtures/python/nn_app``).

The guest builds tensors, loads graphs (by name or from its own bytes), computes, reads the
outputs back and reports wasi:nn errors as a ``failure {code, data}`` record; these tests
compare what it gets with ONNX Runtime's own answer for the same model and inputs.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest
from onnx import TensorProto

import omniwasm
from fixtures import nn_models as models
from omniwasm.wasi import nn

DTYPES = {"FP16": "<f2", "FP32": "<f4", "FP64": "<f8", "U8": "u1", "I32": "<i4", "I64": "<i8"}


@pytest.fixture(scope="module")
def runtime() -> omniwasm.Runtime:
    """One runtime for the module."""
    return omniwasm.Runtime()


@pytest.fixture(scope="module")
def compiled(runtime: omniwasm.Runtime, nn_app_cwasm: Path) -> Any:
    """The guest, compiled once."""
    return runtime.load(nn_app_cwasm)


@pytest.fixture
def guest(runtime: omniwasm.Runtime, compiled: Any) -> Iterator[Callable[..., Any]]:
    """``guest(context, policy=None)``: the ``app`` exports of a fresh instance with them."""
    opened: list[omniwasm.Instance] = []

    def make(context: nn.NnContext, policy: omniwasm.Policy | None = None) -> Any:
        linker = nn.add_to_linker(omniwasm.Linker())
        inst = runtime.instantiate(compiled, policy, imports=linker, host_data=context)
        opened.append(inst)
        return inst.exports.app

    yield make
    for inst in opened:
        inst.close()


def tv(name: str, array: np.ndarray, ty: str | None = None) -> dict[str, Any]:
    """A ``tensor-value`` record for ``array``."""
    ty = ty or next(k for k, v in DTYPES.items() if np.dtype(v) == array.dtype)
    return {"name": name, "dims": list(array.shape), "ty": ty, "data": array.tobytes()}


def arrays(values: list[Any]) -> dict[str, np.ndarray]:
    """The guest's output records as numpy arrays by name."""
    return {v.name: np.frombuffer(v.data, DTYPES[v.ty.value]).reshape(v.dims) for v in values}


def failure(call: Callable[[], Any]) -> tuple[str, str]:
    """The (code, data) of the wasi:nn error the guest reported."""
    with pytest.raises(omniwasm.Err) as info:
        call()
    return info.value.value.code.value, info.value.value.data


def test_mlp_outputs_equal_onnx_runtime(guest: Any, tmp_path: Path) -> None:
    """An FP32 MLP loaded by name gives the guest ONNX Runtime's own scores (1e-6 relative)."""
    path = models.save(tmp_path, "mlp", models.mlp())
    context = nn.NnContext(models={"mlp": path})
    x = np.random.default_rng(3).standard_normal((4, 16)).astype(np.float32)
    got = arrays(guest(context).infer_by_name("mlp", [tv("x", x)]))
    want = ort.InferenceSession(str(path)).run(None, {"x": x})[0]
    assert set(got) == {"scores"}
    np.testing.assert_allclose(got["scores"], want, rtol=1e-6, atol=0)
    assert got["scores"].shape == (4, 10)


def test_integer_model_is_exact(guest: Any, tmp_path: Path) -> None:
    """I32, I64 and U8 tensors in and out equal ONNX Runtime's results bit for bit."""
    path = models.save(tmp_path, "ints", models.integer_ops())
    rng = np.random.default_rng(5)
    feeds = {
        "a": rng.integers(-(2**20), 2**20, 1000).astype(np.int32),
        "b": rng.integers(-(2**31), 2**31, 1000).astype(np.int64),
        "c": rng.integers(0, 256, 1000).astype(np.uint8),
    }
    got = arrays(
        guest(nn.NnContext(models={"ints": path})).infer_by_name(
            "ints", [tv(k, v) for k, v in feeds.items()]
        )
    )
    want = dict(
        zip(["a2", "b2", "c2", "s"], ort.InferenceSession(str(path)).run(None, feeds), strict=True)
    )
    assert set(got) == set(want)
    for name, value in want.items():
        assert got[name].dtype == value.dtype and np.array_equal(got[name], value), name


def test_fp16_and_fp64_tensors(guest: Any, tmp_path: Path) -> None:
    """FP16 and FP64 tensors cross both ways and equal ONNX Runtime's results."""
    path = models.save(tmp_path, "floats", models.float_ops())
    feeds = {
        "h": np.linspace(-3, 3, 50).astype(np.float16),
        "d": np.linspace(-5, 5, 50).astype(np.float64),
    }
    got = arrays(
        guest(nn.NnContext(models={"f": path})).infer_by_name(
            "f", [tv(k, v) for k, v in feeds.items()]
        )
    )
    want = dict(zip(["h2", "d2"], ort.InferenceSession(str(path)).run(None, feeds), strict=True))
    np.testing.assert_allclose(got["d2"], want["d2"], rtol=1e-6, atol=0)
    assert got["h2"].dtype == np.float16 and np.array_equal(got["h2"], want["h2"])


def test_bf16_tensors_cross_where_onnx_runtime_has_kernels(guest: Any, tmp_path: Path) -> None:
    """A BF16 input is cast by the model; BF16 and FP32 outputs come back with their bits."""
    path = models.save(tmp_path, "bf", models.bf16_cast())
    values = np.array([1.0, -2.5, 3.0, 0.15625], np.float32)
    bits = (values.view(np.uint32) >> 16).astype(np.uint16)  # exact in bfloat16
    out = guest(nn.NnContext(models={"bf": path})).infer_by_name("bf", [tv("x", bits, "BF16")])
    by_name = {v.name: v for v in out}
    assert by_name["y"].ty.value == "BF16" and by_name["f"].ty.value == "FP32"
    np.testing.assert_array_equal(np.frombuffer(by_name["f"].data, "<f4"), values)
    doubled = np.frombuffer(by_name["y"].data, "<u2").astype(np.uint32) << 16
    np.testing.assert_array_equal(doubled.view(np.float32), values * 2)


def test_bf16_arithmetic_is_refused_as_unsupported(guest: Any, tmp_path: Path) -> None:
    """A model adding BF16 tensors (no CPU kernel) fails to load with unsupported-operation."""
    path = models.save(tmp_path, "bfadd", models.bf16_add())
    code, data = failure(lambda: guest(nn.NnContext(models={"m": path})).infer_by_name("m", []))
    assert code == "unsupported-operation"
    assert "Add" in data


def test_top_k_in_the_guest(guest: Any, tmp_path: Path) -> None:
    """The guest's top-k over the first output matches numpy's ranking of ONNX Runtime's."""
    path = models.save(tmp_path, "mlp", models.mlp(n_out=50))
    x = np.random.default_rng(11).standard_normal((1, 16)).astype(np.float32)
    best = guest(nn.NnContext(models={"mlp": path})).top_k("mlp", tv("x", x), 5)
    want = ort.InferenceSession(str(path)).run(None, {"x": x})[0][0]
    assert [i for i, _ in best] == list(np.argsort(-want, kind="stable")[:5])
    np.testing.assert_allclose([s for _, s in best], want[[i for i, _ in best]], rtol=1e-6)


@pytest.mark.parametrize("ty", ["FP16", "FP32", "FP64", "BF16", "U8", "I32", "I64"])
def test_tensor_accessors_give_back_what_was_built(guest: Any, ty: str) -> None:
    """dimensions(), ty() and data() return the constructor's arguments for every type."""
    size = {"FP16": 2, "BF16": 2, "FP32": 4, "I32": 4, "FP64": 8, "I64": 8, "U8": 1}[ty]
    data = bytes(range(256))[: 2 * 3 * size]
    out = guest(nn.NnContext()).echo_tensor({"name": "t", "dims": [2, 3], "ty": ty, "data": data})
    assert (out.dims, out.ty.value, out.data) == ([2, 3], ty, data)


def test_model_from_guest_bytes_equals_by_name(guest: Any, tmp_path: Path) -> None:
    """load() of the model's bytes (within max_model_size) computes what load-by-name does."""
    blob = models.mlp()
    path = models.save(tmp_path, "mlp", blob)
    x = np.random.default_rng(2).standard_normal((3, 16)).astype(np.float32)
    app = guest(nn.NnContext(models={"mlp": path}, max_model_size=len(blob)))
    by_bytes = arrays(app.infer_bytes([blob], "onnx", "cpu", [tv("x", x)]))
    by_name = arrays(app.infer_by_name("mlp", [tv("x", x)]))
    np.testing.assert_array_equal(by_bytes["scores"], by_name["scores"])
    auto = arrays(app.infer_bytes([blob], "autodetect", "cpu", [tv("x", x)]))
    np.testing.assert_array_equal(auto["scores"], by_name["scores"])


def test_real_model_from_a_package(guest: Any) -> None:
    """magika's model, fed its features by the guest, labels Python source as python.

    The scores are ONNX Runtime's own.
    """
    path = models.magika_model()
    content = Path(omniwasm.__file__).read_bytes()
    features = models.magika_features(content)
    got = arrays(
        guest(nn.NnContext(models={"magika": path})).infer_by_name(
            "magika", [tv("bytes", features)]
        )
    )["target_label"]
    want = ort.InferenceSession(str(path)).run(None, {"bytes": features})[0]
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=0)
    assert models.magika_labels()[int(got.argmax())] == "python"


def test_outputs_wasi_nn_cannot_carry_are_left_out(guest: Any, tmp_path: Path) -> None:
    """A bool output is not returned; the FP32 output beside it is."""
    path = models.save(tmp_path, "mixed", models.mixed_outputs())
    x = np.array([1.0, -2.0, 3.0], np.float32)
    got = arrays(guest(nn.NnContext(models={"m": path})).infer_by_name("m", [tv("x", x)]))
    assert set(got) == {"doubled"}
    np.testing.assert_array_equal(got["doubled"], x * 2)


def test_repeated_computes_on_one_context(guest: Any, tmp_path: Path) -> None:
    """One execution context computes many times with fresh inputs; nothing stays open."""
    path = models.save(tmp_path, "mlp", models.mlp())
    context = nn.NnContext(models={"mlp": path})
    x = np.ones((1, 16), np.float32)
    got = arrays(guest(context).infer_repeat("mlp", [tv("x", x)], 20))
    want = ort.InferenceSession(str(path)).run(None, {"x": x})[0]
    np.testing.assert_allclose(got["scores"], want, rtol=1e-6)
    assert context.open_resources() == {} and context.held == 0


def test_resources_are_freed_with_the_guests_handles(guest: Any, tmp_path: Path) -> None:
    """Graphs, contexts and tensors the guest drops are freed on the host (nothing held)."""
    path = models.save(tmp_path, "mlp", models.mlp())
    context = nn.NnContext(models={"mlp": path})
    app = guest(context)
    assert app.load_many("mlp", 50) == 50
    assert context.open_resources() == {}
    app.infer_by_name("mlp", [tv("x", np.ones((2, 16), np.float32))])
    assert context.open_resources() == {} and context.held == 0
    assert app.hoard(3, 100) == 3  # the guest keeps these
    assert context.open_resources() == {"tensor": 3} and context.held == 300


def test_tensor_bytes_are_bounded_per_instance(guest: Any) -> None:
    """Tensors past max_tensor_bytes end the call with MemoryLimitExceeded."""
    context = nn.NnContext(max_tensor_bytes=10_000)
    app = guest(context)
    with pytest.raises(omniwasm.MemoryLimitExceeded):
        app.hoard(100, 1000)
    assert context.held <= 10_000


def test_a_guest_cannot_load_a_model_it_was_not_granted(guest: Any, tmp_path: Path) -> None:
    """Only granted names load: another model file on disk, its path or its stem are not-found."""
    granted = models.save(tmp_path, "granted", models.mlp())
    secret = models.save(tmp_path, "secret", models.mlp(seed=9))
    app = guest(nn.NnContext(models={"granted": granted}))
    for name in ("secret", str(secret), "secret.onnx", "../secret", ""):
        assert failure(lambda name=name: app.infer_by_name(name, []))[0] == "not-found"


def test_model_changed_on_disk_is_reloaded(guest: Any, tmp_path: Path) -> None:
    """Rewriting or replacing the model file changes what the next load-by-name computes."""
    path = tmp_path / "m.onnx"
    context = nn.NnContext(models={"m": path})
    app = guest(context)
    x = np.random.default_rng(4).standard_normal((1, 16)).astype(np.float32)

    def scores() -> np.ndarray:
        return arrays(app.infer_by_name("m", [tv("x", x)]))["scores"]

    versions = [models.mlp(seed=s) for s in (1, 2, 3)]
    path.write_bytes(versions[0])
    first = scores()
    np.testing.assert_array_equal(first, scores())  # cached: the same session
    path.write_bytes(versions[1])  # rewritten in place (same inode)
    os.utime(path, ns=(1, 1))
    second = scores()
    tmp = tmp_path / "new.onnx"
    tmp.write_bytes(versions[2])
    os.replace(tmp, path)  # replaced atomically (a new inode)
    third = scores()
    for got, blob in zip((first, second, third), versions, strict=True):
        want = ort.InferenceSession(blob).run(None, {"x": x})[0]
        np.testing.assert_allclose(got, want, rtol=1e-6)
    assert not np.allclose(first, second) and not np.allclose(second, third)


def test_sessions_are_shared_between_instances(guest: Any, tmp_path: Path) -> None:
    """Instances with the same thread setting load a model once and compute in parallel."""
    path = models.save(tmp_path, "mlp", models.mlp())
    cache = nn.SessionCache()
    apps = [guest(nn.NnContext(models={"mlp": path}, cache=cache)) for _ in range(2)]
    rng = np.random.default_rng(8)
    inputs = [rng.standard_normal((8, 16)).astype(np.float32) for _ in range(2)]
    want = [ort.InferenceSession(str(path)).run(None, {"x": x})[0] for x in inputs]
    results: list[Any] = [None, None]

    def work(i: int) -> None:
        for _ in range(5):
            results[i] = arrays(apps[i].infer_by_name("mlp", [tv("x", inputs[i])]))["scores"]

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for got, expected in zip(results, want, strict=True):
        np.testing.assert_allclose(got, expected, rtol=1e-6)
    assert cache.loads == 1
    other = guest(nn.NnContext(models={"mlp": path}, cache=cache, threads=2))
    other.infer_by_name("mlp", [tv("x", inputs[0])])
    assert cache.loads == 2  # another thread count is another session


# -- every error code of wasi:nn/errors --------------------------------------------------------


def test_not_found_for_a_granted_model_missing_on_disk(guest: Any, tmp_path: Path) -> None:
    """A granted name whose file does not exist is not-found."""
    app = guest(nn.NnContext(models={"gone": tmp_path / "gone.onnx"}))
    code, data = failure(lambda: app.infer_by_name("gone", []))
    assert code == "not-found" and "missing" in data


def test_unknown_when_the_host_cannot_read_the_model(guest: Any, tmp_path: Path) -> None:
    """A granted path that is not a regular file is unknown (a host fault, not the guest's)."""
    app = guest(nn.NnContext(models={"dir": tmp_path}))
    assert failure(lambda: app.infer_by_name("dir", []))[0] == "unknown"


def test_invalid_encoding(guest: Any) -> None:
    """Encodings other than onnx, and bytes that are not an ONNX model, are invalid-encoding."""
    app = guest(nn.NnContext(max_model_size=1 << 20))
    for encoding in ("openvino", "tensorflow", "pytorch", "tensorflowlite", "ggml"):
        assert failure(lambda e=encoding: app.infer_bytes([b"x"], e, "cpu", []))[0] == (
            "invalid-encoding"
        )
    for junk in (b"not a model", b"\xff" * 64, models.mlp()[:100]):
        assert failure(lambda j=junk: app.infer_bytes([j], "onnx", "cpu", []))[0] == (
            "invalid-encoding"
        )


def test_unsupported_operation(guest: Any, tmp_path: Path) -> None:
    """GPU and TPU targets, and a model with no output wasi:nn can carry, are unsupported."""
    blob = models.mlp()
    app = guest(
        nn.NnContext(
            max_model_size=len(blob), models={"b": models.save(tmp_path, "b", models.bool_only())}
        )
    )
    for target in ("gpu", "tpu"):
        assert failure(lambda t=target: app.infer_bytes([blob], "onnx", t, []))[0] == (
            "unsupported-operation"
        )
    code, data = failure(lambda: app.infer_by_name("b", []))
    assert code == "unsupported-operation" and "positive" in data


def test_too_large(guest: Any) -> None:
    """A model one byte past max_model_size is too-large."""
    blob = models.mlp()
    app = guest(nn.NnContext(max_model_size=len(blob) - 1))
    code, data = failure(lambda: app.infer_bytes([blob], "onnx", "cpu", []))
    assert code == "too-large" and str(len(blob)) in data


def test_security_without_a_size_limit(guest: Any) -> None:
    """By default a guest may not load models from its own bytes: security."""
    app = guest(nn.NnContext())
    assert failure(lambda: app.infer_bytes([models.mlp()], "onnx", "cpu", []))[0] == "security"


@pytest.mark.parametrize("where", ["initializer", "constant", "subgraph", "sparse"])
def test_security_for_external_data(guest: Any, where: str) -> None:
    """A guest's model that points at data outside itself (a host file) is refused: security."""
    blob = models.external_initializer(where)
    app = guest(nn.NnContext(max_model_size=1 << 20))
    code, data = failure(lambda: app.infer_bytes([blob], "onnx", "cpu", []))
    assert code == "security" and "outside the model" in data


def test_invalid_argument(guest: Any, tmp_path: Path) -> None:
    """Bad builders, names, types, dimensions and byte counts are invalid-argument."""
    path = models.save(tmp_path, "id", models.identity(TensorProto.FLOAT, [2, 3]))
    app = guest(nn.NnContext(models={"id": path}, max_model_size=1 << 20))
    good = np.zeros((2, 3), np.float32)
    cases = {
        "two builders": lambda: app.infer_bytes([b"a", b"b"], "onnx", "cpu", []),
        "no builder": lambda: app.infer_bytes([], "onnx", "cpu", []),
        "unknown input": lambda: app.infer_by_name("id", [tv("x", good), tv("z", good)]),
        "missing input": lambda: app.infer_by_name("id", []),
        "twice": lambda: app.infer_by_name("id", [tv("x", good), tv("x", good)]),
        "type": lambda: app.infer_by_name("id", [tv("x", good.astype(np.float64))]),
        "dims": lambda: app.infer_by_name("id", [tv("x", np.zeros((3, 2), np.float32))]),
        "rank": lambda: app.infer_by_name("id", [tv("x", np.zeros(6, np.float32))]),
        "bytes": lambda: app.infer_by_name(
            "id", [{"name": "x", "dims": [2, 3], "ty": "FP32", "data": b"\0" * 20}]
        ),
        "no dims": lambda: app.infer_by_name(
            "id", [{"name": "x", "dims": [], "ty": "FP32", "data": b""}]
        ),
    }
    for label, call in cases.items():
        assert failure(call)[0] == "invalid-argument", label


def test_runtime_error(guest: Any, tmp_path: Path) -> None:
    """A kernel failing on the data (an index out of range) is runtime-error."""
    path = models.save(tmp_path, "g", models.gather())
    app = guest(nn.NnContext(models={"g": path}))
    assert arrays(app.infer_by_name("g", [tv("i", np.array([2], np.int64))]))["y"].tolist() == [3]
    code, data = failure(lambda: app.infer_by_name("g", [tv("i", np.array([7], np.int64))]))
    assert code == "runtime-error" and "Gather" in data


def test_timeout_stops_the_inference(guest: Any, tmp_path: Path) -> None:
    """Past max_inference_time ONNX Runtime's run is stopped and the guest gets timeout."""
    path = models.save(tmp_path, "slow", models.slow())
    context = nn.NnContext(models={"slow": path}, max_inference_time=0.05)
    app = guest(context)
    x = tv("x", np.full((256, 256), 1e-3, np.float32))
    code, data = failure(lambda: app.infer_by_name("slow", [x]))
    assert code == "timeout" and "max_inference_time" in data
    assert context.open_resources() == {} and context.held == 0


def test_policy_timeout_stops_the_inference(guest: Any, tmp_path: Path) -> None:
    """Without max_inference_time the policy's timeout stops ONNX Runtime's run: Timeout."""
    path = models.save(tmp_path, "slow", models.slow(steps=4000))
    context = nn.NnContext(models={"slow": path})
    app = guest(context, omniwasm.Policy(timeout=0.5))
    x = tv("x", np.full((256, 256), 1e-3, np.float32))
    started = time.monotonic()
    with pytest.raises(omniwasm.Timeout):
        app.infer_by_name("slow", [x])
    assert time.monotonic() - started < 5  # the whole run would take ~20 s
