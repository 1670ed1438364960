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
import typing
import weakref
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from . import _engine as eng
from . import _types as t
from ._engine._chost import GuestHandle, HostDefs
from ._errors import LinkError, MissingImport, OmniwasmError
from ._values import Err, Ok, camel, snake

__all__ = ["ComponentExports", "ComponentFunction", "InterfaceExports", "Linker", "host_data"]


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


def _short_name(interface: str) -> str:
    """``blog:example/summarizer@1.0.0`` -> ``summarizer`` (the attribute name)."""
    return snake(interface.rpartition("/")[2].partition("@")[0])


def _split_member(name: str) -> tuple[str, str, str]:
    """``[method]counter.value`` -> ``("method", "counter", "value")``.

    A plain name gives ``("", "", name)``.
    """
    if name.startswith("[") and "]" in name:
        tag, _, rest = name[1:].partition("]")
        resource, _, member = rest.partition(".")
        return tag, resource, member
    return "", "", name


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
        self.name = snake(_split_member(sig.name)[2] or sig.name)
        self.doc = f"{sig}\n\nA WIT function exported by the component."
        params = sig.params[1:] if bound else sig.params
        self.signature = inspect.Signature(
            [inspect.Parameter(snake(n), inspect.Parameter.POSITIONAL_ONLY) for n, _ in params]
        )


class ComponentFunction:
    """An exported component function; its WIT signature is its docstring.

    Call it with Python values. A ``result<T, E>`` returns ``T`` and raises
    :class:`omniwasm.Err` carrying ``E``; pass ``raw=True`` to get ``Ok``/``Err`` instead.
    """

    def __init__(
        self, func: Any, sig: t.FuncSig, *, bound: Any = None, meta: _FuncMeta | None = None
    ) -> None:
        if meta is None:
            meta = _FuncMeta(sig, bound is not None)
        self._func = func
        self._bound = bound
        self._is_result = meta.is_result
        self.sig = sig
        self.__name__ = self.__qualname__ = meta.name
        self.__doc__ = meta.doc
        self.__signature__ = meta.signature

    def __call__(self, *args: Any, raw: bool = False) -> Any:
        if self._bound is not None:
            args = (self._bound, *args)
        value = self._func(*args)
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
        self._funcs = {(_split_member(f.name)[0], _split_member(f.name)[2]): f for f in funcs}
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


def _handle_class(ty: t.OwnType | t.BorrowType, methods: dict[str, t.FuncSig]) -> type[GuestHandle]:
    """A GuestHandle subclass whose attributes are the resource's methods."""

    def make(sig: t.FuncSig) -> Callable[..., Any]:
        cm_name = sig.name

        def method(self: GuestHandle, *args: Any, raw: bool = False) -> Any:
            func = self._owner.export(self._resource.interface, cm_name)
            return _unwrap(func(self, *args), raw)

        method.__name__ = method.__qualname__ = snake(_split_member(cm_name)[2])
        method.__doc__ = f"{sig}\n\nA method of the WIT resource {ty.resource}."
        method.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
            [inspect.Parameter(snake(n), inspect.Parameter.POSITIONAL_ONLY) for n, _ in sig.params]
        )
        return method

    ns: dict[str, Any] = {"__slots__": ()}
    for attr, sig in methods.items():
        ns[attr] = make(sig)
    return type(camel(ty.resource), (GuestHandle,), ns)


class _HandleClasses:
    """Per linked component: the handle class of each resource (built once)."""

    def __init__(self, world: t.WorldType) -> None:
        self._methods: dict[tuple[str, str], dict[str, t.FuncSig]] = {}
        for item in (*world.exports, *world.imports):
            if isinstance(item, t.InterfaceType):
                for f in item.funcs:
                    tag, res, member = _split_member(f.name)
                    if tag == "method":
                        self._methods.setdefault((item.name, res), {})[snake(member)] = f
        self._classes: dict[tuple[str, str], type[GuestHandle]] = {}
        self._lock = threading.Lock()

    def __call__(self, ty: t.OwnType | t.BorrowType) -> type[GuestHandle]:
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
            members = [f for f in self._iface.funcs if _split_member(f.name)[1] == name]
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


# -- imports -------------------------------------------------------------------------------


