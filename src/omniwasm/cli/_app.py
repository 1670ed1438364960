"""The typer app every command registers on, and what the commands share.

``guarded`` runs a command and turns an omniwasm error into one line and its exit code,
``build_policy`` turns the sandbox flags into a ``Policy``, and the ``...Opt`` types are the
flags several commands take.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from .._errors import OmniwasmError
from ._exit import exit_code_for, report
from ._flags import (
    OVERRUN_GRACE,
    backstop,
    build_policy,
    guest_name,
    parse_output_limit,
)

__all__ = [
    "DEBUG",
    "FILE_OR_REFERENCE",
    "OVERRUN_GRACE",
    "app",
    "backstop",
    "build_policy",
    "cache_app",
    "guarded",
    "guest_name",
    "parse_output_limit",
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
