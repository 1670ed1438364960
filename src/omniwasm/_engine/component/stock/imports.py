"""Host imports for components, written in Python, called through native callbacks.

Every Python host function is registered with ``wasmtime_component_linker_instance_add_func``
as the ``CFUNCTYPE`` callback of its :class:`HostEntry` (kept alive in a registry until
wasmtime finalizes the definition), which reads the arguments with the shared codec, calls the
Python function and writes the result in *owned* mode (wasmtime frees it). A Python exception
never crosses into native code: it is parked on the store's :class:`StoreState` and the guest
sees a trap; the export call that observes the trap raises ``HostFunctionError`` from it.

Host resources live in a per-store table (``rep -> Python object``). A guest that drops a host
resource makes wasmtime call the destructor registered with ``add_resource``, which removes the
object from the table and runs the resource's drop hook.
"""

from __future__ import annotations

import ctypes
import itertools
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from wasmtime import _ffi as ffi
from wasmtime import component as wc

from ...._deadline import Deadline
from ...._errors import LimitExceeded, OmniwasmError, ValueConversionError
from ...._wit import types as t
from ...._wit.values import Err, Ok
from ...artifact import Artifact
from ...core.rawfunc import immortal
from .handles import GuestHandle, any_delete, wasm_error
from .types import world_type
from .val import VAL, Bad, Call, ResourceHooks
from .val_read import reader
from .val_write import writer

__all__ = [
    "HostDefs",
    "Linked",
    "StoreState",
    "current_state",
    "current_thread",
    "link",
    "state_for",
]

_vp = ctypes.c_void_p
_CB = ctypes.CFUNCTYPE(ctypes.c_size_t, _vp, _vp, _vp, _vp, ctypes.c_size_t, _vp, ctypes.c_size_t)
_FINALIZER = ctypes.CFUNCTYPE(None, _vp)
_error_new = ctypes.CFUNCTYPE(_vp, ctypes.c_char_p)(("wasmtime_error_new", ffi.dll))
_add_func = ctypes.CFUNCTYPE(_vp, _vp, ctypes.c_char_p, ctypes.c_size_t, _CB, _vp, _FINALIZER)(
    ("wasmtime_component_linker_instance_add_func", ffi.dll)
)
_DTOR = ctypes.CFUNCTYPE(ctypes.c_size_t, _vp, _vp, ctypes.c_uint32)
_add_resource = ctypes.CFUNCTYPE(
    _vp, _vp, ctypes.c_char_p, ctypes.c_size_t, _vp, _DTOR, _vp, _FINALIZER
)(("wasmtime_component_linker_instance_add_resource", ffi.dll))
# Handle bookkeeping that runs no wasm and returns at once: called holding the GIL
# (PYFUNCTYPE), so a host call does not hand the GIL to other threads for each of them.
_any_clone = ctypes.PYFUNCTYPE(_vp, _vp)(("wasmtime_component_resource_any_clone", ffi.dll))
_any_to_host = ctypes.PYFUNCTYPE(_vp, _vp, _vp, _vp)(
    ("wasmtime_component_resource_any_to_host", ffi.dll)
)
_host_new = ctypes.PYFUNCTYPE(_vp, ctypes.c_bool, ctypes.c_uint32, ctypes.c_uint32)(
    ("wasmtime_component_resource_host_new", ffi.dll)
)
_host_rep = ctypes.PYFUNCTYPE(ctypes.c_uint32, _vp)(
    ("wasmtime_component_resource_host_rep", ffi.dll)
)
_host_delete = ctypes.PYFUNCTYPE(None, _vp)(("wasmtime_component_resource_host_delete", ffi.dll))
_host_to_any = ctypes.PYFUNCTYPE(_vp, _vp, _vp, _vp)(
    ("wasmtime_component_resource_host_to_any", ffi.dll)
)

_ENTRIES: dict[int, HostEntry] = {}
_DTORS: dict[int, tuple[Callable[[Any], None] | None, str]] = {}
_ids = itertools.count(1)
_type_ids = itertools.count(0x4F4D0001)  # host resource type ids, unique per process
_STORES: weakref.WeakValueDictionary[int, StoreState] = weakref.WeakValueDictionary()
MAX_HOST_RESOURCES = 100_000
"""Host objects one store may hand its guest at once (a bound on a guest leaking handles)."""


