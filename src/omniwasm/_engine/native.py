"""The native engine: configured once, shared by fingerprint, with one lazy epoch ticker.

A wasmtime ``Engine`` owns compiled code and (with the pooling allocator) a large virtual
memory reservation, so engines with the same configuration are shared process-wide: two
``Runtime`` objects with equal settings use one native engine, and code compiled by one is
valid in the other. Epoch interruption is always on; a single daemon thread increments the
epoch of every live engine, and starts the first time a store asks for a timeout.
"""

from __future__ import annotations

import functools
import hashlib
import json
import threading
import time
import weakref
from dataclasses import asdict, dataclass
from pathlib import Path

import wasmtime
from wasmtime import _ffi as ffi

from . import traps

__all__ = [
    "TICK_SECONDS",
    "EngineSettings",
    "NativeEngine",
    "engine_for",
    "ensure_ticker",
    "ticks_for",
    "wasmtime_version",
]

TICK_SECONDS = 0.005
"""Epoch period: the resolution of wall-clock timeouts."""

DEFAULT_KEEP_RESIDENT = 1 << 20
"""Bytes of a pooled memory kept resident between instances (see ``EngineSettings``).

wasmtime resets ``min(keep_resident, memory size)`` bytes with ``memset`` whether the guest
touched them or not, so a large value costs every instance of a module with a large memory:
a C program's 16 MiB memory (zig's default stack) took 0.47 ms of CPU per fresh sandbox at
64 MiB against 0.12 ms at 1 MiB (wasmtime-py's own path: 0.11 ms). The gateway, whose guests
are instantiated by several threads at once, asks for 64 MiB."""

NO_DEADLINE = 1 << 62
"""Epoch deadline given to stores without a timeout (epoch interruption is always on)."""


@functools.cache
def wasmtime_version() -> str:
    """The installed wasmtime-py version, read once.

    The dist-info folder beside the package names it; importlib.metadata (10 ms to import) is
    only the fallback for unusual installs.
    """
    site = Path(wasmtime.__file__).resolve().parent.parent
    found = sorted(site.glob("wasmtime-*.dist-info"))
    if len(found) == 1:
        return found[0].name.removeprefix("wasmtime-").removesuffix(".dist-info")
    from importlib.metadata import version

    return version("wasmtime")


@dataclass(frozen=True, slots=True)
class EngineSettings:
    """How a native engine is configured; every field is part of the cache fingerprint.

    Args:
        fuel: compile fuel metering in (needed by any policy that sets ``fuel``).
        pooling: use the pooling instance allocator (faster instantiation).
        pool_instances: slots in the pool (live core instances / memories at once).
        max_wasm_stack: bytes of stack a guest may use before a stack-overflow trap.
        keep_resident: bytes of each pooled linear memory (and table) reset in place with
            ``memset`` when an instance ends instead of released with ``madvise``, so the next
            instance in that slot takes no page faults there. It trades resident memory (up to
            this much per used slot and memory) for instantiation that scales across threads:
            page faults and ``madvise`` contend on the process's memory-map lock. Not part of
            the fingerprint (compiled code does not depend on it).
        max_instance_size: bytes of a pool slot's per-instance metadata (wasmtime's
            ``max_core_instance_size``); a module with more functions, globals or tables than
            fit is refused. 1 MiB holds ordinary modules; CPython with its scientific stack
            needs about 1.5 MiB. Not part of the fingerprint either.

    """

    fuel: bool = False
    pooling: bool = True
    pool_instances: int = 256
    max_wasm_stack: int = 1 << 20
    keep_resident: int = DEFAULT_KEEP_RESIDENT
    max_instance_size: int = 1 << 20

    def fingerprint(self) -> str:
        """Return a short stable hash of these settings plus the wasmtime version."""
        settings = asdict(self)
        del settings["keep_resident"], settings["max_instance_size"]
        blob = json.dumps(
            {"settings": settings, "wasmtime": wasmtime_version(), "concurrency": False},
            sort_keys=True,
        )
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


