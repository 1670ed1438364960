"""Export calls of the own runtime: Python values into a lifted core function and back.

:class:`OwnExport` is what ``OwnInstance.export`` hands the façade. Everything a call can
decide ahead of time is decided once, when the export is first looked up: each argument's
check (the exact common Python types inline, anything else through ``from_python``), whether
the signature is all scalars, and for such a signature a compiled run that packs the checked
arguments straight into the core function's raw slots, makes the unchecked call and lifts the
result from the same slots, with no lift/lower context, memory view or codec objects
(:mod:`.abi_flat`). Other signatures lift and lower through the codecs of :mod:`.abi` with a
context whose memory view and ``realloc`` were resolved at instantiation.

Failures are mapped by ``OwnInstance.reraise`` exactly as every other entry into the guest
(traps, parked host exceptions, poisoning); a call holds the instance's ``guard`` and runs
under the store's deadline when the policy has a timeout.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ...._errors import ValueConversionError
from ...._wit import types as t
from ...._wit.convert import from_python
from .abi import AbiTrap, BadValue, codec, flatten_func, params_codec
from .abi_flat import from_raw, is_scalar, to_raw
from .rawfunc import RawFunc

__all__ = ["OwnExport", "short"]


def short(value: Any) -> str:
    """``repr(value)``, cut to fit an error message."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class OwnExport:
    """An exported function of an own-runtime instance, called with Python values.

    Args:
        owner: the ``OwnInstance``.
        lifted: the ``canon lift`` behind the export (``core``, ``func``, ``options``).
        sig: the export's WIT signature.
        label: the name errors give (``interface#name``).
        sync: False for an async lift (its calls are run by ``async_run.call_async``, which
            replaces :meth:`_run` and takes the checked Python values).

    """

    def __init__(
        self, owner: Any, lifted: Any, sig: t.FuncSig, label: str, *, sync: bool = True
    ) -> None:
        self._owner = owner
        self._box = owner.box
        self._lifted = lifted
        self.sig = sig
        self.label = label
        self._params = [(n, codec(ty)) for n, ty in sig.params]
        self._result = None if sig.result is None else codec(sig.result)
        _, _, self._spill_p, self._spill_r = flatten_func(sig, lower=False)
        self._pcodec = params_codec(sig) if self._spill_p else None
        self._nparams = len(sig.params)
        self.concurrent = False
        """An async export: calls from other threads run alongside (each with its timeout)."""
        flat = (
            sync
            and not self._spill_p
            and isinstance(lifted.core, RawFunc)
            and all(is_scalar(ty) for _, ty in sig.params)
            and (sig.result is None or is_scalar(sig.result))
        )
        if flat:
            self._checks = [to_raw(ty, label, n) for n, ty in sig.params]
            self._run = _flat_run(self)  # type: ignore[method-assign,assignment]
        else:
            self._checks = [_check(ty, label, n) for n, ty in sig.params]

    def __call__(self, *args: Any) -> Any:
        """Call with Python values; ``result`` types come back as ``Ok``/``Err`` objects."""
        owner = self._owner
        if owner.poisoned or self._box.closed:
            raise owner.unusable(self.label)
        if len(args) != self._nparams:
            sig = self.sig
            raise ValueConversionError(
                self.label, "*", f"{len(sig.params)} argument(s): {sig}", f"{len(args)} argument(s)"
            )
        values = [check(a) for check, a in zip(self._checks, args, strict=False)]  # same length
        # an async export joins calls in flight from other threads (each with its timeout)
        joins = self.concurrent and not owner.guard._is_owned()
        with owner.guard:
            box = self._box
            if box.deadline_ticks is None:
                try:
                    return self._run(values)
                except BaseException as exc:
                    owner.reraise(exc)
            box.enter(joins=joins)
            try:
                return self._run(values)
            except BaseException as exc:
                owner.reraise(exc)
            finally:
                box.leave()

    def _run(self, values: list[Any]) -> Any:
        owner = self._owner
        lifted = self._lifted
        cx = owner.cx(lifted.options)
        flat: list[Any] = []
        name = "*"
        try:
            if self._pcodec is not None:
                ptr = cx.alloc(self._pcodec.align, self._pcodec.size)
                self._pcodec.store(cx, tuple(values), ptr)
                flat.append(ptr)
            else:
                for (pname, cd), v in zip(self._params, values, strict=True):
                    name = pname
                    cd.lower(cx, v, flat)
        except BadValue as exc:
            cx.finish()
            raise ValueConversionError(self.label, name, exc.expected, short(exc.value)) from None
        try:
            raw = lifted.core(*flat)
            cx.dirty()
            rc = self._result
            if rc is None:
                value = None
            elif self._spill_r:
                value = rc.load(cx, int(raw) & 0xFFFFFFFF)
            else:
                value = rc.lift(cx, iter([raw]))
            if cx.borrows:
                raise AbiTrap(f"{self.label} returned without dropping {cx.borrows} borrow(s)")
            post = lifted.options.post_return
            if post is not None:
                post(*([] if raw is None else [raw]))
        finally:
            cx.finish()
        return value


def _flat_run(export: OwnExport) -> Callable[[list[Any]], Any]:
    """The run of an all-scalar export: raw slots in, one unchecked call, raw slot out."""
    core: RawFunc = export._lifted.core
    post: RawFunc | None = export._lifted.options.post_return
    result = export.sig.result
    lift = None if result is None else from_raw(result)
    has_result = result is not None
    buf = core._buf
    pack = core._in.pack_into
    unpack = core._out.unpack_from
    call = core.call
    fail = core.fail

    def run(values: list[Any]) -> Any:
        pack(buf, 0, *values)
        error = call()
        out = unpack(buf, 0)
        if error or out[-1]:
            fail(error, out[-1])
        if not has_result:
            if post is not None:
                post()
            return None
        raw = out[0]
        value = raw if lift is None else lift(raw)
        if post is not None:
            post(raw)
        return value

    return run


def _check(ty: t.WitType, function: str, param: str) -> Callable[[Any], Any]:
    """An argument's validation to its canonical form (``from_python``, common cases inline)."""

    def slow(v: Any) -> Any:
        return from_python(v, ty, function=function, param=param)

    if isinstance(ty, t.StringType):

        def string(v: Any) -> Any:
            return v if type(v) is str and v.isascii() else slow(v)

        return string
    if isinstance(ty, t.ListType) and isinstance(ty.elem, t.U8Type):

        def data(v: Any) -> Any:
            return v if type(v) is bytes else slow(v)

        return data
    if isinstance(ty, t.IntType):
        lo, hi = ty.min, ty.max

        def integer(v: Any) -> Any:
            return v if type(v) is int and lo <= v <= hi else slow(v)

        return integer
    return slow
