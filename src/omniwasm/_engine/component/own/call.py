"""Export calls of the own runtime: Python values into a lifted core function and back.

:class:`OwnExport` is what ``OwnInstance.export`` hands the façade. Everything a call can
decide ahead of time is decided once, when the export is first looked up: each argument's
check (the exact common Python types inline, anything else through ``from_python``), whether
the signature is made of scalars, UTF-8 strings and byte lists, and for such a signature a
compiled run (:mod:`.direct`) that packs the checked arguments straight into the core
function's raw slots (:mod:`.abi_flat`), makes the unchecked call and lifts the result from the
same slots, with no lift/lower context or codec objects. Other signatures lift and lower
through the codecs of :mod:`.abi` with a context whose memory view was resolved once.

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
from .abi_flat import is_scalar, to_raw
from .direct import direct_run

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
        run = direct_run(self) if sync else None
        if run is not None:  # scalars as raw slot numbers, strings and bytes as they are
            self._run = run  # type: ignore[method-assign,assignment]
            self._checks = [
                to_raw(ty, label, n) if is_scalar(ty) else _check(ty, label, n)
                for n, ty in sig.params
            ]
        else:
            self._checks = [_check(ty, label, n) for n, ty in sig.params]

        self.invoke = _invoker(self)
        """The call itself, as a plain function (the façade calls it without ``__call__``)."""

    def __call__(self, *args: Any) -> Any:
        """Call with Python values; ``result`` types come back as ``Ok``/``Err`` objects."""
        return self.invoke(*args)

    def arity_error(self, given: int) -> ValueConversionError:
        """The error for a call with the wrong number of arguments."""
        sig = self.sig
        return ValueConversionError(
            self.label, "*", f"{len(sig.params)} argument(s): {sig}", f"{given} argument(s)"
        )

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


def _invoker(export: OwnExport) -> Callable[..., Any]:
    """``invoke(*args)``: check the arguments, then run under the guard (and the deadline)."""
    owner = export._owner
    box = export._box
    guard = owner.guard
    label = export.label
    checks = export._checks
    n = export._nparams
    only = checks[0] if n == 1 else None
    acquire, release = guard.acquire, guard.release  # cheaper than ``with guard``

    def invoke(*args: Any) -> Any:
        if owner.poisoned or box.closed:
            raise owner.unusable(label)
        if len(args) != n:
            raise export.arity_error(len(args))
        if only is not None:
            values = [only(args[0])]
        else:
            values = [check(a) for check, a in zip(checks, args, strict=True)]
        # an async export joins calls in flight from other threads (each with its timeout)
        joins = export.concurrent and not guard._is_owned()
        acquire()
        try:
            if box.deadline_ticks is None:
                try:
                    return export._run(values)
                except BaseException as exc:
                    owner.reraise(exc)
            box.enter(joins=joins)
            try:
                return export._run(values)
            except BaseException as exc:
                owner.reraise(exc)
            finally:
                box.leave()
        finally:
            release()

    return invoke


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
