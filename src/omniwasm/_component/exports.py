"""Components as Python objects: a navigable export tree, resources, and Python host imports.

Exports::

    inst = runtime.instantiate(runtime.load("app.wasm"))
    summarizer = inst.exports["blog:example/summarizer@1.0.0"]   # or inst.exports.summarizer
    summary = summarizer.summarize(doc, 5)       # result<summary, string>: raises Err on err
    with summarizer.Counter(5) as c:             # an exported resource: handle with methods
        c.increment(1)

Imports::

    linker = omniwasm.Linker()
    linker.define("my:app/logger", log=lambda level, msg: print(level, msg))
    linker.define("my:app/kv", bucket=Bucket)    # a resource implemented by a class

Names: WIT kebab-case becomes snake_case for functions, fields and parameters, CamelCase for
resource classes; the WIT name always works as an item key (``exports["max-words"]``).
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from .. import _engine as eng
from .._deadline import Deadline
from .._errors import OmniwasmError
from .._wit import types as t
from .._wit.values import Err, Ok, camel, snake
from .linker import split_member

__all__ = [
    "ComponentExports",
    "ComponentFunction",
    "InterfaceExports",
    "current_deadline",
    "host_data",
    "prepare_instance",
]


def host_data() -> Any:
    """Inside a component host function: the calling instance's ``host_data``.

    That is the object given to ``Runtime.instantiate(..., host_data=obj)`` for the instance
    whose guest is calling, so one ``Linker`` (linked once per component) can serve many
    instances that each carry their own state (the virtual WASI host keeps its per-instance
    streams, clocks and files there).

    Raises:
        OmniwasmError: called outside a component host function.

    """
    return eng.current_state().data


def current_deadline() -> Deadline | None:
    """Inside a component host function: the calling store's deadline, else None.

    Host code that waits (the virtual WASI host's sleeps, stdin reads and HTTP waits) waits
    through it, so the wait ends with ``Timeout`` at the guest's deadline (or ``Cancelled``).
    Outside a host function (a host thread) there is none.
    """
    try:
        return eng.current_state().deadline
    except OmniwasmError:
        return None


def _short_name(interface: str) -> str:
    """``blog:example/summarizer@1.0.0`` -> ``summarizer`` (the attribute name)."""
    return snake(interface.rpartition("/")[2].partition("@")[0])


def _unwrap(value: Any, raw: bool) -> Any:
    if raw:
        return value
    if isinstance(value, Err):
        raise value
    if isinstance(value, Ok):
        return value.value
    return value


class _FuncMeta:
    """What every ComponentFunction of one signature shares: name, docstring, signature."""

    __slots__ = ("doc", "is_result", "name", "signature")

    def __init__(self, sig: t.FuncSig, bound: bool) -> None:
        self.is_result = isinstance(sig.result, t.ResultType)
        self.name = snake(split_member(sig.name)[2] or sig.name)
        self.doc = f"{sig}\n\nA WIT function exported by the component."
        params = sig.params[1:] if bound else sig.params
        self.signature = inspect.Signature(
            [inspect.Parameter(snake(n), inspect.Parameter.POSITIONAL_ONLY) for n, _ in params]
        )


class ComponentFunction:
    """An exported component function; its WIT signature is its docstring.

    Call it with Python values. A ``result<T, E>`` returns ``T`` and raises
    :class:`omniwasm.Err` carrying ``E``; pass ``raw=True`` to get ``Ok``/``Err`` instead.
    An ``async func`` (component-model async) returns a coroutine to await, unless the
    function was made ``blocking`` (``Instance.call``/``Instance.func``: run to completion).
    """

    def __init__(
        self,
        func: Any,
        sig: t.FuncSig,
        *,
        bound: Any = None,
        meta: _FuncMeta | None = None,
        blocking: bool = False,
    ) -> None:
        if meta is None:
            meta = _FuncMeta(sig, bound is not None)
        self._func = getattr(func, "invoke", func)  # a backend's call without ``__call__``
        self._acall = None if blocking else getattr(func, "acall", None)
        """An async export's coroutine function (``blocking``: called to completion instead)."""
        self._bound = bound
        self._is_result = meta.is_result
        self.sig = sig
        self.__name__ = self.__qualname__ = meta.name
        self.__doc__ = meta.doc
        self.__signature__ = meta.signature

    def __call__(self, *args: Any, raw: bool = False) -> Any:
        if self._bound is not None:
            args = (self._bound, *args)
        if self._acall is not None:  # an async export (component-model async): a coroutine
            return self._await(self._acall(*args), raw)
        value = self._func(*args)
        if self._is_result:
            return _unwrap(value, raw)
        return value

    async def _await(self, call: Any, raw: bool) -> Any:
        value = await call
        if self._is_result:
            return _unwrap(value, raw)
        return value

    def __repr__(self) -> str:
        return f"<component function {self.sig}>"


class ResourceClass:
    """An exported resource: call it to construct a handle; statics are its attributes."""

    def __init__(self, owner: Any, interface: str, name: str, funcs: list[t.FuncSig]) -> None:
        self._owner = owner
        self._interface = interface
        self.name = name
        self.__name__ = camel(name)
        self._funcs = {(split_member(f.name)[0], split_member(f.name)[2]): f for f in funcs}
        ctor = self._funcs.get(("constructor", ""))
        self.__doc__ = f"resource {name}" + (f"\n\n{ctor}" if ctor else "")

    def __call__(self, *args: Any) -> Any:
        sig = self._funcs.get(("constructor", ""))
        if sig is None:
            raise OmniwasmError(f"resource {self.name} has no constructor")
        return self._owner.export(self._interface, sig.name)(*args)

    def __getattr__(self, attr: str) -> ComponentFunction:
        for (tag, member), sig in self._funcs.items():
            if tag == "static" and snake(member) == attr:
                return ComponentFunction(self._owner.export(self._interface, sig.name), sig)
        raise AttributeError(f"resource {self.name} has no static function {attr!r}")

    def __repr__(self) -> str:
        return f"<resource {self.name} of {self._interface}>"


def _handle_class(
    ty: t.OwnType | t.BorrowType, methods: dict[str, t.FuncSig]
) -> type[eng.GuestHandle]:
    """A GuestHandle subclass whose attributes are the resource's methods."""

    def make(sig: t.FuncSig) -> Callable[..., Any]:
        cm_name = sig.name

        def method(self: eng.GuestHandle, *args: Any, raw: bool = False) -> Any:
            func = self._owner.export(self._resource.interface, cm_name)
            return _unwrap(func(self, *args), raw)

        method.__name__ = method.__qualname__ = snake(split_member(cm_name)[2])
        method.__doc__ = f"{sig}\n\nA method of the WIT resource {ty.resource}."
        method.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
            [inspect.Parameter(snake(n), inspect.Parameter.POSITIONAL_ONLY) for n, _ in sig.params]
        )
        return method

    ns: dict[str, Any] = {"__slots__": ()}
    for attr, sig in methods.items():
        ns[attr] = make(sig)
    return type(camel(ty.resource), (eng.GuestHandle,), ns)


