"""The Extism manifest: accepted as-is, verified, and mapped onto a Policy."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest

import omniwasm
from omniwasm.plugins import load_manifest

WASM = b"\x00asm\x01\x00\x00\x00"


def test_data_module_with_matching_hash_loads() -> None:
    """A base64 module whose sha256 matches its hash is accepted as the main module."""
    m = load_manifest(
        {
            "wasm": [
                {"data": base64.b64encode(WASM).decode(), "hash": hashlib.sha256(WASM).hexdigest()}
            ]
        }
    )
    assert m.wasm == WASM


def test_bad_hash_is_invalid_module() -> None:
    """A module whose sha256 differs from its hash is refused before anything runs."""
    with pytest.raises(omniwasm.InvalidModule, match="hash mismatch"):
        load_manifest({"wasm": [{"data": base64.b64encode(WASM).decode(), "hash": "00" * 32}]})


def test_missing_file_is_invalid_module(tmp_path: Path) -> None:
    """A path that does not exist is an InvalidModule naming it."""
    with pytest.raises(omniwasm.InvalidModule, match=r"nope\.wasm"):
        load_manifest({"wasm": [{"path": str(tmp_path / "nope.wasm")}]})


def test_relative_path_is_relative_to_the_manifest_file(tmp_path: Path) -> None:
    """A manifest file's relative module paths resolve beside the manifest."""
    (tmp_path / "p.wasm").write_bytes(WASM)
    (tmp_path / "m.json").write_text(json.dumps({"wasm": [{"path": "p.wasm"}]}))
    m = load_manifest(tmp_path / "m.json")
    assert (m.wasm, m.name) == (WASM, "p")


@pytest.mark.parametrize(
    "doc",
    [
        {"wasm": [{"data": ""}], "timeout": 5},
        {"wasm": [{"data": "", "sha": "x"}]},
        {"wasm": [{"data": ""}], "memory": {"max_page": 1}},
    ],
)
def test_unknown_keys_are_refused(doc: dict[str, object]) -> None:
    """A misspelt key is a PolicyError, never silently ignored."""
    with pytest.raises(omniwasm.PolicyError, match="unknown key"):
        load_manifest(doc)


@pytest.mark.parametrize("hosts", [["ok.com", "bad/path"], ["a b"], "not-a-list", [""]])
def test_invalid_host_globs_are_refused(hosts: object) -> None:
    """allowed_hosts must be a list of host globs."""
    with pytest.raises(omniwasm.PolicyError, match="allowed_hosts"):
        load_manifest({"wasm": [{"data": ""}], "allowed_hosts": hosts})


def test_unreachable_url_is_invalid_module() -> None:
    """A module URL that cannot be fetched is an InvalidModule naming the URL."""
    with pytest.raises(omniwasm.InvalidModule, match=r"127\.0\.0\.1:9"):
        load_manifest({"wasm": [{"url": "http://127.0.0.1:9/plugin.wasm"}]})


def test_limits_and_paths_map_onto_the_policy() -> None:
    """max_pages, timeout_ms and allowed_paths (with ro:) become the Policy's limits and mounts."""
    m = load_manifest(
        {
            "wasm": [{"data": ""}],
            "memory": {"max_pages": 4, "max_var_bytes": 10},
            "timeout_ms": 1500,
            "allowed_paths": {"ro:/srv/in": "/in", "/srv/out": "/out"},
            "config": {"k": "v"},
            "allowed_hosts": ["*.example.com"],
        }
    )
    policy = m.policy()
    assert policy.max_memory == 4 * 65536
    assert policy.timeout == 1.5
    assert [(d.host, d.guest, d.read_only) for d in policy.dirs] == [
        ("/srv/in", "/in", True),
        ("/srv/out", "/out", False),
    ]
    assert (m.max_var_bytes, dict(m.config), m.allowed_hosts) == (
        10,
        {"k": "v"},
        ("*.example.com",),
    )


def test_main_module_is_named_main_else_last() -> None:
    """With several modules the one named main is the plugin, otherwise the last one."""
    a, b = base64.b64encode(b"A").decode(), base64.b64encode(b"B").decode()
    assert load_manifest({"wasm": [{"data": a, "name": "main"}, {"data": b}]}).wasm == b"A"
    assert load_manifest({"wasm": [{"data": a}, {"data": b}]}).wasm == b"B"
