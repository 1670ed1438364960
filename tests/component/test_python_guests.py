"""Real componentize-py guests: the summarizer export and a guest using a host resource."""

from __future__ import annotations

import dataclasses
import subprocess
from pathlib import Path
from typing import ClassVar

import pytest

import omniwasm

SUMMARIZER = "blog:example/summarizer@1.0.0"
DOC = {
    "title": "Wasm",
    "content": "Wasm runs anywhere. Python embeds wasm with omniwasm. The end.",
    "language": "en",
}


@pytest.fixture
def summarizer(summarizer_cwasm: Path) -> omniwasm.InterfaceExports:
    """The summarizer interface of a fresh instance."""
    rt = omniwasm.Runtime()
    inst = rt.instantiate(rt.load(summarizer_cwasm))
    return inst.exports[SUMMARIZER]  # type: ignore[no-any-return]


def test_summarize_returns_generated_dataclass(summarizer: omniwasm.InterfaceExports) -> None:
    """summarize's ok value is a frozen dataclass with snake_case fields and the guest's values."""
    summary = summarizer.summarize(DOC, 5)
    assert dataclasses.is_dataclass(summary)
    assert summary.text == "Wasm runs anywhere. Python embeds..."
    assert summary.key_points == ["Wasm runs anywhere", "Python embeds wasm with omniwasm"]
    assert summary.word_count == 10


@pytest.mark.parametrize(
    ("doc", "max_words", "message"),
    [
        ({**DOC, "content": "  "}, 5, "empty document"),
        ({**DOC, "language": "xx"}, 5, "unsupported language: xx"),
        (DOC, 0, "max-words must be positive"),
    ],
)
def test_summarize_err_raises_err(
    summarizer: omniwasm.InterfaceExports, doc: dict[str, str], max_words: int, message: str
) -> None:
    """An err result raises omniwasm.Err carrying the guest's error string."""
    with pytest.raises(omniwasm.Err) as info:
        summarizer.summarize(doc, max_words)
    assert info.value.value == message


def test_summarize_raw_returns_err_object(summarizer: omniwasm.InterfaceExports) -> None:
    """raw=True returns the Err object instead of raising it."""
    out = summarizer.summarize({**DOC, "content": ""}, 5, raw=True)
    assert out == omniwasm.Err("empty document")


def test_summarize_accepts_object_with_attributes(summarizer: omniwasm.InterfaceExports) -> None:
    """A record parameter may be any object with the fields as attributes."""

    @dataclasses.dataclass
    class MyDoc:
        title: str
        content: str
        language: str

    assert summarizer.summarize(MyDoc(**DOC), 2).word_count == 10


def test_summarize_wrong_field_type_names_parameter(
    summarizer: omniwasm.InterfaceExports,
) -> None:
    """A wrong field type is a ValueConversionError naming doc.title and string."""
    with pytest.raises(omniwasm.ValueConversionError) as info:
        summarizer.summarize({**DOC, "title": 5}, 5)
    assert info.value.param == "doc.title"
    assert info.value.expected == "string"


def test_summarize_signature_in_docstring(summarizer: omniwasm.InterfaceExports) -> None:
    """The function's docstring is its WIT signature."""
    assert "summarize: func(doc: document, max-words: u32) -> result<summary, string>" in (
        summarizer.summarize.__doc__ or ""
    )


def test_cli_invoke_summarizer_prints_wave(omniwasm_cli: list[str], summarizer_cwasm: Path) -> None:
    """`omniwasm run --invoke` on the summarizer prints the ok record in WAVE."""
    call = (
        'summarize({title: "Wasm", content: "Wasm runs anywhere. Python embeds wasm with '
        'omniwasm. The end.", language: "en"}, 5)'
    )
    proc = subprocess.run(
        [*omniwasm_cli, "run", "--allow-precompiled", "--invoke", call, str(summarizer_cwasm)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == (
        'ok({text: "Wasm runs anywhere. Python embeds...", key-points: ["Wasm runs anywhere", '
        '"Python embeds wasm with omniwasm"], word-count: 10})\n'
    )


class Bucket:
    """A host resource: a named dict, recording when the guest drops it."""

    closed: ClassVar[list[str]] = []

    def __init__(self, name: str) -> None:
        self.name = name
        self.data: dict[str, str] = {}

    def get(self, key: str) -> str | None:
        return self.data.get(key)

    def set(self, key: str, value: str) -> None:
        self.data[key] = value

    def keys(self) -> list[str]:
        return list(self.data)

    def close(self) -> None:
        Bucket.closed.append(self.name)


def _hostres(hostres_cwasm: Path, logs: list[tuple[int, str]]) -> omniwasm.Instance:
    Bucket.closed = []

    def open_bucket(name: str) -> Bucket:
        if name == "bad":
            raise omniwasm.Err("no bucket called bad")
        return Bucket(name)

    linker = omniwasm.Linker()
    linker.define("test:hostres/kv@0.1.0", bucket=Bucket, open=open_bucket)
    linker.define("test:hostres/logger", log=lambda level, msg: logs.append((level, msg)))
    rt = omniwasm.Runtime()
    return rt.instantiate(rt.load(hostres_cwasm), imports=linker)


def test_python_guest_uses_python_host_resource(hostres_cwasm: Path) -> None:
    """A componentize-py guest constructs, fills, reads and drops host Bucket objects."""
    logs: list[tuple[int, str]] = []
    inst = _hostres(hostres_cwasm, logs)
    out = inst.exports.app.run("main", [("b", "2"), ("a", "1")])
    assert out == ["a=1", "b=2"]
    assert logs == [(1, "set b"), (1, "set a")]
    assert sorted(Bucket.closed) == ["main", "main-copy"]


def test_host_err_propagates_to_guest_result(hostres_cwasm: Path) -> None:
    """An Err raised by a host function returning result<...> reaches the guest as err."""
    inst = _hostres(hostres_cwasm, [])
    with pytest.raises(omniwasm.Err) as info:
        inst.exports.app.run("bad", [("k", "v")])
    assert info.value.value == "no bucket called bad"


def test_missing_host_interface_is_one_link_error(hostres_cwasm: Path) -> None:
    """Without the logger and with kv half-defined, every missing import is listed at once."""
    linker = omniwasm.Linker().define("test:hostres/kv@0.1.0", open=lambda name: None)
    rt = omniwasm.Runtime()
    with pytest.raises(omniwasm.LinkError) as info:
        rt.instantiate(rt.load(hostres_cwasm), imports=linker)
    names = {(m.module, m.name) for m in info.value.missing}
    assert ("test:hostres/logger@0.1.0", "log") in names
    assert ("test:hostres/kv@0.1.0", "bucket") in names
    assert ("test:hostres/kv@0.1.0", "[constructor]bucket") in names
