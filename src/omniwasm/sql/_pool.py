"""Instances per registration and thread, and the errors a failed call turns into.

Every ``register()`` call has its own ``Pool``: each database thread that calls one of its
functions gets its own instance, made on first use and reused for every later row and batch,
so guest state never crosses connections (each connection registers its own pool) and no
store is ever entered by two threads at once. A call that fails (trap, limit, ``err``)
discards the thread's instance: the next call starts from a fresh one, which is what keeps
the connection usable after a hostile row.
"""

from __future__ import annotations

import copy
import itertools
import threading
from collections.abc import Callable
from typing import Any

from .._compiled import Compiled
from .._coreabi import short_repr
from .._errors import ExecutionError, GuestError, OmniwasmError
from .._policy import Policy
from .._runtime import Instance, Runtime

__all__ = ["Pool", "Slot", "contextualise"]

_ORDER = itertools.count()  # orders errors across registrations (last_error)


class Slot:
    """One function's per-thread bound callables (what it needs from each thread's instance).

    Keyed by OS thread id, not ``threading.local``: DuckDB calls Python from its own worker
    threads, and each call gets a fresh Python thread state, which empties a
    ``threading.local`` every time.
    """

    __slots__ = ("make", "values")

    def __init__(self, make: Callable[[Instance], Any]) -> None:
        self.make = make
        self.values: dict[int, Any] = {}


class Pool:
    """The instances of one registration, one per thread.

    Args:
        runtime: the runtime that compiled ``compiled``.
        compiled: the module or component.
        policy: the sandbox of every instance.

    """

    def __init__(self, runtime: Runtime, compiled: Compiled, policy: Policy) -> None:
        self.runtime = runtime
        self.compiled = compiled
        self.policy = policy
        self._slots: list[Slot] = []
        self._instances: dict[int, Instance] = {}
        self._lock = threading.Lock()
        self.closed = False
        self.last_error: OmniwasmError | None = None
        self.error_order = -1

    def slot(self, make: Callable[[Instance], Any]) -> Slot:
        """A per-thread cache of ``make(instance)`` (cleared when the instance is discarded)."""
        slot = Slot(make)
        self._slots.append(slot)
        return slot

    def bound(self, slot: Slot) -> Any:
        """``slot``'s callable for this thread, made from this thread's instance if needed."""
        ident = threading.get_ident()
        value = slot.values.get(ident)
        if value is None:
            value = slot.values[ident] = slot.make(self.instance())
        return value

    def instance(self) -> Instance:
        """The calling thread's instance, created on first use.

        Raises:
            OmniwasmError: the registration is closed, or instantiation failed.

        """
        ident = threading.get_ident()
        inst = self._instances.get(ident)
        if inst is not None and not inst.closed:
            return inst
        if self.closed:
            raise OmniwasmError("the SQL functions of this registration were closed")
        inst = self.runtime.instantiate(self.compiled, self.policy)
        with self._lock:
            self._instances[ident] = inst
        return inst

    def discard(self) -> None:
        """Close this thread's instance and forget what was bound to it."""
        ident = threading.get_ident()
        for slot in self._slots:
            slot.values.pop(ident, None)
        with self._lock:
            inst = self._instances.pop(ident, None)
        if inst is not None:
            inst.close()

    def close(self) -> None:
        """Close every instance; later calls fail with a clear error. Idempotent.

        Call it when no statement that uses these functions is running.
        """
        self.closed = True
        with self._lock:
            instances, self._instances = list(self._instances.values()), {}
        for slot in self._slots:
            slot.values.clear()
        for inst in instances:
            inst.close()

    def fail(self, exc: OmniwasmError, function: str, where: str) -> OmniwasmError:
        """Record and return the error for a failed call; discard the thread's instance."""
        if isinstance(exc, ExecutionError) or exc.message.endswith("the instance is closed"):
            self.discard()
        err = contextualise(exc, function, where)
        self.last_error = err
        self.error_order = next(_ORDER)
        return err


def contextualise(exc: OmniwasmError, function: str, where: str) -> OmniwasmError:
    """The same error (same class and fields) with a message naming the SQL call first.

    E.g. ``Trap("wasm trap: integer divide by zero")`` becomes
    ``Trap("omniwasm.sql: div(a=1, b=0): wasm trap: integer divide by zero")``.
    """
    err = copy.copy(exc)
    err.message = f"omniwasm.sql: {function}({where}): {exc.message}"
    err.args = (err.message,)
    err.__cause__ = exc
    err.__traceback__ = None
    return err


def describe_args(names: list[str], args: tuple[Any, ...]) -> str:
    """``a=1, b='x'`` for an error message."""
    return ", ".join(f"{n}={short_repr(a)}" for n, a in zip(names, args, strict=False))


def guest_err(value: Any, function: str) -> GuestError:
    """The error for a guest's ``err(value)``."""
    text = value if isinstance(value, str) else repr(value)
    err = GuestError(1, f"err: {text}")
    err.function = function
    return err
