"""The typer app every command registers on, and what the commands share.

``guarded`` runs a command and turns an omniwasm error into one line and its exit code,
``build_policy`` turns the sandbox flags into a ``Policy``, and the ``...Opt`` types are the
flags several commands take.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from .._deadline import Deadline, watch_overruns
from .._errors import OmniwasmError, PolicyError
from .._policy import Mount, Policy, parse_duration, parse_size
from ._exit import exit_code_for, report

__all__ = [
    "DEBUG",
    "FILE_OR_REFERENCE",
    "app",
    "backstop",
    "build_policy",
    "cache_app",
    "guarded",
    "guest_name",
]

app = typer.Typer(
    name="omniwasm",
    help="Run WebAssembly modules and components in a deny-by-default sandbox.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
cache_app = typer.Typer(help="Inspect or clear the compile cache.", no_args_is_help=True)
app.add_typer(cache_app, name="cache")


DEBUG = typer.Option("--debug", help="Show Python tracebacks and wasm backtraces on errors.")
FILE_OR_REFERENCE = (
    "A .wasm, .wat or .cwasm module or component, or a registry reference "
    "(oci://host/repo:tag, host[:port]/repo@sha256:..., ns:name@version)."
)


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


_SANDBOX = "Sandbox"
_LIMITS = "Limits"

DirOpt = Annotated[
    list[str],
    typer.Option(
        "--dir",
        help="Preopen HOST[::GUEST] for the guest (repeatable; suffix :ro for read-only).",
        rich_help_panel=_SANDBOX,
    ),
]
DirRoOpt = Annotated[
    list[str],
    typer.Option("--dir-ro", help="Preopen HOST[::GUEST] read-only.", rich_help_panel=_SANDBOX),
]
EnvOpt = Annotated[
    list[str],
    typer.Option(
        "--env",
        help="Set KEY=VALUE in the guest, or inherit KEY from this process (repeatable).",
        rich_help_panel=_SANDBOX,
    ),
]
FuelOpt = Annotated[
    int | None,
    typer.Option(
        "--fuel",
        help="Fuel the guest may burn (about one unit per instruction).",
        rich_help_panel=_LIMITS,
    ),
]
TimeoutOpt = Annotated[
    str | None,
    typer.Option(
        "--timeout", help="Wall-clock limit, e.g. 2s, 500ms, 1m.", rich_help_panel=_LIMITS
    ),
]
MemOpt = Annotated[
    str | None,
    typer.Option("--max-memory", help="Linear memory limit, e.g. 64MiB.", rich_help_panel=_LIMITS),
]
OutputOpt = Annotated[
    str | None,
    typer.Option(
        "--max-output",
        help="Bytes kept of each captured output stream (plugin output and logs, captured "
        "stdout/stderr), e.g. 1MiB, or 'unlimited'. Default 16MiB.",
        rich_help_panel=_LIMITS,
    ),
]
TableOpt = Annotated[
    int | None,
    typer.Option(
        "--max-table-elements", help="Elements any one table may hold.", rich_help_panel=_LIMITS
    ),
]
InstOpt = Annotated[
    int | None,
    typer.Option(
        "--max-instances", help="Instances the guest's store may create.", rich_help_panel=_LIMITS
    ),
]
StdinOpt = Annotated[
    Path | None,
    typer.Option("--stdin", help="Feed this file to the guest's stdin.", rich_help_panel=_SANDBOX),
]
PolicyOpt = Annotated[
    Path | None,
    typer.Option("--policy", help="Start from a policy file (.toml or .json); flags override it."),
]
Argv0Opt = Annotated[
    str | None, typer.Option("--argv0", help="The program name the guest sees as argv[0].")
]
NoCacheOpt = Annotated[
    bool, typer.Option("--no-cache", help="Neither read nor write the compile cache.")
]
WasiOpt = Annotated[
    str,
    typer.Option(
        "--wasi",
        help="WASI 0.2 host for components: 'native' (wasmtime's), 'virtual' (omniwasm's "
        "Python host: controllable streams, in-memory files, --deterministic, waits that end "
        "at --timeout) or 'auto' (virtual with --timeout, else native).",
        rich_help_panel=_SANDBOX,
    ),
]
DeterministicOpt = Annotated[
    bool,
    typer.Option(
        "--deterministic",
        help="With --wasi virtual: fixed clocks (advancing only on sleep), seeded random, "
        "ordered directory listings: identical runs give identical output.",
        rich_help_panel=_SANDBOX,
    ),
]
SeedOpt = Annotated[
    int,
    typer.Option("--seed", help="The seed of --deterministic runs.", rich_help_panel=_SANDBOX),
]


def guarded(debug: bool, fn: Callable[[], int]) -> None:
    """Run ``fn`` and exit with its code; omniwasm errors become one line and their code."""
    try:
        code = fn()
    except OmniwasmError as exc:
        report(exc, debug=debug)
        raise typer.Exit(exit_code_for(exc)) from None
    raise typer.Exit(code)


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
