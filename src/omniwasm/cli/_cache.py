"""``omniwasm cache info / clear / prune``: the compile cache."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from .._policy import parse_size
from .._runtime import Runtime
from ._app import DEBUG, cache_app, guarded

__all__: list[str] = []


def _cap(size: int | None) -> str:
    return "unlimited" if size is None else f"{size} bytes"


@cache_app.command("info")
def cache_info(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    debug: Annotated[bool, DEBUG] = False,
) -> None:
    """Show where the compile cache is, how much it holds and its size cap."""

    def go() -> int:
        info = Runtime(cache=True).cache.info()
        if as_json:
            data = {"path": str(info.path), "entries": info.entries, "bytes": info.size}
            print(json.dumps({**data, "max_bytes": info.max_size}))
        else:
            print(
                f"path:    {info.path}\nentries: {info.entries}\nsize:    {info.size} bytes\n"
                f"max:     {_cap(info.max_size)} (OMNIWASM_CACHE_MAX)"
            )
        return 0

    guarded(debug, go)


@cache_app.command("clear")
def cache_clear(debug: Annotated[bool, DEBUG] = False) -> None:
    """Delete every compiled entry in the cache."""

    def go() -> int:
        removed = Runtime(cache=True).cache.clear()
        print(f"removed {removed} entries")
        return 0

    guarded(debug, go)


@cache_app.command("prune")
def cache_prune(
    max_size: Annotated[
        str | None,
        typer.Option(
            "--max-size",
            help="Fit the cache in this size, e.g. 200MiB (default: OMNIWASM_CACHE_MAX, 1GiB).",
        ),
    ] = None,
    debug: Annotated[bool, DEBUG] = False,
) -> None:
    """Remove the least recently used entries until the cache fits its size cap."""

    def go() -> int:
        cache = Runtime(cache=True).cache
        limit = parse_size(max_size) if max_size is not None else None
        removed, freed = cache.prune(limit)
        info = cache.info()
        print(
            f"removed {removed} entries ({freed} bytes); {info.entries} entries, "
            f"{info.size} bytes left"
        )
        return 0

    guarded(debug, go)
