"""Composition with wasm-tools: plugs, the WAC subset, registry dependencies; results run."""

from __future__ import annotations

from pathlib import Path

import pytest

import omniwasm
from fixtures.registry_server import RegistryServer, unique_repo
from fixtures.wat_components import assemble
from omniwasm.registry import Client, Mapping, RegistryConfig, Store
from omniwasm.registry._wasm import read_info
from omniwasm.registry.compose import (
    CompositionError,
    compose,
    parse_wac,
    plug,
    targets,
)

FIXTURES = Path(__file__).parents[1] / "fixtures" / "compose"
REPORT = "test:compose/report@0.1.0"
CALC = "test:compose/calc@0.1.0"


@pytest.fixture(scope="module")
def parts() -> dict[str, Path]:
    """The hand-written components: adder, offset_adder (+1000), calc (imports math), report."""
    return {
        name: assemble(FIXTURES / f"{name}.wat")
        for name in ("adder", "offset_adder", "calc", "report")
    }


def _files(path: str) -> Path:
    return Path(path)


def _call(wasm: Path, interface: str, func: str, *args: int, backend: str = "stock") -> int:
    rt = omniwasm.Runtime(components=backend)
    with rt.instantiate(rt.load(wasm)) as inst:
        assert inst.component_backend == backend
        return int(inst.exports[interface][func](*args))


def test_plug_wires_exports_to_imports_transitively(parts: dict[str, Path], tmp_path: Path) -> None:
    """report <- calc <- adder: one component with no imports left, and it computes."""
    out = compose(
        plug(str(parts["report"]), [str(parts["calc"]), str(parts["adder"])]),
        _files,
        tmp_path / "out.wasm",
    )
    info = read_info(out.read_bytes())
    assert info.imports == []
    assert info.exports == [REPORT]
    # total(5) = sum3(5, 5, 5) + double(5) = 15 + 10
    assert _call(out, REPORT, "total", 5) == 25


def test_plug_leaves_unsatisfied_imports(parts: dict[str, Path], tmp_path: Path) -> None:
    """Plugging calc into report leaves calc's math import as an import of the result."""
    out = compose(plug(str(parts["report"]), [str(parts["calc"])]), _files, tmp_path / "o.wasm")
    assert read_info(out.read_bytes()).imports == ["test:compose/math@0.1.0"]


