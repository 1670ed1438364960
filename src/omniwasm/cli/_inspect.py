"""``omniwasm inspect FILE [--json]``: kind, size, hash, types, custom sections, producers."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Annotated

import typer

from .._inspect import Inspection, inspect
from ._app import DEBUG, FILE_OR_REFERENCE, app, guarded

__all__ = ["render_text"]


def _table(rows: Sequence[Sequence[str]], indent: str = "  ") -> list[str]:
    """Left-aligned columns; the last column is not padded."""
    if not rows:
        return []
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    out = []
    for row in rows:
        cells = [c.ljust(w) for c, w in zip(row, widths, strict=False)] + [row[-1]]
        out.append((indent + "  ".join(cells)).rstrip())
    return out


def _producer_lines(info: Inspection) -> list[str]:
    places = sorted(dict.fromkeys(p.where for p in info.producers), key=lambda w: (w != "", w))
    lines: list[str] = []
    for where in places:
        if len(places) > 1 or where:
            lines.append(f"  {where or '(outermost)'}:")
        fields = info.producer_fields(where)
        rows = [
            [f"{fld}:", ", ".join(f"{n} {v}".rstrip() for n, v in entries)]
            for fld, entries in fields.items()
        ]
        lines.extend(_table(rows, "    " if len(places) > 1 or where else "  "))
    return lines


def render_text(info: Inspection) -> str:
    """Render an ``Inspection`` for people: a header, then one block per aspect."""
    form = {"binary": "binary", "text": "from WebAssembly text", "precompiled": "precompiled"}
    header = [
        ["file", info.source],
        ["kind", f"{info.kind} ({form[info.format]})"],
        ["size", f"{info.size} bytes" + (" (.cwasm)" if info.precompiled else "")],
        ["sha256", info.sha256],
        ["engine", f"wasmtime {info.engine}"],
    ]
    lines = _table(header, "")
    if info.precompiled:
        lines += [
            "",
            "precompiled machine code: the types below are what the engine reports;",
            "the original sections (custom sections, producers) are not in a .cwasm.",
        ]
    if info.kind == "component":
        lines += ["", "world (WIT):"]
        lines += [f"  {line}".rstrip() for line in (info.wit or "").splitlines()]
    else:
        lines += ["", f"imports ({len(info.imports)}):"]
        lines += _table([[e.module, e.name, e.type] for e in info.imports])
        lines += ["", f"exports ({len(info.exports)}):"]
        lines += _table([[e.name, e.type] for e in info.exports])
    if not info.precompiled:
        lines += ["", f"custom sections ({len(info.custom_sections)}):"]
        lines += _table([[c.name, f"{c.size} bytes", c.where] for c in info.custom_sections])
        lines += ["", "producers:" if info.producers else "producers: (none)"]
        lines += _producer_lines(info)
    return "\n".join(lines) + "\n"


@app.command(name="inspect")
def inspect_cmd(
    file: Annotated[str, typer.Argument(help=FILE_OR_REFERENCE)],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    debug: Annotated[bool, DEBUG] = False,
) -> None:
    """Describe a module or component without running it.

    Shows kind, size, sha256, typed imports and exports (the WIT world for components),
    custom sections and the producers metadata.
    """

    def go() -> int:
        info = inspect(file)
        if as_json:
            typer.echo(json.dumps(info.to_dict(), indent=2))
        else:
            typer.echo(render_text(info), nl=False)
        return 0

    guarded(debug, go)
