"""A wasmtime Store configured from a Policy: limits, fuel, deadline, and native WASI.

Every store gets the policy's limits through wasmtime's store limiter, its fuel (when the
engine meters fuel), an epoch deadline (none, or the policy's timeout), and, when the guest
uses WASI, a native WASI context built from the policy's capabilities.

Captured stdout and stderr go to pipes owned by this store (:mod:`.output`), so concurrent
guests never mix their output and each stream keeps at most ``Policy.max_output`` bytes.
"""

from __future__ import annotations

import ctypes
import os
import time
import weakref
from typing import Any

import wasmtime
from wasmtime import _ffi as ffi

from .._deadline import Deadline
from .._errors import PolicyError
from .._policy import Output, Policy, merge_env
from . import traps
from .core.rawfunc import immortal
from .native import NO_DEADLINE, NativeEngine, ensure_ticker, ticks_for
from .output import OutputCapture
from .stdin import StdinPump, stdin_can_block

__all__ = ["CANCELLED_MESSAGE", "StoreBox", "box_of"]

CANCELLED_MESSAGE = "omniwasm: call cancelled by the host"
_vp = ctypes.c_void_p
_ON_DEADLINE = ctypes.CFUNCTYPE(ctypes.c_size_t, _vp, _vp, _vp, _vp)
_FINALIZER = ctypes.CFUNCTYPE(None, _vp)
_set_deadline_callback = ctypes.CFUNCTYPE(None, _vp, _ON_DEADLINE, _vp, _FINALIZER)(
    ("wasmtime_store_epoch_deadline_callback", ffi.dll)
)
_error_new = ctypes.CFUNCTYPE(_vp, ctypes.c_char_p)(("wasmtime_error_new", ffi.dll))
_set_deadline = ctypes.PYFUNCTYPE(None, _vp, ctypes.c_uint64)(
    ("wasmtime_context_set_epoch_deadline", ffi.dll)
)
_CANCELLABLE: dict[int, weakref.ref[StoreBox]] = {}
_NO_FINALIZER = _FINALIZER()
_U64 = ctypes.c_uint64
_U8 = ctypes.c_uint8
_BOXES: weakref.WeakValueDictionary[int, StoreBox] = weakref.WeakValueDictionary()


def box_of(ctx: int) -> StoreBox | None:
    """The live store box whose context is ``ctx`` (stores with WASI or a deadline only)."""
    return _BOXES.get(ctx)


def _forget(ref: weakref.ref[StoreBox]) -> None:
    _CANCELLABLE.pop(id(ref), None)


@immortal
@_ON_DEADLINE  # type: ignore[untyped-decorator]
def _on_deadline(ctx: int | None, data: int | None, delta: int | None, kind: int | None) -> int:
    """Every tick of a cancellable store's run: stop it when cancelled or past its timeout."""
    ref = _CANCELLABLE.get(data or 0)
    box = None if ref is None else ref()
    if box is None or box.deadline.cancelled:
        return int(_error_new(CANCELLED_MESSAGE.encode()) or 0)
    at = box.deadline.at
    if at is not None and time.monotonic() >= at:
        return int(_error_new(b"wasm trap: interrupt") or 0)
    _U64.from_address(delta or 0).value = 1
    _U8.from_address(kind or 0).value = 0  # WASMTIME_UPDATE_DEADLINE_CONTINUE
    return 0


