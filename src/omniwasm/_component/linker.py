"""``omniwasm.Linker``: Python implementations of what a component imports.

Functions and resources are defined per interface (``linker.define("my:app/kv", bucket=Bucket)``)
and checked against a component's imports when it is instantiated: missing imports and
signature mismatches are reported together in one :class:`~omniwasm.LinkError`.
"""

from __future__ import annotations

import inspect
import threading
import typing
import weakref
from collections.abc import Callable
from typing import Any

from .. import _engine as eng
from .._errors import LinkError, MissingImport
from .._wit import types as t
from .._wit.values import camel, snake

__all__ = ["Linker", "split_member"]


def split_member(name: str) -> tuple[str, str, str]:
    """``[method]counter.value`` -> ``("method", "counter", "value")``.

    A plain name gives ``("", "", name)``.
    """
    if name.startswith("[") and "]" in name:
        tag, _, rest = name[1:].partition("]")
        resource, _, member = rest.partition(".")
        return tag, resource, member
    return "", "", name


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
        self._prepared: weakref.WeakKeyDictionary[Any, eng.HostDefs] = weakref.WeakKeyDictionary()

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

    def without_native_wasi(self) -> Linker:
        """A copy of these definitions with ``wasi=False``, for a Python WASI host to join."""
        copy = Linker(wasi=False)
        with self._lock:
            copy._members = {name: dict(members) for name, members in self._members.items()}
        return copy

    def defines(self, interface: str) -> bool:
        """Whether this linker defines ``interface`` (with or without its ``@version``)."""
        with self._lock:
            return self._members_for(interface) is not None

    def _members_for(self, interface: str) -> dict[str, Any] | None:
        found = self._members.get(interface)
        if found is None:
            found = self._members.get(interface.partition("@")[0])
        return found

    def host_defs(self, artifact: Any, world: t.WorldType) -> eng.HostDefs:
        """Resolve the definitions against a component's imports (cached per component).

        Raises:
            LinkError: imports are missing or their Python definitions do not fit.

        """
        with self._lock:
            cached = self._prepared.get(artifact)
            if cached is not None:
                return cached
            defs = eng.HostDefs(wasi=self._wasi)
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
    iface: t.InterfaceType,
    members: dict[str, Any],
    defs: eng.HostDefs,
    problems: list[MissingImport],
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
        tag, res, member = split_member(sig.name)
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
