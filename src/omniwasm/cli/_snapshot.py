"""``omniwasm snapshot``: run a module's init once and write the pre-initialised module."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from .._runtime import Runtime
from ._app import (
    DEBUG,
    DirOpt,
    DirRoOpt,
    EnvOpt,
    FuelOpt,
    MemOpt,
    PolicyOpt,
    TimeoutOpt,
    app,
    build_policy,
    guarded,
)

__all__: list[str] = []


@app.command()
def snapshot(
    file: Annotated[Path, typer.Argument(help="A core module (.wasm or .wat).")],
    output: Annotated[
        Path, typer.Option("-o", "--output", help="Where to write the pre-initialised module.")
    ],
    init: Annotated[
        str | None,
        typer.Option(
            "--init", help="The init export to run (default: wizer.initialize, else _initialize)."
        ),
    ] = None,
    dirs: DirOpt = [],  # noqa: B006 (typer reads the default; it is never mutated)
    dirs_ro: DirRoOpt = [],  # noqa: B006
    env: EnvOpt = [],  # noqa: B006
    fuel: FuelOpt = None,
    timeout: TimeoutOpt = None,
    max_memory: MemOpt = None,
    policy_file: PolicyOpt = None,
    debug: Annotated[bool, DEBUG] = False,
) -> None:
    """Run FILE's init function once and write a module that starts initialised (like wizer).

    The init runs in the sandbox the flags describe; a module whose init leaves host state
    behind (an open file, a grown table) or imports non-WASI host functions is refused.
    """

    def go() -> int:
        policy = build_policy(
            policy_file=policy_file,
            dirs=dirs,
            dirs_ro=dirs_ro,
            env=env,
            fuel=fuel,
            timeout=timeout,
            max_memory=max_memory,
            max_table_elements=None,
            max_instances=None,
            stdin=None,
            args=[],
        )
        rt = Runtime(policy, cache=False)
        blob = rt.snapshot(file, init=init)
        tmp = output.with_name(f".{output.name}.{os.getpid()}.tmp")
        try:
            tmp.write_bytes(blob)
            tmp.replace(output)
        finally:
            tmp.unlink(missing_ok=True)
        print(f"wrote {output} ({len(blob)} bytes)", file=sys.stderr)
        return 0

    guarded(debug, go)
