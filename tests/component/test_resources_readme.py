"""The README's "Resources and host imports" block runs as written on the resource fixtures.

``counter.wasm`` is ``resources_export`` (it exports ``test:resources/counter``), ``client.wasm``
``resources_import`` (it imports the host's ``bucket``); ``rt`` and ``omniwasm`` come from the
README's "Python" block, which this one continues. Definitions the client does not import
(``log``, ``my:app/logger``) are accepted and unused, as in wasmtime's linker.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

import omniwasm
from fixtures.readme import blocks, section


def test_resources_block(
    wat_component: Callable[[str], Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The counter's handles work as its comments say and the client uses the Python Bucket."""
    monkeypatch.chdir(tmp_path)
    shutil.copy(wat_component("resources_export"), "counter.wasm")
    shutil.copy(wat_component("resources_import"), "client.wasm")
    code = blocks(section("Resources and host imports"), "python")[0]
    ns: dict[str, object] = {"rt": omniwasm.Runtime(), "omniwasm": omniwasm}
    exec(compile(code, "README.md", "exec"), ns)
    both, c = ns["both"], ns["c"]
    assert both.value() == 17  # type: ignore[attr-defined]  # merge(5 + 2, 10)
    assert c.dropped  # type: ignore[attr-defined]  # the with block ended
    with pytest.raises(omniwasm.OmniwasmError):
        c.value()  # type: ignore[attr-defined]  # a dropped handle raises, never crashes
    client = ns["inst"].exports["test:resources/client"]  # type: ignore[attr-defined]
    assert client.use_bucket("b", "k", "v") == "v"  # the guest set and got it in a Bucket
    assert client.close_bucket("shelf") == "shelf"  # close=lambda b: b.name_
