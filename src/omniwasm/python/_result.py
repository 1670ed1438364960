"""What a run of sandboxed Python gives back: :class:`Result` and :class:`GuestException`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from .._errors import ExecutionError, LimitExceeded, MemoryLimitExceeded, OutOfFuel, Timeout

__all__ = ["GuestException", "Limit", "PythonError", "Result"]

Limit = Literal["timeout", "fuel", "memory", "output", "tool_calls", "open_files"]
"""The policy limit that stopped a run."""


@dataclass(frozen=True, slots=True)
class GuestException:
    """An exception raised by the sandboxed code (or the interpreter trapping).

    Args:
        type: the exception class's name, e.g. ``"ZeroDivisionError"``.
        module: the class's module (``"builtins"`` for built-in exceptions).
        message: ``str()`` of the exception (at most 4 KiB).
        traceback: the guest traceback as Python prints it (the last 64 KiB).

    """

    type: str
    module: str = "builtins"
    message: str = ""
    traceback: str = ""

    def __str__(self) -> str:
        return f"{self.type}: {self.message}" if self.message else self.type


class PythonError(ExecutionError):
    """The sandboxed code raised an exception (``Result.check()``); ``.error`` says which.

    Args:
        error: the guest's exception.

    """

    def __init__(self, error: GuestException) -> None:
        super().__init__(str(error))
        self.error = error


@dataclass(frozen=True, slots=True)
class Result:
    """The outcome of one piece of sandboxed Python.

    Args:
        stdout: what the code printed (text; at most the policy's ``max_output`` bytes).
        stderr: what it wrote to stderr.
        value: the last expression's value as JSON-compatible data, when asked for
            (``value=True``) and convertible (numpy arrays and pandas objects become lists
            and dicts).
        display: ``repr()`` of the last expression's value (None when there is none or it
            is None), as an interactive interpreter would show it.
        error: the exception the code raised, with the guest traceback, or None.
        limit: the limit that stopped it (``"timeout"``, ``"fuel"``, ``"memory"``,
            ``"output"``, ``"tool_calls"``, ``"open_files"``), or None.
        exit_code: the status of ``sys.exit()`` / ``SystemExit`` when the code raised it.
        truncated: the streams cut at the output limit.
        duration: seconds the run took, from the sandbox's creation to its result.

    """

    stdout: str = ""
    stderr: str = ""
    value: Any = None
    display: str | None = None
    error: GuestException | None = None
    limit: Limit | None = None
    exit_code: int | None = None
    truncated: tuple[str, ...] = ()
    duration: float = 0.0
    value_error: str | None = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        """True when the code ran to its end without an exception, a limit or a failing exit."""
        return self.error is None and self.limit is None and not self.exit_code

    def check(self) -> Result:
        """Return self when ``ok``.

        Raises:
            Timeout: the run went past its deadline.
            OutOfFuel: it used up its fuel.
            MemoryLimitExceeded: it needed more memory than allowed.
            LimitExceeded: it hit the output, tool-call or open-files limit.
            PythonError: the code raised an exception or exited with a non-zero status.

        """
        if self.limit is not None:
            cls = {"timeout": Timeout, "fuel": OutOfFuel, "memory": MemoryLimitExceeded}.get(
                self.limit, LimitExceeded
            )
            detail = f": {self.error}" if self.error is not None else ""
            raise cls(f"the {self.limit} limit stopped the code{detail}")
        if self.error is not None:
            raise PythonError(self.error)
        if self.exit_code:
            raise PythonError(GuestException("SystemExit", message=str(self.exit_code)))
        return self

    def to_dict(self) -> dict[str, Any]:
        """The result as JSON-compatible data (what ``--json`` and the MCP server print)."""
        return {
            "ok": self.ok,
            "stdout": self.stdout,
            "stderr": self.stderr,
            "value": self.value,
            "display": self.display,
            "error": None
            if self.error is None
            else {
                "type": self.error.type,
                "module": self.error.module,
                "message": self.error.message,
                "traceback": self.error.traceback,
            },
            "limit": self.limit,
            "exit_code": self.exit_code,
            "truncated": list(self.truncated),
            "duration": self.duration,
        }
