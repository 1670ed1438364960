"""The one exception hierarchy of omniwasm.

```
OmniwasmError
├── InvalidModule          .reason
├── LinkError              .missing (every missing/mismatched import, by name and type)
├── PolicyError
├── ValueConversionError   .function .param .expected   (also a TypeError)
├── CompositionError       (plugging components together failed; .detail is the composer's word)
├── SnapshotError          (a module's init left state a snapshot cannot capture)
├── RegistryError          .reference
│   ├── InvalidReference
│   ├── ArtifactNotFound
│   ├── AuthenticationFailed
│   ├── DigestMismatch     .expected .actual
│   └── LockMismatch       .locked .current
└── ExecutionError         .frames (wasm backtrace)
    ├── Trap               .code
    ├── GuestExit          .code
    ├── Cancelled          (another thread called cancel())
    ├── GuestError         .code .error .function (a plugin returned a non-zero status)
    ├── HostFunctionError  (__cause__ is the Python exception)
    └── LimitExceeded      .limit .used
        ├── Timeout   ├── OutOfFuel   └── MemoryLimitExceeded
```

Every error has a one-line ``str()``, a ``repr()`` that shows its fields
(``Timeout('guest ran past 2.0s', limit=2.0, used=None)``) and survives ``pickle`` (the
cluster habitat ships errors between processes). Core errors know nothing of exit codes or HTTP
statuses: each habitat keeps one table from class to code and looks an error up with
:func:`most_specific` (the CLI's exit codes, the gateway's statuses).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

__all__ = [
    "ArtifactNotFound",
    "AuthenticationFailed",
    "Cancelled",
    "CompositionError",
    "DigestMismatch",
    "ExecutionError",
    "Frame",
    "GuestError",
    "GuestExit",
    "HostFunctionError",
    "InvalidModule",
    "InvalidReference",
    "LimitExceeded",
    "LinkError",
    "LockMismatch",
    "MemoryLimitExceeded",
    "MissingImport",
    "OmniwasmError",
    "OutOfFuel",
    "PolicyError",
    "RegistryError",
    "SnapshotError",
    "Timeout",
    "Trap",
    "ValueConversionError",
    "most_specific",
]

T = TypeVar("T")


def most_specific(table: Mapping[type[BaseException], T], exc: BaseException, default: T) -> T:
    """The entry of ``table`` for the most specific class of ``exc`` (its method resolution order).

    A subclass without an entry of its own gets its nearest ancestor's, so a new error class
    inherits its parent's exit code or HTTP status until it is given one.

    Args:
        table: codes by exception class.
        exc: the exception to look up.
        default: what to return when no class of ``exc`` is in the table.

    """
    for cls in type(exc).__mro__:
        if cls in table:
            return table[cls]
    return default


@dataclass(frozen=True, slots=True)
class Frame:
    """One frame of a WebAssembly backtrace.

    Args:
        func_index: index of the function in its module.
        func_name: the function's name from the name section, if present.
        module_name: the module's name from the name section, if present.
        module_offset: byte offset of the instruction in the module.

    """

    func_index: int
    func_name: str | None
    module_name: str | None
    module_offset: int

    def __str__(self) -> str:
        name = self.func_name or f"<func {self.func_index}>"
        module = f"{self.module_name}!" if self.module_name else ""
        return f"{module}{name} @ 0x{self.module_offset:x}"


@dataclass(frozen=True, slots=True)
class MissingImport:
    """An import a module or component needs and the linker could not satisfy.

    Args:
        module: the import's module (core) or interface/instance name (component).
        name: the field name ("" for a whole component instance import).
        type: a readable rendering of the expected type, e.g. ``func(i32) -> i32``.

    """

    module: str
    name: str
    type: str

    def __str__(self) -> str:
        where = f"{self.module}::{self.name}" if self.name else self.module
        return f"{where}: {self.type}"


class OmniwasmError(Exception):
    """Base class of every error omniwasm raises.

    Subclasses store their structured fields as attributes and pass the same values to
    ``__init__`` so that ``pickle`` can rebuild them.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message.splitlines()[0] if self.message else type(self).__name__

    def __repr__(self) -> str:
        # The message, every structured field (``limit=2.0``), the backtrace's depth, the cause.
        parts = [repr(self.message)]
        frames: tuple[Any, ...] = ()
        for key, value in self.__dict__.items():
            if key == "frames":  # a backtrace can be thousands of frames deep
                frames = value
            elif key != "message" and not key.startswith("_"):
                parts.append(f"{key}={value!r}")
        if frames:
            parts.append(f"frames=<{len(frames)} frame{'' if len(frames) == 1 else 's'}>")
        if self.__cause__ is not None:
            parts.append(f"cause={self.__cause__!r}")
        return f"{type(self).__name__}({', '.join(parts)})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.__dict__.copy()))


