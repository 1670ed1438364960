"""One live interpreter: an instance of an image, the host call, and a run of code in it.

The guest reaches the host only through ``host::call`` (:func:`_door`), which finds the
:class:`Interpreter` of the calling store and answers the driver's frames (:mod:`._guest`):
the request, pieces of output, tool calls and the result. Every frame is bounded before it
is read; output past the policy's ``max_output`` is dropped and named in the result.

The policy's limits hold on the host: wall time by epoch interruption (a tool call counts,
and is cut at the deadline), instructions by fuel, memory by the store limiter, output and
tool calls here. After a limit or a trap the instance is gone; a session starts a new one.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import struct
import tempfile
import threading
import time
import weakref
from collections.abc import Mapping
from pathlib import PurePosixPath
from typing import Any

from .._errors import (
    ExecutionError,
    GuestExit,
    MemoryLimitExceeded,
    OmniwasmError,
    OutOfFuel,
    PolicyError,
    Timeout,
)
from .._linked import LinkedInstance
from .._policy import Mount, Policy
from . import _guest, _image
from ._result import GuestException, Limit, Result
from ._tools import MAX_REQUEST, ToolSet

__all__ = [
    "DEFAULT_OPEN_FILES",
    "DEFAULT_POLICY",
    "DEFAULT_TOOL_CALLS",
    "SCRATCH",
    "Interpreter",
    "load_image",
    "sandbox_policy",
]

DEFAULT_POLICY = Policy(timeout=30.0, max_memory=1 << 30)
"""The limits of a run given no policy: 30 s of wall time and 1 GiB of memory (and the
default 16 MiB of output per stream); no fuel cap, no files, no network."""
SCRATCH = "/tmp"
"""Where a sandbox's private files are (``files=``), and its working directory then."""
DEFAULT_TOOL_CALLS = 1000
DEFAULT_OPEN_FILES = 256
"""Files a sandbox may have open at once (each is a host file descriptor)."""
_FRAME = MAX_REQUEST + (1 << 20)
_U32 = struct.Struct("<I")
_live: weakref.WeakValueDictionary[int, Interpreter] = weakref.WeakValueDictionary()


def _door(store_id: int, ptr: int, length: int, out_ptr: int, out_len: int) -> int:
    """``host::call``: 0 with an answer written, -1 when no host is bound, -2 on a fault."""
    it = _live.get(store_id)
    if it is None:
        return -1
    try:
        return it.answer(ptr & 0xFFFFFFFF, length & 0xFFFFFFFF, out_ptr, out_len)
    except ExecutionError:
        raise  # a trap or limit inside host_alloc: the run's own error
    except Exception:
        return -2


def load_image(preload: tuple[str, ...] = _image.DEFAULT_PRELOAD) -> _image.Image:
    """The image with ``preload`` imported, linked to this module's host call."""
    return _image.image(preload, door=_door)


def sandbox_policy(image: _image.Image, policy: Policy | None, scratch: str | None) -> Policy:
    """The policy an instance runs under: the given limits and grants, the stdlib first.

    Raises:
        PolicyError: a grant claims the standard library's place.

    """
    base = policy if policy is not None else DEFAULT_POLICY
    for mount in base.dirs:
        if PurePosixPath(mount.guest) in (
            PurePosixPath(_image.GUEST_LIB),
            *PurePosixPath(_image.GUEST_LIB).parents,
        ):
            raise PolicyError(f"{mount.guest} is where the standard library is mounted")
    dirs = [_image.stdlib_mount(image.artifacts)]
    if scratch is not None:
        dirs.append(Mount(host=scratch, guest=SCRATCH))
    return base.with_(
        dirs=(*dirs, *base.dirs),
        env=(*_image.environment(), *base.env),
        args=(),
        stdin=None,
        stdout="capture",
        stderr="capture",
        inherit_env=False,
    )


def write_files(root: str, files: Mapping[str, bytes | str]) -> None:
    """Put ``files`` (guest path under ``/tmp`` or relative: contents) into ``root``.

    Raises:
        PolicyError: a path leaves the scratch directory.

    """
    for name, data in files.items():
        path = PurePosixPath(name)
        if path.is_absolute():
            try:
                path = path.relative_to(SCRATCH)
            except ValueError:
                raise PolicyError(f"files go under {SCRATCH}: {name}") from None
        if not path.parts or ".." in path.parts:
            raise PolicyError(f"not a file path inside {SCRATCH}: {name}")
        target = os.path.join(root, *path.parts)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else bytes(data))


