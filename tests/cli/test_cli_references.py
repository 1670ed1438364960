"""The CLI's file arguments take registry references: run, invoke, inspect, plugin, sql, serve."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from importlib.resources import files
from pathlib import Path

import httpx
import pytest
import wasmtime

from fixtures.registry_server import RegistryServer, needs_registry, unique_repo
from fixtures.serving import free_port, serving, wait_ready
from fixtures.wat_components import assemble
from omniwasm.registry import Client, RegistryConfig, Store

pytestmark = [needs_registry, pytest.mark.usefixtures("registry_env")]
FIXTURES = Path(__file__).parents[1] / "fixtures"
KERNELS = Path(str(files("omniwasm") / "examples" / "sql_kernels.wat"))


@pytest.fixture
def acme(registry: RegistryServer, monkeypatch: pytest.MonkeyPatch) -> str:
    """Map the ``acme`` namespace to the test registry (inherited by the CLI processes)."""
    monkeypatch.setenv("OMNIWASM_NAMESPACE_REGISTRIES", f"acme={registry.host}")
    return registry.host


def _push(data: bytes, ref: str, tmp_path: Path) -> None:
    with Client(config=RegistryConfig.from_environment(tmp_path), store=Store(tmp_path / "p")) as c:
        c.push(data, ref)


def _cli(cli: list[str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*cli, *args], capture_output=True, text=True, timeout=120, check=False, env=os.environ
    )


def _package() -> str:
    return "acme:p" + unique_repo().split("/")[1]


def test_run_and_inspect_take_references(
    acme: str, omniwasm_cli: list[str], tmp_path: Path, c_component: Callable[[str], Path]
) -> None:
    """``omniwasm run ns:name@1.0.0`` runs the pulled command; ``inspect oci://...`` describes it."""
    package = _package()
    _push(c_component("hello").read_bytes(), f"{package}@1.0.0", tmp_path)
    ran = _cli(omniwasm_cli, "run", f"{package}@1.0.0")
    assert (ran.returncode, ran.stdout) == (0, "hello from wasm\n"), ran.stderr
    oci = f"oci://{acme}/{package.replace(':', '/')}:1.0.0"
    inspected = _cli(omniwasm_cli, "inspect", "--json", oci)
    assert inspected.returncode == 0, inspected.stderr
    info = json.loads(inspected.stdout)
    assert (info["kind"], info["source"]) == ("component", oci)


def test_invoke_takes_a_reference(acme: str, omniwasm_cli: list[str], tmp_path: Path) -> None:
    """``omniwasm invoke ns:name@^1 'add(1, 2)'`` resolves the range and calls the export."""
    package = _package()
    _push(assemble(FIXTURES / "compose" / "adder.wat").read_bytes(), f"{package}@1.2.0", tmp_path)
    called = _cli(omniwasm_cli, "invoke", f"{package}@^1", "test:compose/math@0.1.0#add(1, 2)")
    assert (called.returncode, called.stdout.strip()) == (0, "3"), called.stderr


def test_plugin_call_takes_a_reference(
    acme: str, omniwasm_cli: list[str], tmp_path: Path, plugin_wasm: Callable[[str], Path]
) -> None:
    """``omniwasm plugin call ns:name@1.0.0 FUNC`` calls the pulled Extism plugin."""
    package = _package()
    _push(plugin_wasm("count_vowels").read_bytes(), f"{package}@1.0.0", tmp_path)
    out = _cli(omniwasm_cli, "plugin", "call", f"{package}@1.0.0", "count_vowels", "-i", "aeiou")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["count"] == 5


def test_sql_udf_takes_a_reference(acme: str, omniwasm_cli: list[str], tmp_path: Path) -> None:
    """``--udf name=REF:function`` and a tagged ``oci://`` reference register pulled functions."""
    package = _package()
    _push(bytes(wasmtime.wat2wasm(KERNELS.read_text())), f"{package}@1.0.0", tmp_path)
    oci = f"oci://{acme}/{package.replace(':', '/')}:1.0.0"
    out = _cli(
        omniwasm_cli, "sql", ":memory:", "SELECT dbl(20) AS d, shout('hi') AS s", "-f", "json",
        "--udf", f"dbl={package}@1.0.0:times2", "--udf", oci,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == [{"d": 41, "s": "HI"}]  # times2 is 2x+1


def test_serve_takes_a_reference(acme: str, tmp_path: Path) -> None:
    """``omniwasm serve ns:name@1.0.0`` serves the pulled wasi:http component."""
    package = _package()
    hello = assemble(FIXTURES / "gateway" / "hello.wat", prefix="gw-")
    _push(hello.read_bytes(), f"{package}@1.0.0", tmp_path)
    port = free_port()
    with serving(f"{package}@1.0.0", "--addr", f"127.0.0.1:{port}") as proc:
        wait_ready(f"http://127.0.0.1:{port}/", proc)
        response = httpx.get(f"http://127.0.0.1:{port}/hello", timeout=10)
    assert (response.status_code, response.text) == (200, "hello from wasm")