def _rebuild(cls: type[OmniwasmError], state: dict[str, Any]) -> OmniwasmError:
    """Recreate an error from its attribute dictionary (pickle support)."""
    obj = cls.__new__(cls)
    Exception.__init__(obj, state.get("message", ""))
    obj.__dict__.update(state)
    return obj


class InvalidModule(OmniwasmError):
    """The bytes are not a valid WebAssembly module or component, or not the kind expected.

    Args:
        reason: the validator's (or loader's) message.
        source: where the bytes came from (a path or ``"<bytes>"``).

    """

    def __init__(self, reason: str, *, source: str = "<bytes>") -> None:
        super().__init__(f"invalid WebAssembly in {source}: {reason}")
        self.reason = reason
        self.source = source


class LinkError(OmniwasmError):
    """Instantiation failed because imports are missing or have the wrong type.

    Args:
        missing: every import that could not be satisfied, all reported at once.
        detail: the engine's own message, when it adds something.

    """

    def __init__(self, missing: tuple[MissingImport, ...], detail: str = "") -> None:
        if missing:
            names = ", ".join(str(m) for m in missing)
            text = f"{len(missing)} unsatisfied import(s): {names}"
        else:
            # the engine's summary line first; the lines under it are details
            text = f"link failed: {detail.strip()}"
        super().__init__(text)
        self.missing = tuple(missing)
        self.detail = detail


class PolicyError(OmniwasmError):
    """A policy is malformed, or a guest asked for something the policy does not allow."""


class ValueConversionError(OmniwasmError, TypeError):
    """A Python value does not fit the WebAssembly type a function expects.

    Args:
        function: the function's name.
        param: the parameter's name or index.
        expected: the expected type, written as WebAssembly/WIT writes it.
        got: a short description of the value that was given.

    """

    def __init__(self, function: str, param: str, expected: str, got: str) -> None:
        super().__init__(f"{function}: parameter {param} expects {expected}, got {got}")
        self.function = function
        self.param = param
        self.expected = expected
        self.got = got


class ExecutionError(OmniwasmError):
    """Guest code was running and stopped abnormally.

    Args:
        message: what happened.
        frames: the WebAssembly backtrace, innermost first.

    """

    def __init__(self, message: str, *, frames: tuple[Frame, ...] = ()) -> None:
        super().__init__(message)
        self.frames = tuple(frames)

    def backtrace(self) -> str:
        """Render the wasm backtrace, one frame a line, innermost first."""
        return "\n".join(f"  {i}: {f}" for i, f in enumerate(self.frames))


class Trap(ExecutionError):
    """The guest trapped (``unreachable``, out-of-bounds access, division by zero, ...).

    Args:
        message: the engine's trap message.
        code: the trap code's name, e.g. ``"unreachable"``, or None if unknown.
        frames: the WebAssembly backtrace.

    """

    def __init__(
        self, message: str, *, code: str | None = None, frames: tuple[Frame, ...] = ()
    ) -> None:
        super().__init__(message, frames=frames)
        self.code = code


class GuestExit(ExecutionError):
    """The guest called ``exit`` (WASI ``proc_exit`` / ``wasi:cli/exit``) with a non-zero code.

    Args:
        code: the exit status the guest asked for.

    """

    def __init__(self, code: int, *, frames: tuple[Frame, ...] = ()) -> None:
        super().__init__(f"guest exited with code {code}", frames=frames)
        self.code = code