class Interpreter:
    """CPython in one sandboxed instance, ready for :meth:`execute`.

    Args:
        image: what to instantiate.
        policy: the limits and grants (``DEFAULT_POLICY`` when None).
        tools: the tools the code may call.
        files: files to put in a private ``/tmp`` (which then is the working directory).
        scratch: give the sandbox a private ``/tmp`` even without files.
        max_tool_calls: tool calls allowed per :meth:`execute`.
        max_open_files: files the code may have open at once (past it, ``open()`` fails with
            "too many open files" and the result names the ``"open_files"`` limit).

    Raises:
        PolicyError: the policy cannot be applied.
        MemoryLimitExceeded: the image is larger than the policy's ``max_memory``.

    """

    def __init__(
        self,
        image: _image.Image,
        policy: Policy | None = None,
        *,
        tools: ToolSet | None = None,
        files: Mapping[str, bytes | str] | None = None,
        scratch: bool = False,
        max_tool_calls: int = DEFAULT_TOOL_CALLS,
        max_open_files: int = DEFAULT_OPEN_FILES,
    ) -> None:
        self.image = image
        self.tools = tools or ToolSet()
        self.max_tool_calls = max_tool_calls
        self.scratch: str | None = None
        if files or scratch:
            self.scratch = tempfile.mkdtemp(prefix="omniwasm-py-")
            if files:
                write_files(self.scratch, files)
        self.policy = sandbox_policy(image, policy, self.scratch)
        self.limit_output = self.policy.max_output
        self.lock = threading.Lock()
        try:
            self.guest: LinkedInstance = image.instantiate(self.policy)
        except BaseException:
            self._drop_scratch()
            raise
        self.guest.limit_open_files(max_open_files)
        self._refused = 0
        self._alloc = self.guest.func("host_alloc")
        self._turn = self.guest.func("turn")
        self._memory = self.guest.memory()
        self.dead = False
        self.tools_sent = False
        self.calls = 0
        self._request = b""
        self._result: bytes | None = None
        self._out: list[bytearray] = [bytearray(), bytearray()]
        self._truncated: set[str] = set()
        self._limit: Limit | None = None
        _live[self.guest.store_id] = self

    # -- the host call -------------------------------------------------------------------------

    def answer(self, ptr: int, length: int, out_ptr: int, out_len: int) -> int:
        """Answer one frame of the driver (see :mod:`._guest`)."""
        if length > _FRAME + 2 * (self.limit_output or 0):
            return -2  # never read: a frame this large is no frame of the driver's
        frame = self._memory.read(ptr, length)
        kind = frame[:1]
        if kind == b"C":
            response = self._request
        elif kind == b"O":
            self._output(frame[1:2] == b"2", frame[2:])
            response = b""
        elif kind == b"T":
            response = self._tool(frame[1:])
        elif kind == b"R":
            self._result = frame[1:]
            response = b""
        else:
            return -2
        where = 0
        if response:
            where = self._alloc(len(response)) & 0xFFFFFFFF
            if not where:
                return -2
            self._memory.write(where, response)
        self._memory.write(out_ptr & 0xFFFFFFFF, _U32.pack(where))
        self._memory.write(out_len & 0xFFFFFFFF, _U32.pack(len(response)))
        return 0

    def _output(self, err: bool, data: bytes) -> None:
        buf = self._out[err]
        limit = self.limit_output
        if limit is not None and len(buf) + len(data) > limit:
            data = data[: max(limit - len(buf), 0)]
            self._truncated.add("stderr" if err else "stdout")
            self._limit = self._limit or "output"
        buf += data

    def _tool(self, request: bytes) -> bytes:
        self.calls += 1
        if self.calls > self.max_tool_calls:
            self._limit = self._limit or "tool_calls"
            answer: dict[str, Any] = {
                "ok": False,
                "error": f"the limit of {self.max_tool_calls} tool calls is reached",
            }
        elif len(request) > MAX_REQUEST:
            answer = {"ok": False, "error": f"a tool call's arguments exceed {MAX_REQUEST} bytes"}
        else:
            remaining = self.guest.calls.deadline.remaining()
            answer, late = self.tools.call(request, remaining)
            if late:
                self._limit = self._limit or "timeout"
        return json.dumps(answer).encode()

    # -- a run ---------------------------------------------------------------------------------

    def execute(
        self, code: str, *, value: bool = False, reset: bool = False, started: float | None = None
    ) -> Result:
        """Run ``code`` in this interpreter and say how it ended (never raises for the guest).

        Raises:
            OmniwasmError: the interpreter is gone (a limit or a trap ended it).

        """
        started = time.perf_counter() if started is None else started
        with self.lock:
            if self.dead:
                raise OmniwasmError("this interpreter was stopped by a limit or a trap")
            request: dict[str, Any] = {"code": code, "value": value, "limit": self.limit_output}
            if not self.tools_sent:
                request["tools"] = self.tools.specs
                if self.policy.env != _image.environment():  # the image has that one
                    request["env"] = dict(self.policy.env)
                request["seed"] = self.policy.seed if self.policy.deterministic else None
                if self.scratch is not None:
                    request["cwd"] = SCRATCH
            if reset:
                request["reset"] = True
            self._request = json.dumps(request).encode()
            self._result = None
            self._out = [bytearray(), bytearray()]
            self._truncated = set()
            self._limit = None
            self.calls = 0
            self._refused = self.guest.open_files_refused
            fuel = self.policy.fuel
            failure: BaseException | None = None
            try:
                if fuel is not None and self.tools_sent:
                    self.guest.refuel(fuel)
                turn = self._alloc(len(_guest.TURN)) & 0xFFFFFFFF
                self._memory.write(turn, _guest.TURN)
                self._turn(turn, len(_guest.TURN))
            except ExecutionError as exc:
                failure = exc
                self.dead = True
            self.tools_sent = True
            return self._outcome(failure, time.perf_counter() - started)

    def _outcome(self, failure: BaseException | None, duration: float) -> Result:
        data: dict[str, Any] = {}
        if self._result is not None:
            with contextlib.suppress(ValueError):
                loaded = json.loads(self._result)
                if isinstance(loaded, dict):
                    data = loaded
        for i, name in enumerate(("stdout", "stderr")):
            text = data.get(name)
            if isinstance(text, str):
                self._output(bool(i), text.encode("utf-8", "surrogatepass"))
        truncated = set(self._truncated) | {
            t for t in data.get("truncated", ()) if t in ("stdout", "stderr")
        }
        limit: Limit | None = self._limit
        if self.guest.open_files_refused > self._refused:
            limit = limit or "open_files"
        if truncated:
            limit = limit or "output"
        error = _exception(data.get("error"))
        exit_code = data.get("exit") if isinstance(data.get("exit"), int) else None
        if failure is not None:
            limit, error, exit_code = _failure(failure, limit, error, exit_code)
        elif (
            error is not None and error.type == "MemoryError" and self.policy.max_memory is not None
        ):
            limit = limit or "memory"
        return Result(
            stdout=self._out[0].decode("utf-8", "replace"),
            stderr=self._out[1].decode("utf-8", "replace"),
            value=data.get("value"),
            display=data.get("repr") if isinstance(data.get("repr"), str) else None,
            error=error,
            limit=limit,
            exit_code=exit_code,
            truncated=tuple(sorted(truncated)),
            duration=duration,
            value_error=data.get("value_error")
            if isinstance(data.get("value_error"), str)
            else None,
        )

    def close(self) -> None:
        """Release the instance and the private files. Idempotent."""
        self.dead = True
        self.guest.close()
        self._drop_scratch()

    def _drop_scratch(self) -> None:
        if self.scratch is not None:
            shutil.rmtree(self.scratch, ignore_errors=True)
            self.scratch = None


def _exception(raw: Any) -> GuestException | None:
    if not isinstance(raw, dict):
        return None

    def text(key: str, default: str = "") -> str:
        value = raw.get(key, default)
        return value if isinstance(value, str) else default

    return GuestException(
        type=text("type", "Exception"),
        module=text("module", "builtins"),
        message=text("message"),
        traceback=text("traceback"),
    )


def _failure(
    exc: BaseException,
    limit: Limit | None,
    error: GuestException | None,
    exit_code: int | None,
) -> tuple[Limit | None, GuestException | None, int | None]:
    """What an error out of the instance means for the result."""
    if isinstance(exc, Timeout):
        return limit or "timeout", error, exit_code
    if isinstance(exc, OutOfFuel):
        return limit or "fuel", error, exit_code
    if isinstance(exc, MemoryLimitExceeded):
        return limit or "memory", error, exit_code
    if isinstance(exc, GuestExit):
        return limit, error, exc.code
    name = type(exc).__name__
    return limit, GuestException(name, module="omniwasm", message=str(exc)), exit_code
