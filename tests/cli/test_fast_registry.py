"""``omniwasm pull / push / tags`` without typer: same parse, same output, fewer imports."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import typer.main

from fixtures.registry_server import RegistryServer, needs_registry, unique_repo
from omniwasm.cli import _fast_registry
from omniwasm.cli import _registry as _registry_module  # noqa: F401 (registers the commands)
from omniwasm.cli._app import app

SAMPLES = [
    ("pull", ["h.io/r:1"]),
    ("pull", ["h.io/r:1", "-o", "x.wasm", "--offline"]),
    ("pull", ["--output=x.wasm", "--insecure", "acme:a@^1", "--lock", "l.lock", "--debug"]),
    ("pull", ["--lock=l.lock", "--output", "o.wasm", "h.io/r@sha256:" + "0" * 64]),
    ("push", ["a.wasm", "h.io/r:1"]),
    ("push", ["--author", "me", "a.wasm", "--annotation", "k=v", "--annotation=x=y", "h.io/r:1"]),
    ("push", ["a.wasm", "--insecure", "h.io/r:1", "--debug"]),
    ("tags", ["h.io/r"]),
    ("tags", ["--json", "--offline", "acme:a", "--insecure"]),
]

NOT_NEEDED = (
    "typer",
    "click",
    "rich",
    "wasmtime",
    "omniwasm.cli._app",
    "omniwasm._engine",
    "omniwasm._wit",
    "omniwasm._policy",
    "omniwasm._binary.component",
    "omniwasm.registry.compose",
    # a loopback registry is plain HTTP: the standard library's http.client carries it
    "httpx",
    "httpcore",
    "h11",
    # h2 and zstandard are marked unimportable (importtime lists `h2.config` and `zstandard`
    # as failed attempts, httpx/httpcore's documented fallbacks): what they would import.
    "h2.connection",
    "hpack",
    "hyperframe",
    "zstandard.backend_c",
    "platform",
)


def _command(name: str) -> Any:
    """The click command typer builds for ``name`` (typer vendors click: duck-typed here)."""
    group: Any = typer.main.get_command(app)
    return group.commands[name]


@pytest.mark.parametrize(("command", "argv"), SAMPLES)
def test_fast_parse_agrees_with_typer(
    command: str, argv: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every command line the fast path accepts parses to the values typer gives."""
    monkeypatch.delenv("OMNIWASM_REGISTRY_USERNAME", raising=False)
    fast = _fast_registry.parse(command, argv)
    assert fast is not None
    with _command(command).make_context(command, list(argv)) as ctx:
        slow = dict(ctx.params)
    for name, value in fast.items():
        expected = slow[name]
        if isinstance(expected, Path):
            expected = str(expected)
        elif isinstance(expected, tuple):
            expected = list(expected)
        assert value == expected, name
    for name, value in slow.items():
        if name not in fast:  # credentials: the fast path never takes them
            assert value in (None, False), name


def test_fast_options_are_options_of_the_commands() -> None:
    """Each option the fast path takes is one of the typer command's, with the same shape."""
    for command, (arguments, options, flags) in _fast_registry.COMMANDS.items():
        params = _command(command).params
        by_flag = {opt: p for p in params for opt in getattr(p, "opts", [])}
        assert [p.name for p in params if p.param_type_name == "argument"] == list(arguments)
        for flag, (name, many) in options.items():
            param = by_flag[flag]
            assert (param.name, param.multiple, param.is_flag) == (name, many, False), flag
        for flag, name in flags.items():
            assert (by_flag[flag].name, by_flag[flag].is_flag) == (name, True), flag


@pytest.mark.parametrize(
    ("command", "argv"),
    [
        ("pull", ["--help"]),
        ("pull", ["-u", "alice", "h.io/r:1"]),
        ("pull", ["--password-stdin", "h.io/r:1"]),
        ("pull", ["-o=x.wasm", "h.io/r:1"]),
        ("pull", ["--", "h.io/r:1"]),
        ("pull", ["h.io/r:1", "extra"]),
        ("pull", ["-o"]),
        ("push", ["a.wasm"]),
        ("tags", []),
        ("publish", ["a.wasm"]),
    ],
    ids=lambda a: " ".join(a) or "(none)",
)
def test_other_command_lines_go_to_typer(command: str, argv: list[str]) -> None:
    """Credentials, help, a wrong argument count and other commands are left to typer."""
    assert _fast_registry.parse(command, argv) is None


def test_a_user_from_the_environment_goes_to_typer(monkeypatch: pytest.MonkeyPatch) -> None:
    """``OMNIWASM_REGISTRY_USERNAME`` (read by the typer commands) sends the line to typer."""
    monkeypatch.setenv("OMNIWASM_REGISTRY_USERNAME", "alice")
    assert _fast_registry.parse("pull", ["h.io/r:1"]) is None


def _omniwasm(*args: str, importtime: bool = False) -> subprocess.CompletedProcess[str]:
    flags = ["-X", "importtime"] if importtime else []
    return subprocess.run(
        [sys.executable, *flags, "-m", "omniwasm", *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
        env=os.environ,
    )


@needs_registry
@pytest.mark.usefixtures("registry_env")
def test_fast_and_typer_paths_print_the_same(
    registry: RegistryServer, tmp_path: Path, c_component: Callable[[str], Path]
) -> None:
    """push, pull and tags print and exit as their typer commands do (forced with ``-u``)."""
    hello = str(c_component("hello"))
    repo = f"{registry.host}/{unique_repo()}"
    pushed = _omniwasm("push", hello, f"{repo}:1", importtime=True)
    assert pushed.returncode == 0, pushed.stderr
    assert pushed.stdout.startswith(f"pushed {repo}:1@sha256:")
    imported = {
        line.rsplit("|", 1)[1].strip()
        for line in pushed.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }
    assert "omniwasm.cli._fast_registry" in imported
    for lines in (
        ["pull", f"{repo}:1", "-o", str(tmp_path / "a.wasm")],
        ["tags", repo],
        ["tags", "--json", repo],
        ["pull", f"{registry.host}/{unique_repo()}:9", "-o", str(tmp_path / "b.wasm")],
        ["pull", "not a reference"],
    ):
        fast = _omniwasm(*lines, importtime=True)
        slow = subprocess.run(
            [sys.executable, "-m", "omniwasm", *lines],
            check=False,
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "OMNIWASM_REGISTRY_USERNAME": "", "OMNIWASM_REGISTRY_PASSWORD": ""},
        )
        fast_err = [x for x in fast.stderr.splitlines() if not x.startswith("import time:")]
        assert (fast.returncode, fast.stdout) == (slow.returncode, slow.stdout), lines
        assert fast_err == slow.stderr.splitlines(), lines
        imported = {
            line.rsplit("|", 1)[1].strip()
            for line in fast.stderr.splitlines()
            if line.startswith("import time:") and "|" in line
        }
        unwanted = sorted(
            m for m in imported if any(m == n or m.startswith(n + ".") for n in NOT_NEEDED)
        )
        assert unwanted == [], lines
    assert (tmp_path / "a.wasm").read_bytes() == Path(hello).read_bytes()
