"""``omniwasm pull / push / tags`` without typer: what a registry command needs, and no more.

A whole ``omniwasm pull`` process is measured against ``skopeo copy`` (bench/registry_pull.py),
and importing typer (click, its completion machinery) costs about half of a 20 MB pull from a
local registry. So these three commands, with their common flags, are parsed here, accepting
exactly click's forms (``--flag VALUE``, ``--flag=VALUE``, ``-o VALUE``, options before,
between or after the arguments), and run on the same functions as the typer commands in
``_registry`` (``client_from_flags``, ``default_output``, and the same output lines). Anything
else (``--help``, credentials flags, a typo, a missing argument) returns None and typer handles
it, messages and all. ``tests/cli/test_fast_registry.py`` checks that both parse every command
line they accept the same way.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._errors import OmniwasmError
from ._exit import exit_code_for, report

if TYPE_CHECKING:
    from ..registry import Client

__all__ = [
    "COMMANDS",
    "SKIPPED",
    "client_from_flags",
    "default_output",
    "main",
    "parse",
    "parse_annotations",
    "skip_optional_codecs",
    "try_command",
]


COMMANDS: dict[str, tuple[tuple[str, ...], dict[str, tuple[str, bool]], dict[str, str]]] = {
    "pull": (
        ("reference",),
        {"--output": ("output", False), "-o": ("output", False), "--lock": ("lock", False)},
        {"--insecure": "insecure", "--offline": "offline", "--debug": "debug"},
    ),
    "push": (
        ("file", "reference"),
        {"--author": ("author", False), "--annotation": ("annotation", True)},
        {"--insecure": "insecure", "--debug": "debug"},
    ),
    "tags": (
        ("repository",),
        {},
        {"--json": "as_json", "--insecure": "insecure", "--offline": "offline", "--debug": "debug"},
    ),
}
"""Per command: its arguments, value options (parameter, repeatable), flags (parameter)."""


def client_from_flags(
    *,
    insecure: bool = False,
    offline: bool = False,
    lock: Path | None = None,
    username: str | None = None,
    password_stdin: bool = False,
) -> Client:
    """The ``Client`` a registry command uses: the project's config, the flags on top.

    Raises:
        AuthenticationFailed: a user name without a password.

    """
    from .._errors import AuthenticationFailed
    from ..registry.auth import Credentials
    from ..registry.client import Client

    credentials = None
    if username is not None:
        if password_stdin:
            password = sys.stdin.readline().rstrip("\r\n")
        else:
            password = os.environ.get("OMNIWASM_REGISTRY_PASSWORD", "")
        if not password:
            raise AuthenticationFailed(
                "--username needs a password: OMNIWASM_REGISTRY_PASSWORD or --password-stdin"
            )
        credentials = Credentials(username, password)
    options: dict[str, Any] = {"insecure": insecure, "credentials": credentials}
    if offline:
        options["offline"] = True
    if lock is not None:
        options["lock"] = lock
    return Client.from_environment(**options)


def default_output(reference: str) -> Path:
    """Where ``pull`` writes without ``-o``: ``ns_name.wasm`` or ``repo_path.wasm`` here.

    Raises:
        InvalidReference: the reference does not parse.

    """
    from ..registry.reference import PackageSpec, parse_reference

    parsed = parse_reference(reference)
    if isinstance(parsed, PackageSpec):
        stem = f"{parsed.namespace}_{parsed.name}"
    else:
        stem = parsed.repository.replace("/", "_")
    return Path(f"{stem}.wasm")


def parse(command: str, argv: list[str]) -> dict[str, Any] | None:
    """The parameters of ``command`` for ``argv`` (what follows it), or None if not ours."""
    spec = COMMANDS.get(command)
    if spec is None or "OMNIWASM_REGISTRY_USERNAME" in os.environ:
        return None  # credentials (the typer commands read the user from the environment)
    arguments, options, flags = spec
    params: dict[str, Any] = {name: [] for name, many in options.values() if many}
    params.update({name: None for name, many in options.values() if not many})
    params.update(dict.fromkeys(flags.values(), False))
    positional: list[str] = []
    i = 0
    while i < len(argv):
        token = argv[i]
        if not token.startswith("-") or token == "-":
            positional.append(token)
            i += 1
            continue
        flag, eq, inline = token.partition("=")
        if flag in flags and not eq:
            params[flags[flag]] = True
            i += 1
            continue
        if flag not in options or (eq and not flag.startswith("--")):
            return None  # --help, -u, --password-stdin, "--", -oFILE, a typo: typer's
        if eq:
            value = inline
            i += 1
        elif i + 1 < len(argv):
            value = argv[i + 1]
            i += 2
        else:
            return None
        name, many = options[flag]
        if many:
            params[name].append(value)
        else:
            params[name] = value
    if len(positional) != len(arguments):
        return None
    params.update(zip(arguments, positional, strict=True))
    return params


def _run(command: str, p: dict[str, Any]) -> None:
    if command == "pull":
        out = Path(p["output"]) if p["output"] is not None else default_output(p["reference"])
        lock = Path(p["lock"]) if p["lock"] is not None else None
        with client_from_flags(insecure=p["insecure"], offline=p["offline"], lock=lock) as c:
            pulled = c.pull_to(p["reference"], out)
        print(f"{pulled.reference} -> {out}")
    elif command == "push":
        with client_from_flags(insecure=p["insecure"]) as c:
            pushed = c.push(
                Path(p["file"]),
                p["reference"],
                author=p["author"],
                annotations=parse_annotations(p["annotation"]) or None,
            )
        print(f"pushed {pushed}")
    else:
        with client_from_flags(insecure=p["insecure"], offline=p["offline"]) as c:
            found = c.tags(p["repository"])
        if p["as_json"]:
            print(json.dumps(found))
        else:
            for tag in found:
                print(tag)


def parse_annotations(items: list[str]) -> dict[str, str]:
    """``--annotation KEY=VALUE`` items as a dict.

    Raises:
        PolicyError: an item without ``=`` or key.

    """
    from .._errors import PolicyError

    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise PolicyError(f"--annotation takes KEY=VALUE, not {item!r}")
        out[key] = value
    return out


def try_command(command: str, argv: list[str]) -> int | None:
    """Run ``omniwasm COMMAND ARGV`` here and return its exit code, or None to use typer."""
    params = parse(command, argv)
    if params is None:
        return None
    try:
        _run(command, params)
    except OmniwasmError as exc:
        report(exc, debug=params["debug"])
        return exit_code_for(exc)
    return 0


SKIPPED = ("h2", "zstandard")
"""Optional packages httpx/httpcore import when installed, which a registry command never uses."""


def skip_optional_codecs() -> None:
    """Mark ``SKIPPED`` unimportable in this process, which runs one registry command and exits.

    Both libraries document the fallback taken when the package is missing: httpcore offers no
    HTTP/2 (the registry client never asks for it: HTTP/1.1 only), and httpx neither offers
    nor decodes ``zstd`` content encoding (it then leaves ``zstd`` out of ``Accept-Encoding``,
    so a registry has no reason to send it; a blob is checked against its digest anyway).
    Together they are about a fifth of importing httpx (h2 with hpack and hyperframe;
    zstandard with ``platform``). Never called where a program goes on to use httpx.
    """
    for name in SKIPPED:
        if name not in sys.modules:
            sys.modules[name] = None  # type: ignore[assignment]


def main(command: str, argv: list[str]) -> None:
    """Exit with the code of ``omniwasm COMMAND ARGV`` when taken here; else return."""
    if parse(command, argv) is not None:
        skip_optional_codecs()
    try:
        code = try_command(command, argv)
    except KeyboardInterrupt:
        sys.exit(130)
    if code is not None:
        sys.stdout.flush()
        sys.exit(code)
