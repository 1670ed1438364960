"""The typer app every command registers on, and what the commands share.

``guarded`` runs a command and turns an omniwasm error into one line and its exit code,
``build_policy`` turns the sandbox flags into a ``Policy``, and the ``...Opt`` types are the
flags several commands take.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from .._errors import OmniwasmError, PolicyError
from .._version import __version__
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
    "S_KEYS",
    "W_KEYS",
    "Groups",
    "app",
    "backstop",
    "build_policy",
    "cache_app",
    "check_precompiled",
    "guarded",
    "guest_name",
    "option_groups",
    "parse_output_limit",
]

app = typer.Typer(
    name="omniwasm",
    help="Run WebAssembly modules and components in a deny-by-default sandbox.\n\n"
    "`omniwasm FILE.wasm ARGS...` is short for `omniwasm run FILE.wasm ARGS...`.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
cache_app = typer.Typer(help="Inspect, prune or clear the compile cache.", no_args_is_help=True)
app.add_typer(cache_app, name="cache")


def _show_version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            engine = version("wasmtime")
        except PackageNotFoundError:  # pragma: no cover - wasmtime is a dependency
            engine = "?"
        print(f"omniwasm {__version__} (wasmtime {engine})")
        raise typer.Exit()


@app.callback()
def _main(
    show_version: Annotated[
        bool,
        typer.Option(
            "--version",
            "-V",
            callback=_show_version,
            is_eager=True,
            help="Print omniwasm's version (and wasmtime's) and exit.",
        ),
    ] = False,
) -> None:
    """Run WebAssembly modules and components in a deny-by-default sandbox."""


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


WOpt = Annotated[
    list[str],
    typer.Option(
        "-W",
        metavar="KEY=VALUE",
        help="wasmtime's -W group, for the limits omniwasm has: fuel=N, timeout=2s, "
        "max-memory-size=BYTES, max-table-elements=N, max-instances=N (comma-separated, "
        "repeatable).",
        rich_help_panel=_LIMITS,
    ),
]
SOpt = Annotated[
    list[str],
    typer.Option(
        "-S",
        metavar="KEY[=y|n]",
        help="wasmtime's -S group: inherit-env (the host's whole environment), cli and p3 "
        "(WASI 0.3; always on), http (outgoing HTTP to any host, on the virtual WASI host), "
        "inherit-network (WASI 0.3 TCP and UDP sockets to any address).",
        rich_help_panel=_SANDBOX,
    ),
]
AllowPrecompiledOpt = Annotated[
    bool,
    typer.Option(
        "--allow-precompiled",
        help="Run a precompiled .cwasm (machine code that is not validated: only files you "
        "compiled yourself), as wasmtime requires.",
    ),
]

W_KEYS = (
    "fuel",
    "timeout",
    "max-memory-size",
    "max-table-elements",
    "max-instances",
    "component-model-async",
)
"""The ``-W`` keys omniwasm knows (wasmtime's names)."""
S_KEYS = ("cli", "http", "inherit-env", "inherit-network", "p3")
"""The ``-S`` keys omniwasm knows (wasmtime's names)."""

_W_FLAGS = {
    "fuel": "--fuel",
    "timeout": "--timeout",
    "max-memory-size": "--max-memory",
    "max-table-elements": "--max-table-elements",
    "max-instances": "--max-instances",
}


@dataclass
class Groups:
    """What ``-W`` and ``-S`` asked for, merged with the flags of the same meaning."""

    fuel: int | None = None
    timeout: str | None = None
    max_memory: str | None = None
    max_table_elements: int | None = None
    max_instances: int | None = None
    inherit_env: bool = False
    http: bool = False
    inherit_network: bool = False


def _usage(flag: str, message: str) -> typer.BadParameter:
    """A usage error (exit 2) about ``flag``."""
    return typer.BadParameter(message, param_hint=f"'{flag}'")


def _pairs(flag: str, values: list[str], known: tuple[str, ...]) -> list[tuple[str, str | None]]:
    """Split ``KEY[=VALUE][,KEY[=VALUE]...]`` values; an unknown key is a usage error."""
    import difflib

    out: list[tuple[str, str | None]] = []
    for value in values:
        for item in value.split(","):
            key, sep, val = item.strip().partition("=")
            if not key:
                continue
            if key not in known:
                close = difflib.get_close_matches(key, known, n=1)
                hint = f" (did you mean {close[0]}?)" if close else ""
                raise _usage(
                    flag, f"unknown option {key!r}{hint}; omniwasm knows {', '.join(known)}"
                )
            out.append((key, val if sep else None))
    return out


def _yes(flag: str, key: str, value: str | None) -> bool:
    if value is None or value.lower() in ("y", "yes", "true", "1"):
        return True
    if value.lower() in ("n", "no", "false", "0"):
        return False
    raise _usage(flag, f"{key}={value}: expected y or n")


def option_groups(w: list[str], s: list[str], **flags: Any) -> Groups:
    """Merge ``-W``/``-S`` values with the flags of the same meaning (``fuel=...``).

    Raises:
        typer.BadParameter: an unknown key, a malformed value, or one setting given twice.

    """
    groups = Groups(**flags)
    for key, value in _pairs("-W", w, W_KEYS):
        if key == "component-model-async":  # always on: async components run on omniwasm's
            if not _yes("-W", key, value):
                raise _usage("-W", "component-model-async=n: omniwasm always runs async")
            continue
        if value is None or not value:
            raise _usage("-W", f"{key} needs a value: -W {key}=...")
        attr = key.replace("-", "_").replace("max_memory_size", "max_memory")
        if getattr(groups, attr) is not None:
            raise _usage("-W", f"{key} is given twice (-W {key} and {_W_FLAGS[key]})")
        if key in ("fuel", "max-table-elements", "max-instances"):
            try:
                setattr(groups, attr, int(value, 0))
            except ValueError:
                raise _usage("-W", f"{key}={value}: expected a whole number") from None
        else:
            setattr(groups, attr, value)
    for key, value in _pairs("-S", s, S_KEYS):
        on = _yes("-S", key, value)
        if key in ("cli", "p3") and not on:
            raise _usage("-S", f"{key}=n: omniwasm always gives a guest wasi:cli (0.2 and 0.3)")
        if key == "inherit-env":
            groups.inherit_env = on
        elif key == "http":
            groups.http = on
        elif key == "inherit-network":
            groups.inherit_network = on
    return groups


def check_precompiled(file: str | os.PathLike[str], allowed: bool) -> None:
    """Refuse a precompiled ``.cwasm`` unless ``--allow-precompiled`` was given (as wasmtime).

    Raises:
        PolicyError: ``file`` holds precompiled machine code and ``allowed`` is false.

    """
    if allowed:
        return
    try:
        with open(file, "rb") as f:
            data = f.read()
    except OSError:
        return  # loading reports it (InvalidModule), or it is a registry reference
    # wasmtime's .cwasm is an ELF file with .wasmtime.* sections; another ELF file is not
    # precompiled code, and loading says what it is
    if data.startswith(b"\x7fELF") and b".wasmtime" in data:
        raise PolicyError(
            f"{file} is precompiled machine code, which is run without validation: pass "
            "--allow-precompiled to run it (only files you compiled yourself)"
        )


def guarded(debug: bool, fn: Callable[[], int]) -> None:
    """Run ``fn`` and exit with its code; omniwasm errors become one line and their code."""
    try:
        code = fn()
    except OmniwasmError as exc:
        report(exc, debug=debug)
        raise typer.Exit(exit_code_for(exc)) from None
    raise typer.Exit(code)
