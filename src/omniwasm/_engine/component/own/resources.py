"""Resources on omniwasm's own runtime: handle tables, own/borrow, ``resource.new/rep/drop``.

As ``CanonicalABI.md`` defines them. Every component instance has a :class:`HandleTable`; an
entry is a :class:`Handle` (its resource type, its rep, own or borrow, how many times it is
lent). A resource type at run time is an :class:`RType`: defined by a component (its
destructor is a core function, its *implementation* is the defining instance's table) or
provided by Python (a host resource: the rep is a key into the store's host object table).

Python holds guest resources through ``GuestHandle`` objects (``_ptr`` is a token into
:attr:`HostSide.tokens`), host resources as the Python objects themselves. :class:`HostSide`
moves both across the boundary for one instance (the ``res`` of a :class:`.abi.Cx`):

* lifting ``own`` takes the handle out of the guest's table (it must not be lent), lifting a
  ``borrow`` lends it for the call;
* lowering ``own`` adds an owning handle, lowering a ``borrow`` passes the rep itself when the
  callee implements the resource, else adds a borrow handle the callee must drop before it
  returns.

Every rule a guest can break (unknown index, wrong type, a lent or borrowed handle dropped or
moved, borrows left at the end of a call) raises :class:`.abi.AbiTrap`.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

from ...._errors import OmniwasmError
from ...._wit import types as t
from .abi import AbiTrap, BadValue, Cx

__all__ = ["MAX_HANDLES", "Handle", "HandleTable", "HostSide", "InnerSide", "RType", "Transit"]

RES_PREFIX = "\0res"
"""How an anonymous ``own``/``borrow`` names its resource (``_binary.component_types.Res``)."""

MAX_HANDLES = 1 << 20
"""Live handles one component instance may hold (a bound on a guest leaking them)."""


class RType:
    """A resource type at run time (compared by identity)."""

    __slots__ = ("dtor", "host", "impl", "name")

    def __init__(
        self,
        name: str,
        *,
        dtor: Callable[[int], Any] | None = None,
        impl: HandleTable | None = None,
        host: tuple[str, str] | None = None,
    ) -> None:
        self.name = name
        self.dtor = dtor
        self.impl = impl
        """The table of the instance that defined it (None for host resources)."""
        self.host = host
        """``(interface, resource)`` of a resource Python implements."""

    def __repr__(self) -> str:
        return f"<resource type {self.name}>"


class Handle:
    """One entry of a handle table."""

    __slots__ = ("lends", "own", "rep", "rt", "scope")

    def __init__(self, rt: RType, rep: int, own: bool, scope: Cx | None = None) -> None:
        self.rt = rt
        self.rep = rep
        self.own = own
        self.lends = 0
        self.scope = scope
        """For a borrow handle: the call whose callee must drop it before returning."""


class HandleTable:
    """A component instance's handles (index 0 is never valid)."""

    __slots__ = ("entries", "free", "live")

    def __init__(self) -> None:
        self.entries: list[Handle | None] = [None]
        self.free: list[int] = []
        self.live = 0

    def add(self, h: Handle) -> int:
        if self.live >= MAX_HANDLES:
            raise AbiTrap(f"more than {MAX_HANDLES} live resource handles in one instance")
        self.live += 1
        if self.free:
            i = self.free.pop()
            self.entries[i] = h
            return i
        self.entries.append(h)
        return len(self.entries) - 1

    def get(self, i: int, rt: RType) -> Handle:
        h = self.entries[i] if 0 < i < len(self.entries) else None
        if h is None:
            raise AbiTrap(f"unknown handle index {i}")
        if h.rt is not rt:
            raise AbiTrap(f"handle index {i} is a {h.rt.name}, not a {rt.name}")
        return h

    def remove(self, i: int, rt: RType) -> Handle:
        h = self.get(i, rt)
        self.entries[i] = None
        self.free.append(i)
        self.live -= 1
        return h


def lift_own(table: HandleTable, rt: RType, i: int) -> int:
    """Take an owning handle out of ``table`` (the guest gives the resource away)."""
    h = table.get(i, rt)
    if not h.own:
        raise AbiTrap(f"handle index {i} is a borrow, not an owning handle")
    if h.lends:
        raise AbiTrap(f"handle index {i} is lent and cannot be moved")
    table.remove(i, rt)
    return h.rep