class StoreState:
    """What the host side keeps per store: its host-resource table and a parked exception."""

    def __init__(
        self, ctx: int, owner: Any = None, data: Any = None, *, deadline: Deadline | None = None
    ) -> None:
        self.ctx = ctx
        self.data = data
        """The embedder's per-instance object (``host_data``), for host functions to find."""
        self.deadline = deadline
        """The store's deadline, which host functions that wait must respect."""
        self.table: dict[int, Any] = {}
        self._reps = itertools.count(1)
        self.pending: BaseException | None = None
        self.pending_from = ""
        """Which host function (or destructor) raised ``pending``."""
        self._owner: Callable[[], Any] = _nobody if owner is None else weakref.ref(owner)
        _STORES[ctx] = self

    @property
    def owner(self) -> Any:
        """The component instance of this store (None once it is gone, or before it exists)."""
        return self._owner()

    def attach(self, owner: Any) -> None:
        """Name the component instance of this store.

        The instance is created after the state, which host calls made while instantiating
        already need.
        """
        self._owner = weakref.ref(owner)

    def put(self, obj: Any) -> int:
        """Store a host object for the guest and return its rep.

        Raises:
            LimitExceeded: the guest already holds ``MAX_HOST_RESOURCES`` host objects (a
                guest that never drops its handles).

        """
        if len(self.table) >= MAX_HOST_RESOURCES:
            raise LimitExceeded(
                f"the guest holds {len(self.table)} host resources without dropping them "
                f"(limit {MAX_HOST_RESOURCES}): is it leaking handles?",
                limit=MAX_HOST_RESOURCES,
                used=len(self.table),
            )
        rep = next(self._reps) & 0xFFFFFFFF
        self.table[rep] = obj
        return rep

    def park(self, exc: BaseException, where: str) -> None:
        """Keep the exception host function ``where`` raised for the export call to raise."""
        self.pending = exc
        self.pending_from = where

    def take_pending(self) -> BaseException | None:
        """Return and clear the exception a host function raised during the last call.

        ``pending_from`` keeps naming its host function until the next one is parked.
        """
        exc, self.pending = self.pending, None
        return exc


def _nobody() -> None:
    return None


def current_thread() -> Any:
    """The calling thread's host-call bookkeeping (``ctx`` and ``state``: see ``_Local``)."""
    return _local


def current_state() -> StoreState:
    """The host state of the store whose host function is running on this thread.

    Raises:
        OmniwasmError: no host function of a live component instance is running here.

    """
    state = _STORES.get(_local.ctx or 0)
    if state is None:
        raise OmniwasmError("host_data() is only available inside a component host function")
    return state


def state_for(ctx: int) -> StoreState:
    """The host state of the store whose context is ``ctx``."""
    state = _STORES.get(ctx)
    if state is None:
        raise OmniwasmError("host call from a store omniwasm does not know (closed instance?)")
    return state


