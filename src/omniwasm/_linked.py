"""Core modules linked beside companion modules in one store, and the calls into a store.

The façade for habitats that work closer to the engine than ``Runtime.instantiate`` (the plugin
habitat: a guest module beside the Extism kernel). :class:`LinkedModule` prepares a guest once
(its imports resolved to its companions' exports, to native WASI p1 and to raw-speed Python
host calls), and each :meth:`~LinkedModule.instantiate` gives one store holding the companions
and the guest as :class:`LinkedInstance` objects. Their memories are the engine's
:class:`LinearMemory` (bounds-checked, grow-safe reads and writes by offset). :class:`StoreCalls`
brackets calls into a store for any instance: the policy's timeout counts per call, and
``cancel()`` stops the running one from another thread. Nothing here is public API.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from . import _engine as eng
from ._compiled import Compiled
from ._errors import OmniwasmError
from ._policy import Policy
from ._runtime import Instance, Runtime

__all__ = [
    "FuncSig",
    "HostCall",
    "LinearMemory",
    "LinkedInstance",
    "LinkedModule",
    "StoreCalls",
    "func_exports",
    "map_compiled",
    "poisoned",
    "prepared",
    "serialized",
    "store_calls",
]

LinearMemory = eng.LinearMemory
HostCall = Callable[..., Any]
"""A raw host call for a core import: ``fn(store_id, *args) -> result or tuple``, where
``store_id`` identifies the calling store (:attr:`LinkedInstance.store_id`) and the arguments
and results are the import's wasm numbers."""
FuncSig = tuple[tuple[str, ...], tuple[str, ...]]
"""A core function's parameter and result types, as WebAssembly text writes them."""
T = TypeVar("T")


class StoreCalls:
    """Calls into one store: each has its own timeout, and another thread may cancel it.

    ``begin`` and ``end`` bracket a call (pair them in ``try``/``finally``); the policy's
    ``timeout`` counts from ``begin``. ``deadline`` is the running call's deadline, which host
    code waits through.
    """

    __slots__ = ("_box", "begin", "deadline", "end")

    def __init__(self, box: eng.StoreBox) -> None:
        self._box = box
        self.begin: Callable[[], None] = box.begin_call
        self.end: Callable[[], None] = box.end_call
        self.deadline = box.deadline

    def make_cancellable(self) -> None:
        """Let :meth:`cancel` reach this store's calls (the store then checks every tick)."""
        self._box.make_cancellable()

    def cancel(self) -> bool:
        """Stop the running call (from any thread); False when none is running."""
        return bool(self._box.cancel())


def store_calls(instance: Instance) -> StoreCalls:
    """The calls into ``instance``'s store."""
    return StoreCalls(instance._inner.box)


def poisoned(instance: Instance) -> bool:
    """True when a trap (or a limit) left a component instance unusable."""
    return bool(getattr(instance._inner, "poisoned", None))


class LinkedInstance:
    """One core instance in a store it shares with its companions.

    Args:
        inner: the engine's instance.

    """

    __slots__ = ("_inner", "calls", "store_id")

    def __init__(self, inner: eng.CoreInstance) -> None:
        self._inner = inner
        self.calls = StoreCalls(inner.box)
        self.store_id: int = inner.box.ctx
        """What a :data:`HostCall` gets as its first argument when this store calls it."""

    def func(self, name: str) -> Callable[..., Any]:
        """Exported function ``name``, called at FFI speed.

        Raises:
            OmniwasmError: no such function, or the instance is closed.

        """
        return self._inner.func(name)

    def memory(self, name: str = "memory") -> LinearMemory:
        """Exported linear memory ``name``.

        Raises:
            OmniwasmError: no such memory, or the instance is closed.

        """
        return self._inner.memory(name)

    def global_value(self, name: str) -> int | float:
        """The value of exported numeric global ``name`` (i32, i64, f32 or f64).

        Raises:
            OmniwasmError: no such numeric global, or the instance is closed.

        """
        inner = self._inner
        if inner.closed:
            raise OmniwasmError(f"global {name!r}: the instance is closed")
        value = eng.global_value(inner, name)
        if value is None:
            raise OmniwasmError(f"no exported numeric global {name!r}")
        return value

    def refuel(self, fuel: int) -> None:
        """Set the fuel left in this instance's store (one budget per call of a session).

        Raises:
            OmniwasmError: the engine does not meter fuel, or the instance is closed.

        """
        eng.set_fuel(self._inner.box, fuel)

    def fuel_left(self) -> int | None:
        """Fuel left in this instance's store (None without fuel metering)."""
        return self._inner.box.fuel_left()

    def captured(self, stream: str) -> bytes:
        """What the guest wrote so far to ``"stdout"`` or ``"stderr"`` (when captured)."""
        return self._inner.box.captured(stream)

    def truncated(self) -> tuple[str, ...]:
        """The captured streams cut at ``Policy.max_output`` bytes so far."""
        return self._inner.box.truncated()

    def limit_open_files(self, limit: int | None) -> None:
        """Refuse (EMFILE) a file open past ``limit`` files open in this store at once.

        Holds when the module was linked with ``count_files=True``.
        """
        self._inner.box.max_open_files = limit

    @property
    def open_files_refused(self) -> int:
        """How many file opens this store refused at the open-files limit so far."""
        return int(self._inner.box.open_files_refused)

    @property
    def closed(self) -> bool:
        """True after ``close()`` (of this instance or of its store)."""
        return self._inner.closed

    def close(self) -> None:
        """Release the store (every instance in it). Idempotent."""
        self._inner.close()


