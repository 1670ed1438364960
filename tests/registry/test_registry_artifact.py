"""The Wasm OCI artifact layout (wkg's / the CNCF spec's) and the metadata read from a binary."""

from __future__ import annotations

import contextlib
import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from omniwasm.registry import CONFIG_MEDIA_TYPE, LAYER_MEDIA_TYPE, RegistryError, build_artifact
from omniwasm.registry._wasm import read_info
from omniwasm.registry.artifact import parse_manifest

WIT = """package acme:greeter@1.2.3;

interface greet {
  hello: func(name: string) -> string;
}

world greeter {
  export greet;
}
"""


def test_component_config_has_wkgs_fields(c_component: Callable[[str], Path]) -> None:
    """A component's config is oci-wasm's: created, author, wasm/wasip2, layerDigests, component."""
    wasm = c_component("hello").read_bytes()
    artifact = build_artifact(wasm, title="hello.wasm", author="me")
    config = json.loads(artifact.config)
    assert list(config) == ["created", "author", "architecture", "os", "layerDigests", "component"]
    assert config["architecture"] == "wasm"
    assert config["os"] == "wasip2"
    assert config["author"] == "me"
    assert config["layerDigests"] == [artifact.layer.digest]
    assert config["component"]["exports"] == ["wasi:cli/run@0.2.12"]
    assert "wasi:cli/stdout@0.2.12" in config["component"]["imports"]
    assert config["component"]["target"] is None
    assert config["created"].endswith("Z")


def test_manifest_has_one_wasm_layer_and_the_wasm_config(
    c_component: Callable[[str], Path],
) -> None:
    """The manifest is an OCI image manifest: wasm config type, one application/wasm layer."""
    wasm = c_component("hello").read_bytes()
    artifact = build_artifact(wasm, title="hello.wasm", annotations={"a": "b"})
    manifest = json.loads(artifact.manifest)
    assert manifest["schemaVersion"] == 2
    assert manifest["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    assert manifest["config"] == {
        "mediaType": CONFIG_MEDIA_TYPE,
        "digest": artifact.config_digest,
        "size": len(artifact.config),
    }
    assert manifest["layers"] == [
        {
            "mediaType": LAYER_MEDIA_TYPE,
            "digest": artifact.layer.digest,
            "size": len(wasm),
            "annotations": {"org.opencontainers.image.title": "hello.wasm"},
        }
    ]
    assert manifest["annotations"] == {"a": "b"}


def test_a_core_module_is_wasip1_without_component(c_module: Callable[[str], Path]) -> None:
    """A core module is pushed with os wasip1 and a null component, as oci-wasm does."""
    config = json.loads(build_artifact(c_module("hello").read_bytes()).config)
    assert (config["os"], config["component"]) == ("wasip1", None)


@pytest.mark.parametrize("junk", [b"", b"\0asm", b"not wasm at all", b"\0asm\x02\0\0\0"])
def test_pushing_non_wasm_is_refused(junk: bytes) -> None:
    """Bytes that are not a WebAssembly binary cannot become an artifact."""
    with pytest.raises(RegistryError, match="not a WebAssembly binary"):
        build_artifact(junk)


def test_wit_package_name_is_read_from_an_encoded_package(tmp_path: Path, wasm_tools: str) -> None:
    """A binary WIT package names its own package and version (what publish uses)."""
    (tmp_path / "pkg.wit").write_text(WIT)
    out = tmp_path / "pkg.wasm"
    subprocess.run(
        [wasm_tools, "component", "wit", str(tmp_path / "pkg.wit"), "--wasm", "-o", str(out)],
        check=True,
    )
    info = read_info(out.read_bytes())
    assert info.wit_package == "acme:greeter@1.2.3"


def test_damaged_packages_are_refused_or_read_never_crash(tmp_path: Path, wasm_tools: str) -> None:
    """Every truncation and many byte flips of a WIT package end in an artifact or RegistryError."""
    (tmp_path / "pkg.wit").write_text(WIT)
    out = tmp_path / "pkg.wasm"
    subprocess.run(
        [wasm_tools, "component", "wit", str(tmp_path / "pkg.wit"), "--wasm", "-o", str(out)],
        check=True,
    )
    good = out.read_bytes()
    damaged = [good[:n] for n in range(len(good))]
    damaged += [good[:i] + bytes([good[i] ^ 0xFF]) + good[i + 1 :] for i in range(8, len(good))]
    for data in damaged:  # any other exception fails the test
        with contextlib.suppress(RegistryError):
            build_artifact(data)
    with pytest.raises(RegistryError, match="not a WebAssembly binary"):
        build_artifact(good[:-1])  # cut inside the last section


def test_component_name_and_version_come_from_its_metadata(tmp_path: Path, wasm_tools: str) -> None:
    """``wasm-tools metadata add --name --version`` is read back, and a component is no package."""
    (tmp_path / "pkg.wit").write_text(WIT)
    core, comp, named = tmp_path / "core.wasm", tmp_path / "c.wasm", tmp_path / "n.wasm"
    run = lambda *a: subprocess.run([wasm_tools, *a], check=True)  # noqa: E731
    run(
        "component", "embed", "--dummy", str(tmp_path / "pkg.wit"), "-w", "greeter", "-o", str(core)
    )
    run("component", "new", str(core), "-o", str(comp))
    run(
        "metadata",
        "add",
        "--name",
        "acme:greeter",
        "--version",
        "1.2.3",
        str(comp),
        "-o",
        str(named),
    )
    info = read_info(named.read_bytes())
    assert (info.name, info.version, info.wit_package) == ("acme:greeter", "1.2.3", None)
    assert info.exports == ["acme:greeter/greet@1.2.3"]


def test_pulled_manifests_are_checked() -> None:
    """An index, a manifest without a wasm layer, or with two, is not a Wasm artifact."""
    layer = {"mediaType": LAYER_MEDIA_TYPE, "digest": "sha256:" + "1" * 64, "size": 3}
    config = {"mediaType": CONFIG_MEDIA_TYPE, "digest": "sha256:" + "2" * 64, "size": 3}
    ok = {"schemaVersion": 2, "config": config, "layers": [layer]}
    assert parse_manifest(ok, "application/vnd.oci.image.manifest.v1+json", "r").layer.size == 3
    tar = dict(layer, mediaType="application/vnd.oci.image.layer.v1.tar+gzip")
    image_config = dict(config, mediaType="application/vnd.oci.image.config.v1+json")
    bad = [
        {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json"},
        {"schemaVersion": 2, "config": image_config, "layers": [tar]},
        {"schemaVersion": 2, "config": config, "layers": [layer, layer]},
        {"schemaVersion": 2, "config": config, "layers": []},
        {"schemaVersion": 2, "config": config, "layers": [dict(layer, size=-1)]},
        {"schemaVersion": 1, "config": config, "layers": [layer]},
    ]
    for manifest in bad:
        with pytest.raises(RegistryError):
            parse_manifest(manifest, "", "r")
