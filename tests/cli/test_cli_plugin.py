"""`omniwasm plugin call`: one plugin function from the command line."""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections.abc import Callable
from pathlib import Path

Build = Callable[[str], Path]


def _run(cli: list[str], *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([*cli, "plugin", "call", *args], capture_output=True, check=False)


def test_call_prints_output_bytes(omniwasm_cli: list[str], plugin_wasm: Build) -> None:
    """The function's output bytes go to stdout and the exit code is 0."""
    proc = _run(omniwasm_cli, str(plugin_wasm("count_vowels")), "count_vowels", "-i", "Hello World")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {"count": 3, "total": 3, "vowels": "aeiouAEIOU"}


def test_input_file_and_config(omniwasm_cli: list[str], plugin_wasm: Build, tmp_path: Path) -> None:
    """--input-file feeds a file and --config sets what config_get reads."""
    data = tmp_path / "in.bin"
    data.write_bytes(bytes(range(256)))
    echo = _run(omniwasm_cli, str(plugin_wasm("echo")), "echo", "--input-file", str(data))
    config = _run(
        omniwasm_cli, str(plugin_wasm("config_vars")), "get_config", "--config", "greeting=hey"
    )
    assert echo.stdout == bytes(range(256))
    assert config.stdout == b"hey"


def test_guest_error_exits_1_with_its_message(omniwasm_cli: list[str], plugin_wasm: Build) -> None:
    """A non-zero plugin status exits 1 and prints the plugin's message on stderr."""
    proc = _run(omniwasm_cli, str(plugin_wasm("errors")), "fail")
    assert proc.returncode == 1
    assert b"something went wrong" in proc.stderr


def test_manifest_with_bad_hash_exits_65(
    omniwasm_cli: list[str], plugin_wasm: Build, tmp_path: Path
) -> None:
    """A manifest whose module hash does not match exits with InvalidModule's code."""
    manifest = tmp_path / "m.json"
    wasm = plugin_wasm("echo")
    bad = hashlib.sha256(b"x").hexdigest()
    manifest.write_text(json.dumps({"wasm": [{"path": str(wasm), "hash": bad}]}))
    proc = _run(omniwasm_cli, str(manifest), "echo")
    assert proc.returncode == 65
    assert b"hash mismatch" in proc.stderr


def test_timeout_stops_an_endless_plugin(omniwasm_cli: list[str], plugin_wasm: Build) -> None:
    """--timeout ends a plugin that loops forever with the Timeout exit code."""
    proc = _run(omniwasm_cli, str(plugin_wasm("errors")), "spin", "--timeout", "200ms")
    assert proc.returncode == 124


def test_component_plugin_points_to_invoke(
    omniwasm_cli: list[str], wat_component: Callable[[str], Path]
) -> None:
    """`plugin call` on a component explains that components are called with `invoke`."""
    run = _run(omniwasm_cli, str(wat_component("types")), "echo-string")
    assert run.returncode == 78  # a usage/configuration error (EX_CONFIG), like PolicyError
    assert b"omniwasm invoke" in run.stderr
