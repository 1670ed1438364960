"""The sandbox flags of the CLI as a ``Policy``, without typer (``omniwasm run``'s fast path).

``build_policy`` turns the flags into a ``Policy``, ``backstop`` ends the process when a call
overruns its deadline, ``guest_name`` is the program name of a file or a reference. The typer
app (``_app``) re-exports them; the fast path of ``omniwasm run`` (``_fast``) uses them without
importing typer, whose import alone costs about as much as wasmtime's.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from .._deadline import Deadline, watch_overruns
from .._errors import PolicyError
from .._policy import Mount, Policy, parse_duration, parse_size
from ._exit import exit_code_for, report

__all__ = ["OVERRUN_GRACE", "backstop", "build_policy", "guest_name", "parse_output_limit"]


def guest_name(source: str) -> str:
    """The program name of a file or a reference: ``app.wasm``, ``hello`` for ``acme:hello@1``.

    A reference's name is its last repository segment or package name, without tag, version
    or digest; a file's is its base name.
    """
    text = source.strip().removeprefix("oci://")
    if os.path.exists(source) or ("@" not in text and ":" not in text.rsplit("/", 1)[-1]):
        return Path(source).name
    last = text.split("@", 1)[0].rsplit("/", 1)[-1]
    if "/" in text:
        return last.split(":", 1)[0] or Path(source).name
    return last.rsplit(":", 1)[-1] or Path(source).name


OVERRUN_GRACE = 0.5
"""Seconds past a call's deadline after which the CLI ends the process itself (exit 124)."""


def backstop(policy: Policy) -> None:
    """With a timeout, end the process with exit 124 if a call overruns its deadline.

    Every host wait omniwasm implements ends at the deadline by itself; this covers the waits
    it cannot interrupt (wasmtime's native WASI 0.2 clocks under ``--wasi native``, a Python
    host function stuck in I/O, a FIFO opened in a preopened directory), so the CLI's exit
    comes within ``OVERRUN_GRACE`` of the deadline in every case.
    """
    if policy.timeout is not None:
        watch_overruns(_overrun, OVERRUN_GRACE)


def _overrun(deadline: Deadline) -> None:
    error = deadline.error("a host call the runtime cannot interrupt")
    report(error)
    sys.stderr.flush()
    os._exit(exit_code_for(error))


def parse_output_limit(text: str) -> int | None:
    """``--max-output``: a size, or ``unlimited`` (None).

    Raises:
        PolicyError: neither.

    """
    return None if text.strip().lower() == "unlimited" else parse_size(text)


def build_policy(
    *,
    policy_file: Path | None,
    dirs: list[str],
    dirs_ro: list[str],
    env: list[str],
    fuel: int | None,
    timeout: str | None,
    max_memory: str | None,
    max_table_elements: int | None,
    max_instances: int | None,
    stdin: Path | None,
    args: list[str],
    inherit_io: bool = True,
    max_output: str | None = None,
) -> Policy:
    """Turn CLI flags into a ``Policy`` (flags override a ``--policy`` file).

    Raises:
        PolicyError: a flag's value is malformed.

    """
    base = Policy()
    if policy_file is not None:
        try:
            text = policy_file.read_text()
        except OSError as exc:
            raise PolicyError(f"cannot read policy file {policy_file}: {exc.strerror}") from exc
        base = Policy.from_json(text) if policy_file.suffix == ".json" else Policy.from_toml(text)
    pairs = list(base.env)
    for item in env:
        key, sep, value = item.partition("=")
        if not sep:
            # `--env KEY` inherits that one variable from the host, as wasmtime does.
            if key not in os.environ:
                continue
            value = os.environ[key]
        pairs.append((key, value))
    mounts = [*base.dirs, *(Mount.parse(d) for d in dirs)]
    mounts += [Mount.parse(d, read_only=True) for d in dirs_ro]
    changes: dict[str, Any] = {
        "env": pairs,
        "dirs": mounts,
        "args": [*base.args, *args],
        "stdout": "inherit" if inherit_io else base.stdout,
        "stderr": "inherit" if inherit_io else base.stderr,
        "stdin": stdin if stdin is not None else ("inherit" if inherit_io else base.stdin),
    }
    if fuel is not None:
        changes["fuel"] = fuel
    if timeout is not None:
        changes["timeout"] = parse_duration(timeout)
    if max_memory is not None:
        changes["max_memory"] = parse_size(max_memory)
    if max_output is not None:
        changes["max_output"] = parse_output_limit(max_output)
    if max_table_elements is not None:
        changes["max_table_elements"] = max_table_elements
    if max_instances is not None:
        changes["max_instances"] = max_instances
    return base.with_(**changes)
