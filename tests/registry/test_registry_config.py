"""The registry mapping: wkg's keys, from wkg's file, omniwasm.toml and the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from omniwasm.registry import PackageSpec, RegistryConfig, RegistryError

WKG = """
default_registry = "example.com"

[namespace_registries]
wasi = "wasi.dev"
acme = { registry = "acme", metadata = { preferredProtocol = "oci", oci = { registry = "ghcr.io", namespacePrefix = "acme-corp/" } } }

[package_registry_overrides]
"example:foo" = "localhost:5001"

[registry."wasi.dev".oci]
auth = { username = "open", password = "sesame" }

[registry."ghcr.io".oci]
auth = "cGluZzpwb25n"
protocol = "https"
"""


def test_wkg_config_maps_packages_in_wkgs_order() -> None:
    """Override, then namespace, then default registry: as wkg resolves."""
    config = RegistryConfig.from_toml(WKG)
    assert config.mapping_for(PackageSpec("example", "foo")).registry == "localhost:5001"
    assert config.mapping_for(PackageSpec("wasi", "http")).registry == "wasi.dev"
    assert config.mapping_for(PackageSpec("other", "x")).registry == "example.com"
    acme = config.mapping_for(PackageSpec("acme", "tool"))
    assert (acme.oci_registry, acme.namespace_prefix, acme.explicit) == (
        "ghcr.io",
        "acme-corp/",
        True,
    )


def test_wkg_config_credentials_in_both_forms() -> None:
    """``auth`` is a username/password table or a base64 ``user:password`` string."""
    config = RegistryConfig.from_toml(WKG)
    wasi = config.settings("wasi.dev").credentials
    ghcr = config.settings("ghcr.io").credentials
    assert wasi is not None and (wasi.username, wasi.password) == ("open", "sesame")
    assert ghcr is not None and (ghcr.username, ghcr.password) == ("ping", "pong")
    assert "sesame" not in repr(wasi)


def test_an_unmapped_namespace_names_the_package() -> None:
    """Without any rule, resolution fails naming the package and where to configure it."""
    with pytest.raises(RegistryError, match="no registry for namespace 'acme'") as info:
        RegistryConfig.empty().mapping_for(PackageSpec("acme", "tool", "1.0.0"))
    assert info.value.reference == "acme:tool@1.0.0"


def test_wkg_fallbacks_apply_last() -> None:
    """wkg's built-in fallbacks (wasi -> wasi.dev) apply when nothing else maps."""
    assert RegistryConfig().mapping_for(PackageSpec("wasi", "io")).registry == "wasi.dev"


@pytest.mark.parametrize(
    "text",
    [
        "unknown = 1",
        "default_registry = 5",
        "[namespace_registries]\nacme = 5",
        '[registry."h".oci]\nprotocol = "ftp"',
        '[registry."h".oci]\nauth = "!!!"',
        "not toml ===",
    ],
)
def test_malformed_config_is_a_registry_error(text: str) -> None:
    """A malformed config fails with a message, never silently maps elsewhere."""
    with pytest.raises(RegistryError, match="registry config"):
        RegistryConfig.from_toml(text)


def test_sources_layer_wkg_file_then_project_then_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """wkg's own file < omniwasm.toml [registry] < OMNIWASM_* variables."""
    xdg = tmp_path / "xdg"
    (xdg / "wasm-pkg").mkdir(parents=True)
    (xdg / "wasm-pkg" / "config.toml").write_text(
        'default_registry = "from-wkg.io"\n[namespace_registries]\na = "wkg-a.io"\nb = "wkg-b.io"\n'
    )
    project = tmp_path / "project"
    project.mkdir()
    (project / "omniwasm.toml").write_text(
        'spin_manifest_version = 2\n[registry]\n[registry.namespace_registries]\nb = "proj-b.io"\n'
        'c = "proj-c.io"\n'
    )
    monkeypatch.setenv("XDG_CONFIG_HOME", str(xdg))
    monkeypatch.setenv("OMNIWASM_NAMESPACE_REGISTRIES", "c=env-c.io, d=env-d.io")
    monkeypatch.setenv("OMNIWASM_INSECURE_REGISTRIES", "env-d.io")
    config = RegistryConfig.from_environment(project)
    got = {ns: config.mapping_for(PackageSpec(ns, "x")).registry for ns in "abcde"}
    assert got == {
        "a": "wkg-a.io",
        "b": "proj-b.io",
        "c": "env-c.io",
        "d": "env-d.io",
        "e": "from-wkg.io",
    }
    assert config.settings("env-d.io").insecure
    monkeypatch.setenv("OMNIWASM_DEFAULT_REGISTRY", "env-default.io")
    config = RegistryConfig.from_environment(project)
    assert config.mapping_for(PackageSpec("e", "x")).registry == "env-default.io"


def test_a_named_config_file_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``OMNIWASM_REGISTRY_CONFIG`` names a wkg-format file."""
    path = tmp_path / "reg.toml"
    path.write_text(WKG)
    monkeypatch.setenv("OMNIWASM_REGISTRY_CONFIG", str(path))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "none"))
    config = RegistryConfig.from_environment(tmp_path)
    assert config.mapping_for(PackageSpec("example", "foo")).registry == "localhost:5001"