class _HandleClasses:
    """Per linked component: the handle class of each resource (built once)."""

    def __init__(self, world: t.WorldType) -> None:
        self._methods: dict[tuple[str, str], dict[str, t.FuncSig]] = {}
        for item in (*world.exports, *world.imports):
            if isinstance(item, t.InterfaceType):
                for f in item.funcs:
                    tag, res, member = split_member(f.name)
                    if tag == "method":
                        self._methods.setdefault((item.name, res), {})[snake(member)] = f
        self._classes: dict[tuple[str, str], type[eng.GuestHandle]] = {}
        self._lock = threading.Lock()

    def __call__(self, ty: t.OwnType | t.BorrowType) -> type[eng.GuestHandle]:
        key = (ty.interface, ty.resource)
        cls = self._classes.get(key)
        if cls is None:
            with self._lock:
                cls = self._classes.setdefault(
                    key, _handle_class(t.OwnType(*reversed(key)), self._methods.get(key, {}))
                )
        return cls


def prepare_instance(inner: eng.ComponentInstance) -> None:
    """Give the instance's resource hooks the façade's handle classes (once per link)."""
    hooks = inner.linked.hooks
    if not isinstance(getattr(hooks, "handle_class", None), _HandleClasses):
        hooks.handle_class = _HandleClasses(inner.world)


class _InterfacePlan:
    """What every instance's view of one exported interface shares (built once per component).

    Filled lazily from any thread: entries are computed from immutable types, so two threads
    computing one at once store equal values.
    """

    def __init__(self, iface: t.InterfaceType) -> None:
        self.iface = iface
        self.plain = {f.name: f for f in iface.funcs if not f.name.startswith("[")}
        self._metas: dict[str, _FuncMeta] = {}
        self._attrs: dict[str, tuple[str, str] | None] = {}

    def meta(self, name: str) -> _FuncMeta:
        """The shared metadata of plain function ``name``."""
        meta = self._metas.get(name)
        if meta is None:
            meta = self._metas.setdefault(name, _FuncMeta(self.plain[name], False))
        return meta

    def resolve(self, attr: str) -> tuple[str, str] | None:
        """``("func", wit name)`` or ``("resource", name)`` for an attribute, or None."""
        if attr in self._attrs:
            return self._attrs[attr]
        found: tuple[str, str] | None = None
        for name in self.plain:
            if snake(name) == attr:
                found = ("func", name)
        for res in self.iface.resources:
            if camel(res) == attr:
                found = ("resource", res)
        if len(self._attrs) < _MAX_ATTRS:  # bounded: misses are remembered too
            self._attrs[attr] = found
        return found


