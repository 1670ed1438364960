"""``omniwasm cache info / clear``: the compile cache."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from .._runtime import Runtime
from ._app import cache_app

__all__: list[str] = []


@cache_app.command("info")
def cache_info(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show where the compile cache is and how much it holds."""
    info = Runtime(cache=True).cache.info()
    if as_json:
        print(json.dumps({"path": str(info.path), "entries": info.entries, "bytes": info.size}))
    else:
        print(f"path:    {info.path}\nentries: {info.entries}\nsize:    {info.size} bytes")


@cache_app.command("clear")
def cache_clear() -> None:
    """Delete every compiled entry in the cache."""
    removed = Runtime(cache=True).cache.clear()
    print(f"removed {removed} entries")