class Cancelled(ExecutionError):
    """The host cancelled the running call (``Plugin.cancel()`` from another thread)."""


class GuestError(ExecutionError):
    """A plugin function reported failure: a non-zero status, with the message it set.

    Args:
        code: the status the function returned.
        error: the error text the plugin set (Extism ``error_set``), or "" if none.
        function: the function's name.

    """

    def __init__(
        self, code: int, error: str = "", *, function: str = "", frames: tuple[Frame, ...] = ()
    ) -> None:
        where = f"{function}: " if function else ""
        super().__init__(f"{where}{error or f'returned status {code}'}", frames=frames)
        self.code = code
        self.error = error
        self.function = function


class HostFunctionError(ExecutionError):
    """A host function written in Python raised; ``__cause__`` is that exception."""


class LimitExceeded(ExecutionError):
    """A policy limit stopped the guest.

    Args:
        message: what happened.
        limit: the configured limit, in the limit's unit.
        used: how much was in use when the guest stopped, if known.

    """

    def __init__(
        self,
        message: str,
        *,
        limit: float | None = None,
        used: float | None = None,
        frames: tuple[Frame, ...] = (),
    ) -> None:
        super().__init__(message, frames=frames)
        self.limit = limit
        self.used = used


class Timeout(LimitExceeded):
    """The guest ran past the policy's wall-clock ``timeout`` (seconds)."""


class OutOfFuel(LimitExceeded):
    """The guest consumed all the ``fuel`` the policy gave it."""


class MemoryLimitExceeded(LimitExceeded):
    """The guest needed more linear memory than the policy's ``max_memory`` (bytes)."""


class CompositionError(OmniwasmError):
    """Components could not be plugged together (a type mismatch, an unknown name, a cycle).

    Args:
        message: what failed.
        detail: the composer's own message (``wasm-tools compose``), when it adds something.

    """

    def __init__(self, message: str, *, detail: str = "") -> None:
        super().__init__(message)
        self.detail = detail


class SnapshotError(OmniwasmError):
    """A snapshot was refused: the module, or what its init left behind, cannot be captured.

    The message names the cause: an import whose state lives in the host, a file the init
    left open, a table it grew, a shared or 64-bit memory.
    """


class RegistryError(OmniwasmError):
    """A registry operation failed: the network, the registry's answer, or the local store.

    Args:
        message: what happened.
        reference: the reference being resolved, pulled or pushed (named in ``str()``).

    """

    def __init__(self, message: str, reference: str = "") -> None:
        super().__init__(f"{reference}: {message}" if reference else message)
        self.reference = reference


class InvalidReference(RegistryError):
    """The text is not a reference: neither ``host/repo:tag``/``@sha256:`` nor ``ns:name@ver``."""


class ArtifactNotFound(RegistryError):
    """The registry (or, offline, the local store) has no such repository, tag or version."""


class AuthenticationFailed(RegistryError):
    """The registry refused the credentials, or wants credentials that were not given."""


class DigestMismatch(RegistryError):
    """Content does not hash to the digest that names it: a corrupted or truncated blob.

    Args:
        message: what was being read.
        reference: the reference.
        expected: the digest the content should have.
        actual: the digest it has (``""`` when the content was short).

    """

    def __init__(
        self, message: str, reference: str = "", *, expected: str = "", actual: str = ""
    ) -> None:
        super().__init__(message, reference)
        self.expected = expected
        self.actual = actual


class LockMismatch(RegistryError):
    """A tag now points elsewhere than the lock file pinned (the tag moved).

    Args:
        message: what moved.
        reference: the reference.
        locked: the digest in the lock file.
        current: the digest the registry has now.

    """

    def __init__(
        self, message: str, reference: str = "", *, locked: str = "", current: str = ""
    ) -> None:
        super().__init__(message, reference)
        self.locked = locked
        self.current = current