def test_relative_paths_are_the_working_directorys(
    parts: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Files named relative to the working directory compose (wasm-tools runs elsewhere)."""
    for name in ("report", "calc"):
        (tmp_path / f"{name}.wasm").write_bytes(parts[name].read_bytes())
    monkeypatch.chdir(tmp_path)
    out = compose(plug("report.wasm", ["calc.wasm"]), _files, "o.wasm")
    assert read_info(out.read_bytes()).imports == ["test:compose/math@0.1.0"]


def test_a_plug_that_fits_nothing_is_an_error(parts: dict[str, Path], tmp_path: Path) -> None:
    """A plug satisfying no import is refused, naming it."""
    with pytest.raises(CompositionError, match="satisfies no import"):
        compose(plug(str(parts["report"]), [str(parts["adder"])]), _files, tmp_path / "o.wasm")


def test_wac_description_picks_which_component_serves_an_import(
    parts: dict[str, Path], tmp_path: Path
) -> None:
    """A WAC description wires calc to the offset adder by name, and the result uses it."""
    text = f"""
        // calc gets the +1000 adder; the result exports the report
        package example:app;
        let plain = new "{parts["adder"]}" {{}};
        let off = new "{parts["offset_adder"]}" {{}};
        let calc = new "{parts["calc"]}" {{ math: off.math }};
        let app = new "{parts["report"]}" {{ "{CALC}": calc["{CALC}"] }};
        export app...;
    """
    out = compose(parse_wac(text), _files, tmp_path / "out.wasm")
    # sum3(1,1,1) = (1+1+1000)+1+1000 = 2003; double(1) = 1+1+1000 = 1002
    assert _call(out, REPORT, "total", 1) == 3005


def test_wac_shorthand_and_ellipsis(parts: dict[str, Path], tmp_path: Path) -> None:
    """``{ calc }`` passes the instance named calc; ``...`` leaves the rest imported."""
    text = f"""
        let calc = new "{parts["calc"]}" {{ ... }};
        let app = new "{parts["report"]}" {{ calc: calc.calc }};
        export app...;
    """
    out = compose(parse_wac(text), _files, tmp_path / "out.wasm")
    assert read_info(out.read_bytes()).imports == ["test:compose/math@0.1.0"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('let a = new "x.wasm" {};', "nothing is exported"),
        ('let a = new "x.wasm" { b: c };', "unknown instance 'c'"),
        ('let a = new "x.wasm" {}; export a;', r"export a\.\.\.;"),
        ('let a = new "x.wasm" {}; let a = new "y.wasm" {};', "defined twice"),
        ("let a = new 5 {};", "unexpected"),
        ('let a = new "x.wasm" {} export a...;', "expected ';'"),
        ('import x: y; let a = new "x.wasm" {}; export a...;', "not supported"),
    ],
)
def test_wac_errors_say_what_is_wrong(text: str, message: str) -> None:
    """Malformed descriptions fail with a CompositionError pointing at the problem."""
    with pytest.raises(CompositionError, match=message):
        parse_wac(text)


def test_missing_arguments_without_ellipsis(parts: dict[str, Path], tmp_path: Path) -> None:
    """Without ``...`` every import needs an argument; the error lists the missing ones."""
    text = f'let calc = new "{parts["calc"]}" {{}}; let app = new "{parts["report"]}" {{ calc }};'
    with pytest.raises(CompositionError, match=r"test:compose/math@0\.1\.0"):
        compose(parse_wac(text + " export app...;"), _files, tmp_path / "out.wasm")


def test_a_type_mismatch_is_reported(parts: dict[str, Path], tmp_path: Path) -> None:
    """Wiring math where calc is expected fails with wasm-tools' reason in ``detail``."""
    text = f"""
        let m = new "{parts["adder"]}" {{}};
        let app = new "{parts["report"]}" {{ "{CALC}": m["test:compose/math@0.1.0"] }};
        export app...;
    """
    with pytest.raises(CompositionError) as info:
        compose(parse_wac(text), _files, tmp_path / "out.wasm")
    assert "compatible" in info.value.detail or "compatible" in str(info.value)


@pytest.mark.usefixtures("registry_env")
def test_dependencies_resolve_from_the_registry(
    registry: RegistryServer, parts: dict[str, Path], tmp_path: Path
) -> None:
    """``new acme:calc@^0.1`` pulls from the registry through the mapping, then composes."""
    ns = "c" + unique_repo().split("/")[1][:8]
    config = RegistryConfig.empty()
    config.namespace_registries[ns] = Mapping(registry.host)
    with Client(config=config, store=Store(tmp_path / "s")) as client:
        client.push(parts["calc"], f"{ns}:calc@0.1.0")
        client.push(parts["adder"], f"{ns}:adder@0.1.2")

        def resolve(source: str) -> Path:
            if Path(source).is_file():
                return Path(source)
            pulled = client.pull(source)
            return client.store.verify(pulled.layer.digest)

        text = f"""
            let adder = new {ns}:adder@^0.1 {{}};
            let calc = new {ns}:calc@0.1.0 {{ math: adder.math }};
            let app = new "{parts["report"]}" {{ calc }};
            export app...;
        """
        out = compose(parse_wac(text), resolve, tmp_path / "out.wasm")
    assert _call(out, REPORT, "total", 2) == 10


def test_targets_says_what_is_missing(parts: dict[str, Path], tmp_path: Path) -> None:
    """A component fits a world exporting what it exports; otherwise the gaps are named."""
    wit = tmp_path / "wit"
    wit.mkdir()
    (wit / "w.wit").write_text(
        """package test:compose@0.1.0;
interface math { add: func(a: u32, b: u32) -> u32; }
interface calc { sum3: func(a: u32, b: u32, c: u32) -> u32; double: func(x: u32) -> u32; }
world calculator { import math; export calc; }
world adder { export math; }
"""
    )
    fits = targets(parts["calc"], wit, "calculator")
    assert (fits.fits, fits.missing_exports, fits.extra_imports) == (True, (), ())
    misfit = targets(parts["calc"], wit, "adder")
    assert not misfit.fits
    assert misfit.missing_exports == ("test:compose/math@0.1.0",)
    assert misfit.extra_imports == ("test:compose/math@0.1.0",)
    assert misfit.detail


def test_a_composition_runs_on_the_own_backend(parts: dict[str, Path], tmp_path: Path) -> None:
    """The composed report <- calc <- adder computes the same on omniwasm's own backend."""
    out = compose(
        plug(str(parts["report"]), [str(parts["calc"]), str(parts["adder"])]),
        _files,
        tmp_path / "out.wasm",
    )
    assert _call(out, REPORT, "total", 5, backend="omniwasm") == 25
