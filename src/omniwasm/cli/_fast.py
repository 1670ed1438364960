"""``omniwasm run MODULE.wasm``: the common case without typer.

Importing typer (with click, rich's probes and shell completion) costs about as much as
importing wasmtime, twice what the run itself needs. So ``omniwasm run`` of a core module
file with only the common sandbox flags is parsed here, by a parser that accepts exactly
those flags in click's forms (``--flag VALUE``, ``--flag=VALUE``, flags before the file, the
guest's arguments after it), and runs on the same functions as the typer command. Anything
else (another flag, ``--help``, a component, a reference, a malformed value) returns None and
the typer command handles it, messages and all. ``tests/cli/test_fast_run.py`` checks that
both parse every accepted command line the same way.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from .._errors import OmniwasmError
from ._exit import exit_code_for, report
from ._flags import backstop, build_policy, guest_name

__all__ = ["FLAGS", "OPTIONS", "main", "parse_run", "try_run"]

OPTIONS: dict[str, tuple[str, type, bool]] = {
    "--dir": ("dirs", str, True),
    "--dir-ro": ("dirs_ro", str, True),
    "--env": ("env", str, True),
    "--fuel": ("fuel", int, False),
    "--timeout": ("timeout", str, False),
    "--max-memory": ("max_memory", str, False),
    "--max-output": ("max_output", str, False),
    "--max-table-elements": ("max_table_elements", int, False),
    "--max-instances": ("max_instances", int, False),
    "--stdin": ("stdin", Path, False),
    "--policy": ("policy_file", Path, False),
    "--argv0": ("argv0", str, False),
}
"""Value flags the fast path takes: parameter name, type, repeatable."""

FLAGS = {"--no-cache": "no_cache", "--debug": "debug"}
"""Boolean flags the fast path takes."""

_CORE_MODULE = b"\0asm\x01\x00\x00\x00"


def parse_run(argv: list[str]) -> dict[str, Any] | None:
    """The parameters of ``run`` for ``argv`` (what follows ``run``), or None if not ours."""
    params: dict[str, Any] = {name: [] for name, _, many in OPTIONS.values() if many}
    params.update({name: None for name, _, many in OPTIONS.values() if not many})
    params.update(dict.fromkeys(FLAGS.values(), False))
    i = 0
    while i < len(argv):
        token = argv[i]
        if not token.startswith("-") or token == "-":
            params["file"] = token
            params["args"] = argv[i + 1 :]
            return params
        flag, eq, inline = token.partition("=")
        if flag in FLAGS and not eq:
            params[FLAGS[flag]] = True
            i += 1
            continue
        if flag not in OPTIONS:
            return None  # --help, --invoke, --wasi, a typo, "--": the typer command's
        if eq:
            text = inline
            i += 1
        elif i + 1 < len(argv):
            text = argv[i + 1]
            i += 2
        else:
            return None
        name, kind, many = OPTIONS[flag]
        try:
            value = kind(text)
        except ValueError:
            return None
        if many:
            params[name].append(value)
        else:
            params[name] = value
    return None  # no file


def try_run(argv: list[str]) -> int | None:
    """Run ``omniwasm run ARGV`` here and return its exit code, or None to use typer."""
    params = parse_run(argv)
    if params is None or not _is_core_module(params["file"]):
        return None
    file = params["file"]
    try:
        policy = build_policy(
            policy_file=params["policy_file"],
            dirs=params["dirs"],
            dirs_ro=params["dirs_ro"],
            env=params["env"],
            fuel=params["fuel"],
            timeout=params["timeout"],
            max_memory=params["max_memory"],
            max_output=params["max_output"],
            max_table_elements=params["max_table_elements"],
            max_instances=params["max_instances"],
            stdin=params["stdin"],
            args=list(params["args"]),
        )
        backstop(policy)
        from .._runtime import Runtime

        # One run per process: the pooling allocator's reservation and slot resets only cost
        rt = Runtime(policy, cache=not params["no_cache"], pooling=False)
        from ._progress import compiling

        with compiling(rt):
            compiled = rt.load(file)
        argv0 = params["argv0"]
        name = argv0 if argv0 is not None else guest_name(file)
        return rt.run(compiled, argv0=name).exit_code
    except OmniwasmError as exc:
        report(exc, debug=params["debug"])
        return exit_code_for(exc)


def _is_core_module(file: str) -> bool:
    """A readable file holding a binary core module (components, text and references: typer)."""
    try:
        with open(file, "rb") as f:
            return f.read(8) == _CORE_MODULE and os.path.isfile(file)
    except OSError:
        return False


def main(argv: list[str]) -> None:
    """Exit with the code of ``omniwasm run ARGV`` when the fast path takes it; else return."""
    try:
        code = try_run(argv)
    except KeyboardInterrupt:
        sys.exit(130)
    if code is not None:
        sys.stdout.flush()
        sys.exit(code)
