"""omniwasm's own component runtime: a component's core modules on wasmtime's core API.

The component binary is parsed (``_binary.component``) and its types resolved
(``_binary.component_types``) once per artifact; its core modules are compiled once and kept
with the artifact. Its definitions are compiled once into a per-instance program
(:mod:`.prepare`): core modules instantiated with wasmtime's core API from pre-resolved import
vectors, export "bags" and aliases resolved away, nested components flattened; ``canon lift``
makes a :class:`Lifted` function (the first time it is used) and ``canon lower`` a core
function whose callback does the canonical ABI (:mod:`.abi`) in Python. This module holds the
instance and its exports; the plan is built in :mod:`.plan`, the program runs in
:mod:`.runner`, lowered calls are made in :mod:`.lowered` and raw core calls in
:mod:`.rawfunc`.

Everything the component's memories hold is reachable here, so ``max_memory`` is classified
from the real memory sizes, and ``list<u8>`` crosses as one slice of memory.

Not yet supported (:class:`Unsupported` names it; ``components="auto"`` then uses the stock
backend): component start functions and values, async resource destructors, core functions
with reference or vector types at the boundary, and native WASI (the façade brings the Python
WASI host instead).
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import threading
from dataclasses import dataclass
from typing import Any, NoReturn

import wasmtime

from ...._binary.component_types import (
    Func,
)
from ...._errors import (
    Cancelled,
    ExecutionError,
    GuestExit,
    HostFunctionError,
    LimitExceeded,
    OmniwasmError,
    Trap,
)
from ...._wit import types as t
from ...artifact import Artifact
from ...memory import LinearMemory
from ...store import StoreBox
from ...translate import translate
from ..stock.imports import HostDefs, StoreState, current_thread
from ..stock.instance import ComponentInstance as _Stock
from .abi import AbiTrap, Cx
from .async_canon import (
    AsyncLifted,
    acall,
    call_async,
)
from .async_run import drain
from .call import OwnExport
from .plan import Plan, Unsupported, imports_wasi, own_plan, unsupported_reason
from .rawfunc import RawFunc
from .resources import (
    HandleTable,
    HostSide,
    InnerSide,
    RType,
)

__all__ = [
    "OwnInstance",
    "Unsupported",
    "imports_wasi",
    "own_plan",
    "unsupported_reason",
]

_local = current_thread()


@dataclass(eq=False)
class Options:
    """A canon definition's options, resolved to this instance's core items."""

    memory: wasmtime.Memory | None
    realloc: RawFunc | None
    post_return: RawFunc | None
    encoding: str
    table: HandleTable
    view: Any = None
    """The memory's ``view`` function, resolved by the first call (``OwnInstance.cx``)."""


@dataclass(eq=False)
class Lifted:
    """A core function lifted to a component function."""

    core: RawFunc
    func: Func
    options: Options


@dataclass(eq=False)
class Host:
    """A component function provided by Python."""

    fn: Any
    sig: t.FuncSig
    label: str


class _Views:
    """Memory views for an instance's memories (re-taken after guest code runs)."""

    def __init__(self, inst: OwnInstance) -> None:
        self.inst = inst
        self.mems: dict[bytes, LinearMemory] = {}

    def add(self, memory: wasmtime.Memory) -> LinearMemory:
        """Track a memory (the policy's ``max_memory`` is judged on all of them)."""
        raw = memory._memory
        key = ctypes.string_at(ctypes.addressof(raw), ctypes.sizeof(raw))  # store id + index
        lm = self.mems.get(key)
        if lm is None:
            lm = LinearMemory(self.inst.box, ctypes.addressof(raw), "memory")
            self.mems[key] = lm
            self.inst.keep.append(memory)
        return lm

    def view_fn(self, memory: wasmtime.Memory | None) -> Any:
        if memory is None:
            return None
        return self.add(memory).view

    def total(self) -> int:
        return sum(m.size() for m in self.mems.values())


