"""``omniwasm bindgen SOURCE -o PKG [--world NAME]`` in a real subprocess."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

SUMMARIZER_WIT = Path(__file__).parents[1] / "fixtures" / "python" / "summarizer" / "wit"


def run_cli(cli: list[str], *args: str) -> subprocess.CompletedProcess[str]:
    """Run the omniwasm CLI in a subprocess and capture its output as text."""
    return subprocess.run([*cli, *args], capture_output=True, text=True, check=False, timeout=120)


def test_bindgen_component_writes_package(
    omniwasm_cli: list[str], wat_component: Callable[[str], Path], tmp_path: Path
) -> None:
    """A component gives a package with __init__.py, py.typed and the named world class."""
    out = tmp_path / "counters"
    proc = run_cli(
        omniwasm_cli, "bindgen", str(wat_component("resources_export")), "-o", str(out), "-w", "c"
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"wrote {out / '__init__.py'}\n"
    assert (out / "py.typed").exists()
    text = (out / "__init__.py").read_text()
    assert "class CWorld:" in text
    assert "class Counter(_t.Protocol):" in text


def test_bindgen_wit_dir_output_imports_and_type_checks(
    omniwasm_cli: list[str], tmp_path: Path
) -> None:
    """A WIT directory plus --world gives bindings that pass mypy --strict and import."""
    out = tmp_path / "summ"
    proc = run_cli(
        omniwasm_cli, "bindgen", str(SUMMARIZER_WIT), "--world", "summarizer-world", "-o", str(out)
    )
    assert proc.returncode == 0, proc.stderr
    check = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "summ"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert check.returncode == 0, check.stdout
    imported = subprocess.run(
        [sys.executable, "-c", "import summ; print(summ.SummarizerWorld, summ.Summary)"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert imported.returncode == 0, imported.stderr
    assert "<class 'summ.Summary'>" in imported.stdout


def test_bindgen_unknown_world_is_one_line_error(omniwasm_cli: list[str], tmp_path: Path) -> None:
    """An unknown --world exits 1 with wasm-tools' reason on one stderr line."""
    proc = run_cli(
        omniwasm_cli, "bindgen", str(SUMMARIZER_WIT), "-w", "nope", "-o", str(tmp_path / "x")
    )
    assert proc.returncode == 1
    assert proc.stderr.startswith("omniwasm: error: OmniwasmError: cannot read WIT ")
    assert "World `nope` not found" in proc.stderr
    assert len(proc.stderr.splitlines()) == 1
    assert not (tmp_path / "x").exists()


def test_bindgen_core_module_exits_65(omniwasm_cli: list[str], tmp_path: Path) -> None:
    """A core module is not a component: InvalidModule, exit code 65."""
    wat = tmp_path / "core.wat"
    wat.write_text('(module (func (export "f")))')
    proc = run_cli(omniwasm_cli, "bindgen", str(wat), "-o", str(tmp_path / "x"))
    assert proc.returncode == 65
    assert proc.stderr.startswith("omniwasm: error: InvalidModule:")


def test_bindgen_requires_output(omniwasm_cli: list[str], tmp_path: Path) -> None:
    """Without -o the command refuses with a usage error (exit 2) and writes nothing."""
    proc = run_cli(omniwasm_cli, "bindgen", str(SUMMARIZER_WIT))
    assert proc.returncode == 2
    assert "-o" in proc.stderr