class Linker:
    """Python implementations of what a component imports.

    Define functions and resources per interface; pass the linker to
    ``Runtime.instantiate(..., imports=linker)``. At instantiation every import is checked
    against the definitions: missing imports and signature mismatches are reported together in
    one :class:`LinkError` before anything runs. WASI 0.2 imports come from the native
    implementation configured by the policy.

    A resource is implemented by a class: ``[constructor]r`` calls the class, methods call the
    object's methods, statics call the class's functions, and when the guest drops the object
    its ``close()`` runs if it has one.

    Args:
        wasi: provide WASI 0.2 natively (the default).

    """

    def __init__(self, *, wasi: bool = True) -> None:
        self._wasi = wasi
        self._members: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._prepared: weakref.WeakKeyDictionary[Any, HostDefs] = weakref.WeakKeyDictionary()

    def define(self, name: str, impl: Any = None, /, **members: Any) -> Linker:
        """Define an interface's members (or a world-level function) in Python.

        Args:
            name: an interface name (``my:app/logger``, with or without ``@version``), or
                the name of a world-level imported function.
            impl: for a world-level function, the callable; for an interface, an object whose
                attributes implement its members (a module, a class instance...).
            members: member implementations by snake_case or WIT name: callables for
                functions, classes for resources.

        Returns:
            the linker, so calls chain.

        """
        with self._lock:
            entry = self._members.setdefault(name, {})
            if impl is not None:
                entry["__impl__"] = impl
            entry.update(members)
            self._prepared = weakref.WeakKeyDictionary()
        return self

    def function(
        self, interface: str, name: str | None = None
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Decorator: ``@linker.function("my:app/logger")`` defines ``log`` from ``def log``."""

        def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
            self.define(interface, **{name or fn.__name__: fn})
            return fn

        return deco

    def resource(self, interface: str, name: str | None = None) -> Callable[[type], type]:
        """Decorator: ``@linker.resource("my:app/kv")`` on ``class Bucket`` defines ``bucket``."""

        def deco(cls: type) -> type:
            self.define(interface, **{name or _kebab(cls.__name__): cls})
            return cls

        return deco

    def _members_for(self, interface: str) -> dict[str, Any] | None:
        found = self._members.get(interface)
        if found is None:
            found = self._members.get(interface.partition("@")[0])
        return found

    def host_defs(self, artifact: Any, world: t.WorldType) -> HostDefs:
        """Resolve the definitions against a component's imports (cached per component).

        Raises:
            LinkError: imports are missing or their Python definitions do not fit.

        """
        with self._lock:
            cached = self._prepared.get(artifact)
            if cached is not None:
                return cached
            defs = HostDefs(wasi=self._wasi)
            problems: list[MissingImport] = []
            for item in world.imports:
                if isinstance(item, t.FuncSig):
                    # define("log", fn), or a member of that name (``@linker.function("log")``)
                    entry = self._members.get(item.name) or {}
                    names = (item.name, snake(item.name))
                    fn = next((entry[k] for k in names if k in entry), entry.get("__impl__"))
                    if fn is not None:
                        _check_arity(fn, item, "", problems)
                        defs.funcs[("", item.name)] = fn
                    continue
                members = self._members_for(item.name)
                if members is None:
                    continue
                _resolve_interface(item, members, defs, problems)
            named = {(p.module, p.name) for p in problems}
            missing = [
                m for m in eng.missing_imports(world, defs) if (m.module, m.name) not in named
            ]
            if problems or missing:
                raise LinkError(tuple(problems + missing))
            self._prepared[artifact] = defs
            return defs


def _kebab(name: str) -> str:
    out = []
    for i, ch in enumerate(name):
        if ch.isupper() and i:
            out.append("-")
        out.append(ch.lower())
    return "".join(out).replace("_", "-")


def _lookup(members: dict[str, Any], wit_name: str) -> Any:
    for key in (snake(wit_name), wit_name, wit_name.replace("-", "_")):
        if key in members:
            return members[key]
    impl = members.get("__impl__")
    if impl is not None:
        return getattr(impl, snake(wit_name), None) or getattr(impl, camel(wit_name), None)
    return None


_SCALAR_HINTS: tuple[tuple[type, tuple[type, ...]], ...] = (
    (t.BoolType, (bool,)),
    (t.IntType, (int,)),
    (t.F32Type, (float, int)),
    (t.F64Type, (float, int)),
    (t.CharType, (str,)),
    (t.StringType, (str,)),
)
_PLAIN_HINTS = (bool, int, float, str, bytes)


def _hint_mismatch(hint: Any, ty: t.WitType) -> bool:
    """True when a plain annotation (``int``, ``str``...) cannot hold values of ``ty``."""
    if hint not in _PLAIN_HINTS:
        return False  # generics, unions, classes, Any: not checked
    if isinstance(ty, t.ListType) and isinstance(ty.elem, t.U8Type):
        return hint is not bytes
    for wit, allowed in _SCALAR_HINTS:
        if isinstance(ty, wit):
            return hint not in allowed or (hint is int and isinstance(ty, t.BoolType))
    return True  # a plain scalar annotation for a list, record, variant...


def _check_arity(fn: Any, sig: t.FuncSig, iface: str, problems: list[MissingImport]) -> None:
    """Record a problem when ``fn`` cannot take ``sig``'s arguments or its annotations clash.

    Arity always counts; annotations are checked only when they are plain scalar classes
    (``int``, ``str``, ``bytes``...), so generic or missing annotations never fail a link.
    """
    wit = str(sig).partition(": ")[2]
    try:
        bound = inspect.signature(fn).bind(*([None] * len(sig.params)))
    except TypeError:
        problems.append(
            MissingImport(
                iface,
                sig.name,
                f"{wit} (the Python definition does not take {len(sig.params)} argument(s))",
            )
        )
        return
    except ValueError:  # builtins without a signature: trust them
        return
    try:  # a class is called as a constructor: its __init__ carries the parameter hints
        target = getattr(fn, "__init__", fn) if isinstance(fn, type) else fn
        hints = typing.get_type_hints(target)
    except Exception:  # unresolvable annotations are simply not checked
        return
    names = list(bound.arguments)
    for i, (pname, pty) in enumerate(sig.params):
        if i < len(names) and _hint_mismatch(hints.get(names[i]), pty):
            problems.append(
                MissingImport(
                    iface,
                    sig.name,
                    f"{wit} (parameter {names[i]} is annotated "
                    f"{hints[names[i]].__name__}, WIT {pname} is {pty})",
                )
            )
            return


def _method_caller(attr: str) -> Callable[..., Any]:
    def call(obj: Any, *args: Any) -> Any:
        return getattr(obj, attr)(*args)

    return call


def _resolve_interface(
    iface: t.InterfaceType, members: dict[str, Any], defs: HostDefs, problems: list[MissingImport]
) -> None:
    classes: dict[str, Any] = {}
    for res in iface.resources:
        cls = _lookup(members, res)
        if cls is not None:
            classes[res] = cls
            defs.drops[(iface.name, res)] = _closer
            if isinstance(cls, type):
                defs.classes[(iface.name, res)] = cls
    for sig in iface.funcs:
        tag, res, member = _split_member(sig.name)
        fn: Any
        if not tag:
            fn = _lookup(members, member)
            if fn is not None:
                _check_arity(fn, sig, iface.name, problems)
        elif res not in classes:
            continue
        elif tag == "constructor":
            fn = classes[res]
            _check_arity(fn, sig, iface.name, problems)
        elif tag == "method":
            attr = snake(member)
            method = getattr(classes[res], attr, None)
            if not callable(method):
                problems.append(
                    MissingImport(iface.name, sig.name, f"method {attr} of {classes[res]!r}")
                )
                continue
            if isinstance(classes[res], type):  # the unbound function takes self too
                _check_arity(method, sig, iface.name, problems)
            fn = _method_caller(attr)
        else:
            fn = getattr(classes[res], snake(member), None)
            if fn is None:
                problems.append(
                    MissingImport(iface.name, sig.name, f"static {snake(member)} of {res}")
                )
                continue
            _check_arity(fn, sig, iface.name, problems)
        if fn is not None:
            defs.funcs[(iface.name, sig.name)] = fn


def _closer(obj: Any) -> None:
    close = getattr(obj, "close", None)
    if callable(close):
        close()
