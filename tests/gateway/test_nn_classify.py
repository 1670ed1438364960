"""wasi:nn behind the gateway: the README's classifier and ``[component.models]`` grants.

The guest is ``tests/fixtures/gateway/py_classify`` (componentize-py, wasi:http + wasi:nn): it
classifies its request body with the model granted as ``detector`` (magika's content-type
model) and answers JSON, or 500 with the wasi:nn error code.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import io
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import onnxruntime as ort
import pytest

from fixtures import nn_models as models
from fixtures.serving import free_port, serving, wait_ready
from omniwasm import PolicyError
from omniwasm.gateway import App, load_app_manifest

README = Path(__file__).parents[2] / "README.md"
SCRIPT = b"import os\n\nfor name in os.listdir():\n    print(name)\n"


def section() -> str:
    """The README's "AI inference" section."""
    text = README.read_text()
    start = text.index("## AI inference")
    return text[start : text.index("\n## ", start + 1)]


def block(kind: str) -> str:
    """The first ```KIND block of the section."""
    text = section()
    start = text.index(f"```{kind}\n") + len(kind) + 4
    return text[start : text.index("```\n", start)]


@pytest.fixture
def app_dir(tmp_path: Path, nn_classify_cwasm: Path) -> Iterator[Path]:
    """The README's app directory (its manifest, the guest, magika's model and labels), as cwd."""
    shutil.copy(nn_classify_cwasm, tmp_path / "classify.cwasm")
    shutil.copy(models.magika_model(), tmp_path / "model.onnx")
    (tmp_path / "labels.txt").write_text("\n".join(models.magika_labels()) + "\n")
    manifest = block("toml").replace('"classify.wasm"', '"classify.cwasm"')
    (tmp_path / "omniwasm.toml").write_text(manifest)
    old = os.getcwd()
    os.chdir(tmp_path)
    try:
        yield tmp_path
    finally:
        os.chdir(old)


def post(app: App, path: str, body: bytes) -> httpx.Response:
    """POST ``body`` to ``path`` of ``app``, in process."""

    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
            return await client.post(path, content=body)

    return asyncio.run(go())


def test_readme_python_example_prints_its_comment(app_dir: Path) -> None:
    """The section's Python block, run in the app directory, prints what its comment says."""
    code = block("python")
    want = re.findall(r"print\(.*\)  # (.*)$", code, re.M)
    assert want == ["python"]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(ast.parse(code), "README", "exec"), {})
    assert out.getvalue().split() == want


def test_classifier_answers_onnx_runtimes_scores(app_dir: Path) -> None:
    """The guest's top three equal ONNX Runtime's own scores for the same body (1e-6)."""
    response = post(App("omniwasm.toml"), "/classify", SCRIPT)
    assert response.status_code == 200, response.text
    doc = response.json()
    session = ort.InferenceSession(str(models.magika_model()))
    scores = session.run(None, {"bytes": models.magika_features(SCRIPT)})[0][0]
    labels = models.magika_labels()
    best = np.argsort(-scores, kind="stable")[:3]
    assert [t[0] for t in doc["top"]] == [labels[i] for i in best]
    np.testing.assert_allclose([t[1] for t in doc["top"]], scores[best], rtol=1e-6, atol=1e-6)
    assert doc["label"] == "python"


def test_models_are_granted_to_one_component(app_dir: Path) -> None:
    """A second component without [component.models] gets not-found for the same name."""
    manifest = (app_dir / "omniwasm.toml").read_text()
    manifest += (
        '\n[[trigger.http]]\nroute = "/other"\ncomponent = "other"\n\n'
        '[component.other]\nsource = "classify.cwasm"\n'
    )
    (app_dir / "omniwasm.toml").write_text(manifest)
    app = App("omniwasm.toml")
    assert post(app, "/classify", SCRIPT).status_code == 200
    refused = post(app, "/other", SCRIPT)
    assert refused.status_code == 500
    assert refused.json()["error"] == "not-found"
    assert "no model named 'detector' is granted" in refused.json()["detail"]


def test_missing_model_file_fails_at_load(app_dir: Path) -> None:
    """A [component.models] entry whose file does not exist is a PolicyError at load."""
    (app_dir / "model.onnx").unlink()
    with pytest.raises(PolicyError, match=r"\[component.classify\].models.detector"):
        App("omniwasm.toml")


def test_readme_app_classifies_under_serve(app_dir: Path) -> None:
    """`omniwasm serve omniwasm.toml` answers the README's POST with the label python."""
    pytest.importorskip("uvicorn")
    port = free_port()
    with serving("omniwasm.toml", "--addr", f"127.0.0.1:{port}") as proc:
        wait_ready(f"http://127.0.0.1:{port}/.well-known/spin/health", proc)
        response = httpx.post(f"http://127.0.0.1:{port}/classify", content=SCRIPT, timeout=60)
    assert response.status_code == 200, response.text
    assert response.json()["label"] == "python"


def test_manifest_models_and_inference_time_reach_the_policy(app_dir: Path) -> None:
    """[component.models] and limits.inference_time become the component's policy.

    Model paths resolve against the manifest's directory.
    """
    spec = load_app_manifest(app_dir / "omniwasm.toml").components["classify"]
    assert spec.policy.models == (("detector", str((app_dir / "model.onnx").resolve())),)
    assert spec.policy.max_inference_time == 2.0


def test_serve_nn_model_grants_a_single_component(app_dir: Path) -> None:
    """`omniwasm serve classify.wasm --nn-model detector=PATH` classifies as the app does."""
    pytest.importorskip("uvicorn")
    port = free_port()
    args = ("classify.cwasm", "--nn-model", "detector=model.onnx", "--addr", f"127.0.0.1:{port}")
    with serving(*args) as proc:
        wait_ready(f"http://127.0.0.1:{port}/.well-known/spin/health", proc)
        response = httpx.post(f"http://127.0.0.1:{port}/", content=SCRIPT, timeout=60)
    assert response.status_code == 200, response.text
    # no /labels.txt is given here: the guest answers the label's index
    assert models.magika_labels()[int(response.json()["label"])] == "python"


def test_serve_nn_model_is_refused_for_a_manifest(app_dir: Path) -> None:
    """--nn-model with an omniwasm.toml is a PolicyError pointing at [component.ID.models]."""
    from omniwasm.gateway.serve import ServeSettings

    settings = ServeSettings(source="omniwasm.toml", models={"detector": "model.onnx"})
    with pytest.raises(PolicyError, match=r"\[component.ID.models\]"):
        settings.build()