class StoreBox:
    """Owns one ``wasmtime.Store`` and what the policy attached to it.

    Args:
        native: the engine the store belongs to.
        policy: the sandbox policy to apply.
        wasi: configure a native WASI context (p1 and p2) from the policy.
        argv0: the program name the guest sees as ``argv[0]``.

    Raises:
        PolicyError: the policy asks for fuel on an engine without fuel metering, or names a
            directory or file that cannot be opened.

    """

    def __init__(
        self, native: NativeEngine, policy: Policy, *, wasi: bool = False, argv0: str = "main"
    ) -> None:
        self.native = native
        self.policy = policy
        traps.restore(quick=True)  # a guest fault must stay a Trap (see .traps)
        self.store = wasmtime.Store(native.engine)
        self._ctx = 0
        self.deadline = Deadline(policy.timeout)
        """When the running call must end; host functions wait through it."""
        self.cancellable = False
        self.wasip1_helper: Any = None
        """The helper instance deadline-aware WASI p1 functions call native ones through."""
        self.forwarders: dict[str, list[Any]] = {}
        """Forwarder instances of shadowed WASI p1 functions (``core.wasip1.forwarders``)."""
        self.open_files = 0
        """Files the guests opened and did not close (counted when the linker shadows them)."""
        self.max_open_files: int | None = None
        """Past this many open files ``path_open`` fails with EMFILE (None: no limit)."""
        self.open_files_refused = 0
        """How many ``path_open`` calls were refused at :attr:`max_open_files`."""
        self._stdin: StdinPump | None = None
        self._captures: dict[str, Any] = {}
        self.instances: list[Any] = []
        """The ``wasmtime_instance_t`` of every core instance in this store (grow probes)."""
        self.closed = False
        self.deadline_ticks = ticks_for(policy.timeout) if policy.timeout is not None else None
        store = self.store
        if (
            policy.max_memory is not None
            or policy.max_table_elements is not None
            or policy.max_instances is not None
        ):
            store.set_limits(
                memory_size=_or_neg(policy.max_memory),
                table_elements=_or_neg(policy.max_table_elements),
                instances=_or_neg(policy.max_instances),
            )
        if native.settings.fuel:
            store.set_fuel(policy.fuel if policy.fuel is not None else (1 << 63) - 1)
        elif policy.fuel is not None:
            raise PolicyError(
                "this policy sets fuel but the Runtime was created without fuel metering: "
                "use Runtime(fuel=True)"
            )
        _set_deadline(self.ctx, NO_DEADLINE)
        if wasi or policy.timeout is not None:
            _BOXES[self.ctx] = self
        if wasi:
            store.set_wasi(self._wasi_config(argv0))

    @property
    def ctx(self) -> int:
        """The raw ``wasmtime_context_t*`` of the store (for the fast call paths)."""
        ctx = self._ctx
        if not ctx:
            ctx = self._ctx = ctypes.addressof(self.store._context().contents)
        return ctx

    def make_cancellable(self) -> None:
        """Let another thread stop this store's running call with :meth:`cancel`.

        The store then checks in every epoch tick (5 ms) through a deadline callback, which
        also enforces the policy's timeout per call from :meth:`begin_call`.
        """
        ensure_ticker()
        ref = weakref.ref(self, _forget)  # keyed by its own id: no closure per store
        key = id(ref)
        _CANCELLABLE[key] = ref
        _set_deadline_callback(
            ctypes.addressof(self.store.ptr().contents), _on_deadline, key, _NO_FINALIZER
        )
        self.cancellable = True
        self.deadline_ticks = 1
        _BOXES[self.ctx] = self

    def enter(self, *, joins: bool = False) -> None:
        """A call goes into the store: start its deadline and arm the epoch for what is left.

        A call nested in a host function keeps the outer call's deadline; one that ``joins``
        calls already in flight from another thread (async exports) extends it to its own
        (:meth:`Deadline.extend`). Pair every call with :meth:`leave`.
        """
        deadline = self.deadline
        nested = deadline.depth > 0
        deadline.enter()
        if nested and joins:
            deadline.extend()
        if self.cancellable:
            _set_deadline(self._ctx or self.ctx, 1)  # the deadline callback looks every tick
            return
        if not nested:  # the whole timeout is left: its ticks were computed once
            ticks = self.deadline_ticks
        else:
            left = deadline.remaining()
            ticks = None if left is None else ticks_for(left)
        if ticks is not None:
            _set_deadline(self._ctx or self.ctx, ticks)

    def leave(self) -> None:
        """A call leaves the store.

        Raises:
            Timeout: the outermost call ends after the host cut a wait short at the deadline
                (the guest saw its stdin end there), whatever the guest did next.

        """
        deadline = self.deadline
        if deadline.leave():
            raise deadline.error("stdin")

    def begin_call(self) -> None:
        """Mark the start of a call (its timeout counts from now); pair with :meth:`end_call`."""
        self.enter()

    def end_call(self) -> None:
        """Mark the end of a call: a late ``cancel`` does not reach the next one.

        Raises:
            Timeout: see :meth:`leave`.

        """
        self.leave()

    @property
    def call_deadline(self) -> float | None:
        """``time.monotonic()`` at which the running call must end (None: none running)."""
        return self.deadline.at

    def arm_deadline(self) -> None:
        """Arm only the epoch for the policy's timeout (wasm only; prefer :meth:`enter`)."""
        if self.deadline_ticks is not None:
            _set_deadline(self.ctx, self.deadline_ticks)

    @property
    def in_call(self) -> bool:
        """True while a call runs in the store."""
        return self.deadline.active

    def cancel(self) -> bool:
        """Ask the running call (from any thread) to stop; False when none is running."""
        return self.deadline.cancel()

    def fuel_left(self) -> int | None:
        """Fuel remaining, or None when the engine does not meter fuel."""
        return self.store.get_fuel() if self.native.settings.fuel else None

    def captured(self, name: str) -> bytes:
        """What the guest wrote so far to ``"stdout"`` or ``"stderr"`` (empty if not captured)."""
        capture = self._captures.get(name)
        return capture.read() if capture is not None else b""

    def add_capture(self, name: str, capture: Any) -> None:
        """Read ``"stdout"``/``"stderr"`` from ``capture``, which a Python WASI host fills.

        ``capture`` has ``read()``, ``truncated`` and ``freeze()``.
        """
        self._captures[name] = capture

    def truncated(self) -> tuple[str, ...]:
        """The captured streams the guest wrote more than ``Policy.max_output`` bytes to."""
        return tuple(n for n, c in self._captures.items() if c.truncated)

    def close(self) -> None:
        """Release the native store (captured output stays readable); idempotent."""
        if not self.closed:
            self.closed = True
            self.store.close()
            if self._stdin is not None:
                self._stdin.stop()
            for capture in self._captures.values():
                capture.freeze()

    def _wasi_config(self, argv0: str) -> wasmtime.WasiConfig:
        policy = self.policy
        config = wasmtime.WasiConfig()
        config.argv = [argv0, *policy.args]
        if policy.env or policy.inherit_env:  # a new config's environment is empty
            config.env = [list(p) for p in merge_env(policy, os.environ.items())]
        stdin = policy.stdin
        if stdin == "inherit" and policy.timeout is not None and stdin_can_block():
            # wasmtime's own read of an inherited stdin cannot be interrupted: feed it
            # through a pipe this process closes at the deadline
            pump = self._stdin = StdinPump(self.deadline)
            weakref.finalize(self, pump.stop)  # a store never closed must not read on
            config.stdin_file = pump.path
            pump.opened()
        elif stdin == "inherit":
            config.inherit_stdin()
        elif isinstance(stdin, bytes):
            _set_stdin_bytes(config, stdin)
        elif stdin is not None:
            if not os.path.isfile(stdin):
                raise PolicyError(f"stdin file not found: {stdin}")
            config.stdin_file = str(stdin)
        self._wire_output(config, policy.stdout, "stdout")
        self._wire_output(config, policy.stderr, "stderr")
        for mount in policy.dirs:
            problem = mount.problem()
            if problem is not None:
                raise PolicyError(problem)
            try:
                config.preopen_dir(mount.host, mount.guest, not mount.read_only)
            except wasmtime.WasmtimeError as exc:
                raise PolicyError(f"cannot preopen {mount.host}: {exc}") from exc
        return config

    def _wire_output(self, config: wasmtime.WasiConfig, out: Output, name: str) -> None:
        if out == "inherit":
            getattr(config, f"inherit_{name}")()
            return
        if out == "capture":
            capture = self._captures[name] = OutputCapture(name, self.policy.max_output)
            path = capture.path
        elif out == "discard":
            path = os.devnull
        else:
            path = str(out)
        try:
            setattr(config, f"{name}_file", path)
        except wasmtime.WasmtimeError as exc:
            raise PolicyError(f"cannot open {name} file {out}: {exc}") from exc
        if out == "capture":
            self._captures[name].opened()


def _or_neg(value: int | None) -> int:
    return -1 if value is None else value


def _set_stdin_bytes(config: wasmtime.WasiConfig, data: bytes) -> None:
    """Give the guest ``data`` as stdin (ownership of the byte vector passes to wasmtime)."""
    vec = ffi.wasm_byte_vec_t()
    buf = (ctypes.c_uint8 * len(data)).from_buffer_copy(data) if data else None
    ffi.wasm_byte_vec_new(ctypes.byref(vec), len(data), buf)
    ffi.wasi_config_set_stdin_bytes(config.ptr(), ctypes.byref(vec))
