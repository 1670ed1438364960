"""Lowered calls of the own runtime: the core functions behind ``canon lower`` and built-ins.

``canon lower`` of a Python host function or of another component's lifted export becomes a
raw core function (:func:`.rawhost.planned_funcs`: made once per plan as a binder, bound to an
instance the first time wasm calls it) whose callback reads the guest's flat arguments
from their slots, lifts them through the canonical ABI (:mod:`.abi`), calls the target (a
Python host function with traps and errors mapped, or a fused component-to-component call
through both instances' options), and lowers the result back into the slots. An all-scalar
host function skips the codecs: each argument and the result convert in one step
(:mod:`.abi_flat`). Resource built-ins get the same raw callback. A callback never raises:
it parks the exception in the store's state (the call's caller raises it) and returns a trap.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

from ...._binary.component_types import (
    Func,
)
from ...._errors import (
    OmniwasmError,
    ValueConversionError,
)
from ...._wit import types as t
from ...._wit.convert import from_python
from ...._wit.values import Err, Ok
from .abi import AbiTrap, BadValue, Cx, codec, flatten_func, lower_params, params_codec
from .abi_flat import from_raw, is_scalar, to_raw
from .async_canon import (
    AsyncLifted,
    settle,
)
from .call import short
from .instance import Host, Lifted, Options, OwnInstance, _local
from .lowered_bytes import is_bytes_sink, sink_binder
from .rawhost import host_trap, slot_layout, slot_masks, slot_views

_PLAIN = frozenset({int, float, bool, str, bytes, type(None)})
"""Results no host function can mean as an awaitable (``settle`` is skipped for them)."""


Resolve = Callable[[OwnInstance], tuple[Host | Lifted, Options]]
"""``resolve(inst)``: a lowered function's target and options in one instance."""
Binder = Callable[[OwnInstance], Callable[[int], int]]
"""``bind(inst) -> callback``: a planned function's raw callback for one instance."""


def lower_binder(
    sig: t.FuncSig, hosted: bool, label: str, resolve: Resolve
) -> tuple[list[str], list[str], Binder]:
    """``canon lower`` of a function with signature ``sig`` (once per plan).

    Returns the core function's parameter and result types and its binder: everything that
    depends only on the types (flattening, codecs, slot layouts) is made here, and
    ``bind(inst)`` makes only the instance's callback (:func:`.rawhost.planned_funcs`).
    ``hosted``: the target is a Python host function (else a function another component
    instance inside this one lifted).
    """
    params, results, spill_p, spill_r = flatten_func(sig, lower=True)
    scalar = (
        hosted
        and not spill_p
        and not spill_r
        and all(is_scalar(ty) for _, ty in sig.params)
        and (sig.result is None or is_scalar(sig.result))
    )
    if scalar:
        return params, results, _scalar_binder(sig, params, results, label, resolve)
    generic = _binder(sig, hosted, params, results, label, resolve)
    if hosted and is_bytes_sink(sig):  # stream writes: bytes straight out of guest memory
        return params, results, sink_binder(sig, label, resolve, generic=generic)
    return params, results, generic


def _scalar_binder(
    sig: t.FuncSig, params: list[str], results: list[str], label: str, resolve: Resolve
) -> Binder:
    """The raw callback of an all-scalar Python host function: slots to values and back."""
    view_at = slot_views(max(len(params), len(results)))
    read = slot_layout(params).unpack_from
    write = slot_layout(results).pack_into
    lifts = [from_raw(ty) for _, ty in sig.params]
    identity = all(f is None for f in lifts)
    result = sig.result
    lower = None if result is None else to_raw(result, label, "<return>")
    local = _local

    def bind(inst: OwnInstance) -> Callable[[int], int]:
        target, _ = resolve(inst)
        assert isinstance(target, Host)
        fn = target.fn
        owner = weakref.ref(inst)  # the callback outlives nothing that holds the store
        state = inst.state
        ctx = inst.box.ctx

        def callback(address: int) -> int:
            try:
                live = owner()
                if live is None:
                    raise OmniwasmError(f"{label}: the instance is gone")
                view = view_at(address)
                raw = read(view, 0)
                args = (
                    raw
                    if identity
                    else [x if f is None else f(x) for x, f in zip(raw, lifts, strict=True)]
                )
                outer = local.ctx
                local.ctx = ctx
                try:
                    out = fn(*args)
                    if type(out) not in _PLAIN:
                        out = settle(live, out, label, result)  # async def: awaited
                finally:
                    local.ctx = outer
                if lower is not None:
                    write(view, 0, lower(out))
                return 0
            except BaseException as exc:
                state.park(exc, label)
                return host_trap()

        return callback

    return bind


