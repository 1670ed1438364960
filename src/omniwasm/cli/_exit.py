"""The CLI's one table from error class to process exit code, and how errors are printed.

Resolved by most specific class (the method resolution order), so a new subclass inherits its
parent's code until it is given its own.
"""

from __future__ import annotations

import sys

from .._errors import (
    ArtifactNotFound,
    AuthenticationFailed,
    Cancelled,
    CompositionError,
    DigestMismatch,
    ExecutionError,
    HostFunctionError,
    InvalidModule,
    InvalidReference,
    LinkError,
    LockMismatch,
    MemoryLimitExceeded,
    OmniwasmError,
    OutOfFuel,
    PolicyError,
    RegistryError,
    SnapshotError,
    Timeout,
    Trap,
    ValueConversionError,
    most_specific,
)

__all__ = ["EXIT_CODES", "exit_code_for", "report"]

EXIT_CODES: dict[type[BaseException], int] = {
    OmniwasmError: 1,
    ValueConversionError: 64,
    InvalidModule: 65,
    LinkError: 69,
    HostFunctionError: 70,
    PolicyError: 78,
    ExecutionError: 1,
    Timeout: 124,
    Cancelled: 130,
    OutOfFuel: 133,
    Trap: 134,  # what `wasmtime run` returns for a trap
    MemoryLimitExceeded: 137,
    # registry and composition (sysexits.h where one fits)
    RegistryError: 69,  # EX_UNAVAILABLE: the network or the registry failed
    InvalidReference: 64,  # EX_USAGE
    ArtifactNotFound: 66,  # EX_NOINPUT
    AuthenticationFailed: 77,  # EX_NOPERM
    DigestMismatch: 65,  # EX_DATAERR
    LockMismatch: 65,
    CompositionError: 65,
    SnapshotError: 65,  # EX_DATAERR: the module cannot be snapshotted
}


# wasmtime users know it as -S http; without it wasi:http is not linked, as in wasmtime run.
HTTP_HINT = "outgoing HTTP is off: -S http gives the guest wasi:http (omniwasm run/invoke)"


def exit_code_for(exc: BaseException) -> int:
    """Return the exit code of the most specific class of ``exc`` in ``EXIT_CODES``."""
    return most_specific(EXIT_CODES, exc, 1)


def report(exc: OmniwasmError, *, debug: bool = False) -> None:
    """Print one clear line for ``exc`` on stderr (plus details with ``debug``)."""
    name = type(exc).__name__
    print(f"omniwasm: error: {name}: {exc}", file=sys.stderr)
    if isinstance(exc, LinkError) and exc.missing:
        for m in exc.missing:
            print(f"  missing import {m}", file=sys.stderr)
        if any(m.module.startswith("wasi:http/") for m in exc.missing):
            print(f"  hint: {HTTP_HINT}", file=sys.stderr)
    elif isinstance(exc, LinkError):
        for line in exc.message.splitlines()[1:]:  # the details under the summary line
            if line.strip():
                print(f"  {line.rstrip()}", file=sys.stderr)
    if debug:
        if isinstance(exc, ExecutionError) and exc.frames:
            print("wasm backtrace:", file=sys.stderr)
            print(exc.backtrace(), file=sys.stderr)
        import traceback  # --debug only: kept out of every command's imports

        traceback.print_exception(exc, file=sys.stderr)
