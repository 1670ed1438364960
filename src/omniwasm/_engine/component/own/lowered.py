"""Lowered calls of the own runtime: the core functions behind ``canon lower`` and built-ins.

``canon lower`` of a Python host function or of another component's lifted export becomes a
wasmtime core function whose callback lifts the guest's flat arguments through the canonical
ABI (:mod:`.abi`), calls the target (a Python host function with traps and errors mapped, or a
fused component-to-component call through both instances' options), and lowers the result back;
resource built-ins get the same plain callback wrapper.
"""

from __future__ import annotations

import weakref
from typing import Any

import wasmtime

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
from .abi import AbiTrap, BadValue, Cx, codec, flatten_func, params_codec
from .async_canon import (
    settle,
)
from .instance import Host, Lifted, Options, OwnInstance, _cx, _local, _short

_VAL = {"i32": wasmtime.ValType.i32(), "i64": wasmtime.ValType.i64()}
_VAL["f32"] = wasmtime.ValType.f32()
_VAL["f64"] = wasmtime.ValType.f64()


def _lowered(inst: OwnInstance, target: Host | Lifted, opts: Options, label: str) -> wasmtime.Func:
    """A core function that calls ``target`` through the canonical ABI (``canon lower``)."""
    sig = target.sig if isinstance(target, Host) else _anon_sig(target.func)
    params, results, spill_p, spill_r = flatten_func(sig, lower=True)
    ftype = wasmtime.FuncType([_VAL[p] for p in params], [_VAL[r] for r in results])
    pcodecs = [codec(ty) for _, ty in sig.params]
    pcodec = params_codec(sig) if spill_p else None
    rcodec = None if sig.result is None else codec(sig.result)
    is_result = isinstance(sig.result, t.ResultType)
    # The callback lives in wasmtime-py's global function slab until the store is freed: it
    # must not hold the instance (which holds the store) strongly, or neither is ever freed.
    owner = weakref.ref(inst)
    state = inst.state
    ctx = inst.box.ctx
    hosted = isinstance(target, Host)

    def callback(*core: Any) -> Any:
        try:
            live = owner()
            if live is None:
                raise OmniwasmError(f"{label}: the instance is gone")
            cx = _cx(live, opts) if hosted else _inner_cx(live, opts)
            try:
                return _host_call(cx, core)
            finally:
                cx.finish()
        except BaseException as exc:
            state.park(exc, label)
            raise

    def _host_call(cx: Cx, core: tuple[Any, ...]) -> Any:
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
            raise ValueConversionError(label, "<return>", exc.expected, _short(exc.value)) from None
        return flat[0]

    return wasmtime.Func(inst.box.store, ftype, callback)


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


def _inner_cx(inst: OwnInstance, opts: Options) -> Cx:
    return Cx(inst.views.view_fn(opts.memory), opts.realloc, opts.encoding, opts.table, inst.inner)


def _fused_call(inst: Any, callee: Lifted, sig: t.FuncSig, args: list[Any]) -> Any:
    """Call a function another component instance of this component lifted.

    The arguments were lifted from the caller (handles as ``Transit``); they are lowered into
    the callee, and its result lifted back for the caller to lower.
    """
    if inst is None:
        raise OmniwasmError("the instance is gone")
    cx = _inner_cx(inst, callee.options)
    flat: list[Any] = []
    _, _, spill_p, spill_r = flatten_func(sig, lower=False)
    try:
        if spill_p:
            pc = params_codec(sig)
            ptr = cx.alloc(pc.align, pc.size)
            pc.store(cx, tuple(args), ptr)
            flat.append(ptr)
        else:
            for (_, ty), v in zip(sig.params, args, strict=True):
                codec(ty).lower(cx, v, flat)
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


def _builtin(inst: OwnInstance, fn: Any, params: int, results: int, label: str) -> wasmtime.Func:
    """A core function for a ``canon`` built-in (``fn`` takes and returns i32s)."""
    i32 = _VAL["i32"]
    ftype = wasmtime.FuncType([i32] * params, [i32] * results)
    state = inst.state

    def callback(*core: Any) -> Any:
        try:
            return fn(*core)
        except BaseException as exc:
            state.park(exc, label)
            raise

    return wasmtime.Func(inst.box.store, ftype, callback)


def _anon_sig(func: Func) -> t.FuncSig:
    return t.FuncSig("", func.params, func.result)  # type: ignore[arg-type]
