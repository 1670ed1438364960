"""``omniwasm compose`` and ``omniwasm targets``: plug components together, check against a world.

Components are files or registry references (pulled, verified, pinned by ``omniwasm.lock``).
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from .._errors import InvalidModule
from ._app import DEBUG, app, guarded
from ._registry import InsecureOpt, LockOpt, OfflineOpt, client_from_flags

if TYPE_CHECKING:
    from ..registry import Client

__all__ = ["source_resolver"]

_WORLD_REF = re.compile(
    r"^(?P<ns>[a-z][a-z0-9-]*):(?P<pkg>[a-z][a-z0-9-]*)/(?P<world>[a-z][a-z0-9-]*)"
    r"(?:@(?P<version>.+))?$"
)


def source_resolver(
    client: Client, *, base: Path | None = None, deps: dict[str, str] | None = None
) -> Callable[[str], Path]:
    """Turn a composition source into a local file: a dep mapping, a file, else a reference.

    Args:
        client: pulls references (verified into its store).
        base: relative file names are relative to this directory (a description's).
        deps: ``ns:name`` -> file or reference overrides (``--dep``).

    """
    from ..registry import PackageSpec, looks_like_reference, parse_reference

    def resolve(source: str) -> Path:
        if deps:
            if source in deps:
                source = deps[source]
            elif looks_like_reference(source):
                parsed = parse_reference(source)
                if isinstance(parsed, PackageSpec) and parsed.package in deps:
                    source = deps[parsed.package]
        path = Path(source)
        if not path.is_absolute() and base is not None:
            path = base / path
        if path.is_file():
            return path
        if looks_like_reference(source):
            pulled = client.pull(source)
            return client.store.verify(pulled.layer.digest, reference=pulled.requested)
        raise InvalidModule("file not found (and not a registry reference)", source=source)

    return resolve


def _deps(items: list[str]) -> dict[str, str]:
    from .._errors import PolicyError

    out = {}
    for item in items:
        name, sep, where = item.partition("=")
        if not sep or not name or not where:
            raise PolicyError(f"--dep takes ns:name=FILE-OR-REFERENCE, not {item!r}")
        out[name] = where
    return out


@app.command()
def compose(
    root: Annotated[
        str | None,
        typer.Argument(help="The component to plug into (with --plug); omit with --file."),
    ] = None,
    plugs: Annotated[
        list[str],
        typer.Option("--plug", help="A component whose exports satisfy imports (repeatable)."),
    ] = [],  # noqa: B006 (typer reads the default; it is never mutated)
    description: Annotated[
        Path | None,
        typer.Option("--file", "-f", help="A WAC description (let/new/export) to build."),
    ] = None,
    deps: Annotated[
        list[str],
        typer.Option("--dep", help="ns:name=FILE-OR-REFERENCE for a package in the description."),
    ] = [],  # noqa: B006
    output: Annotated[Path, typer.Option("--output", "-o", help="The composed component.")] = Path(
        "composed.wasm"
    ),
    insecure: InsecureOpt = False,
    offline: OfflineOpt = False,
    lock: LockOpt = None,
    debug: Annotated[bool, DEBUG] = False,
) -> None:
    """Compose components into one: ROOT --plug DEP..., or --file app.wac."""

    def go() -> int:
        from .._errors import CompositionError
        from ..registry.compose import compose as build
        from ..registry.compose import parse_wac, plug

        if (description is None) == (root is None):
            raise CompositionError("give either ROOT with --plug, or --file DESCRIPTION")
        if description is not None:
            try:
                text = description.read_text()
            except OSError as exc:
                raise CompositionError(f"cannot read {description}: {exc.strerror}") from exc
            composition = parse_wac(text)
            base: Path | None = description.parent
        else:
            assert root is not None
            if not plugs:
                raise CompositionError("--plug at least one component into ROOT")
            composition = plug(root, list(plugs))
            base = None
        with client_from_flags(insecure=insecure, offline=offline, lock=lock) as client:
            build(composition, source_resolver(client, base=base, deps=_deps(deps)), output)
        typer.echo(f"composed {output}")
        return 0

    guarded(debug, go)


@app.command()
def targets(
    component: Annotated[str, typer.Argument(help="The component (file or reference).")],
    world: Annotated[
        str,
        typer.Argument(
            help="WIT (a directory, .wit or WIT package .wasm), or ns:pkg/world@version "
            "from the registry."
        ),
    ],
    world_name: Annotated[
        str | None, typer.Option("--world", help="Which world of the WIT (if several).")
    ] = None,
    insecure: InsecureOpt = False,
    offline: OfflineOpt = False,
    lock: LockOpt = None,
    debug: Annotated[bool, DEBUG] = False,
) -> None:
    """Say whether COMPONENT fits WORLD; list what is missing. Exit 0 if it fits, else 1."""

    def go() -> int:
        from ..registry.compose import targets as check

        with client_from_flags(insecure=insecure, offline=offline, lock=lock) as client:
            resolve = source_resolver(client)
            path = resolve(component)
            name = world_name
            m = _WORLD_REF.match(world)
            with tempfile.TemporaryDirectory(prefix="omniwasm-world-") as tmp:
                if not Path(world).exists() and m is not None:
                    package = f"{m['ns']}:{m['pkg']}" + (f"@{m['version']}" if m["version"] else "")
                    wit = Path(tmp) / "package.wasm"
                    client.pull_to(package, wit)
                    name = name or m["world"]
                else:
                    wit = Path(world)
                report = check(path, wit, name)
        verdict = "fits" if report.fits else "does not fit"
        typer.echo(f"{component} {verdict} {world if name is None else name}")
        for item in report.missing_exports:
            typer.echo(f"  missing export: {item}")
        for item in report.extra_imports:
            typer.echo(f"  import the world does not provide: {item}")
        if not report.fits and report.detail:
            for line in report.detail.splitlines():
                typer.echo(f"  {line}")
        return 0 if report.fits else 1

    guarded(debug, go)
