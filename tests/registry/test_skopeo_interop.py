"""Interoperability with skopeo (containers/image): what one writes, the other reads and runs.

``skopeo inspect`` without ``--raw`` refuses every OCI artifact whose config is not an image
config ("unsupported image-specific operation on artifact"), wkg's pushes included; ``--raw``
and ``--config --raw`` are how skopeo reads artifacts, and ``skopeo copy`` moves them.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

import omniwasm
from fixtures.registry_server import SKOPEO_BIN, RegistryServer, needs_skopeo, unique_repo
from omniwasm.registry import Client, RegistryConfig, Store

pytestmark = [needs_skopeo, pytest.mark.usefixtures("registry_env")]


def skopeo(*args: str) -> str:
    """Run skopeo; return its stdout (fail the test with its stderr)."""
    assert SKOPEO_BIN is not None
    proc = subprocess.run(
        [SKOPEO_BIN, *args], capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def _run(wasm: bytes) -> bytes:
    result = omniwasm.Runtime().run(wasm)
    assert result.exit_code == 0
    return result.stdout


@pytest.fixture
def hello(c_component: Callable[[str], Path]) -> bytes:
    """A WASI command component printing ``hello from wasm``."""
    return c_component("hello").read_bytes()


def test_skopeo_reads_what_omniwasm_pushes(
    registry: RegistryServer, tmp_path: Path, hello: bytes
) -> None:
    """``skopeo inspect --raw`` / ``--config --raw`` show omniwasm's manifest and Wasm config."""
    ref = f"{registry.host}/{unique_repo()}:1.0.0"
    with Client(config=RegistryConfig.empty(), store=Store(tmp_path / "s")) as c:
        pushed = c.push(hello, ref)
    raw = skopeo("inspect", "--raw", "--tls-verify=false", f"docker://{ref}")
    assert "sha256:" + hashlib.sha256(raw.encode()).hexdigest() == pushed.digest
    manifest = json.loads(raw)
    assert manifest["config"]["mediaType"] == "application/vnd.wasm.config.v0+json"
    assert [layer["mediaType"] for layer in manifest["layers"]] == ["application/wasm"]
    config = json.loads(
        skopeo("inspect", "--config", "--raw", "--tls-verify=false", f"docker://{ref}")
    )
    assert (config["architecture"], config["os"]) == ("wasm", "wasip2")
    assert config["layerDigests"] == [manifest["layers"][0]["digest"]]
    tags = json.loads(skopeo("list-tags", "--tls-verify=false", f"docker://{ref[:-6]}"))
    assert tags["Tags"] == ["1.0.0"]


def test_skopeo_copy_of_an_omniwasm_push_runs(
    registry: RegistryServer, tmp_path: Path, hello: bytes
) -> None:
    """Pushed by omniwasm, copied by skopeo to another repository and a dir, it still runs."""
    src = f"{registry.host}/{unique_repo()}:1"
    dst = f"{registry.host}/{unique_repo('copied')}:1"
    with Client(config=RegistryConfig.empty(), store=Store(tmp_path / "a")) as c:
        c.push(hello, src)
    skopeo(
        "copy",
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
        f"docker://{src}",
        f"docker://{dst}",
    )
    with Client(config=RegistryConfig.empty(), store=Store(tmp_path / "b")) as c:
        assert _run(c.fetch(dst)) == b"hello from wasm\n"
    out = tmp_path / "dir"
    skopeo("copy", "--src-tls-verify=false", f"docker://{src}", f"dir:{out}")
    layer = hashlib.sha256(hello).hexdigest()
    assert (out / layer).read_bytes() == hello


def _oci_layout(root: Path, wasm: bytes, tag: str) -> None:
    """Write an OCI image layout holding a Wasm artifact, by the CNCF spec, without omniwasm."""

    def blob(data: bytes) -> dict[str, object]:
        digest = hashlib.sha256(data).hexdigest()
        (root / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
        (root / "blobs" / "sha256" / digest).write_bytes(data)
        return {"digest": f"sha256:{digest}", "size": len(data)}

    layer = {"mediaType": "application/wasm", **blob(wasm)}
    config = json.dumps(
        {
            "created": "2026-01-01T00:00:00Z",
            "architecture": "wasm",
            "os": "wasip2",
            "layerDigests": [layer["digest"]],
            "component": {"exports": ["wasi:cli/run@0.2.0"], "imports": []},
        }
    ).encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.wasm.config.v0+json", **blob(config)},
            "layers": [layer],
        }
    ).encode()
    index = {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                **blob(manifest),
                "annotations": {"org.opencontainers.image.ref.name": tag},
            }
        ],
    }
    (root / "index.json").write_text(json.dumps(index))
    (root / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))


def test_what_skopeo_copies_in_runs_under_omniwasm(
    registry: RegistryServer, tmp_path: Path, hello: bytes
) -> None:
    """A Wasm artifact skopeo copies from an OCI layout into the registry runs by reference."""
    layout = tmp_path / "layout"
    _oci_layout(layout, hello, "2.0.0")
    ref = f"{registry.host}/{unique_repo('skopeo')}:2.0.0"
    skopeo("copy", "--dest-tls-verify=false", f"oci:{layout}:2.0.0", f"docker://{ref}")
    with Client(config=RegistryConfig.empty(), store=Store(tmp_path / "s")) as c:
        pulled = c.pull(ref)
        assert pulled.config is not None and pulled.config["os"] == "wasip2"
        assert _run(pulled.read_bytes()) == b"hello from wasm\n"
