"""``wasi:cli`` in Python: arguments, environment, exit, standard streams and terminals.

The functions here are the roots of an instance's WASI state: each finds its
:class:`~omniwasm.wasi.WasiContext` with :func:`omniwasm.host_data` (one linker serves every
instance), and the streams it hands out write to that instance's own sinks.
"""

from __future__ import annotations

from typing import Any

from .._component import host_data
from .._errors import GuestExit
from .._wit.values import Err, Ok
from ._io import InputStream, OutputStream

__all__ = ["CLI_INTERFACES", "TerminalInput", "TerminalOutput"]


def _ctx() -> Any:
    return host_data()


class TerminalInput:
    """``wasi:cli/terminal-input.terminal-input`` (never handed out: stdin is not a terminal)."""


class TerminalOutput:
    """``wasi:cli/terminal-output.terminal-output`` (never handed out)."""


def _exit(status: Ok | Err | Any) -> None:
    """``exit.exit``: end the run; ``ok`` is 0, ``err`` is 1."""
    code = 1 if isinstance(status, Err) else 0
    _ctx().exit_code = code
    raise GuestExit(code)


def _exit_with_code(status_code: int) -> None:
    """``exit.exit-with-code`` (0.2.4+)."""
    _ctx().exit_code = status_code
    raise GuestExit(status_code)


def _get_stdin() -> InputStream:
    stdin: InputStream = _ctx().stdin
    return stdin


def _get_stdout() -> OutputStream:
    return OutputStream(_ctx().stdout)


def _get_stderr() -> OutputStream:
    return OutputStream(_ctx().stderr)


CLI_INTERFACES: dict[str, dict[str, Any]] = {
    "wasi:cli/environment": {
        "get_environment": lambda: list(_ctx().env),
        "get_arguments": lambda: list(_ctx().args),
        "initial_cwd": lambda: _ctx().cwd,
    },
    "wasi:cli/exit": {"exit": _exit, "exit_with_code": _exit_with_code},
    "wasi:cli/stdin": {"get_stdin": _get_stdin},
    "wasi:cli/stdout": {"get_stdout": _get_stdout},
    "wasi:cli/stderr": {"get_stderr": _get_stderr},
    "wasi:cli/terminal-input": {"terminal_input": TerminalInput},
    "wasi:cli/terminal-output": {"terminal_output": TerminalOutput},
    "wasi:cli/terminal-stdin": {"get_terminal_stdin": lambda: None},
    "wasi:cli/terminal-stdout": {"get_terminal_stdout": lambda: None},
    "wasi:cli/terminal-stderr": {"get_terminal_stderr": lambda: None},
}
"""Member definitions of every ``wasi:cli`` interface, for ``Linker.define``."""
