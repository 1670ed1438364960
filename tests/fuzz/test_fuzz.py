"""A bounded fuzz run: generated modules and components never abort, hang or raise untyped errors.

2,000 inputs from ``wasm-tools smith`` (v128, reference types, GC, multi-memory, exceptions, tail
calls...) and ``wasm-tools mutate`` over fixture modules, plus fixture components with a mutated
core module spliced in or bytes flipped, go through load / inspect / instantiate / calls / run /
``Plugin`` in worker processes (see ``fuzzing.py``; ``make fuzz`` is the 100,000-input mode).
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

from fixtures.extism_plugins import build_plugin
from fixtures.toolchain import BUILD, FIXTURES, wasm_tools
from fuzz import fuzzing

Build = Callable[[str], Path]

INPUTS = 2000
SEED = 20261205
C_MODULES = ["hello", "echo", "memhog", "loop", "env", "args", "files", "streams", "exitcode"]
PLUGINS = ["count_vowels", "http", "user_fn", "wasi_write", "errors", "echo"]
C_COMPONENTS = ["hello", "echo", "memhog"]


def _wat_components() -> list[bytes]:
    out = []
    for source in sorted((FIXTURES / "components").glob("*.wat")):
        proc = subprocess.run([wasm_tools(), "parse", str(source)], capture_output=True, check=True)
        out.append(proc.stdout)
    return out


def test_generated_inputs_end_in_success_or_a_typed_error(
    c_module: Build, c_component: Build
) -> None:
    """Each of 2,000 fuzz inputs ends in success or a typed OmniwasmError in every step."""
    modules = [c_module(n).read_bytes() for n in C_MODULES]
    modules += [build_plugin(n).read_bytes() for n in PLUGINS]
    components = [c_component(n).read_bytes() for n in C_COMPONENTS] + _wat_components()
    folder, names = fuzzing.cached_corpus(
        INPUTS, seed=SEED, modules=modules, components=components, cache=BUILD
    )
    assert len(names) == INPUTS
    report = fuzzing.run_folder(folder, names, jobs=2)
    print(report.summary())
    assert report.inputs == INPUTS
    assert not report.findings, report.summary()
    # The corpus reaches past the loader: instances are made and exports are called.
    assert report.outcomes["instantiate:ok"] > INPUTS // 4
    assert report.outcomes["call:ok"] > INPUTS // 4
    assert report.outcomes["plugin:ok"] > 0
    # The memory.grow probe follows every module wasmtime compiles.
    assert report.outcomes["probe:gave-up"] == 0
    assert report.outcomes["probe:rewritten"] > 0
    assert sum(v for k, v in report.outcomes.items() if k.startswith("world:")) > 0