class LinkHooks(ResourceHooks):
    """Resource crossing rules for one linked component."""

    def __init__(
        self, host_ids: dict[tuple[str, str], int], classes: dict[tuple[str, str], type]
    ) -> None:
        super().__init__()
        self.host_ids = host_ids
        self.classes = classes
        self.handle_class: Callable[[t.OwnType | t.BorrowType], type[GuestHandle]] = lambda ty: (
            GuestHandle
        )

    def host_type(self, ty: t.OwnType | t.BorrowType) -> int | None:
        return self.host_ids.get((ty.interface, ty.resource))

    def lower_host(
        self, call: Call, ty: t.OwnType | t.BorrowType, obj: Any, tid: int, owned: bool
    ) -> int:
        return self.host_lowerer(ty, tid, owned)(call, obj)

    def host_lowerer(
        self, ty: t.OwnType | t.BorrowType, tid: int, owned: bool
    ) -> Callable[[Call, Any], int]:
        cls = self.classes.get((ty.interface, ty.resource))
        what = f"a {cls.__name__} object" if cls else "an object"
        what = f"{what} (host resource {ty.resource})"
        own = isinstance(ty, t.OwnType)

        def lower(call: Call, obj: Any) -> int:
            if obj is None or isinstance(obj, GuestHandle) or (cls and not isinstance(obj, cls)):
                raise Bad("", what, obj)
            state = call.state
            if state is None:
                state = call.state = state_for(call.ctx)
            rep = state.put(obj)
            host = _host_new(own, rep, tid)
            out = _vp()
            err = _host_to_any(call.ctx, host, _addressof(out))
            _host_delete(host)
            if err:
                state.table.pop(rep, None)
                raise OmniwasmError(str(wasm_error(err)))
            ptr: int = out.value or 0
            if not own:
                table = state.table
                call.after.append(lambda: table.pop(rep, None))
            if not owned:
                call.after.append(lambda: any_delete(ptr))
            return ptr

        return lower

    def lower_guest(self, call: Call, ty: t.OwnType | t.BorrowType, obj: Any, owned: bool) -> int:
        if not isinstance(obj, GuestHandle) or obj._resource.resource != ty.resource:
            raise Bad("", f"a {ty.resource} resource handle", obj)
        try:
            ptr = obj._raw()
        except OmniwasmError as exc:
            raise Bad("", f"a live {ty.resource} handle ({exc})", obj) from None
        if obj._owner is not state_for(call.ctx).owner:
            raise Bad("", f"a {ty.resource} handle of this instance (it is another's)", obj)
        if isinstance(ty, t.OwnType):
            if obj._borrowed:
                raise Bad("", f"an owned {ty.resource} handle (this one is borrowed)", obj)
            call.after.append(lambda: obj._forget("it was moved into the guest"))
        return int(_any_clone(ptr)) if owned else ptr

    def lift_host(self, call: Call, ty: t.OwnType | t.BorrowType, ptr: int) -> Any:
        return self.host_lifter(ty)(call, ptr)

    def host_lifter(self, ty: t.OwnType | t.BorrowType) -> Callable[[Call, int], Any]:
        own = isinstance(ty, t.OwnType)

        def lift(call: Call, ptr: int) -> Any:
            out = _vp()
            err = _any_to_host(call.ctx, ptr, _addressof(out))
            if err:
                raise OmniwasmError(str(wasm_error(err)))
            host = out.value
            rep = _host_rep(host)
            _host_delete(host)
            state = call.state
            if state is None:
                state = call.state = state_for(call.ctx)
            return state.table.pop(rep) if own else state.table[rep]

        return lift

    def lift_guest(self, call: Call, ty: t.OwnType | t.BorrowType, ptr: int) -> Any:
        owner = state_for(call.ctx).owner
        handle = self.handle_class(ty)(int(_any_clone(ptr)), owner, ty)
        if handle._borrowed:
            call.after.append(handle._drop)
        return handle


@dataclass(eq=False)
class HostDefs:
    """Python implementations of a component's imports, keyed by component-model names.

    Args:
        funcs: ``(interface, name) -> callable`` where interface is ``""`` at world level and
            name is e.g. ``log``, ``[constructor]bucket``, ``[method]bucket.get``.
        drops: ``(interface, resource) -> hook(obj)`` run when the guest drops a host object.
        classes: ``(interface, resource) -> class``: objects passed to the guest as that
            resource must be instances of it (no check for resources not listed).
        wasi: provide WASI 0.2 natively (configured by the Policy).

    """

    funcs: dict[tuple[str, str], Callable[..., Any]] = field(default_factory=dict)
    drops: dict[tuple[str, str], Callable[[Any], None] | None] = field(default_factory=dict)
    classes: dict[tuple[str, str], type] = field(default_factory=dict)
    wasi: bool = True
    _linked: weakref.WeakKeyDictionary[Artifact, Linked] = field(
        default_factory=weakref.WeakKeyDictionary
    )
    _lock: threading.Lock = field(default_factory=threading.Lock)


