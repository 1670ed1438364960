"""Keeps wasmtime's trap handlers installed when another library replaces them.

wasmtime turns a guest's fault (``unreachable``, an out-of-bounds access, a division by zero,
a stack overflow: ``SIGILL``, ``SIGSEGV``, ``SIGFPE``, ``SIGBUS``) into a ``Trap`` with signal
handlers it installs once per process, with the first engine; for a fault outside wasm code
they call the handler that was there before them. A library that installs its own crash
handlers later takes that place for good: ``faulthandler.enable()`` and ``ray.init()`` (absl's
failure signal handler) do, and from then on the next guest trap kills the process ("Fatal
Python error: Illegal instruction") instead of raising ``Trap``.

:func:`record` notes wasmtime's handlers (the ``struct sigaction`` of each signal whose
handler lies in wasmtime's library) after an engine is made; :func:`restore` puts back every
one that a crash reporter replaced (Python's ``faulthandler``, Ray's absl handler; a handler
from any other library, which may need the signal for its own work, is left in place with a
warning). It runs for every new ``Runtime`` (all signals) and every new store
(``quick``: one ``sigaction`` call, looking at ``SIGSEGV``, which every crash handler takes),
so an instance made after such a call traps as it should. A call into an instance made before
it and not followed by a new store or runtime is not covered: checking on every call would add
a system call to calls that take ~1 µs. A crash outside wasm code then reaches the handler
that was there before wasmtime, not the replacing library's.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
from typing import TYPE_CHECKING, Any

from wasmtime import _ffi as ffi

if TYPE_CHECKING:
    import logging

__all__ = ["TRAP_SIGNALS", "record", "restore", "restore_trap_handlers"]


def _logger() -> logging.Logger:
    # logging (with traceback, string, threading's extras) is imported only when there is
    # something to say: a whole `omniwasm run` never says anything here.
    import logging

    return logging.getLogger("omniwasm")


TRAP_SIGNALS = tuple(
    getattr(signal, name)
    for name in ("SIGILL", "SIGFPE", "SIGSEGV", "SIGBUS")
    if hasattr(signal, name)
)
"""The signals wasmtime may catch for a guest's fault."""

_SIZE = 512
"""Bytes for a ``struct sigaction`` (152 on Linux/glibc, less on macOS): the handler is first."""


class _DlInfo(ctypes.Structure):
    _fields_ = [
        ("dli_fname", ctypes.c_char_p),
        ("dli_fbase", ctypes.c_void_p),
        ("dli_sname", ctypes.c_char_p),
        ("dli_saddr", ctypes.c_void_p),
    ]


_saved: dict[int, tuple[int, bytes]] = {}
"""Per signal: wasmtime's handler address and its whole ``struct sigaction``."""
_foreign: set[int] = set()
"""Handlers found over wasmtime's that are not crash reporters: left in place (said once)."""
_lock = threading.Lock()
_warned: list[bool] = []
_libc: ctypes.CDLL | None = None
_sigaction: Any = None
_probe = ctypes.create_string_buffer(_SIZE)
_PROBE = ctypes.addressof(_probe)
_probe_handler = ctypes.c_void_p.from_buffer(_probe)
_QUICK = getattr(signal, "SIGSEGV", 0)

if sys.platform != "win32":
    _libc = ctypes.CDLL(None, use_errno=True)
    _sigaction = ctypes.PYFUNCTYPE(ctypes.c_int, ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p)(
        ("sigaction", _libc)
    )


def _current(sig: int) -> int:
    """The handler address now installed for ``sig``.

    The ``sigaction`` is read into ``_probe``, which threads share: they all read the same
    handler there, so only the address returned is used.
    """
    if _sigaction(sig, None, _PROBE) != 0:
        return 0
    return _probe_handler.value or 0


def _library(address: int) -> tuple[int, str]:
    """The load address and file of the shared object holding ``address`` (0, "" when none)."""
    assert _libc is not None
    info = _DlInfo()
    if not _libc.dladdr(ctypes.c_void_p(address), ctypes.byref(info)):
        return 0, ""
    return info.dli_fbase or 0, os.fsdecode(info.dli_fname or b"")


def _library_base(address: int) -> int:
    """The load address of the shared object holding ``address`` (0 when none)."""
    return _library(address)[0]


def _python_base() -> int:
    return _library_base(ctypes.cast(ctypes.pythonapi.Py_IsInitialized, ctypes.c_void_p).value or 0)


def _crash_reporter(handler: int) -> bool:
    """Whether ``handler`` only reports a crash: Python's ``faulthandler``, Ray's (absl's).

    Such a handler may be replaced by wasmtime's again; any other (a JVM's, a Go runtime's)
    may need the signal for its own work, and is left in place.
    """
    base, path = _library(handler)
    return bool(base) and (base == _python_base() or os.path.basename(path).startswith("_raylet"))


def _wasmtime_base() -> int:
    return _library_base(ctypes.cast(ffi.dll.wasm_engine_new, ctypes.c_void_p).value or 0)


def record() -> None:
    """Note wasmtime's trap handlers (call after making an engine; later calls do nothing)."""
    if _sigaction is None or _saved:
        return
    with _lock:
        if _saved:
            return
        base = _wasmtime_base()
        found: dict[int, tuple[int, bytes]] = {}
        for sig in TRAP_SIGNALS:
            action = ctypes.create_string_buffer(_SIZE)  # not _probe: quick checks share it
            if _sigaction(sig, None, ctypes.addressof(action)) != 0:
                continue
            handler = ctypes.c_void_p.from_buffer(action).value or 0
            if handler > 1 and base and _library_base(handler) == base:  # 0/1: SIG_DFL/SIG_IGN
                found[sig] = (handler, action.raw)
        _saved.update(found)


def restore(*, quick: bool = False) -> tuple[str, ...]:
    """Reinstall each of wasmtime's trap handlers that another library replaced.

    Args:
        quick: look at ``SIGSEGV`` alone first, and at the others only when it was replaced.

    Returns:
        the names of the signals whose handler was put back (usually none).

    """
    saved = _saved
    if not saved:
        return ()
    if quick and _QUICK in saved:
        now = _current(_QUICK)
        if now == saved[_QUICK][0] or now in _foreign:
            return ()
    with _lock:
        put_back = []
        for sig, (handler, raw) in saved.items():
            now = _current(sig)
            if now == handler or now in _foreign:
                continue
            if now > 1 and not _crash_reporter(now):
                _foreign.add(now)
                _logger().warning(
                    "wasmtime's trap handler for %s was replaced by one in %s, which is not a "
                    "crash reporter omniwasm knows: left in place, so a guest fault may now "
                    "end the process (load that library before the first omniwasm Runtime)",
                    signal.Signals(sig).name,
                    _library(now)[1] or "an unknown library",
                )
                continue
            _sigaction(sig, ctypes.create_string_buffer(raw, _SIZE), None)
            put_back.append(signal.Signals(sig).name)
    if put_back:
        _report(put_back)
    return tuple(put_back)


def _report(names: list[str]) -> None:
    import logging

    level = logging.DEBUG if _warned else logging.WARNING
    if not _warned:
        _warned.append(True)
    _logger().log(
        level,
        "wasmtime's trap handlers for %s were replaced (faulthandler.enable(), ray.init() "
        "or another library's crash handler after the first engine): reinstalled, so that "
        "guest faults stay Trap errors",
        ", ".join(names),
    )


restore_trap_handlers = restore
""":func:`restore` under the name the façade knows it by."""
