"""The README's "The summarizer, end to end" section runs as written and prints what it shows.

Its WIT is the fixture's, its build line is the one the fixture is built with (same
componentize-py), each ``omniwasm`` line prints the output in the comment under it (when it
shows one), and its two Python blocks run against the built component and its bindings.
"""

from __future__ import annotations

import contextlib
import io
import shutil
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

from fixtures.readme import argv, blocks, section, shared_cache
from omniwasm._wit import values as _values

SOURCE = Path(__file__).parents[1] / "fixtures" / "python" / "summarizer"
BUILD_LINES = [
    "pip install componentize-py==0.25.1",
    "cd tests/fixtures/python/summarizer",
    "componentize-py -d wit -w summarizer-world componentize app -o summarizer.wasm",
]


def _steps(block: str) -> list[tuple[str, list[str]]]:
    """(command line, the comment lines right under it) for each command of a shell block."""
    steps: list[tuple[str, list[str]]] = []
    for raw in block.splitlines():
        line = raw.strip()
        if line.startswith("# ") and steps:
            steps[-1][1].append(line.removeprefix("# "))
        elif line:
            steps.append((line, []))
    return steps


def test_the_wit_is_the_fixtures() -> None:
    """The WIT the section shows is the summarizer fixture's world (blank lines aside)."""
    shown = blocks(section("The summarizer, end to end"), "wit")[0]
    fixture = (SOURCE / "wit" / "world.wit").read_text()
    assert [x for x in shown.splitlines() if x] == [x for x in fixture.splitlines() if x]


def test_the_summarizer_section_runs_as_written(
    summarizer_wasm: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """Each omniwasm line prints what its comment shows; the Python blocks run on the result."""
    monkeypatch.setenv("OMNIWASM_CACHE_DIR", str(shared_cache(tmp_path_factory)))
    text = section("The summarizer, end to end")
    steps = _steps(blocks(text, "sh")[0])
    build = [line.split("#")[0].strip() for line, _ in steps if not line.startswith("omniwasm")]
    assert build == BUILD_LINES  # what tests/fixtures/py_guests.py runs, with this version:
    assert version("componentize-py") == BUILD_LINES[0].partition("==")[2]
    monkeypatch.chdir(tmp_path)
    shutil.copy(summarizer_wasm, "summarizer.wasm")
    ran = 0
    for line, shown in steps:
        if not line.startswith("omniwasm"):
            continue
        cli = [sys.executable, "-m", "omniwasm", *argv(line)[1:]]
        proc = subprocess.run(cli, capture_output=True, text=True, timeout=600, check=False)
        assert proc.returncode == 0, (line, proc.stderr)
        if shown:
            assert proc.stdout.splitlines() == shown, line
        ran += 1
        if argv(line)[1] == "inspect":
            assert "export blog:example/summarizer@1.0.0;" in proc.stdout
            assert "import wasi:" in proc.stdout
    assert ran == 4
    assert (tmp_path / "summarizer_bindings" / "__init__.py").is_file()

    first, typed = blocks(text, "python")
    out = io.StringIO()
    namespace: dict[str, object] = {}
    monkeypatch.syspath_prepend(str(tmp_path))  # summarizer_bindings, as bindgen wrote it
    saved = (dict(_values._RECORDS), dict(_values._ENUMS), dict(_values._ENUM_LOOKUP))
    try:
        with contextlib.redirect_stdout(out):
            exec(compile(first, "README.md", "exec"), namespace)
            exec(compile(typed, "README.md", "exec"), namespace)
    finally:  # the bindings registered their classes: later tests get the plain ones
        for registry, copy in zip(
            (_values._RECORDS, _values._ENUMS, _values._ENUM_LOOKUP), saved, strict=True
        ):
            registry.clear()
            registry.update(copy)  # type: ignore[attr-defined]
        sys.modules.pop("summarizer_bindings", None)
    printed = out.getvalue().splitlines()
    assert printed[0] == "Wasm runs anywhere.... ['Wasm runs anywhere', 'Python embeds wasm'] 6"
    assert printed[1] == "refused: empty document"
    assert printed[2].startswith("Ok("), printed
    assert len(printed) == 3
    assert type(namespace["summary"]).__module__ == "summarizer_bindings"
