"""WASI 0.3 in Python: ``wasi:cli``, ``wasi:clocks``, ``wasi:random``, ``wasi:http/types``.

The same virtual host as WASI 0.2 (:class:`~omniwasm.wasi.WasiContext`: the policy's
arguments, environment, standard streams, clocks and entropy), with 0.3's shapes: standard
output is a ``stream<u8>`` the host drains while the guest goes on, its result a
``future``; the monotonic clock's ``wait-for``/``wait-until`` are ``async`` (a deterministic
context advances its virtual clock instead of sleeping). Both the ``0.3.0`` names and the
``0.3.0-rc-2026-03-15`` release candidate (which the official test suite's prebuilt 0.3
guests import; the interfaces here have the same WIT in both) are defined, beside every
WASI 0.2 interface, so a component importing both works.
"""

from __future__ import annotations

import asyncio
from typing import Any

from ..._component import Linker, host_data
from ..._errors import GuestExit
from ..._wit.values import Err, Ok
from .._host import WasiContext
from .._host import add_to_linker as add_p2
from ._client import CLIENT
from ._fs import FS_INTERFACES, TERMINAL_INTERFACES
from ._http import HTTP_TYPES
from ._sockets import SOCKET_INTERFACES

__all__ = ["VERSIONS", "add_to_linker", "linker"]

VERSIONS = ("0.3.0", "0.3.0-rc-2026-03-15")
"""The WASI 0.3 versions defined (the release and the test suite's release candidate)."""


def _ctx() -> WasiContext:
    ctx: WasiContext = host_data()
    return ctx


def _exit(status: Any) -> None:
    code = 1 if isinstance(status, Err) else 0
    _ctx().exit_code = code
    raise GuestExit(code)


def _exit_with_code(status_code: int) -> None:
    _ctx().exit_code = status_code
    raise GuestExit(status_code)


def _write_via_stream(which: str) -> Any:
    """``stdout``/``stderr``'s ``write-via-stream``: drain the guest's stream into the sink."""

    def write_via_stream(data: Any) -> Any:
        sink = getattr(_ctx(), which)

        async def drain() -> Any:
            async for chunk in data:
                if sink is not None:
                    sink.write(bytes(chunk))
            if sink is not None and hasattr(sink, "flush"):
                sink.flush()
            return Ok(None)

        return drain()

    return write_via_stream


def _read_via_stream() -> tuple[bytes, Any]:
    """``stdin.read-via-stream``: stdin's bytes as a stream, and its result future.

    The policy's stdin (bytes, a file, a generator) is read to its end here, within the
    deadline, and handed over as one stream.
    """
    stdin = _ctx().stdin
    chunks = []
    while True:
        try:
            part = stdin.blocking_read(_STDIN_CHUNK)
        except Err:  # the end of stdin
            break
        chunks.append(part)
    return b"".join(chunks), Ok(None)


_STDIN_CHUNK = 1 << 16


async def _sleep_ns(clock: Any, ns: int) -> None:
    if clock.virtual:
        clock.advance_to(clock.now() + ns)
        return
    await asyncio.sleep(max(0, ns) / 1e9)


def _wait_for(how_long: int) -> Any:
    return _sleep_ns(_ctx().clock, how_long)


def _wait_until(when: int) -> Any:
    clock = _ctx().clock
    return _sleep_ns(clock, when - clock.now())


def _entropy() -> Any:
    return _ctx().entropy


def _now() -> int:
    return int(_ctx().clock.now())


def _resolution() -> int:
    return int(_ctx().clock.resolution())


def _wall() -> Any:
    return _ctx().clock.wall()


def _interfaces() -> dict[str, dict[str, Any]]:
    entropy = _entropy
    return {
        "wasi:cli/environment": {
            "get_environment": lambda: list(_ctx().env),
            "get_arguments": lambda: list(_ctx().args),
            "get_initial_cwd": lambda: _ctx().cwd,
        },
        "wasi:cli/exit": {"exit": _exit, "exit_with_code": _exit_with_code},
        "wasi:cli/stdin": {"read_via_stream": _read_via_stream},
        "wasi:cli/stdout": {"write_via_stream": _write_via_stream("stdout")},
        "wasi:cli/stderr": {"write_via_stream": _write_via_stream("stderr")},
        "wasi:clocks/monotonic-clock": {
            "now": _now,
            "get_resolution": _resolution,
            "wait_for": _wait_for,
            "wait_until": _wait_until,
        },
        "wasi:clocks/system-clock": {
            "now": _wall,
            "get_resolution": lambda: 1,
        },
        "wasi:random/random": {
            "get_random_bytes": lambda n: entropy().get_random_bytes(n),
            "get_random_u64": lambda: entropy().get_random_u64(),
        },
        "wasi:random/insecure": {
            "get_insecure_random_bytes": lambda n: entropy().get_insecure_random_bytes(n),
            "get_insecure_random_u64": lambda: entropy().get_insecure_random_u64(),
        },
        "wasi:random/insecure-seed": {"get_insecure_seed": lambda: entropy().insecure_seed()},
        "wasi:http/types": HTTP_TYPES,
        **FS_INTERFACES,
        **TERMINAL_INTERFACES,
        **SOCKET_INTERFACES,
        "wasi:http/client": CLIENT,
    }


def add_to_linker(target: Linker) -> Linker:
    """Define the WASI 0.3 interfaces (both :data:`VERSIONS`) in ``target``.

    ``target`` must not use native WASI (``Linker(wasi=False)``).
    """
    for name, members in _interfaces().items():
        for version in VERSIONS:
            target.define(f"{name}@{version}", **members)
    return target


_shared: list[Linker] = []


def linker() -> Linker:
    """The shared linker with every WASI 0.3 and 0.2 interface of the virtual host."""
    if not _shared:
        _shared.append(add_to_linker(add_p2(Linker(wasi=False))))
    return _shared[0]
