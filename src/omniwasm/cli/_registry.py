"""``omniwasm push / pull / publish / tags / lock``: components in OCI registries.

References are ``host[:port]/repo:tag``, ``host/repo@sha256:...`` or ``ns:name@version``
(a range such as ``^1.2`` works where a version does) through the registry mapping of
``omniwasm.toml`` and the environment. Plain HTTP is used only for loopback registries unless
``--insecure``. An ``omniwasm.lock`` in the working directory (or ``--lock FILE``) pins what
is resolved; ``--offline`` uses only the local store.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ._app import DEBUG, app, guarded
from ._fast_registry import client_from_flags, default_output, parse_annotations

if TYPE_CHECKING:
    pass

__all__ = ["client_from_flags"]

InsecureOpt = Annotated[
    bool, typer.Option("--insecure", help="Allow plain HTTP to a registry not on loopback.")
]
OfflineOpt = Annotated[
    bool, typer.Option("--offline", help="Use only the local store; never the network.")
]
LockOpt = Annotated[
    Path | None,
    typer.Option(
        "--lock",
        help="Lock file to honour and extend (default: ./omniwasm.lock if it exists).",
    ),
]
UserOpt = Annotated[
    str | None,
    typer.Option(
        "--username",
        "-u",
        envvar="OMNIWASM_REGISTRY_USERNAME",
        help="Registry user (with OMNIWASM_REGISTRY_PASSWORD or --password-stdin).",
    ),
]
PasswordStdinOpt = Annotated[
    bool, typer.Option("--password-stdin", help="Read the password from standard input.")
]


@app.command()
def push(
    file: Annotated[Path, typer.Argument(help="The component or module to push.")],
    reference: Annotated[str, typer.Argument(help="host[:port]/repo:tag or ns:name@version.")],
    author: Annotated[str | None, typer.Option("--author", help="The config's author.")] = None,
    annotation: Annotated[
        list[str], typer.Option("--annotation", help="Manifest annotation KEY=VALUE.")
    ] = [],  # noqa: B006 (typer reads the default; it is never mutated)
    insecure: InsecureOpt = False,
    username: UserOpt = None,
    password_stdin: PasswordStdinOpt = False,
    debug: Annotated[bool, DEBUG] = False,
) -> None:
    """Push a component as a Wasm OCI artifact (the layout wkg and skopeo read)."""

    def go() -> int:
        with client_from_flags(
            insecure=insecure, username=username, password_stdin=password_stdin
        ) as client:
            pushed = client.push(
                file, reference, author=author, annotations=parse_annotations(annotation) or None
            )
        typer.echo(f"pushed {pushed}")
        return 0

    guarded(debug, go)


@app.command()
def pull(
    reference: Annotated[str, typer.Argument(help="What to pull (any reference form).")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Where to write the component.")
    ] = None,
    insecure: InsecureOpt = False,
    offline: OfflineOpt = False,
    lock: LockOpt = None,
    username: UserOpt = None,
    password_stdin: PasswordStdinOpt = False,
    debug: Annotated[bool, DEBUG] = False,
) -> None:
    """Pull a component into the local store and write it to a file (verified by digest)."""

    def go() -> int:
        out = output if output is not None else default_output(reference)
        with client_from_flags(
            insecure=insecure,
            offline=offline,
            lock=lock,
            username=username,
            password_stdin=password_stdin,
        ) as client:
            pulled = client.pull_to(reference, out)
        typer.echo(f"{pulled.reference} -> {out}")
        return 0

    guarded(debug, go)


@app.command()
def publish(
    file: Annotated[Path, typer.Argument(help="The component (or encoded WIT package).")],
    package: Annotated[
        str | None,
        typer.Option("--package", help="ns:name@version, instead of what the binary says."),
    ] = None,
    registry: Annotated[
        str | None, typer.Option("--registry", help="Registry host, instead of the mapping.")
    ] = None,
    insecure: InsecureOpt = False,
    username: UserOpt = None,
    password_stdin: PasswordStdinOpt = False,
    debug: Annotated[bool, DEBUG] = False,
) -> None:
    """Publish under the package name and version the component carries, via the mapping."""

    def go() -> int:
        with client_from_flags(
            insecure=insecure, username=username, password_stdin=password_stdin
        ) as client:
            spec, pushed = client.publish(file, package=package, registry=registry)
        typer.echo(f"published {spec} as {pushed}")
        return 0

    guarded(debug, go)


@app.command()
def tags(
    repository: Annotated[str, typer.Argument(help="host[:port]/repo, or ns:name.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list.")] = False,
    insecure: InsecureOpt = False,
    offline: OfflineOpt = False,
    username: UserOpt = None,
    password_stdin: PasswordStdinOpt = False,
    debug: Annotated[bool, DEBUG] = False,
) -> None:
    """List a repository's tags (offline: the tags the store has seen)."""

    def go() -> int:
        with client_from_flags(
            insecure=insecure, offline=offline, username=username, password_stdin=password_stdin
        ) as client:
            found = client.tags(repository)
        if as_json:
            typer.echo(json.dumps(found))
        else:
            for tag in found:
                typer.echo(tag)
        return 0

    guarded(debug, go)


@app.command()
def lock(
    references: Annotated[list[str], typer.Argument(help="References to pin.")],
    update: Annotated[
        bool, typer.Option("--update", help="Re-resolve references already in the lock file.")
    ] = False,
    lock_file: Annotated[Path, typer.Option("--lock", help="The lock file to write.")] = Path(
        "omniwasm.lock"
    ),
    insecure: InsecureOpt = False,
    username: UserOpt = None,
    password_stdin: PasswordStdinOpt = False,
    debug: Annotated[bool, DEBUG] = False,
) -> None:
    """Resolve references and pin their digests in omniwasm.lock."""

    def go() -> int:
        from ..registry import LockFile

        lockfile = LockFile(lock_file)
        with client_from_flags(
            insecure=insecure, lock=lock_file, username=username, password_stdin=password_stdin
        ) as client:
            client.lock = lockfile
            for text in references:
                key = str(client.parse(text))
                if update:
                    lockfile.remove(key)
                resolved = client.resolve(text)
                typer.echo(f"{resolved.requested} = {resolved.reference}")
        return 0

    guarded(debug, go)
