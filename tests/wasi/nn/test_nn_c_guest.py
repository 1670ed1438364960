"""The C guest (``tests/fixtures/nn/nn_c.c``): wasi:nn's canonical ABI written by hand.

It is a WASI command, run on the virtual WASI host with wasi:nn added to its linker.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort

import omniwasm
from fixtures import nn_models as models
from omniwasm import wasi
from omniwasm.wasi import nn


def run_c_guest(wasm: Path, context: nn.NnContext, args: list[str]) -> tuple[int, str]:
    """Run the command with ``args``; its exit code and stdout."""
    linker = nn.add_to_linker(wasi.add_to_linker(omniwasm.Linker(wasi=False)), context)
    rt = omniwasm.Runtime()
    state = wasi.WasiContext(omniwasm.Policy(args=args), argv0="nn_c")
    try:
        with wasi.instantiate(rt, rt.load(wasm), state, imports=linker) as inst:
            run = next(v for k, v in inst.exports.items() if k.startswith("wasi:cli/run@"))
            try:
                result = run.run(raw=True)
                code = 0 if isinstance(result, omniwasm.Ok) else 1
            except omniwasm.GuestExit as exc:
                code = exc.code
        return code, state.stdout_bytes.decode()
    finally:
        state.close()


def test_c_guest_prints_onnx_runtimes_scores(nn_c_wasm: Path, tmp_path: Path) -> None:
    """The C guest's FP32 outputs, printed with 9 digits, equal ONNX Runtime's to 1e-6."""
    path = models.save(tmp_path, "mlp", models.mlp())
    x = np.linspace(-1, 1, 16, dtype=np.float32)
    code, out = run_c_guest(
        nn_c_wasm, nn.NnContext(models={"mlp": path}), ["mlp", *(repr(float(v)) for v in x)]
    )
    assert code == 0, out
    head, _, values = out.strip().partition(":")
    assert head == "scores FP32 [1,10]"
    want = ort.InferenceSession(str(path)).run(None, {"x": x[None, :]})[0][0]
    got = np.array([float(v) for v in values.split()], np.float32)  # 9 digits: exact float32
    np.testing.assert_allclose(got, want, rtol=1e-6)


def test_c_guest_reads_the_error_resource(nn_c_wasm: Path) -> None:
    """An ungranted name reaches the C guest as error code 6 (not-found) with the host's text."""
    code, out = run_c_guest(nn_c_wasm, nn.NnContext(), ["secret", "1"])
    assert code == 1
    assert out.startswith("error 6: no model named 'secret' is granted")
