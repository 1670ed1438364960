"""A spinner on stderr while a compile runs: only on a terminal, and only when compiling.

``compiling(runtime)`` sets the runtime's ``on_compile`` hook for the duration of a block: a
load the compile cache answers shows nothing; a real compile (an 18 MB componentize-py guest
takes ~25 s cold) shows ``compiling app.wasm (18.4 MB)...`` with a spinner (rich), cleared when
it ends. rich is imported only then, so a plain run pays nothing for it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .._runtime import Runtime

__all__ = ["compiling"]


class _Spinner:
    def __init__(self) -> None:
        self.status: Any = None

    def __call__(self, source: str, size: int) -> None:
        if self.status is not None or not sys.stderr.isatty():
            return
        from rich.console import Console

        name = os.path.basename(source) or source
        console = Console(stderr=True)
        self.status = console.status(f"compiling {name} ({size / 1e6:.1f} MB)...")
        self.status.start()

    def stop(self) -> None:
        if self.status is not None:
            self.status.stop()
            self.status = None


@contextmanager
def compiling(runtime: Runtime) -> Iterator[None]:
    """Show a spinner while ``runtime`` compiles inside the block (on a terminal only)."""
    spinner = _Spinner()
    previous, runtime.on_compile = runtime.on_compile, spinner
    try:
        yield
    finally:
        spinner.stop()
        runtime.on_compile = previous
