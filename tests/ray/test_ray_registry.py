"""omniwasm.ray ships a registry reference: each node pulls and verifies the code itself."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from typing import Any

import pytest
import wasmtime

import omniwasm.ray as owr
from fixtures.registry_server import REGISTRY_BIN, running_registry, unique_repo
from omniwasm.registry import Client, RegistryConfig, Store

pytestmark = [
    pytest.mark.usefixtures("cluster"),
    pytest.mark.skipif(REGISTRY_BIN is None, reason="docker-registry is not installed (make)"),
]

KERNELS = Path(str(files("omniwasm") / "examples" / "sql_kernels.wat"))


def test_map_over_a_registry_reference(tmp_path: Path, cluster: Any) -> None:
    """map() of an oci:// reference travels as the reference; workers pull it into the store."""
    with running_registry(tmp_path / "registry") as server:
        ref = f"oci://{server.host}/{unique_repo('ray')}:1.0.0"
        config = RegistryConfig.from_environment(tmp_path)
        with Client(config=config, store=Store(tmp_path / "pushed")) as client:
            client.push(wasmtime.wat2wasm(KERNELS.read_text()), ref)
        shipped = owr.code_of(ref)
        assert shipped.data is None and shipped.reference == ref
        assert owr.map(ref, "twice-plus-one", range(6), chunksize=2) == [1, 3, 5, 7, 9, 11]
    assert any(p.is_file() for p in cluster.store.rglob("*"))  # pulled on the nodes
