"""WASI 0.3 on the virtual host: commands built for component-model async.

A WASI 0.3 component runs on omniwasm's own component runtime (the only one here that runs
component-model async); its WASI comes from Python, like :mod:`omniwasm.wasi` for 0.2::

    from omniwasm import Runtime
    from omniwasm.wasi import p3

    result = p3.run(Runtime(), "hello.wasm")
    print(result.exit_code, result.stdout)

:func:`linker` defines ``wasi:cli``, ``wasi:clocks`` and ``wasi:random`` 0.3 (``0.3.0`` and
the ``0.3.0-rc-2026-03-15`` candidate) beside every WASI 0.2 interface.
"""

from ._host import VERSIONS, add_to_linker, linker
from ._run import run

__all__ = ["VERSIONS", "add_to_linker", "linker", "run"]