class LinkedModule:
    """A guest module prepared once to run beside companion modules in one store.

    Args:
        compiled: the guest module.
        host: raw host calls ``{module: {name: fn(store_id, *args)}}``; only those the guest
            imports are linked, typed from its import declarations.
        companions: ``(module name, compiled)`` pairs instantiated in every new store first;
            the guest's imports from ``module name`` resolve to that instance's exports.
        wasi: link WASI p1 natively (configured by each instance's policy).
        count_files: with ``wasi``, count the files each store opens, so that
            :meth:`LinkedInstance.limit_open_files` can limit them.
        deterministic: with ``wasi``, every store gets virtual clocks (moving only when the
            guest sleeps; sleeps end at once), and random bytes seeded by the policy's seed.

    Raises:
        LinkError: the guest imports something none of these provide (all listed at once).

    """

    def __init__(
        self,
        compiled: Compiled,
        *,
        host: Mapping[str, Mapping[str, HostCall]] | None = None,
        companions: Sequence[tuple[str, Compiled]] = (),
        wasi: bool = False,
        count_files: bool = False,
        deterministic: bool = False,
    ) -> None:
        self._template = eng.CoreTemplate(
            compiled._artifact,
            host=host,
            companions=[(name, c._artifact) for name, c in companions],
            wasi=wasi,
            count_files=count_files,
            deterministic=deterministic,
        )
        self.import_names: list[tuple[str, str]] = self._template.import_names
        """The guest's imports, ``(module, name)`` in declaration order."""

    def instantiate(
        self, policy: Policy, *, argv0: str = "main"
    ) -> tuple[LinkedInstance, list[LinkedInstance]]:
        """A fresh store holding the companions and the guest: ``(guest, companions)``.

        Raises:
            MemoryLimitExceeded: an initial memory is larger than the policy allows.
            ExecutionError: a start function failed.

        """
        guest, companions = self._template.instantiate(policy, argv0=argv0)
        return LinkedInstance(guest), [LinkedInstance(c) for c in companions]


def func_exports(compiled: Compiled) -> dict[str, FuncSig]:
    """``{name: (param types, result types)}`` of a core module's exported functions."""
    return eng.func_exports(compiled._artifact)


def serialized(compiled: Compiled) -> bytes:
    """A core module's machine code as wasmtime serializes it (for :func:`map_compiled`)."""
    return bytes(compiled._artifact.module.serialize())


def map_compiled(runtime: Runtime, path: str) -> Compiled:
    """A core module's code mapped (not copied) from ``path``, written from :func:`serialized`.

    Processes mapping the same file share its pages. The file must come from this process
    family (verify it first): machine code is trusted as it is.

    Raises:
        InvalidModule: the file is not code of ``runtime``'s engine.

    """
    return Compiled(eng.map_module(runtime._native, path))


def prepared(compiled: Compiled, key: Any, make: Callable[[], T]) -> T:
    """What ``make()`` derives from ``compiled``, made once per ``key`` and kept with the code.

    Raises:
        Exception: whatever ``make`` raises (nothing is kept then).

    """
    artifact = compiled._artifact
    with artifact.lock:
        found = artifact.prepared.get(key)
    if found is None:
        found = make()
        with artifact.lock:
            found = artifact.prepared.setdefault(key, found)
    return found  # type: ignore[no-any-return]
