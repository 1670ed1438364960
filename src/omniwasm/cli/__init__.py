"""The ``omniwasm`` command line, in the conventions of the ``wasmtime`` CLI.

Thin by design: parse flags, build a ``Policy``, call one public function, render the result.
Errors print one line on stderr and exit with the code of their class (``_exit.EXIT_CODES``).
The typer app lives in ``_app``; each command is a module of its own that registers on it
(``_run``: run and invoke, ``_compile``, ``_snapshot``, ``_cache``, ``_inspect``, ``_bindgen``,
``_plugin``, ``_serve``, ``_demo``, ``_registry``: push, pull, publish, tags and lock,
``_compose``: compose and targets), imported here only when the command line names them.
"""

from __future__ import annotations

import os
import sys

__all__ = ["main"]


# The module that registers each command. A command line naming one imports only that module
# (``omniwasm run`` never loads the gateway, the registry client or the WIT machinery); anything
# else (``--help``, a typo, no command) imports them all, in the order ``--help`` lists them.
ORDER = (
    "_run",
    "_compile",
    "_snapshot",
    "_cache",
    "_demo",
    "_bindgen",
    "_compose",
    "_inspect",
    "_plugin",
    "_registry",
    "_serve",
    "_sql",
    "_python",
)
COMMANDS: dict[str, str] = {
    "run": "_run",
    "invoke": "_run",
    "compile": "_compile",
    "snapshot": "_snapshot",
    "cache": "_cache",
    "demo": "_demo",
    "bindgen": "_bindgen",
    "compose": "_compose",
    "targets": "_compose",
    "inspect": "_inspect",
    "plugin": "_plugin",
    "push": "_registry",
    "pull": "_registry",
    "publish": "_registry",
    "tags": "_registry",
    "lock": "_registry",
    "serve": "_serve",
    "sql": "_sql",
    "python": "_python",
    "mcp": "_python",
}


_GLOBAL_OPTIONS = ("-h", "--help", "-V", "--version")
_WASM_SUFFIXES = (".wasm", ".wat", ".cwasm")


def default_to_run(argv: list[str]) -> list[str]:
    """``omniwasm prog.wasm ARGS`` (or ``omniwasm --fuel 9 prog.wasm``) as ``omniwasm run ...``.

    wasmtime's default subcommand: a first word that is no command and no global option, but
    an option (of ``run``) or a WebAssembly file, means ``run``. Any other word is left for
    the usage error ``No such command``.
    """
    if len(argv) < 2 or argv[1] in COMMANDS or argv[1] in _GLOBAL_OPTIONS:
        return argv
    first = argv[1]
    if first.startswith("-") or first.endswith(_WASM_SUFFIXES) or os.path.isfile(first):
        return [argv[0], "run", *argv[1:]]
    return argv


def load_commands(argv: list[str]) -> None:
    """Register the command ``argv`` names, or every command when it names none."""
    import importlib

    wanted = COMMANDS.get(argv[1]) if len(argv) > 1 else None
    modules = (wanted,) if wanted is not None else ORDER
    for module in modules:
        importlib.import_module(f".{module}", __name__)


def main() -> None:
    """Entry point of the ``omniwasm`` console script."""
    sys.argv = default_to_run(sys.argv)
    if len(sys.argv) > 2 and sys.argv[1] == "run":
        from ._fast import main as fast_main

        fast_main(sys.argv[2:])  # exits when it ran the command; else typer parses it
    if len(sys.argv) > 2 and sys.argv[1] in ("pull", "push", "tags"):
        from ._fast_registry import main as fast_registry

        fast_registry(sys.argv[1], sys.argv[2:])  # the same: exits, or leaves it to typer
    load_commands(sys.argv)
    from ._app import app

    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
