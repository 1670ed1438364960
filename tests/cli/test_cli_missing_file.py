"""A WebAssembly input that does not exist is InvalidModule (exit 65) in every command."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

CLI = list[str]

COMMANDS = [
    ("run", "{missing}"),
    ("invoke", "{missing}", "f"),
    ("inspect", "{missing}"),
    ("compile", "{missing}"),
    ("bindgen", "{missing}", "-o", "{out}"),
    ("serve", "{missing}"),
    ("serve", "{manifest}"),
    ("plugin", "call", "{missing}", "f"),
    ("snapshot", "{missing}", "-o", "{out}"),
    ("sql", ":memory:", "SELECT 1", "--udf", "{missing}"),
    ("compose", "{missing}", "--plug", "{missing}", "-o", "{out}"),
    ("targets", "{missing}", "{out}"),
    ("push", "{missing}", "127.0.0.1:9/demo/x:1.0.0"),
    ("publish", "{missing}", "--package", "acme:x@1.0.0"),
]


@pytest.mark.parametrize("argv", COMMANDS, ids=lambda a: "-".join(a[:2]))
def test_a_missing_input_is_invalid_module_everywhere(
    omniwasm_cli: CLI, tmp_path: Path, argv: tuple[str, ...]
) -> None:
    """Each command names the missing file in one InvalidModule line and exits 65."""
    missing = tmp_path / "nope.wasm"
    manifest = tmp_path / "nope.toml"
    out = tmp_path / "out"
    args = [a.format(missing=missing, manifest=manifest, out=out) for a in argv]
    proc = subprocess.run(
        [*omniwasm_cli, *args], check=False, capture_output=True, timeout=60, text=True
    )
    assert proc.returncode == 65, proc.stderr
    assert proc.stderr.startswith("omniwasm: error: InvalidModule: "), proc.stderr
    assert "file not found" in proc.stderr
    assert str(tmp_path / "nope.") in proc.stderr


def test_a_manifest_naming_a_missing_component_is_invalid_module(
    omniwasm_cli: CLI, tmp_path: Path
) -> None:
    """serve omniwasm.toml whose component source is missing: InvalidModule, exit 65."""
    manifest = tmp_path / "omniwasm.toml"
    manifest.write_text(
        'omniwasm_manifest_version = 1\n[application]\nname = "a"\n'
        '[[trigger.http]]\nroute = "/..."\ncomponent = "c"\n'
        '[component.c]\nsource = "gone.wasm"\n'
    )
    proc = subprocess.run(
        [*omniwasm_cli, "serve", str(manifest)],
        check=False,
        capture_output=True,
        timeout=60,
        text=True,
    )
    assert proc.returncode == 65, proc.stderr
    assert "InvalidModule" in proc.stderr and "gone.wasm" in proc.stderr