class HostEntry:
    """One Python host function, with its codecs."""

    __slots__ = (
        "argtype",
        "callback",
        "fn",
        "hooks",
        "name",
        "nargs",
        "ok_unit",
        "readers",
        "result",
        "returns_result",
        "single",
    )

    def __init__(self, name: str, sig: t.FuncSig, fn: Callable[..., Any], hooks: LinkHooks):
        self.name = name
        self.fn = fn
        self.hooks = hooks
        readers = [reader(pty, hooks=hooks) for _, pty in sig.params]
        self.readers = [(r, i * VAL) for i, r in enumerate(readers)]
        self.nargs = len(readers)
        # the arguments are read in place through an array over wasmtime's vals
        self.argtype = ctypes.c_char * (max(self.nargs, 1) * VAL)
        self.single = readers[0] if self.nargs == 1 else None
        self.result = None if sig.result is None else writer(sig.result, owned=True, hooks=hooks)
        self.returns_result = isinstance(sig.result, t.ResultType)
        # ``result<_, E>`` returning ``ok``: one constant value (no payload, nothing to free),
        # copied straight into wasmtime's slot. Most WASI stream and filesystem calls.
        self.ok_unit: bytes | None = None
        if isinstance(sig.result, t.ResultType) and sig.result.ok is None:
            unit = _VALBUF()
            self.result(Ok(None), unit, 0, Call(0, hooks))  # type: ignore[misc]
            self.ok_unit = unit.raw
        # wasmtime calls this entry directly: one native callback per host function
        self.callback = _CB(self.invoke)

    def invoke(  # noqa: PLR0917 - the C callback's signature, fixed by wasmtime
        self,
        data: int | None,
        ctx: int | None,
        fty: int | None,
        args: int | None,
        nargs: int,
        results: int | None,
        nresults: int,
    ) -> int:
        """The native callback (``callback`` wraps it): read, call, write; never raise."""
        local = _local
        outer = local.ctx
        local.ctx = ctx = ctx or 0
        state = local.state
        call = Call(ctx, self.hooks, state if state is not None and state.ctx == ctx else None)
        try:
            try:
                self._run(call, args, nargs, results)
            finally:
                if call.after or call.keep:
                    call.finish()
            return 0
        except BaseException as exc:
            parked = _STORES.get(ctx)
            if parked is not None:
                parked.park(exc, self.name)
            message = f"host function {self.name} raised {type(exc).__name__}"
            return int(_error_new(message.encode()) or 0)
        finally:
            local.ctx = outer

    def _run(self, call: Call, args: int | None, nargs: int, results: int | None) -> None:
        try:
            if nargs:
                mem = self.argtype.from_address(args or 0)
                single = self.single
                if single is not None:
                    out = self.fn(single(mem, 0, call))
                else:
                    out = self.fn(*[r(mem, o, call) for r, o in self.readers])
            else:
                out = self.fn()
        except Err as err:
            if not self.returns_result:
                raise
            out = err
        if not results:
            return
        if out is None and self.ok_unit is not None:
            _VALBUF.from_address(results).raw = self.ok_unit
            return
        w = self.result
        if w is not None:
            if self.returns_result and not isinstance(out, Ok | Err):
                out = Ok(out)
            # Written in a scratch val, then moved into wasmtime's slot in one copy.
            scratch = _VALBUF()
            try:
                w(out, scratch, 0, call)
            except Bad as exc:
                raise ValueConversionError(
                    self.name, f"<return>{exc.path}", exc.expected, repr(exc.value)[:60]
                ) from None
            _VALBUF.from_address(results).raw = scratch.raw


class _Local(threading.local):
    ctx = 0
    """The context of the store whose host function runs on this thread (0: none)."""
    state: StoreState | None = None
    """The host state of the store whose export call runs on this thread (set by
    ``.exports.ExportFunc``), so its host calls skip the lookup; trusted only when its
    ``ctx`` is the calling store's."""


_local = _Local()
_addressof = ctypes.addressof
_VALBUF = ctypes.c_char * VAL


@immortal
@_FINALIZER  # type: ignore[untyped-decorator]
def _finalize(data: int | None, entries: dict[int, Any] = _ENTRIES) -> None:
    # bound at definition: a store freed while the interpreter exits sees module globals None
    entries.pop(data or 0, None)


