"""The lowered call of a host byte sink: ``(borrow<R>, list<u8>)`` to nothing or ``result<_, E>``.

``wasi:io/streams`` ``output-stream.write`` and ``blocking-write-and-flush`` have this shape,
and a guest streaming a body calls them once per chunk. The generic lowered call
(:mod:`.lowered`) lifts through the codecs and a ``Cx`` per call; this one reads the three
argument slots, finds the host object behind the borrowed handle, copies the bytes out of guest
memory in one slice and, when the host function returns normally, writes only the ``ok``
discriminant. What it does not handle itself (a guest-defined resource behind the handle, an
error or a value to lower) goes through the generic codecs, so the canonical ABI's checks and
results are the same on both paths.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

from ...._errors import OmniwasmError, ValueConversionError
from ...._wit import types as t
from ...._wit.convert import from_python
from ...._wit.values import Err, Ok
from .abi import AbiTrap, BadValue, codec, flatten_func
from .abi_scalars import range_trap
from .async_canon import settle
from .call import short
from .instance import Host, Lifted, Options, OwnInstance, _local
from .rawhost import host_trap, slot_layout, slot_views

__all__ = ["is_bytes_sink", "sink_binder"]

_PLAIN = frozenset({int, float, bool, type(None)})

Callback = Callable[[int], int]
Binder = Callable[[OwnInstance], Callback]
Resolve = Callable[[OwnInstance], tuple[Host | Lifted, Options]]


def is_bytes_sink(sig: t.FuncSig) -> bool:
    """Whether a host function of signature ``sig`` has the byte-sink shape (see the module)."""
    if len(sig.params) != 2:
        return False
    (_, handle), (_, data) = sig.params
    result = sig.result
    return (
        isinstance(handle, t.BorrowType)
        and isinstance(data, t.ListType)
        and isinstance(data.elem, t.U8Type)
        and (result is None or (isinstance(result, t.ResultType) and result.ok is None))
    )


def sink_binder(sig: t.FuncSig, label: str, resolve: Resolve, *, generic: Binder) -> Binder:
    """The binder of a byte-sink host function (once per plan; see ``lowered.lower_binder``).

    ``generic`` is the general binder: an instance binds it only if a call needs it.
    """
    plan = _Plan(sig, label)

    def bind(inst: OwnInstance) -> Callback:
        target, opts = resolve(inst)
        assert isinstance(target, Host)
        return _Sink(plan, inst, target, opts, lambda: generic(inst))

    return bind


class _Plan:
    """What a byte-sink callback needs that depends only on the function's type."""

    def __init__(self, sig: t.FuncSig, label: str) -> None:
        params, results, _, self.spill_r = flatten_func(sig, lower=True)
        borrow = sig.params[0][1]
        assert isinstance(borrow, t.BorrowType)
        self.borrow = borrow
        self.result = sig.result
        self.rcodec: Any = None if sig.result is None else codec(sig.result)
        self.label = label
        self.view_at = slot_views(max(len(params), len(results)))
        self.read = slot_layout(params).unpack_from
        self.write = slot_layout(results).pack_into if results else None


class _Sink:
    """A byte-sink host function's raw callback in one instance."""

    def __init__(
        self,
        plan: _Plan,
        inst: OwnInstance,
        target: Host,
        opts: Options,
        generic: Callable[[], Callback],
    ) -> None:
        self.plan = plan
        self.owner = weakref.ref(inst)  # the callback outlives nothing that holds the store
        self.state = inst.state
        self.ctx = inst.box.ctx
        self.fn = target.fn
        self.opts = opts
        self.generic = generic
        self.fallback: Callback | None = None

    def __call__(self, address: int) -> int:
        try:
            return self._call(address)
        except BaseException as exc:  # nothing may unwind into native code
            self.state.park(exc, self.plan.label)
            return host_trap()

    def _call(self, address: int) -> int:
        plan = self.plan
        live = self.owner()
        if live is None:
            raise OmniwasmError(f"{plan.label}: the instance is gone")
        view = plan.view_at(address)
        slots = plan.read(view, 0)
        side = live.side
        rt = side.rtype(plan.borrow)
        if rt.host is None:  # a guest's resource: the host gets a handle object
            if self.fallback is None:
                self.fallback = self.generic()
            return self.fallback(address)
        h = self.opts.table.get(slots[0], rt)
        obj = side.state.table.get(h.rep)
        if obj is None:
            raise AbiTrap(f"host resource {rt.name} rep {h.rep} is gone")
        mem_of = self._memory(live)
        mem = mem_of()
        p, n = slots[1], slots[2]
        if p + n > len(mem):
            raise range_trap(p, n)
        data = bytes(mem[p : p + n])
        h.lends += 1
        outer = _local.ctx
        _local.ctx = self.ctx
        try:
            out = self.fn(obj, data)
            if type(out) not in _PLAIN:
                out = settle(live, out, plan.label, plan.result)  # async def: awaited
        except Err as err:
            if plan.result is None:
                raise
            out = err
        finally:
            _local.ctx = outer
            h.lends -= 1
        if plan.result is None:
            return 0
        if out is None or (type(out) is Ok and out.value is None):
            self._ok(mem_of, slots, view)
        else:
            self._lower(live, out, slots, view)
        return 0

    def _memory(self, live: OwnInstance) -> Callable[[], memoryview]:
        mem_of = self.opts.view
        if mem_of is None:
            live.cx(self.opts)  # resolves the options' memory view
            mem_of = self.opts.view
            if mem_of is None:
                raise AbiTrap("this function has no memory option but needs one")
        return mem_of  # type: ignore[no-any-return]

    def _ok(self, mem_of: Callable[[], memoryview], slots: tuple[Any, ...], view: Any) -> None:
        """Lower ``ok`` (no payload): its discriminant, in the return area or the slot."""
        plan = self.plan
        rcodec = plan.rcodec
        if plan.spill_r:
            mem = mem_of()
            ptr = slots[-1]
            if ptr & (rcodec.align - 1) or ptr + rcodec.size > len(mem):  # the whole area
                raise range_trap(ptr, rcodec.size, rcodec.align)
            rcodec.dst.pack_into(mem, ptr, 0)
        elif plan.write is not None:
            plan.write(view, 0, 0)

    def _lower(self, live: OwnInstance, out: Any, slots: tuple[Any, ...], view: Any) -> None:
        """Lower any other outcome (an ``Err``, a value) through the result's codec."""
        plan = self.plan
        assert plan.result is not None
        if not isinstance(out, Ok | Err):
            out = Ok(out)
        out = from_python(out, plan.result, function=plan.label, param="<return>")
        cx = live.cx(self.opts)
        try:
            if plan.spill_r:
                plan.rcodec.store(cx, out, int(slots[-1]) & 0xFFFFFFFF)
            else:
                flat: list[Any] = []
                plan.rcodec.lower(cx, out, flat)
                if plan.write is not None:
                    plan.write(view, 0, flat[0] & 0xFFFFFFFF)
        except BadValue as exc:
            raise ValueConversionError(
                plan.label, "<return>", exc.expected, short(exc.value)
            ) from None
        finally:
            cx.finish()