_MAX_ATTRS = 256


class InterfaceExports(Mapping[str, Any]):
    """The functions and resources of one exported interface.

    Functions are items under their WIT names and attributes under snake_case names;
    resources are attributes under CamelCase names.
    """

    def __init__(
        self, owner: eng.ComponentInstance, iface: t.InterfaceType, plan: Any = None
    ) -> None:
        self._owner = owner
        self._iface = iface
        self.name = iface.name
        self._plan: _InterfacePlan = plan if plan is not None else _InterfacePlan(iface)
        self._plain = self._plan.plain
        self._cache: dict[str, Any] = {}

    def __getitem__(self, name: str) -> Any:
        sig = self._plain.get(name)
        if sig is None:
            raise KeyError(name)
        return ComponentFunction(
            self._owner.export(self.name, name), sig, meta=self._plan.meta(name)
        )

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("_"):
            raise AttributeError(attr)
        cached = self._cache.get(attr)
        if cached is not None:
            return cached
        where = self._plan.resolve(attr)
        if where is None:
            raise AttributeError(f"{self.name} exports no {attr!r}")
        kind, name = where
        found: Any
        if kind == "func":
            found = self[name]
        else:
            members = [f for f in self._iface.funcs if split_member(f.name)[1] == name]
            found = ResourceClass(self._owner, self.name, name, members)
        self._cache[attr] = found
        return found

    def __iter__(self) -> Iterator[str]:
        return iter(self._plain)

    def __len__(self) -> int:
        return len(self._plain)

    def __dir__(self) -> list[str]:
        return sorted({snake(n) for n in self._plain} | {camel(r) for r in self._iface.resources})

    def __repr__(self) -> str:
        return f"<interface {self.name}: {', '.join(self._plain)}>"


class _ExportsPlan:
    """What every instance's export tree of one component shares (built once per component)."""

    def __init__(self, world: t.WorldType) -> None:
        self.items: dict[str, t.InterfaceType | t.FuncSig] = {
            item.name: item for item in world.exports
        }
        self._ifaces: dict[str, _InterfacePlan] = {}

    def interface(self, iface: t.InterfaceType) -> _InterfacePlan:
        plan = self._ifaces.get(iface.name)
        if plan is None:
            plan = self._ifaces.setdefault(iface.name, _InterfacePlan(iface))
        return plan


def _exports_plan(owner: eng.ComponentInstance) -> _ExportsPlan:
    """The export plan of the instance's component (kept with its compiled code)."""
    prepared = owner.artifact.prepared
    plan = prepared.get("facade-exports")
    if plan is None:
        plan = prepared.setdefault("facade-exports", _ExportsPlan(owner.world))
    return plan  # type: ignore[no-any-return]


class ComponentExports(Mapping[str, Any]):
    """A component's exports: interfaces by full name and world-level functions by name.

    Attribute access uses snake_case: an interface by its short name
    (``exports.summarizer`` for ``blog:example/summarizer@1.0.0``, when unambiguous) and a
    function by its name.
    """

    def __init__(self, owner: eng.ComponentInstance) -> None:
        self._owner = owner
        self._plan = _exports_plan(owner)
        self._items = self._plan.items
        self._views: dict[str, Any] = {}

    def __getitem__(self, name: str) -> Any:
        view = self._views.get(name)
        if view is not None:
            return view
        item = self._items.get(name)
        if item is None:
            raise KeyError(name)
        if isinstance(item, t.InterfaceType):
            view = InterfaceExports(self._owner, item, self._plan.interface(item))
        else:
            view = ComponentFunction(self._owner.export("", name), item)
        self._views[name] = view
        return view

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("_"):
            raise AttributeError(attr)
        matches = [
            name
            for name, item in self._items.items()
            if (isinstance(item, t.FuncSig) and snake(name) == attr)
            or (isinstance(item, t.InterfaceType) and _short_name(name) == attr)
        ]
        if len(matches) > 1:
            raise AttributeError(f"{attr!r} is ambiguous: use exports[{matches[0]!r}] etc.")
        if not matches:
            raise AttributeError(f"the component exports no {attr!r}")
        return self[matches[0]]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __dir__(self) -> list[str]:
        return sorted(
            snake(n) if isinstance(i, t.FuncSig) else _short_name(n) for n, i in self._items.items()
        )

    def __repr__(self) -> str:
        return f"<component exports: {', '.join(self._items)}>"
