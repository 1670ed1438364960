"""Pre-initialised snapshots: run a module's init once, then write its state into a new module.

What wizer does, on wasmtime-py: ``_binary/rewrite.py`` exports every memory, mutable global
and table of the module under reserved names; this module instantiates that version in a store
under the policy (native WASI preview 1, deny by default), calls the init export, checks that
the init left nothing a module cannot hold, reads the state, and has the rewriter write the
snapshot. Later instances start where init ended and skip it.

Refused (``SnapshotError``): what ``rewrite.plan`` refuses, and an init that leaves a file
descriptor open or closes a preopened directory (host state: the snapshot would start with a
descriptor table the host does not give it), that grows a table (tables are not captured), or
that exits.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import wasmtime

from .._binary import rewrite
from .._binary.reader import BinaryError
from .._errors import GuestExit, InvalidModule, SnapshotError
from .._policy import Policy
from .artifact import sniff, text_to_binary
from .native import NativeEngine
from .store import StoreBox
from .translate import translate

__all__ = ["DEFAULT_INITS", "snapshot_module"]

DEFAULT_INITS = ("wizer.initialize", "_initialize")
"""The init exports tried, in order, when none is named (wizer's, then a WASI reactor's)."""

_FD_SLACK = 64
"""Descriptors past the preopened ones that are checked for being left open."""

# Asks WASI about one descriptor, in the snapshotted guest's store (so its WASI context).
_PROBE = """
(module
  (import "wasi_snapshot_preview1" "fd_fdstat_get" (func $stat (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "errno") (param $fd i32) (result i32) (call $stat (local.get $fd) (i32.const 0))))
"""


def snapshot_module(
    native: NativeEngine,
    wasm: bytes,
    policy: Policy,
    *,
    init: str | None = None,
    argv0: str = "main",
    source: str = "<bytes>",
) -> bytes:
    """Run ``wasm``'s init function under ``policy``; return the pre-initialised module.

    Args:
        native: the engine to run the init on.
        wasm: a core module (binary).
        policy: the sandbox of the init run (files, env, limits).
        init: the export to call; by default the first of ``DEFAULT_INITS`` it has.
        argv0: the program name the init sees.
        source: where the module came from (for error messages).

    Raises:
        SnapshotError: the module or its init's effects cannot be captured.
        InvalidModule: the module is malformed or has no such init export.
        ExecutionError: the init trapped or hit a policy limit.

    """
    if sniff(wasm) == "text":
        wasm = text_to_binary(wasm, source)
    try:
        plan = rewrite.plan(wasm)
    except rewrite.SnapshotRefused as exc:
        raise SnapshotError(f"{source}: {exc}") from None
    except BinaryError as exc:
        raise InvalidModule(str(exc), source=source) from None
    names = {name for name, kind, _ in plan.exports if kind == 0}
    chosen = init if init is not None else next((n for n in DEFAULT_INITS if n in names), None)
    if chosen is None or chosen not in names:
        wanted = repr(init) if init is not None else " or ".join(map(repr, DEFAULT_INITS))
        raise InvalidModule(f"no init function {wanted} exported: name one", source=source)
    try:
        module = wasmtime.Module(native.engine, plan.instrumented())
    except wasmtime.WasmtimeError as exc:
        raise InvalidModule(str(exc).strip(), source=source) from None
    box = StoreBox(native, policy, wasi=True, argv0=argv0)
    try:
        linker = wasmtime.Linker(native.engine)
        linker.define_wasi()
        box.enter()
        try:
            instance = linker.instantiate(box.store, module)
            exports = instance.exports(box.store)
            func = exports[chosen]
            assert isinstance(func, wasmtime.Func)
            func(box.store)
        except (wasmtime.WasmtimeError, wasmtime.Trap) as exc:
            err = translate(exc, policy=policy, source=source)
            if isinstance(err, GuestExit):
                raise SnapshotError(
                    f"{source}: init {chosen!r} exited (code {err.code}): nothing to snapshot"
                ) from None
            raise err from exc
        finally:
            box.leave()
        _check_descriptors(native, linker, box, len(policy.dirs), source)
        memories, values = _capture(plan, exports, box.store, source)
    finally:
        box.close()
    return plan.write(memories, values, drop_export=chosen)


def _capture(
    plan: rewrite.SnapshotPlan,
    exports: Mapping[str, Any],
    store: wasmtime.Store,
    source: str,
) -> tuple[list[bytearray], list[int | float]]:
    """The memories and mutable globals init left (refused when it grew a table)."""
    memories = []
    for i in range(len(plan.memories)):
        mem = exports[f"{rewrite.EXPORT_PREFIX}memory{i}"]
        assert isinstance(mem, wasmtime.Memory)
        memories.append(mem.read(store, 0, mem.data_len(store)))
    values = []
    for g in plan.captured_globals:
        glob = exports[f"{rewrite.EXPORT_PREFIX}global{g.index}"]
        assert isinstance(glob, wasmtime.Global)
        values.append(glob.value(store))
    for i, size in enumerate(plan.tables):
        table = exports[f"{rewrite.EXPORT_PREFIX}table{i}"]
        assert isinstance(table, wasmtime.Table)
        if table.size(store) != size:
            raise SnapshotError(
                f"{source}: init grew table {i} from {size} to {table.size(store)} "
                "elements: tables are not captured"
            )
    return memories, values


def _check_descriptors(
    native: NativeEngine, linker: wasmtime.Linker, box: StoreBox, preopens: int, source: str
) -> None:
    """Refuse when init left a descriptor open or closed a preopened directory."""
    probe = linker.instantiate(box.store, wasmtime.Module(native.engine, _PROBE))
    errno = probe.exports(box.store)["errno"]
    assert isinstance(errno, wasmtime.Func)
    first = 3  # after stdin, stdout, stderr
    for fd in range(first, first + preopens + _FD_SLACK):
        is_open = errno(box.store, fd) == 0
        if fd < first + preopens and not is_open:
            raise SnapshotError(
                f"{source}: init closed preopened directory descriptor {fd}: "
                "the host's descriptor table cannot be captured"
            )
        if fd >= first + preopens and is_open:
            raise SnapshotError(
                f"{source}: init left file descriptor {fd} open: open files are host state "
                "a snapshot cannot capture (close them before init returns)"
            )
