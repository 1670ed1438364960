"""The entry points: :func:`run` (a fresh sandbox per call) and :class:`Session` (state kept)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from types import TracebackType
from typing import Any

from .._errors import OmniwasmError
from .._policy import Policy
from . import _spares
from ._image import DEFAULT_PRELOAD
from ._result import Result
from ._sandbox import DEFAULT_OPEN_FILES, DEFAULT_TOOL_CALLS, Interpreter, load_image
from ._tools import Tool, ToolSet

__all__ = ["Session", "ToolsArg", "run"]

ToolsArg = Iterable[Callable[..., Any] | Tool] | Mapping[str, Callable[..., Any]] | None
"""Tools as functions, :class:`Tool` objects, or a mapping of name to function."""


def _toolset(tools: ToolsArg) -> ToolSet | None:
    if tools is None:
        return None
    return tools if isinstance(tools, ToolSet) else ToolSet(tools)


def run(
    code: str,
    *,
    policy: Policy | None = None,
    files: Mapping[str, bytes | str] | None = None,
    tools: ToolsArg = None,
    value: bool = False,
    packages: Iterable[str] = DEFAULT_PRELOAD,
    max_tool_calls: int = DEFAULT_TOOL_CALLS,
    max_open_files: int = DEFAULT_OPEN_FILES,
) -> Result:
    """Run untrusted Python in a fresh sandbox and return how it went.

    The sandbox starts from a ready image in which ``packages`` are imported already, so
    ``import numpy`` costs nothing; nothing of one run is seen by the next. It is made ahead
    of the call when an earlier call used the same image and policy, and released after it
    on a background thread (:mod:`._spares`).

    Args:
        code: Python source; the value of a final expression is returned (see ``value``).
        policy: limits and grants (``timeout``, ``fuel``, ``max_memory``, ``max_output``,
            ``dirs``, ``env``); 30 s and 1 GiB when None. Nothing of the host is reachable
            unless granted: no files, no network, no processes.
        files: files for the code, ``{path: contents}``, in a private ``/tmp`` that is also
            its working directory (paths are relative to it or start with ``/tmp``).
        tools: host functions the code may call as ``from host import tools``.
        value: also return the last expression's value as JSON-compatible data.
        packages: the modules the image has imported (an image per list, made once).
        max_tool_calls: tool calls allowed.
        max_open_files: files the code may have open at once.

    Raises:
        MissingInterpreter: the CPython artifacts are not installed.
        PolicyError: the policy or the files cannot be applied.

    """
    started = time.perf_counter()
    image = load_image(tuple(packages))
    limits = (max_tool_calls, max_open_files)
    interpreter = None if files else _spares.take(image, policy, limits)
    if interpreter is None:
        interpreter = Interpreter(
            image,
            policy,
            files=files,
            max_tool_calls=max_tool_calls,
            max_open_files=max_open_files,
        )
    toolset = _toolset(tools)
    if toolset is not None:
        interpreter.tools = toolset
    try:
        return interpreter.execute(code, value=value, started=started)
    finally:
        _spares.release(interpreter)


class Session:
    """A live interpreter that keeps its state across calls: variables, imports, files.

    Each :meth:`run` continues where the last one ended, under the same policy (the timeout
    and fuel count per call). A call stopped by a limit ends the interpreter; the next call
    gets a fresh one (:attr:`restarts` counts them). Thread-safe: calls are serialised. Use it
    as a context manager, or call :meth:`close`.

    Args:
        policy: limits and grants, as for :func:`run`.
        files: files to start with in the session's private ``/tmp`` (its working
            directory); what the code writes there stays until :meth:`reset`.
        tools: host functions the code may call as ``from host import tools``.
        packages: the modules the image has imported.
        max_tool_calls: tool calls allowed per call.
        max_open_files: files the code may have open at once.
        setup: code run in each new interpreter of the session before its first call (for
            definitions an integration needs); it must succeed.

    Raises:
        MissingInterpreter: the CPython artifacts are not installed.

    """

    def __init__(
        self,
        *,
        policy: Policy | None = None,
        files: Mapping[str, bytes | str] | None = None,
        tools: ToolsArg = None,
        packages: Iterable[str] = DEFAULT_PRELOAD,
        max_tool_calls: int = DEFAULT_TOOL_CALLS,
        max_open_files: int = DEFAULT_OPEN_FILES,
        setup: str | None = None,
    ) -> None:
        self._image = load_image(tuple(packages))
        self._setup = setup
        self._policy = policy
        self._files = dict(files or {})
        self._tools = _toolset(tools)
        self._max_tool_calls = max_tool_calls
        self._max_open_files = max_open_files
        self._lock = threading.RLock()
        self._interpreter: Interpreter | None = None
        self._closed = False
        self.restarts = 0
        """How many times a limit or a trap ended the interpreter and a new one was started."""

    def _live(self) -> Interpreter:
        it = self._interpreter
        if it is None or it.dead:
            if it is not None:
                it.close()
                self.restarts += 1
            it = self._interpreter = Interpreter(
                self._image,
                self._policy,
                tools=self._tools,
                files=self._files,
                scratch=True,
                max_tool_calls=self._max_tool_calls,
                max_open_files=self._max_open_files,
            )
            if self._setup is not None:
                done = it.execute(self._setup)
                if not done.ok:
                    it.close()
                    self._interpreter = None
                    raise OmniwasmError(
                        f"the session's setup code failed: {done.error or done.limit}"
                    )
        return it

    def run(self, code: str, *, value: bool = False) -> Result:
        """Run ``code`` in the session (see :func:`run` for ``value`` and the result).

        Raises:
            OmniwasmError: the session is closed.

        """
        started = time.perf_counter()
        with self._lock:
            if self._closed:
                raise OmniwasmError("the session is closed")
            return self._live().execute(code, value=value, started=started)

    def reset(self) -> None:
        """Forget everything: the next call starts from the image, with the initial files."""
        with self._lock:
            if self._interpreter is not None:
                self._interpreter.close()
                self._interpreter = None

    @property
    def closed(self) -> bool:
        """True after :meth:`close`."""
        return self._closed

    def close(self) -> None:
        """End the session and release its interpreter and files. Idempotent."""
        with self._lock:
            self._closed = True
            self.reset()

    def __enter__(self) -> Session:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