@dataclass(eq=False)
class Linked:
    """A native linker prepared for one component and one set of host definitions."""

    linker: wc.Linker
    hooks: LinkHooks
    world: t.WorldType
    artifact: Artifact
    plans: dict[tuple[str, str], Any] = field(default_factory=dict)
    """Export plans (``.exports.ExportPlan``) by ``(interface, name)``, built on first use."""
    missing: tuple[Any, ...] | None = None
    """The imports the definitions leave undefined (``MissingImport``), once checked."""
    linker_addr: int = field(init=False)
    component_addr: int = field(init=False)

    def __post_init__(self) -> None:
        # raw addresses for instantiating without wasmtime-py's wrappers; the linker and the
        # artifact (which owns the component) live as long as this object
        self.linker_addr = ctypes.cast(self.linker.ptr(), _vp).value or 0
        self.component_addr = ctypes.cast(self.artifact.component.ptr(), _vp).value or 0


@immortal
@_DTOR  # type: ignore[untyped-decorator]
def _dtor_trampoline(data: int | None, ctx: int | None, rep: int) -> int:
    """The guest dropped a host resource: forget its object and run the drop hook."""
    entry = _DTORS.get(data or 0)
    state = _local.state
    if state is None or state.ctx != ctx:
        state = _STORES.get(ctx or 0)
    if entry is None or state is None:
        return 0
    obj = state.table.pop(rep, None)
    hook, where = entry
    if hook is not None and obj is not None:
        try:
            hook(obj)
        except BaseException as exc:
            state.park(exc, where)
            return int(_error_new(f"{where} raised {type(exc).__name__}".encode()) or 0)
    return 0


@immortal
@_FINALIZER  # type: ignore[untyped-decorator]
def _dtor_finalize(data: int | None, dtors: dict[int, Any] = _DTORS) -> None:
    # bound at definition, as _finalize's
    dtors.pop(data or 0, None)


def _define(
    li: wc.LinkerInstance,
    *,
    iface: str,
    funcs: tuple[t.FuncSig, ...],
    resources: tuple[str, ...],
    defs: HostDefs,
    hooks: LinkHooks,
) -> None:
    for res in resources:
        if (iface, res) in hooks.host_ids:
            tid = hooks.host_ids[(iface, res)]
            where = f"{iface}#[resource-drop]{res}"
            idx = next(_ids)
            _DTORS[idx] = (defs.drops[(iface, res)], where)
            rtype = wc.ResourceType.host(tid)
            name = res.encode()
            err = _add_resource(
                li.ptr(), name, len(name), rtype.ptr(), _dtor_trampoline, idx, _dtor_finalize
            )
            if err:
                _DTORS.pop(idx, None)
                raise wasm_error(err)
    for sig in funcs:
        fn = defs.funcs.get((iface, sig.name))
        if fn is None:
            continue
        label = f"{iface}#{sig.name}" if iface else sig.name
        idx = next(_ids)
        entry = _ENTRIES[idx] = HostEntry(label, sig, fn, hooks)  # kept until _finalize
        name = sig.name.encode()
        err = _add_func(li.ptr(), name, len(name), entry.callback, idx, _finalize)
        if err:
            _ENTRIES.pop(idx, None)
            raise wasm_error(err)


def link(artifact: Artifact, defs: HostDefs) -> Linked:
    """Prepare (once per component and definitions) a native linker with the Python imports.

    Raises:
        wasmtime.WasmtimeError: wasmtime refused a definition.

    """
    linked = defs._linked.get(artifact)  # the common case: no lock
    if linked is not None:
        return linked
    with defs._lock:
        linked = defs._linked.get(artifact)
        if linked is not None:
            return linked
        world = world_type(artifact)
        host_ids = {key: next(_type_ids) for key in defs.drops}
        hooks = LinkHooks(host_ids, dict(defs.classes))
        linker = wc.Linker(artifact.native.engine)
        if defs.wasi:
            linker.add_wasip2()
        linker.allow_shadowing = True
        with linker.root() as root:
            for item in world.imports:
                if isinstance(item, t.FuncSig):
                    _define(root, iface="", funcs=(item,), resources=(), defs=defs, hooks=hooks)
                    continue
                wanted = any((item.name, f.name) in defs.funcs for f in item.funcs) or any(
                    (item.name, r) in defs.drops for r in item.resources
                )
                if wanted:
                    with root.add_instance(item.name) as li:
                        _define(
                            li,
                            iface=item.name,
                            funcs=item.funcs,
                            resources=item.resources,
                            defs=defs,
                            hooks=hooks,
                        )
        linked = Linked(linker, hooks, world, artifact)
        defs._linked[artifact] = linked
        return linked
