"""``omniwasm compile``: ahead-of-time compilation to a ``.cwasm``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from .._runtime import Runtime
from ._app import DEBUG, app, guarded

__all__: list[str] = []


@app.command()
def compile(
    file: Annotated[Path, typer.Argument(help="A .wasm or .wat module or component.")],
    output: Annotated[
        Path | None,
        typer.Option("-o", "--output", help="Where to write the .cwasm (default: FILE.cwasm)."),
    ] = None,
    fuel: Annotated[bool, typer.Option("--fuel", help="Compile with fuel metering.")] = False,
    debug: Annotated[bool, DEBUG] = False,
) -> None:
    """Compile ahead of time to a .cwasm that `omniwasm run` loads without compiling."""

    def go() -> int:
        from ._progress import compiling

        rt = Runtime(fuel=fuel, cache=False)
        with compiling(rt):
            blob = rt.compile(file)
        out = output if output is not None else file.with_suffix(".cwasm")
        tmp = out.with_name(out.name + ".tmp")
        tmp.write_bytes(blob)
        tmp.replace(out)
        print(f"wrote {out} ({len(blob)} bytes)", file=sys.stderr)
        return 0

    guarded(debug, go)
