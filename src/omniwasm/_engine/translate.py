"""Translate every wasmtime error into the most specific omniwasm error, in one place.

wasmtime-py reports traps from core calls as ``wasmtime.Trap`` (with a trap code and frames),
traps from component calls as a bare ``WasmtimeError`` whose text carries the same facts,
guest exits as ``ExitTrap``, and store-limit failures as a bare ``WasmtimeError``. The only
reliable common ground is the message, so the message is parsed here, once.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import wasmtime
from wasmtime import _func as wasmtime_func

from .._errors import (
    Cancelled,
    ExecutionError,
    Frame,
    GuestExit,
    HostFunctionError,
    InvalidModule,
    LimitExceeded,
    LinkError,
    MemoryLimitExceeded,
    MissingImport,
    OmniwasmError,
    OutOfFuel,
    Timeout,
    Trap,
)
from .._policy import Policy

__all__ = ["frames_from_text", "translate", "translating"]

CANCELLED_TEXT = "omniwasm: call cancelled by the host"  # = store.CANCELLED_MESSAGE

# Trap messages (wasmtime's `Trap` Display) -> stable trap-code names.
_TRAP_TEXT = {
    "call stack exhausted": "stack_overflow",
    "out of bounds memory access": "memory_out_of_bounds",
    "unaligned atomic": "heap_misaligned",
    "undefined element: out of bounds table access": "table_out_of_bounds",
    "uninitialized element": "indirect_call_to_null",
    "indirect call type mismatch": "bad_signature",
    "integer overflow": "integer_overflow",
    "integer divide by zero": "integer_division_by_zero",
    "invalid conversion to integer": "bad_conversion_to_integer",
    "wasm `unreachable` instruction executed": "unreachable",
    "interrupt": "interrupt",
    "all fuel consumed by WebAssembly": "out_of_fuel",
    "cannot enter component instance": "cannot_enter_component",
}


class _Pattern:
    """A regular expression compiled on first use.

    The error paths need them, a run does not: compiling them all at import cost ``omniwasm
    run`` several milliseconds.
    """

    def __init__(self, pattern: str, flags: int = 0) -> None:
        self._args = (pattern, flags)
        self._compiled: re.Pattern[str] | None = None

    def __getattr__(self, name: str) -> Any:
        if self._compiled is None:
            self._compiled = re.compile(*self._args)
        return getattr(self._compiled, name)


_FRAME_RE = _Pattern(r"^\s*\d+:\s+0x([0-9a-f]+) - (?:(.+?)!)?(.*)$", re.MULTILINE)
_UNKNOWN_IMPORT_RE = _Pattern(r"unknown import: `([^`]*)::([^`]*)` has not been defined")
_COMPONENT_IMPORT_RE = _Pattern(
    r"component imports (\w+) `([^`]*)`, but a matching implementation was not found"
)
_POOL_RE = _Pattern(r"maximum concurrent limit of (\d+) for (.+?) reached")
_RESOURCE_RE = _Pattern(r"resource limit exceeded: (.+)")
_MEMORY_LIMIT_RE = _Pattern(r"memory minimum size of (\d+) pages exceeds memory limits")
_WASM_PAGE = 65536
_SATURATED = (1 << 64) - 1  # what the grow probe records for a request past 2^40 pages

MemoryProbe = Callable[[], int]
"""Returns the bytes of linear memory a store holds now (used to classify failures)."""
RefusalProbe = Callable[[], "tuple[int, int] | None"]
"""Returns the largest memory growth the store's limiter refused: ``(asked, held)`` bytes,
``(0, 0)`` when none; None when the store's modules carry no grow probe."""


def frames_from_text(text: str) -> tuple[Frame, ...]:
    """Parse the ``wasm backtrace`` block of a wasmtime error message."""
    frames = []
    for m in _FRAME_RE.finditer(text):
        offset, module, func = m.groups()
        index_m = re.fullmatch(r"<wasm function (\d+)>", func.strip())
        frames.append(
            Frame(
                func_index=int(index_m.group(1)) if index_m else -1,
                func_name=None if index_m else func.strip(),
                module_name=module,
                module_offset=int(offset, 16),
            )
        )
    return tuple(frames)


def _trap_code(text: str) -> str | None:
    m = re.search(r"wasm trap: (.+)", text)
    if not m:
        return None
    message = m.group(1).strip()
    return _TRAP_TEXT.get(message, message.replace(" ", "_"))


def _cause(text: str) -> str:
    """The innermost 'Caused by' line of a wasmtime message, else its first line."""
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    if "Caused by:" in lines:
        return lines[-1]
    return lines[0] if lines else text


_HANDLE_MISUSE_RE = _Pattern(
    r"unknown handle index|handle index \d+ used with the wrong type|"
    r"borrow handles still remain|resource has (active )?borrows|cannot remove owned resource"
)


