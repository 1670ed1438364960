"""The façade takes registry references wherever it takes a file: load, inspect, run, instantiate."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest

from fixtures.registry_server import RegistryServer, needs_registry, unique_repo
from fixtures.wat_components import assemble
from omniwasm import Runtime, inspect
from omniwasm._compiled import is_reference
from omniwasm._errors import (
    ArtifactNotFound,
    DigestMismatch,
    InvalidModule,
    LockMismatch,
    RegistryError,
)
from omniwasm.registry import Client, LockFile, RegistryConfig, Store

pytestmark = [needs_registry, pytest.mark.usefixtures("registry_env")]
ADDER = Path(__file__).parents[1] / "fixtures" / "compose" / "adder.wat"


@pytest.fixture
def acme(registry: RegistryServer, monkeypatch: pytest.MonkeyPatch) -> str:
    """Map the ``acme`` namespace to the test registry through the environment."""
    monkeypatch.setenv("OMNIWASM_NAMESPACE_REGISTRIES", f"acme={registry.host}")
    return registry.host


def _push(data: bytes, ref: str, tmp_path: Path) -> str:
    """Push ``data`` under ``ref`` from a separate store; the manifest digest."""
    config = RegistryConfig.from_environment(tmp_path)
    with Client(config=config, store=Store(tmp_path / "pusher")) as client:
        digest = client.push(data, ref).digest
    assert digest is not None
    return digest


def _name() -> str:
    return "p" + unique_repo().split("/")[1]


def test_load_and_instantiate_by_package_and_oci_reference(acme: str, tmp_path: Path) -> None:
    """``Runtime.load`` and ``instantiate`` take ``ns:name@ver`` and ``oci://...`` references."""
    adder = assemble(ADDER).read_bytes()
    name = _name()
    _push(adder, f"acme:{name}@1.0.0", tmp_path)
    rt = Runtime()
    compiled = rt.load(f"acme:{name}@1.0.0")
    assert (compiled.kind, compiled.source) == ("component", f"acme:{name}@1.0.0")
    with rt.instantiate(f"oci://{acme}/acme/{name}:1.0.0") as inst:
        assert inst.exports["test:compose/math@0.1.0"].add(40, 2) == 42


def test_run_and_inspect_by_digest(
    registry: RegistryServer, tmp_path: Path, c_component: Callable[[str], Path]
) -> None:
    """``Runtime.run`` and ``inspect`` take ``host/repo@sha256:...``; inspect hashes the bytes."""
    hello = c_component("hello").read_bytes()
    repo = f"{registry.host}/{unique_repo()}"
    digest = _push(hello, f"{repo}:1", tmp_path)
    result = Runtime().run(f"{repo}@{digest}")
    assert (result.exit_code, result.stdout) == (0, b"hello from wasm\n")
    info = inspect(f"{repo}:1")
    assert (info.source, info.sha256) == (f"{repo}:1", hashlib.sha256(hello).hexdigest())


def test_a_file_wins_over_a_reference_and_typos_stay_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An existing file of that name is read; a missing ``dir.d/x.wasm`` is InvalidModule."""
    monkeypatch.chdir(tmp_path)
    Path("acme:tool@1.0.0").write_text('(module (func (export "f")))')
    assert Runtime().load("acme:tool@1.0.0").source == "acme:tool@1.0.0"
    assert not is_reference("acme:tool@1.0.0")
    with pytest.raises(InvalidModule, match="file not found"):
        Runtime().load("dir.d/x.wasm")
    assert is_reference("oci://dir.d/x") and is_reference("dir.d/x:1")


def test_reference_errors_are_typed_and_name_the_reference(
    acme: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A missing package is ArtifactNotFound naming it; offline misses say so."""
    name = _name()
    with pytest.raises(ArtifactNotFound, match=f"acme:{name}@1.0.0"):
        Runtime().load(f"acme:{name}@1.0.0")
    monkeypatch.setenv("OMNIWASM_OFFLINE", "1")
    with pytest.raises(RegistryError, match="offline"):
        Runtime().load(f"oci://{acme}/acme/{name}:1")


def test_a_corrupted_blob_is_detected_on_load_and_fetched_again(acme: str, tmp_path: Path) -> None:
    """A stored layer damaged on disk is caught when loading; online, a clean copy replaces it."""
    adder = assemble(ADDER).read_bytes()
    name = _name()
    _push(adder, f"acme:{name}@1.0.0", tmp_path)
    rt = Runtime()
    rt.load(f"acme:{name}@1.0.0")
    layer = Store().blob_path("sha256:" + hashlib.sha256(adder).hexdigest())
    layer.write_bytes(adder[:-1] + b"\x01")
    assert rt.load(f"acme:{name}@1.0.0").kind == "component"
    assert layer.read_bytes() == adder
    layer.write_bytes(adder[:-1] + b"\x01")
    with pytest.raises(DigestMismatch, match=f"acme:{name}@1.0.0"):
        Client(offline=True).fetch(f"acme:{name}@1.0.0")
    assert not layer.exists()  # removed, not kept half-right


def test_a_moved_tag_fails_load_against_the_lock_file(
    acme: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With ``omniwasm.lock`` in the working directory, a re-pushed tag is a LockMismatch."""
    monkeypatch.chdir(tmp_path)
    name = _name()
    ref = f"acme:{name}@1.0.0"
    _push(assemble(ADDER).read_bytes(), ref, tmp_path)
    lock = LockFile(tmp_path / "omniwasm.lock")
    with Client.from_environment(tmp_path, lock=lock) as client:
        client.resolve(ref)
    assert Runtime().load(ref).kind == "component"
    _push(b"\0asm\x01\0\0\0", ref, tmp_path)  # the tag now names another artifact
    with pytest.raises(LockMismatch, match=ref):
        Runtime().load(ref)
