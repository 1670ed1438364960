"""WASI 0.3 on the virtual host: commands built for component-model async.

A WASI 0.3 component runs on omniwasm's own component runtime (the only one here that runs
component-model async); its WASI comes from Python, like :mod:`omniwasm.wasi` for 0.2::

    from omniwasm import Runtime
    from omniwasm.wasi import p3

    result = p3.run(Runtime(), "hello.wasm")
    print(result.exit_code, result.stdout)

:func:`linker` defines ``wasi:cli``, ``wasi:clocks``, ``wasi:random`` and ``wasi:http/types``
0.3 (``0.3.0`` and the ``0.3.0-rc-2026-03-15`` candidate) beside every WASI 0.2 interface.
The ``wasi:http`` resources (:class:`Request`, :class:`Response`, :class:`Fields`) are what
``omniwasm serve`` hands a ``wasi:http/service`` component and reads back.
"""

from ._host import VERSIONS, add_to_linker, linker
from ._http import (
    Body,
    Fields,
    Request,
    RequestOptions,
    Response,
    Sent,
    blocking_chunks,
    blocking_trailers,
    feed_chunks,
)
from ._run import run

__all__ = [
    "VERSIONS",
    "Body",
    "Fields",
    "Request",
    "RequestOptions",
    "Response",
    "Sent",
    "add_to_linker",
    "blocking_chunks",
    "blocking_trailers",
    "feed_chunks",
    "linker",
    "run",
]
