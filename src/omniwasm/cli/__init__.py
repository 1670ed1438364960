"""The ``omniwasm`` command line, in the conventions of the ``wasmtime`` CLI.

Thin by design: parse flags, build a ``Policy``, call one public function, render the result.
Errors print one line on stderr and exit with the code of their class (``_exit.EXIT_CODES``).
The typer app lives in ``_app``; each command is a module of its own that registers on it
(``_run``: run and invoke, ``_compile``, ``_cache``, ``_inspect``, ``_bindgen``, ``_plugin``,
``_serve``, ``_demo``, ``_registry``: push, pull, publish, tags and lock, ``_compose``: compose
and targets), imported here only when the command line starts.
"""

from __future__ import annotations

import sys

__all__ = ["main"]


def main() -> None:
    """Entry point of the ``omniwasm`` console script."""
    # Importing a command module registers its command; `omniwasm --help` lists them in
    # this order.
    # isort: off
    from . import _run, _compile, _cache, _demo, _bindgen, _compose, _inspect  # noqa: F401
    from . import _plugin, _registry, _serve, _sql  # noqa: F401

    # isort: on
    from ._app import app

    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
