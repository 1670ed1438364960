"""The README's registry mapping (the ``[registry]`` table of ``omniwasm.toml``) means what it says."""

from __future__ import annotations

from pathlib import Path

from fixtures.readme import blocks, section
from omniwasm.registry import PackageSpec, parse_reference
from omniwasm.registry.config import Mapping, RegistryConfig


def _spec(text: str) -> PackageSpec:
    spec = parse_reference(text)
    assert isinstance(spec, PackageSpec)
    return spec


def test_readme_registry_table(tmp_path: Path) -> None:
    """Each rule maps as its comment says: namespace, wkg metadata, override, default, auth."""
    table = blocks(section("Registry and composition"), "toml")[0]
    manifest = tmp_path / "omniwasm.toml"
    manifest.write_text(table)
    config = RegistryConfig.from_project(manifest)
    assert config.mapping_for(_spec("acme:app@1.0.0")).registry == "127.0.0.1:5000"
    wasi = config.mapping_for(_spec("wasi:http@0.2.0"))
    assert (wasi.oci_registry, wasi.namespace_prefix) == ("ghcr.io", "webassembly/")
    assert config.mapping_for(_spec("acme:tool@1.0.0")) == Mapping("localhost:5001")
    assert config.mapping_for(_spec("other:pkg@1.0.0")) == Mapping("registry.example.com")
    credentials = config.settings("ghcr.io").credentials
    assert credentials is not None
    assert (credentials.username, credentials.password) == ("me", "ghp_...")