def new_builtin(table: HandleTable, rt: RType) -> Callable[[int], int]:
    """``canon resource.new``."""

    def new(rep: int) -> int:
        return table.add(Handle(rt, rep & 0xFFFFFFFF, True))

    return new


def rep_builtin(table: HandleTable, rt: RType) -> Callable[[int], int]:
    """``canon resource.rep``."""

    def rep(i: int) -> int:
        return table.get(i & 0xFFFFFFFF, rt).rep

    return rep


def drop_builtin(
    table: HandleTable, rt: RType, host_drop: Callable[[RType, int], None]
) -> Callable[[int], None]:
    """``canon resource.drop``: an owning handle runs the destructor, a borrow ends."""

    def drop(i: int) -> None:
        i &= 0xFFFFFFFF
        h = table.get(i, rt)
        if h.own and h.lends:
            raise AbiTrap(f"handle index {i} is lent and cannot be dropped")
        table.remove(i, rt)
        if not h.own:
            if h.scope is not None:
                h.scope.borrows -= 1
            return
        if rt.host is not None:
            host_drop(rt, h.rep)
        elif rt.dtor is not None:
            rt.dtor(h.rep)

    return drop


class HostSide:
    """Python's side of one instance's resources (see the module docstring).

    Args:
        owner: the instance (``GuestHandle._owner`` of its handles).
        named: ``(interface, resource) -> RType`` for the world's named resources.
        state: the store's host state (its ``table`` holds host objects by rep).
        classes: ``(interface, resource) -> class`` host objects must be instances of.
        handle_class: makes the ``GuestHandle`` subclass of a resource.

    """

    def __init__(
        self,
        owner: Any,
        named: dict[tuple[str, str], RType],
        state: Any,
        classes: dict[tuple[str, str], type],
        handle_class: Callable[[Any], Any],
    ) -> None:
        self.owner = owner
        self.named = named
        self.state = state
        self.classes = classes
        self.handle_class = handle_class
        self.tokens: dict[int, tuple[RType, int]] = {}
        self._next = itertools.count(1)

    def rtype(self, ty: t.OwnType | t.BorrowType) -> RType:
        rt = self.named.get((ty.interface, ty.resource))
        if rt is None and ty.resource.startswith(RES_PREFIX):  # a guest's own type (async)
            rt = getattr(self.owner, "rtypes", {}).get(int(ty.resource[len(RES_PREFIX) :]))
        if rt is None:
            raise AbiTrap(f"resource {ty.resource} of {ty.interface or 'the world'} is unknown")
        return rt

    # --- guest -> Python --------------------------------------------------------------------

    def lift(self, cx: Cx, ty: t.OwnType | t.BorrowType, i: int) -> Any:
        rt = self.rtype(ty)
        table = cx.table
        if isinstance(ty, t.OwnType):
            rep = lift_own(table, rt, i)
            if rt.host is not None:
                obj = self.state.table.pop(rep, None)
                if obj is None:
                    raise AbiTrap(f"host resource {rt.name} rep {rep} is gone")
                return obj
            return self._handle(ty, rt, rep)
        h = table.get(i, rt)
        h.lends += 1
        cx.on_exit(lambda: _unlend(h))
        if rt.host is not None:
            obj = self.state.table.get(h.rep)
            if obj is None:
                raise AbiTrap(f"host resource {rt.name} rep {h.rep} is gone")
            return obj
        handle = self._handle(ty, rt, h.rep)
        cx.on_exit(handle._drop)
        return handle

    def _handle(self, ty: t.OwnType | t.BorrowType, rt: RType, rep: int) -> Any:
        token = next(self._next)
        self.tokens[token] = (rt, rep)
        return self.handle_class(ty)(token, self.owner, ty)

    # --- Python -> guest --------------------------------------------------------------------

    def lower(self, cx: Cx, ty: t.OwnType | t.BorrowType, obj: Any) -> int:
        rt = self.rtype(ty)
        own = isinstance(ty, t.OwnType)
        if rt.host is not None:
            rep = self._host_rep(ty, rt, obj)
            if not own:
                table = self.state.table
                cx.on_exit(lambda: table.pop(rep, None))
                return self._borrow(cx, rt, rep)
            return int(cx.table.add(Handle(rt, rep, True)))
        rep = self._guest_rep(ty, rt, obj)
        if own:
            obj._forget("it was moved into the guest")
            return int(cx.table.add(Handle(rt, rep, True)))
        if rt.impl is cx.table:
            return rep
        return self._borrow(cx, rt, rep)

    def _borrow(self, cx: Cx, rt: RType, rep: int) -> int:
        cx.borrows += 1
        return int(cx.table.add(Handle(rt, rep, False, cx)))

    def _host_rep(self, ty: t.OwnType | t.BorrowType, rt: RType, obj: Any) -> int:
        cls = self.classes.get(rt.host)  # type: ignore[arg-type]
        what = f"a {cls.__name__} object" if cls else "an object"
        what = f"{what} (host resource {ty.resource})"
        from ..stock.handles import GuestHandle

        if obj is None or isinstance(obj, GuestHandle) or (cls and not isinstance(obj, cls)):
            raise BadValue(what, obj)
        return int(self.state.put(obj))

    def _guest_rep(self, ty: t.OwnType | t.BorrowType, rt: RType, obj: Any) -> int:
        from ..stock.handles import GuestHandle

        if not isinstance(obj, GuestHandle) or obj._resource.resource != ty.resource:
            raise BadValue(f"a {ty.resource} resource handle", obj)
        try:
            token = obj._raw()
        except OmniwasmError as exc:
            raise BadValue(f"a live {ty.resource} handle ({exc})", obj) from None
        if obj._owner is not self.owner:
            raise BadValue(f"a {ty.resource} handle of this instance (it is another's)", obj)
        if isinstance(ty, t.OwnType) and obj._borrowed:
            raise BadValue(f"an owned {ty.resource} handle (this one is borrowed)", obj)
        found = self.tokens.get(token)
        if found is None or found[0] is not rt:
            raise BadValue(f"a {ty.resource} resource handle", obj)
        return found[1]

    # --- handles Python holds ---------------------------------------------------------------

    def forget(self, token: int) -> None:
        """Python let go of a handle without dropping the resource (moved, or collected)."""
        self.tokens.pop(token, None)

    def take(self, token: int) -> tuple[RType, int] | None:
        """Remove a handle Python drops; returns its type and rep."""
        return self.tokens.pop(token, None)