def _binder(  # noqa: PLR0917 - the function's static shape
    sig: t.FuncSig,
    hosted: bool,
    params: list[str],
    results: list[str],
    label: str,
    resolve: Resolve,
) -> Binder:
    """The raw callback of any lowered function: the codecs lift and lower through a ``Cx``."""
    call_maker = _lift_call_lower(sig, label)
    view_at = slot_views(max(len(params), len(results)))
    read = slot_layout(params).unpack_from
    write = slot_layout(results).pack_into
    rmask = slot_masks(results)[0] if results else None
    inner = not hosted

    def bind(inst: OwnInstance) -> Callable[[int], int]:
        target, opts = resolve(inst)
        # The callback lives in a global table until the store is freed: it must not hold
        # the instance (which holds the store) strongly, or neither is ever freed.
        owner = weakref.ref(inst)
        state = inst.state
        host_call = call_maker(owner, target, inst.box.ctx)

        def callback(address: int) -> int:
            try:
                live = owner()
                if live is None:
                    raise OmniwasmError(f"{label}: the instance is gone")
                view = view_at(address)
                cx = live.cx(opts, inner=inner)
                try:
                    out = host_call(cx, read(view, 0))
                finally:
                    cx.finish()
                if results:
                    write(view, 0, out if rmask is None else out & rmask)
                return 0
            except BaseException as exc:
                state.park(exc, label)
                return host_trap()

        return callback

    return bind


def _lift_call_lower(sig: t.FuncSig, label: str) -> Any:
    """``make(owner, target, ctx) -> call(cx, core_args)``: lift, call ``target``, lower."""
    _, _, spill_p, spill_r = flatten_func(sig, lower=True)
    pcodecs = [codec(ty) for _, ty in sig.params]
    pcodec = params_codec(sig) if spill_p else None
    rcodec = None if sig.result is None else codec(sig.result)
    is_result = isinstance(sig.result, t.ResultType)

    def make(owner: Any, target: Host | Lifted, ctx: int) -> Any:
        def host_call(cx: Cx, core: tuple[Any, ...]) -> Any:
            if pcodec is not None:
                args = list(pcodec.load(cx, int(core[0]) & 0xFFFFFFFF))
            else:
                it = iter(core)
                args = [cd.lift(cx, it) for cd in pcodecs]
            if isinstance(target, Host):
                out = _call_host(target, args, ctx, is_result=is_result, inst=owner(), label=label)
                if rcodec is None:
                    return None
                assert sig.result is not None
                out = from_python(out, sig.result, function=label, param="<return>")
            else:
                out = _fused_call(owner(), target, sig, args)
                if rcodec is None:
                    return None
            cx.dirty()
            try:
                if spill_r:
                    rcodec.store(cx, out, int(core[-1]) & 0xFFFFFFFF)
                    return None
                flat: list[Any] = []
                rcodec.lower(cx, out, flat)
            except BadValue as exc:
                raise ValueConversionError(
                    label, "<return>", exc.expected, short(exc.value)
                ) from None
            return flat[0]

        return host_call

    return make


def _call_host(
    target: Host, args: list[Any], ctx: int, *, is_result: bool, inst: Any, label: str
) -> Any:
    """Call a Python host function (``host_data()`` finds this store meanwhile)."""
    outer = _local.ctx
    _local.ctx = ctx
    try:
        out = settle(inst, target.fn(*args), label, target.sig.result)  # async def: awaited
    except Err as err:
        if not is_result:
            raise
        out = err
    finally:
        _local.ctx = outer
    if is_result and not isinstance(out, Ok | Err):
        out = Ok(out)
    return out


def _fused_call(inst: Any, callee: Lifted, sig: t.FuncSig, args: list[Any]) -> Any:
    """Call a function another component instance of this component lifted.

    The arguments were lifted from the caller (handles as ``Transit``); they are lowered into
    the callee, and its result lifted back for the caller to lower.
    """
    if inst is None:
        raise OmniwasmError("the instance is gone")
    if isinstance(callee, AsyncLifted):  # a sync call into an async function
        from .async_fused import call_fused

        return call_fused(inst, callee, args, "a component function")
    cx = inst.cx(callee.options, inner=True)
    _, _, spill_p, spill_r = flatten_func(sig, lower=False)
    try:
        flat = lower_params(cx, sig, args, spill_p)
        raw = callee.core(*flat)
        cx.dirty()
        value = None
        if sig.result is not None:
            rc = codec(sig.result)
            value = rc.load(cx, int(raw) & 0xFFFFFFFF) if spill_r else rc.lift(cx, iter([raw]))
        if cx.borrows:
            raise AbiTrap(f"a component function returned without dropping {cx.borrows} borrow(s)")
        post = callee.options.post_return
        if post is not None:
            post(*([] if raw is None else [raw]))
    finally:
        cx.finish()
    return value


def builtin_binder(
    params: int, results: int, make: Callable[[OwnInstance], tuple[Any, str]]
) -> Binder:
    """A planned core function for a ``canon`` built-in of i32s (once per plan).

    ``make(inst)`` gives the instance's function (taking and returning i32s) and its label.
    """
    view_at = slot_views(max(params, results))
    read = slot_layout(["i32"] * params, signed=True).unpack_from
    write = slot_layout(["i32"] * results).pack_into

    def bind(inst: OwnInstance) -> Callable[[int], int]:
        fn, label = make(inst)
        state = inst.state

        def callback(address: int) -> int:
            try:
                view = view_at(address)
                out = fn(*read(view, 0))
                if results:
                    write(view, 0, out & 0xFFFFFFFF)
                return 0
            except BaseException as exc:
                state.park(exc, label)
                return host_trap()

        return callback

    return bind


def anon_sig(func: Func) -> t.FuncSig:
    """The signature of a component function type (no name)."""
    return t.FuncSig("", func.params, func.result)  # type: ignore[arg-type]
