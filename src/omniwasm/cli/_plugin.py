"""``omniwasm plugin call FILE_OR_MANIFEST FUNC``: call one Extism-style plugin function."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from .._errors import LinkError, PolicyError
from ._app import (
    DEBUG,
    DirOpt,
    DirRoOpt,
    FuelOpt,
    MemOpt,
    OutputOpt,
    TimeoutOpt,
    app,
    backstop,
    build_policy,
    guarded,
)

__all__: list[str] = []

plugin_app = typer.Typer(help="Run Extism-compatible plugins.", no_args_is_help=True)
app.add_typer(plugin_app, name="plugin")


@plugin_app.command(name="call")
def plugin_call(
    source: Annotated[
        str,
        typer.Argument(
            help="A plugin (.wasm, .wat), an Extism manifest (.json), or a registry reference."
        ),
    ],
    func: Annotated[str, typer.Argument(help="The function to call.")],
    input_text: Annotated[
        str | None, typer.Option("--input", "-i", help="The input, as text.")
    ] = None,
    input_file: Annotated[
        Path | None, typer.Option("--input-file", help="Read the input from this file.")
    ] = None,
    config: Annotated[
        list[str], typer.Option("--config", help="A config value KEY=VALUE (repeatable).")
    ] = [],  # noqa: B006 (typer reads the default; it is never mutated)
    allow_host: Annotated[
        list[str],
        typer.Option("--allow-host", help="A host glob HTTP requests may reach (repeatable)."),
    ] = [],  # noqa: B006
    wasi: Annotated[bool, typer.Option("--wasi", help="Give the plugin WASI preview 1.")] = False,
    dirs: DirOpt = [],  # noqa: B006
    dirs_ro: DirRoOpt = [],  # noqa: B006
    fuel: FuelOpt = None,
    timeout: TimeoutOpt = None,
    max_memory: MemOpt = None,
    max_output: OutputOpt = None,
    debug: Annotated[bool, DEBUG] = False,
) -> None:
    """Call FUNC with the input and write its output bytes to stdout.

    A non-zero status from the plugin is an error (exit 1) carrying the plugin's message.
    """

    def go() -> int:
        from ..plugins import Plugin

        if input_text is not None and input_file is not None:
            raise PolicyError("give the input with --input or --input-file, not both")
        if input_file is not None:
            try:
                data = input_file.read_bytes()
            except OSError as exc:
                raise PolicyError(f"cannot read {input_file}: {exc.strerror}") from exc
        else:
            data = (input_text or "").encode()
        pairs = {}
        for item in config:
            key, sep, value = item.partition("=")
            if not sep or not key:
                raise PolicyError(f"--config expects KEY=VALUE, got {item!r}")
            pairs[key] = value
        policy = build_policy(
            policy_file=None,
            dirs=dirs,
            dirs_ro=dirs_ro,
            env=[],
            fuel=fuel,
            timeout=timeout,
            max_memory=max_memory,
            max_output=max_output,
            max_table_elements=None,
            max_instances=None,
            stdin=None,
            args=[],
        )
        backstop(policy)
        runtime = None
        if fuel is not None:
            from .._runtime import Runtime

            runtime = Runtime(policy)
        try:
            plugin = Plugin(
                source,
                policy=policy,
                config=pairs,
                wasi=wasi,
                allowed_hosts=allow_host or None,
                runtime=runtime,
            )
        except LinkError as exc:
            if not wasi and any(m.module == "wasi_snapshot_preview1" for m in exc.missing):
                exc.message += "; the plugin imports WASI p1: give it WASI with --wasi"
            raise
        with plugin:
            if plugin.kind == "component":
                raise PolicyError(
                    f"{source} is a component plugin (typed values, not bytes): call it with "
                    f"`omniwasm invoke {source} '{func}(...)'`"
                )
            out = plugin.call(func, data)
        sys.stdout.buffer.write(out)
        sys.stdout.flush()
        return 0

    guarded(debug, go)