class NativeEngine:
    """A configured ``wasmtime.Engine`` plus the facts about it that wasmtime cannot report.

    Args:
        settings: the configuration to apply.

    """

    def __init__(self, settings: EngineSettings) -> None:
        self.settings = settings
        self.pooling = False
        self.engine = self._build(settings, pooling=settings.pooling)
        self.fingerprint = settings.fingerprint()

    def _build(self, settings: EngineSettings, *, pooling: bool) -> wasmtime.Engine:
        config = wasmtime.Config()
        config.epoch_interruption = True
        config.consume_fuel = settings.fuel
        config.wasm_component_model = True
        # Component-model concurrency (async, WASI 0.3) is on by default in wasmtime 50, and
        # with it a host import taking two borrowed resources (wasi:filesystem's rename-at,
        # link-at) traps with "BUG: deferred host scope has no call context". Nothing here
        # calls async; turning it off gives the synchronous host-call path that works.
        ffi.wasmtime_config_concurrency_support_set(config.ptr(), False)
        ffi.wasmtime_config_max_wasm_stack_set(config.ptr(), settings.max_wasm_stack)
        if pooling:
            _enable_pooling(
                config, settings.pool_instances, settings.keep_resident, settings.max_instance_size
            )
        try:
            engine = wasmtime.Engine(config)
        except wasmtime.WasmtimeError:
            if not pooling:
                raise
            # The pool's up-front virtual memory reservation can be refused (ulimit -v,
            # strict overcommit): fall back to on-demand allocation rather than fail.
            return self._build(settings, pooling=False)
        self.pooling = pooling
        traps.record()  # wasmtime's signal handlers exist once the first engine does
        return engine


def _enable_pooling(
    config: wasmtime.Config, slots: int, keep_resident: int, instance_size: int = 1 << 20
) -> None:
    """Switch ``config`` to the pooling allocator with ``slots`` instances/memories/tables.

    ``keep_resident`` bytes of each memory and table are reset with ``memset`` on reuse rather
    than ``madvise``: without it, two guests instantiating at once in one process spend most
    of their time in the kernel (a componentize-py handler: 3x the system time, 40% fewer
    requests per second with two threads than with one).
    """
    pool = ffi.wasmtime_pooling_allocation_config_new()
    try:
        ffi.wasmtime_pooling_allocation_config_total_core_instances_set(pool, slots)
        ffi.wasmtime_pooling_allocation_config_total_memories_set(pool, slots)
        ffi.wasmtime_pooling_allocation_config_total_tables_set(pool, slots)
        ffi.wasmtime_pooling_allocation_config_total_stacks_set(pool, slots)
        ffi.wasmtime_pooling_allocation_config_total_component_instances_set(pool, slots)
        ffi.wasmtime_pooling_allocation_config_max_memories_per_component_set(pool, 16)
        ffi.wasmtime_pooling_allocation_config_max_tables_per_component_set(pool, 16)
        ffi.wasmtime_pooling_allocation_config_max_core_instances_per_component_set(pool, 64)
        ffi.wasmtime_pooling_allocation_config_max_component_instance_size_set(pool, 1 << 20)
        ffi.wasmtime_pooling_allocation_config_max_core_instance_size_set(pool, instance_size)
        ffi.wasmtime_pooling_allocation_config_table_elements_set(pool, 1 << 16)
        ffi.wasmtime_pooling_allocation_config_linear_memory_keep_resident_set(pool, keep_resident)
        ffi.wasmtime_pooling_allocation_config_table_keep_resident_set(pool, keep_resident)
        ffi.wasmtime_pooling_allocation_strategy_set(config.ptr(), pool)
    finally:
        ffi.wasmtime_pooling_allocation_config_delete(pool)


_ENGINES: weakref.WeakValueDictionary[EngineSettings, NativeEngine] = weakref.WeakValueDictionary()
_ENGINES_LOCK = threading.Lock()


def engine_for(settings: EngineSettings) -> NativeEngine:
    """Return the process's native engine for ``settings``, creating it on first use."""
    with _ENGINES_LOCK:
        native = _ENGINES.get(settings)
        if native is None:
            native = NativeEngine(settings)
            _ENGINES[settings] = native
    traps.restore()
    return native


def ensure_ticker() -> None:
    """Start the epoch ticker thread (once per process)."""
    _Ticker.ensure_started()


def ticks_for(timeout: float) -> int:
    """Epoch ticks to allow for ``timeout`` seconds (at least two, so a tick in flight counts)."""
    _Ticker.ensure_started()
    return max(2, int(timeout / TICK_SECONDS) + 1)


class _Ticker:
    """One daemon thread that advances the epoch of every live native engine."""

    _lock = threading.Lock()
    _thread: threading.Thread | None = None

    @classmethod
    def ensure_started(cls) -> None:
        if cls._thread is not None:
            return
        with cls._lock:
            if cls._thread is None:
                thread = threading.Thread(target=cls._run, name="omniwasm-epoch", daemon=True)
                thread.start()
                cls._thread = thread

    @staticmethod
    def _run() -> None:
        while True:
            time.sleep(TICK_SECONDS)
            _Ticker._tick()

    @staticmethod
    def _tick() -> None:
        # A frame of its own: no engine stays referenced from the loop while the thread sleeps
        # (the last one ticked would live up to a tick longer than its last user).
        for native in list(_ENGINES.values()):
            native.engine.increment_epoch()
