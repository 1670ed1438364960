"""wasi:nn wired into the rest: the Policy, the virtual WASI host, ``Runtime.run`` and the CLI.

The guest is the C command (``tests/fixtures/nn/nn_c.c``): ``nn_c MODEL X1 X2 ...`` loads
MODEL by name, runs it on the FP32 tensor [1, n] and prints ``scores FP32 [1,10]: V1 V2 ...``.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

import omniwasm
from fixtures import nn_models as models
from omniwasm import wasi
from omniwasm.wasi import nn

X = np.linspace(-1, 1, 16, dtype=np.float32)
ARGS = [repr(float(v)) for v in X]


@pytest.fixture(scope="module")
def mlp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The FP32 MLP (16 -> 10) saved as an .onnx file."""
    return models.save(tmp_path_factory.mktemp("nn"), "mlp", models.mlp())


def scores(out: str) -> np.ndarray:
    """The FP32 values the C guest printed (9 digits: float32 read back exactly)."""
    head, _, values = out.strip().partition(":")
    assert head == "scores FP32 [1,10]", out
    return np.array([float(v) for v in values.split()], np.float32)


def want(path: Path) -> np.ndarray:
    """ONNX Runtime's own scores for X."""
    return ort.InferenceSession(str(path)).run(None, {"x": X[None, :]})[0][0]  # type: ignore[no-any-return]


def test_virtual_wasi_run_grants_the_policys_models(nn_c_wasm: Path, mlp: Path) -> None:
    """wasi.run gives the guest the models of Policy(models=...): ONNX Runtime's scores."""
    policy = omniwasm.Policy(models={"mlp": mlp}, args=["mlp", *ARGS])
    result = wasi.run(omniwasm.Runtime(), nn_c_wasm, policy)
    assert result.exit_code == 0, result.stdout
    np.testing.assert_allclose(scores(result.stdout.decode()), want(mlp), rtol=1e-6)


def test_virtual_wasi_without_models_grants_nothing(nn_c_wasm: Path, mlp: Path) -> None:
    """A policy without models links wasi:nn, but load-by-name answers not-found."""
    result = wasi.run(omniwasm.Runtime(), nn_c_wasm, omniwasm.Policy(args=["mlp", "1"]))
    assert result.exit_code == 1
    assert result.stdout.decode().startswith("error 6: no model named 'mlp' is granted")


def test_wasi_context_takes_an_nn_context(nn_c_wasm: Path, mlp: Path) -> None:
    """WasiContext(nn=...) replaces the policy's wasi:nn: its models are the ones granted."""
    context = wasi.WasiContext(
        omniwasm.Policy(args=["other", *ARGS]), nn=nn.NnContext(models={"other": mlp})
    )
    rt = omniwasm.Runtime()
    try:
        with wasi.instantiate(rt, nn_c_wasm, context) as inst:
            run = next(v for k, v in inst.exports.items() if k.startswith("wasi:cli/run@"))
            assert run.run(raw=True) == omniwasm.Ok(None)
        np.testing.assert_allclose(scores(context.stdout_bytes.decode()), want(mlp), rtol=1e-6)
        assert context.nn.open_resources() == {}
    finally:
        context.close()


def test_runtime_run_with_nn_linker_on_native_wasi(nn_c_wasm: Path, mlp: Path) -> None:
    """Runtime.run(..., imports=nn.linker(policy)) runs a wasi:nn command on native WASI."""
    policy = omniwasm.Policy(models={"mlp": mlp}, args=["mlp", *ARGS])
    result = omniwasm.Runtime().run(nn_c_wasm, policy, imports=nn.linker(policy))
    assert result.exit_code == 0, result.stdout
    np.testing.assert_allclose(scores(result.stdout.decode()), want(mlp), rtol=1e-6)


def test_from_policy_reads_every_nn_field(tmp_path: Path) -> None:
    """NnContext.from_policy takes models, sizes, times, threads and max_memory from a Policy."""
    policy = omniwasm.Policy(
        models={"m": "rel/m.onnx"},
        max_model_size="1MiB",  # type: ignore[arg-type]
        max_inference_time="250ms",  # type: ignore[arg-type]
        nn_threads=3,
        max_memory="64MiB",  # type: ignore[arg-type]
    )
    context = nn.NnContext.from_policy(policy, base_dir=tmp_path)
    assert context.models == {"m": str(tmp_path / "rel" / "m.onnx")}
    assert (context.max_model_size, context.threads) == (1 << 20, 3)
    assert context.max_inference_time == pytest.approx(0.25)
    assert context.max_tensor_bytes == 64 << 20
    assert nn.NnContext.from_policy(omniwasm.Policy()).max_tensor_bytes == nn.DEFAULT_TENSOR_BYTES


@pytest.mark.parametrize("mode", ["native", "virtual"])
def test_cli_nn_model_grants_a_model(
    omniwasm_cli: list[str], nn_c_wasm: Path, mlp: Path, mode: str
) -> None:
    """`omniwasm run --nn-model NAME=PATH` gives the guest that model on either WASI host."""
    proc = subprocess.run(
        [
            *omniwasm_cli,
            "run",
            "--wasi",
            mode,
            "--nn-model",
            f"mlp={mlp}",
            str(nn_c_wasm),
            "mlp",
            *ARGS,
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    np.testing.assert_allclose(scores(proc.stdout), want(mlp), rtol=1e-6)


def test_cli_without_nn_model_grants_nothing(omniwasm_cli: list[str], nn_c_wasm: Path) -> None:
    """Without --nn-model the guest links, and its load-by-name fails with not-found."""
    proc = subprocess.run(
        [*omniwasm_cli, "run", str(nn_c_wasm), "mlp", "1"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert proc.returncode == 1
    assert proc.stdout.startswith("error 6: no model named 'mlp' is granted")


def test_cli_nn_model_needs_name_and_path(omniwasm_cli: list[str], nn_c_wasm: Path) -> None:
    """A --nn-model value without '=' is a usage error (exit 78, PolicyError)."""
    proc = subprocess.run(
        [*omniwasm_cli, "run", "--nn-model", "mlp", str(nn_c_wasm)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert proc.returncode == 78
    assert "--nn-model needs NAME=PATH" in proc.stderr
