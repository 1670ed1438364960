"""``omniwasm bindgen SOURCE -o PKG [--world NAME]``: typed Python bindings for a component."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ._app import DEBUG, app, guarded

__all__: list[str] = []


@app.command(name="bindgen")
def bindgen_cmd(
    source: Annotated[
        Path, typer.Argument(help="A component (.wasm, .wat, .cwasm) or a WIT directory/file.")
    ],
    out: Annotated[Path, typer.Option("-o", "--out", help="The package directory to write.")],
    world: Annotated[
        str | None,
        typer.Option(
            "--world",
            "-w",
            help="The WIT world to bind (WIT input); also names the generated world class.",
        ),
    ] = None,
    debug: Annotated[bool, DEBUG] = False,
) -> None:
    """Write a typed Python package for a component's world.

    Dataclasses, Enums, a class per export and a Protocol per import; mypy --strict clean.
    """

    def go() -> int:
        from .._bindgen import bindgen  # the generator loads only for this command

        target = bindgen(source, out, world=world)
        typer.echo(f"wrote {target}")
        return 0

    guarded(debug, go)