def _unlend(h: Handle) -> None:
    h.lends -= 1


class Transit:
    """A handle on its way from one component instance to another inside one component."""

    __slots__ = ("own", "rep", "rt")

    def __init__(self, rt: RType, rep: int, own: bool) -> None:
        self.rt = rt
        self.rep = rep
        self.own = own


class InnerSide:
    """Moves handles between two component instances of one component (a fused call).

    Types are anonymous here (``own``/``borrow`` carry a static resource id): ``rtypes`` maps
    ids to the instance's resource types.
    """

    def __init__(self, rtypes: dict[int, RType]) -> None:
        self.rtypes = rtypes

    def rtype(self, ty: t.OwnType | t.BorrowType) -> RType:
        key = ty.resource
        rt = None
        if key.startswith(RES_PREFIX):
            rt = self.rtypes.get(int(key[len(RES_PREFIX) :]))
        if rt is None:
            raise AbiTrap(f"resource {key!r} is unknown to this instance")
        return rt

    def lift(self, cx: Cx, ty: t.OwnType | t.BorrowType, i: int) -> Transit:
        rt = self.rtype(ty)
        if isinstance(ty, t.OwnType):
            return Transit(rt, lift_own(cx.table, rt, i), True)
        h = cx.table.get(i, rt)
        h.lends += 1
        cx.on_exit(lambda: _unlend(h))
        return Transit(rt, h.rep, False)

    def lower(self, cx: Cx, ty: t.OwnType | t.BorrowType, value: Any) -> int:
        rt = self.rtype(ty)
        if not isinstance(value, Transit) or value.rt is not rt:
            raise AbiTrap(f"a {rt.name} handle was expected")
        if isinstance(ty, t.OwnType):
            return int(cx.table.add(Handle(rt, value.rep, True)))
        if rt.impl is cx.table:
            return value.rep
        cx.borrows += 1
        return int(cx.table.add(Handle(rt, value.rep, False, cx)))