class OwnInstance:
    """A component instance on omniwasm's own runtime (one thread at a time: ``guard``).

    It offers what the façade uses of the stock backend's instance: ``export``,
    ``find_func``, ``call``, ``run_command``, ``world``, ``box``, ``close``.
    """

    find_func = _Stock.find_func
    call = _Stock.call
    run_command = _Stock.run_command
    drain_host = drain  # component-model async: wait for the host futures calls started

    def __init__(
        self, box: StoreBox, artifact: Artifact, plan: Plan, defs: HostDefs, data: Any
    ) -> None:
        self.box = box
        self.artifact = artifact
        self.plan = plan
        self.defs = defs
        self.guard = threading.RLock()
        self.poisoned: str | None = None
        self.state = StoreState(box.ctx, self, data, deadline=box.deadline)
        self.views = _Views(self)
        self.keep: list[Any] = []
        self.exported: dict[str, tuple[str, Any]] = {}
        """The component's exports as the compiled program's symbols (:mod:`.prepare`)."""
        self.live: Any = None
        """This instance's slots (:class:`.runner.Live`): symbols resolve through it."""
        self._funcs: dict[tuple[str, str], OwnExport] = {}
        linked = plan.linked
        if linked is None:
            linked = plan.linked = _Linked()
        self.linked = linked
        self.backend = "omniwasm"
        self.rtypes: dict[int, RType] = {}
        """Resource types by static id."""
        self.side = HostSide(self, {}, self.state, defs.classes, self._handle_class)
        self.inner = InnerSide(self.rtypes)
        self.closers: list[Any] = []
        self.tables: list[HandleTable] = []
        """Every component instance's handle table (host objects the guest still holds are
        dropped when the instance closes, as wasmtime drops a store's)."""
        """Called once when the instance closes (the Python WASI host's context)."""

    def _handle_class(self, ty: Any) -> Any:
        return self.linked.hooks.handle_class(ty)

    def drop_handle(self, token: int, borrowed: bool) -> None:
        """Python drops a guest resource handle: an owning one runs the destructor."""
        found = self.side.take(token)
        if found is None or borrowed or self.box.closed:
            return
        rt, rep = found
        dtor = rt.dtor
        if dtor is None:
            return
        with self.guard:
            box = self.box
            timed = box.deadline_ticks is not None
            if timed:
                box.enter()  # the guest's destructor runs under the deadline
            try:
                self.run(lambda: dtor(rep))
            finally:
                if timed:
                    box.leave()

    def _drop_host_objects(self) -> None:
        """Run the drop hooks of the host objects the guest still holds (the store is gone)."""
        tables, self.tables = self.tables, []
        for table in tables:
            for h in table.entries:
                if h is not None and h.own and h.rt.host is not None:
                    with contextlib.suppress(Exception):
                        self.host_drop(h.rt, h.rep)
        self.state.table.clear()

    def forget_handle(self, token: int) -> None:
        """Python lets go of a guest resource handle without running its destructor."""
        self.side.forget(token)

    def host_drop(self, rt: RType, rep: int) -> None:
        """The guest dropped a host resource: forget its object and run the drop hook."""
        obj = self.state.table.pop(rep, None)
        assert rt.host is not None
        hook = self.defs.drops.get(rt.host)
        if hook is None or obj is None:
            return
        outer = _local.ctx
        _local.ctx = self.box.ctx
        try:
            hook(obj)
        finally:
            _local.ctx = outer

    @property
    def world(self) -> t.WorldType:
        """The component's imports and exports as WIT types."""
        return self.plan.world

    @property
    def closed(self) -> bool:
        """True once the store has been released."""
        return self.box.closed

    def unusable(self, label: str) -> OmniwasmError:
        """The error for calling into a closed or poisoned instance."""
        return _Stock.unusable(self, label)  # type: ignore[arg-type]

    def run(self, fn: Any) -> Any:
        """Run guest code, turning every failure into an omniwasm error (and poisoning)."""
        try:
            return fn()
        except BaseException as exc:
            self.reraise(exc)

    def reraise(self, exc: BaseException) -> NoReturn:
        """Raise the omniwasm error for ``exc``, raised by guest code (call it in ``except``).

        A parked host exception wins; a trap, an ABI violation and a limit poison the instance.
        """
        err: BaseException
        if isinstance(exc, OmniwasmError | KeyboardInterrupt | SystemExit):
            pending = self.state.take_pending()
            if pending is None:
                raise exc
            err = self._from_pending(pending, exc)
            raise err from err.__cause__
        if isinstance(exc, AbiTrap):
            self.poisoned = f"Trap: {exc}"
            pending = self.state.take_pending()
            if pending is None:
                raise Trap(f"wasm trap: {exc}", code="abi") from None
            hosted = self._from_pending(pending, exc)
            raise hosted from hosted.__cause__
        if isinstance(exc, wasmtime.WasmtimeError | wasmtime.Trap):
            failed = self.failure(exc)
            raise failed from failed.__cause__
        if isinstance(exc, Exception):  # a host function's exception, re-raised by wasmtime-py
            pending = self.state.take_pending()
            if pending is None:
                raise exc
            err = self._from_pending(pending, exc)
            raise err from err.__cause__
        raise exc

    def cx(self, opts: Options, *, inner: bool = False) -> Cx:
        """The lift/lower context of a call through ``opts``.

        Handles move to the host's side of the tables, or with ``inner`` to the inner
        components' side (calls between components inside this one).
        """
        view = opts.view
        if view is None and opts.memory is not None:
            view = opts.view = self.views.view_fn(opts.memory)
        return Cx(view, opts.realloc, opts.encoding, opts.table, self.inner if inner else self.side)

    def _from_pending(self, pending: BaseException, exc: BaseException) -> BaseException:
        if isinstance(pending, AbiTrap):
            self.poisoned = f"Trap: {pending}"
            return Trap(f"wasm trap: {pending}", code="abi")
        builtin = isinstance(pending, Trap) and self.state.pending_from.startswith("canon ")
        if builtin or isinstance(pending, GuestExit | LimitExceeded | Cancelled | Unsupported):
            self.poisoned = f"{type(pending).__name__}: {pending}"
            return pending
        if isinstance(pending, KeyboardInterrupt | SystemExit):
            self.poisoned = f"{type(pending).__name__} in a host function"
            pending.__cause__ = exc
            return pending
        err = HostFunctionError(
            f"host function {self.state.pending_from} raised {type(pending).__name__}: {pending}"
        )
        err.__cause__ = pending
        self.poisoned = f"HostFunctionError: {err}"
        return err

    def failure(self, exc: BaseException) -> BaseException:
        """The error to raise for a failed call (a parked host exception wins)."""
        from wasmtime import _func as wasmtime_func

        wasmtime_func.LAST_EXCEPTION = None
        pending = self.state.take_pending()
        if pending is not None:
            return self._from_pending(pending, exc)
        err = translate(exc, policy=self.box.policy, memory=self.views.total)
        if isinstance(err, ExecutionError) and not isinstance(err, GuestExit):
            self.poisoned = f"{type(err).__name__}: {err}"
        return err

    def export(self, interface: str, name: str) -> OwnExport:
        """The export ``name`` of ``interface`` (``""`` for a world-level function).

        Raises:
            OmniwasmError: no such export.

        """
        key = (interface, name)
        found = self._funcs.get(key)
        if found is not None:
            return found
        if self.closed:
            raise OmniwasmError(f"{name}: the instance is closed")
        where = interface or "the world"
        if interface:
            _, item = self.exported.get(interface, ("", None))
            target = item.get(name) if isinstance(item, dict) else None
            sig = next(
                (
                    e.func(name)
                    for e in self.world.exports
                    if isinstance(e, t.InterfaceType) and e.name == interface
                ),
                None,
            )
            lifted = target[1] if target is not None else None
        else:
            _, lifted = self.exported.get(name, ("", None))
            sig = next(
                (e for e in self.world.exports if isinstance(e, t.FuncSig) and e.name == name),
                None,
            )
        if lifted is not None and self.live is not None:
            lifted = self.live.value(lifted)
        if not isinstance(lifted, Lifted | AsyncLifted) or sig is None:
            raise OmniwasmError(f"no exported function {name!r} in {where}")
        label = f"{interface}#{name}" if interface else name
        sync = not isinstance(lifted, AsyncLifted)
        found = self._funcs[key] = OwnExport(self, lifted, sig, label, sync=sync)
        if not sync:  # its calls run the task to task.return
            found._run = functools.partial(call_async, found)  # type: ignore[method-assign]
            found.concurrent = True
            found.acall = functools.partial(acall, found)  # type: ignore[attr-defined]
        return found

    def close(self) -> None:
        """Release the store. Idempotent."""
        if self.guard._is_owned() and not self.box.closed:  # type: ignore[attr-defined]
            raise OmniwasmError(
                "cannot close a component instance from inside one of its own calls"
            )
        with self.guard:
            self.keep.clear()
            self.box.close()
            self._drop_host_objects()
            closers, self.closers = self.closers, []
            for fn in closers:
                fn()


class _Linked:
    """Stand-in for the stock link's resource hooks (the façade sets ``handle_class``)."""

    def __init__(self) -> None:
        self.hooks = _Hooks()


class _Hooks:
    handle_class: Any = None