def translate(
    exc: BaseException,
    *,
    policy: Policy | None = None,
    memory: MemoryProbe | None = None,
    refusal: RefusalProbe | None = None,
    source: str = "<bytes>",
) -> OmniwasmError:
    """Return the omniwasm error for a wasmtime exception.

    Args:
        exc: what wasmtime raised.
        policy: the policy the store enforced (to classify limit failures).
        memory: reports the store's current linear memory (to classify growth failures).
        refusal: reports the growth the store's limiter refused (the grow probe).
        source: where the module came from, for InvalidModule messages.

    """
    pending = wasmtime_func.LAST_EXCEPTION
    if isinstance(pending, Timeout | Cancelled):
        # a host function's wait ran into the deadline (or a cancel): that is the outcome
        wasmtime_func.LAST_EXCEPTION = None
        return pending
    if pending is not None:
        wasmtime_func.LAST_EXCEPTION = None
        err: OmniwasmError = HostFunctionError(
            f"host function raised {type(pending).__name__}: {pending}"
        )
        err.__cause__ = pending
        return err
    if isinstance(exc, wasmtime.ExitTrap):
        return GuestExit(exc.code)
    text = str(exc)
    if CANCELLED_TEXT in text:
        return Cancelled("the call was cancelled by the host", frames=frames_from_text(text))
    if isinstance(exc, wasmtime.Trap):
        frames = tuple(
            Frame(f.func_index, f.func_name, f.module_name, f.module_offset) for f in exc.frames
        )
        code = exc.trap_code.name.lower() if exc.trap_code is not None else _trap_code(text)
    else:
        frames = frames_from_text(text)
        code = _trap_code(text)
    if code == "interrupt":
        limit = policy.timeout if policy else None
        return Timeout(f"guest ran past its {limit}s timeout", limit=limit, frames=frames)
    if code == "out_of_fuel":
        limit = policy.fuel if policy else None
        return OutOfFuel(f"guest used all {limit} fuel", limit=limit, used=limit, frames=frames)
    if code is not None:
        return _trap_or_memory(text, code, frames, policy, memory=memory, refusal=refusal)
    if m := _MEMORY_LIMIT_RE.search(text):
        needed = int(m.group(1)) * _WASM_PAGE
        limit = policy.max_memory if policy else None
        return MemoryLimitExceeded(
            f"guest needs {needed} bytes of memory at start, policy allows {limit}",
            limit=limit,
            used=needed,
        )
    if m := _POOL_RE.search(text):
        pool = int(m.group(1))
        return LimitExceeded(
            f"the Runtime's pool of {pool} {m.group(2)} is full: close instances you no longer "
            "need, or create the Runtime with a larger pool_size",
            limit=pool,
            used=pool,
        )
    if m := _RESOURCE_RE.search(text):
        return LimitExceeded(f"policy limit hit: {m.group(1)}")
    if m := _UNKNOWN_IMPORT_RE.search(text):
        return LinkError((MissingImport(m.group(1), m.group(2), "?"),), detail=_cause(text))
    if m := _COMPONENT_IMPORT_RE.search(text):
        return LinkError((MissingImport(m.group(2), "", m.group(1)),), detail=_cause(text))
    if "failed to parse WebAssembly" in text or "expected a WebAssembly" in text:
        return InvalidModule(_cause(text), source=source)
    if "incompatible import type" in text or "types incompatible" in text:
        return LinkError((), detail=_cause(text))
    if _HANDLE_MISUSE_RE.search(text):
        # The guest broke a component-model rule about its handles: a trap of the guest's.
        return Trap(f"wasm trap: {_cause(text)}", code="handle", frames=frames)
    return ExecutionError(_cause(text), frames=frames)


def _trap_or_memory(
    text: str,
    code: str,
    frames: tuple[Frame, ...],
    policy: Policy | None,
    *,
    memory: MemoryProbe | None,
    refusal: RefusalProbe | None,
) -> OmniwasmError:
    """A trap, unless the store's limiter refused the guest memory: then the limit is the cause.

    wasmtime's limiter makes ``memory.grow`` return -1 instead of trapping, and guests react by
    trapping (abort, unreachable, an access past the end). Probed modules (``core.growprobe``)
    record every refusal: a trap after a refused request larger than ``max_memory`` is
    MemoryLimitExceeded, carrying the trap as detail. Without a probe (a ``.cwasm`` compiled
    before it), a trap while the exported memories are within one eighth of the limit is.
    """
    message = f"wasm trap: {_cause(text).removeprefix('wasm trap: ')}"
    limit = policy.max_memory if policy is not None else None
    if limit is None:
        return Trap(message, code=code, frames=frames)
    seen = refusal() if refusal is not None else None
    if seen is not None:
        asked, held = seen
        if asked > limit:
            wanted = "more than 2^40 pages" if asked >= _SATURATED else f"{asked} bytes"
            return MemoryLimitExceeded(
                f"guest asked for {wanted} of memory, policy allows {limit} ({message})",
                limit=limit,
                used=held,
                frames=frames,
            )
        return Trap(message, code=code, frames=frames)
    if memory is not None:
        used = memory()
        headroom = max(_WASM_PAGE, limit // 8)
        if used + headroom > limit:
            return MemoryLimitExceeded(
                f"guest hit its memory limit of {limit} bytes ({message})",
                limit=limit,
                used=used,
                frames=frames,
            )
    return Trap(message, code=code, frames=frames)


@contextmanager
def translating(
    policy: Policy | None = None,
    *,
    memory: MemoryProbe | None = None,
    refusal: RefusalProbe | None = None,
    source: str = "<bytes>",
) -> Iterator[None]:
    """Run a block that calls wasmtime; re-raise its errors as omniwasm errors."""
    try:
        yield
    except (wasmtime.WasmtimeError, wasmtime.Trap) as exc:
        pending = wasmtime_func.LAST_EXCEPTION
        if isinstance(pending, KeyboardInterrupt | SystemExit):
            # Ctrl-C or sys.exit() inside a host function: the program wants out.
            wasmtime_func.LAST_EXCEPTION = None
            raise pending from exc
        raise translate(exc, policy=policy, memory=memory, refusal=refusal, source=source) from exc
