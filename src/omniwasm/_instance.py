"""What ``Runtime.instantiate`` and ``Runtime.run`` give back: an ``Instance`` and a ``RunResult``.

An ``Instance`` is one module or component in its own store, with its exports by name and by
attribute; a ``RunResult`` is how a WASI command ended. :mod:`._runtime` makes both.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal

from . import _engine as eng
from ._errors import GuestExit, OmniwasmError
from ._policy import Policy

if TYPE_CHECKING:
    from ._component import ComponentExports

__all__ = ["Instance", "RunResult"]


class Instance:
    """A live instance of a module or component in its own sandboxed store.

    Use it from one thread at a time (calls from several threads are serialised by a lock).
    It is a context manager; ``close()`` releases the store and is idempotent, and any use
    after it raises ``OmniwasmError`` rather than touching freed memory.
    """

    def __init__(self, inner: eng.CoreInstance | eng.ComponentInstance, policy: Policy) -> None:
        self._inner = inner
        self.policy = policy
        self._export_view: _Exports | ComponentExports | None = None
        # Strong references live here (Instance -> func -> inner store), never in the inner
        # instance, so dropping an unclosed Instance frees its store without the cycle collector.
        self._funcs: dict[str, Callable[..., Any]] = {}

    @property
    def kind(self) -> Literal["module", "component"]:
        """``"module"`` or ``"component"``."""
        return "module" if isinstance(self._inner, eng.CoreInstance) else "component"

    @property
    def component_backend(self) -> str | None:
        """Which runtime runs this component: ``"omniwasm"`` or ``"stock"`` (None: a module)."""
        if isinstance(self._inner, eng.CoreInstance):
            return None
        return getattr(self._inner, "backend", "stock")

    @property
    def component_fallback(self) -> str:
        """Why ``components="auto"`` chose the stock backend ("" when it did not)."""
        return str(getattr(self._inner, "backend_reason", ""))

    @property
    def exports(self) -> Any:
        """The exports: ``inst.exports["add"](1, 2)`` or ``inst.exports.add``.

        For a core module, a mapping of exported functions. For a component, a
        :class:`ComponentExports` tree: interfaces by full name (``exports["my:app/api"]``) or
        short snake_case name (``exports.api``), each holding functions and resource classes.
        """
        if self._export_view is None:
            inner = self._inner
            if not isinstance(inner, eng.CoreInstance):
                from ._component import ComponentExports

                self._export_view = ComponentExports(inner)
            else:
                self._export_view = _Exports(inner, self._funcs)
        return self._export_view

    def func(self, name: str) -> Callable[..., Any]:
        """Return exported function ``name`` as a Python callable.

        For core modules this is the fast path: resolve once, then call many times at FFI
        speed. Component functions accept interface-qualified names (``iface#func``).

        Raises:
            OmniwasmError: no such function, or the instance is closed.

        """
        return _resolve(self._inner, self._funcs, name)

    def call(self, name: str, *args: Any) -> Any:
        """Call exported function ``name`` with ``args``; see ``func``."""
        return self.func(name)(*args)

    @property
    def stdout(self) -> bytes:
        """What the guest wrote to stdout so far (when the policy captures it)."""
        return self._inner.box.captured("stdout")

    @property
    def stderr(self) -> bytes:
        """What the guest wrote to stderr so far (when the policy captures it)."""
        return self._inner.box.captured("stderr")

    @property
    def truncated(self) -> tuple[str, ...]:
        """The captured streams cut at ``Policy.max_output`` bytes so far, e.g. ``("stdout",)``."""
        return self._inner.box.truncated()

    @property
    def fuel_left(self) -> int | None:
        """Fuel remaining in this instance's store (None without fuel metering)."""
        return self._inner.box.fuel_left()

    def refuel(self, fuel: int | None = None) -> None:
        """Set the fuel left in this instance's store to ``fuel`` (the policy's when None).

        Habitats that reuse one instance for many calls (SQL functions: a row or a batch per
        call) give each call the policy's budget this way.

        Raises:
            OmniwasmError: the runtime does not meter fuel, no amount is known (None here and
                in the policy), or the instance is closed.

        """
        amount = fuel if fuel is not None else self.policy.fuel
        if amount is None:
            raise OmniwasmError("refuel: no amount given and the policy sets no fuel")
        eng.set_fuel(self._inner.box, amount)

    @property
    def closed(self) -> bool:
        """True after ``close()``."""
        return self._inner.closed

    def close(self) -> None:
        """Release the store. Idempotent."""
        self._inner.close()

    def __enter__(self) -> Instance:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"<Instance {self.kind} of {self._inner.artifact.source} ({state})>"


def _resolve(
    inner: eng.CoreInstance | eng.ComponentInstance,
    funcs: dict[str, Callable[..., Any]],
    name: str,
) -> Callable[..., Any]:
    """Look up (and cache in ``funcs``) the callable for export ``name``."""
    fn = funcs.get(name)
    if fn is not None and not inner.closed:
        return fn
    if isinstance(inner, eng.CoreInstance):
        fn = funcs[name] = inner.func(name)
        return fn
    from ._component import ComponentFunction

    func = inner.find_func(name)
    fn = funcs[name] = ComponentFunction(func, func.sig, blocking=True)
    return fn


class _Exports(Mapping[str, Callable[..., Any]]):
    """The exported functions of an instance, by name and by attribute.

    It holds the inner instance and the function cache, not the ``Instance``, so there is no
    reference cycle and an unclosed instance is freed as soon as it is dropped.
    """

    def __init__(
        self,
        inner: eng.CoreInstance | eng.ComponentInstance,
        funcs: dict[str, Callable[..., Any]],
    ) -> None:
        self._inner = inner
        self._funcs = funcs

    def _names(self) -> list[str]:
        inner = self._inner
        assert isinstance(inner, eng.CoreInstance)
        return [n for n, t in inner.export_names() if t.startswith("func")]

    def __getitem__(self, name: str) -> Callable[..., Any]:
        if self._inner.closed:
            raise OmniwasmError(f"{name}: the instance is closed")
        try:
            return _resolve(self._inner, self._funcs, name)
        except OmniwasmError as exc:
            raise KeyError(name) from exc

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if name.startswith("__"):
            raise AttributeError(name)
        if self._inner.closed:
            raise OmniwasmError(f"{name}: the instance is closed")
        for candidate in (name, name.replace("_", "-")):
            try:
                fn = _resolve(self._inner, self._funcs, candidate)
            except OmniwasmError:
                continue
            # Later lookups of this name hit the instance dict and skip __getattr__.
            self.__dict__[name] = fn
            return fn
        raise AttributeError(name)

    def __iter__(self) -> Iterator[str]:
        return iter(self._names())

    def __len__(self) -> int:
        return len(self._names())


@dataclass(frozen=True, slots=True)
class RunResult:
    """How a WASI command ended.

    Args:
        exit_code: 0 for success; the guest's exit status otherwise.
        stdout: captured stdout (empty unless the policy captures it).
        stderr: captured stderr (empty unless the policy captures it).
        truncated: the captured streams cut at ``Policy.max_output`` bytes (the guest's
            writes past it failed), e.g. ``("stdout",)``.

    """

    exit_code: int
    stdout: bytes
    stderr: bytes
    truncated: tuple[str, ...] = ()

    def check(self) -> RunResult:
        """Return self if the exit code is 0.

        Raises:
            GuestExit: the guest exited with a non-zero code.

        """
        if self.exit_code != 0:
            raise GuestExit(self.exit_code)
        return self
