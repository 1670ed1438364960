"""The front door: ``Runtime.load() -> Compiled -> Runtime.instantiate() -> Instance``.

Every habitat is this path plus its own edge. A ``Runtime`` owns one configured engine (fuel
metering and the pooling allocator are decided when it is created) and a compile cache; it is
thread-safe, and instances it creates each own a store that belongs to one thread at a time.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

from . import _engine as eng
from ._cache import Cache
from ._compiled import Compiled, Source, read_source
from ._errors import InvalidModule, LinkError, PolicyError
from ._instance import Instance, RunResult
from ._policy import Policy

if TYPE_CHECKING:
    from ._component import Linker

# The component machinery (``_component``, the WIT types) is imported where a component is
# used, never on a core module's path: a WASI p1 run stays a few milliseconds from start-up.

__all__ = ["Instance", "RunResult", "Runtime", "keep_freed_memory", "keep_trap_handlers"]


def keep_trap_handlers() -> None:
    """Put wasmtime's trap handlers back if a library replaced them (see ``_engine/traps.py``).

    After ``faulthandler.enable()`` or ``ray.init()``, a guest's fault in an instance made
    before would kill the process instead of raising ``Trap``. New runtimes and new instances
    do it by themselves; a habitat calls it where it reuses instances across a boundary of its
    own (a SQL statement).
    """
    eng.restore_trap_handlers(quick=True)


def keep_freed_memory() -> bool:
    """Make this process's allocator keep freed memory for reuse; whether it could.

    For a serving process (``omniwasm serve``): response bodies streamed through the heap then
    reuse the memory the previous response freed instead of page-faulting it back in (see
    ``_engine/heap.py``). glibc only; elsewhere False.
    """
    return bool(eng.keep_freed_memory())


def _is_linker(obj: object) -> bool:
    """True when ``obj`` is a component ``Linker`` (without importing the component machinery).

    A Linker can only exist once its module has been imported, so an unloaded module means no.
    """
    module = sys.modules.get("omniwasm._component.linker")
    return module is not None and isinstance(obj, module.Linker)


_BACKENDS = {"stock": "stock", "wasmtime": "stock", "omniwasm": "omniwasm", "auto": "auto"}


PythonWasi = Callable[[Any, Policy, str, Any], "tuple[Linker, Any] | str"]
"""``(linker or None, policy, argv0, host_data) -> (linker with WASI, context) | why not``."""
_PYTHON_WASI: list[PythonWasi] = []


def register_python_wasi(provider: PythonWasi) -> None:
    """Install the Python WASI host the own component runtime uses for native-WASI requests.

    ``omniwasm.wasi`` registers itself when imported; it sits a layer above this module, which
    therefore loads it by name when a component first needs it.
    """
    _PYTHON_WASI[:] = [provider]


def _python_wasi(
    linker: Linker | None, policy: Policy, argv0: str, host_data: Any
) -> tuple[Linker, Any] | str:
    if not _PYTHON_WASI:
        import importlib

        importlib.import_module("omniwasm.wasi")  # registers its provider
    return _PYTHON_WASI[0](linker, policy, argv0, host_data)


class _ContextOutput:
    """A Python WASI context's captured stream, read as the store's captured output."""

    def __init__(self, context: Any, name: str) -> None:
        self.context = context
        self.name = name

    def read(self) -> bytes:
        return bytes(getattr(self.context, f"{self.name}_bytes"))

    @property
    def truncated(self) -> bool:
        return self.name in self.context.truncated

    def freeze(self) -> None:
        pass


def _attach_context(own: Any, context: Any, policy: Policy) -> None:
    """Captured output and closing of the Python WASI host's context of an own instance."""
    for name in ("stdout", "stderr"):
        if getattr(policy, name) == "capture":
            own.box.add_capture(name, _ContextOutput(context, name))
    own.closers.append(context.close)


def _components_backend(choice: str | None) -> str:
    """The component backend: the argument, else ``OMNIWASM_COMPONENTS`` if not empty, else auto."""
    raw = choice if choice is not None else os.environ.get("OMNIWASM_COMPONENTS", "") or "auto"
    backend = _BACKENDS.get(raw.strip().lower())
    if backend is None:
        raise PolicyError(
            f"unknown component backend {raw!r}: expected omniwasm, stock (wasmtime) or auto"
        )
    return backend


class Runtime:
    """One configured engine, a compile cache and a default policy.

    Args:
        policy: the default policy for ``instantiate``/``run`` (deny-all when None).
        fuel: compile fuel metering in, so policies may set ``fuel``. Defaults to whether the
            default policy sets fuel. Metered code runs somewhat slower.
        pooling: use the pooling allocator for faster instantiation (falls back to on-demand
            allocation where the pool's virtual memory reservation is refused).
        cache: use the on-disk compile cache (``True``), not (``False``), or one at this path.
        pool_size: instances the pooling allocator can hold live at once.
        keep_resident: bytes of each pooled memory kept resident between instances and reset
            in place (64 MiB by default; 0 releases every page to the kernel after each
            instance, which saves memory and costs page faults, contended across threads).
        on_compile: called with ``(source, size in bytes)`` just before ``load`` compiles
            (not when the compile cache answers): for a progress display. Also an attribute.
        components: which runtime runs components: ``"stock"`` (wasmtime's component API,
            also ``"wasmtime"``), ``"omniwasm"`` (omniwasm's own canonical ABI over core
            modules: bytes at memcpy speed, memories the policy can see; raises PolicyError
            for a component it cannot run yet) or ``"auto"`` (omniwasm's when it supports the
            component, else stock; ``Instance.component_backend`` says which and why). The
            default is ``OMNIWASM_COMPONENTS``, else ``"auto"``.
        max_instance_size: bytes of per-instance metadata a pool slot holds (1 MiB by default;
            larger modules, such as CPython with numpy, need more).

    """

    def __init__(
        self,
        policy: Policy | None = None,
        *,
        fuel: bool | None = None,
        pooling: bool = True,
        cache: bool | str | os.PathLike[str] = True,
        pool_size: int = 256,
        keep_resident: int = eng.DEFAULT_KEEP_RESIDENT,
        components: str | None = None,
        max_instance_size: int = 1 << 20,
        on_compile: Callable[[str, int], None] | None = None,
    ) -> None:
        self.on_compile = on_compile
        self.policy = policy if policy is not None else Policy()
        self.components = _components_backend(components)
        metered = fuel if fuel is not None else self.policy.fuel is not None
        self._native = eng.engine_for(
            eng.EngineSettings(
                fuel=metered,
                pooling=pooling,
                pool_instances=pool_size,
                keep_resident=keep_resident,
                max_instance_size=max_instance_size,
            )
        )
        if cache is True:
            self._cache = eng.CompileCache()
        elif cache is False:
            self._cache = eng.CompileCache(enabled=False)
        else:
            self._cache = eng.CompileCache(Path(cache))
        self._cache_view = Cache(self._cache)
        self._memo = eng.CodeMemo() if cache is not False else None

    @property
    def fuel(self) -> bool:
        """True when this runtime's engine meters fuel."""
        return self._native.settings.fuel

    @property
    def pooling(self) -> bool:
        """True when the pooling allocator is in use."""
        return self._native.pooling

    @property
    def cache(self) -> Cache:
        """The compile cache (``info()``, ``clear()``, hit/miss counters)."""
        return self._cache_view

    def load(
        self, source: Source, *, expect: Literal["module", "component"] | None = None
    ) -> Compiled:
        """Compile a module or component, or fetch its machine code from the cache.

        Args:
            source: bytes, WebAssembly text, a path to ``.wasm``/``.wat``/``.cwasm``, or a
                registry reference (``oci://host/repo:tag``, ``ns:name@1.0.0``: see ``Source``).
            expect: fail unless it is this kind.

        Raises:
            InvalidModule: unreadable, malformed or invalid WebAssembly, or the wrong kind.
            RegistryError: a reference that cannot be resolved or pulled.

        """
        data, where = read_source(source)
        return self._load_read(data, where, expect)

    def _load_read(
        self, data: bytes, where: str, expect: Literal["module", "component"] | None = None
    ) -> Compiled:
        """``load`` for bytes already read (``where``: their name for errors).

        A component this runtime may run on omniwasm's own runtime gets its plan compiled
        here too, so no instance (no request under a timeout) pays for it.
        """
        artifact = eng.load_artifact(
            self._native,
            data,
            cache=self._cache,
            source=where,
            expect=expect,
            memo=self._memo,
            on_compile=self.on_compile,
        )
        own_only = getattr(artifact.code, "own_only", False)
        if artifact.kind == "component" and (self.components != "stock" or own_only):
            eng.prepare_own(artifact)
        return Compiled(artifact)

    def _compiled(self, source: Compiled | Source) -> Compiled:
        if isinstance(source, Compiled):
            if source._artifact.native is not self._native:
                raise PolicyError("this code was compiled by another Runtime with other settings")
            return source
        return self.load(source)

    def instantiate(
        self,
        compiled: Compiled | Source,
        policy: Policy | None = None,
        *,
        imports: Linker | eng.HostImports | None = None,
        argv0: str | None = None,
        host_data: Any = None,
    ) -> Instance:
        """Create a sandboxed instance.

        Args:
            compiled: what ``load`` returned (or anything ``load`` accepts).
            policy: the sandbox for this instance (the runtime's default when None).
            imports: Python host imports. For a component, a :class:`Linker`. For a core
                module, ``{module: {name: callable}}``; their types come from the module's
                import declarations.
            argv0: the program name WASI guests see (defaults to the source's file name).
            host_data: any object; the component's host functions get it back from
                :func:`omniwasm.host_data` while this instance calls them.

        Raises:
            LinkError: imports not provided (all of them are listed, with their types).
            MemoryLimitExceeded: the initial memory is larger than the policy allows.
            PolicyError: the policy cannot be applied.

        """
        code = self._compiled(compiled)
        policy = policy if policy is not None else self.policy
        artifact = code._artifact
        name = argv0 if argv0 is not None else artifact.program_name
        inner: eng.CoreInstance | eng.ComponentInstance
        if artifact.kind == "module":
            if _is_linker(imports):
                raise LinkError(
                    (),
                    detail="a Linker defines component imports; a core module "
                    "takes {module: {name: callable}}",
                )
            core_imports = cast("eng.HostImports | None", imports)  # not a Linker: checked
            inner = eng.instantiate_core(artifact, policy, imports=core_imports, argv0=name)
        else:
            from ._component import Linker, prepare_instance

            defs = None
            if isinstance(imports, Linker):
                defs = imports.host_defs(artifact, eng.world_type(artifact))
            elif imports:
                raise LinkError((), detail="component imports are defined with omniwasm.Linker")
            linker = imports if isinstance(imports, Linker) else None
            inner = self._instantiate_component(artifact, policy, defs, name, host_data, linker)
            prepare_instance(inner)  # the own backend's instance offers the same interface
        return Instance(inner, policy)

    def _instantiate_component(  # noqa: PLR0917 - the instantiate arguments
        self,
        artifact: Any,
        policy: Policy,
        defs: Any,
        name: str,
        host_data: Any,
        linker: Linker | None,
    ) -> eng.ComponentInstance:
        """Instantiate on the chosen component backend (``auto``: omniwasm's when it can).

        WASI that the stock backend takes from wasmtime natively comes, on omniwasm's own
        runtime, from the Python WASI host configured by the same policy.
        """
        backend = self.components
        if getattr(artifact.code, "own_only", False):  # component-model async: own runtime only
            backend = "omniwasm"
        if backend != "stock":
            reason = eng.unsupported_reason(artifact, defs)
            own_defs, data, context = defs, host_data, None
            if not reason and (defs is None or defs.wasi) and eng.imports_wasi(artifact):
                found = _python_wasi(linker, policy, name, host_data)
                if isinstance(found, str):
                    reason = found
                else:
                    merged, context = found
                    own_defs, data = merged.host_defs(artifact, eng.world_type(artifact)), context
            if not reason:
                try:
                    own = eng.instantiate_own(
                        artifact, policy, defs=own_defs, argv0=name, data=data
                    )
                except eng.Unsupported as exc:  # found while instantiating
                    reason = str(exc)
                    if context is not None:
                        context.close()
                except BaseException:
                    if context is not None:
                        context.close()
                    raise
                else:
                    if context is not None:
                        _attach_context(own, context, policy)
                    return cast("eng.ComponentInstance", own)  # the same interface, duck-typed
            if backend == "omniwasm":
                raise PolicyError(f"components='omniwasm' cannot run {artifact.source}: {reason}")
        inner = eng.instantiate_component(artifact, policy, defs=defs, argv0=name, data=host_data)
        if backend == "auto":
            inner.backend_reason = reason  # type: ignore[attr-defined]
        return inner

    def run(
        self,
        compiled: Compiled | Source,
        policy: Policy | None = None,
        *,
        argv0: str | None = None,
        imports: Linker | eng.HostImports | None = None,
        host_data: Any = None,
    ) -> RunResult:
        """Run a WASI command: a p1 module's ``_start`` or a component's ``wasi:cli/run``.

        A guest exit (any code) returns a ``RunResult``; traps and limits raise. WASI comes
        from the engine's native implementation; ``imports`` adds the command's other imports
        (as for :meth:`instantiate`), e.g. ``wasi:nn`` from
        ``omniwasm.wasi.nn.linker(policy)``.

        Raises:
            InvalidModule: not a command (no ``_start`` / ``wasi:cli/run`` export).
            ExecutionError: the guest trapped or hit a policy limit (a subclass says which).

        """
        code = self._compiled(compiled)
        with self.instantiate(
            code, policy, argv0=argv0, imports=imports, host_data=host_data
        ) as inst:
            inner = inst._inner
            if isinstance(inner, eng.CoreInstance):
                if not any(n == "_start" for n, _ in inner.export_names()):
                    raise InvalidModule("no _start export: not a WASI command", source=code.source)
                exit_code = inner.run_start()
            else:
                exit_code = inner.run_command()
            return RunResult(exit_code, inst.stdout, inst.stderr, inst.truncated)

    def snapshot(
        self,
        source: Source,
        policy: Policy | None = None,
        *,
        init: str | None = None,
        argv0: str | None = None,
    ) -> bytes:
        """Run a core module's init function once; return a module that starts initialised.

        What wizer does: the returned module's memories, mutable globals and memory sizes are
        those the init left, its init export and start section are gone, and everything else
        is unchanged, so each later instance skips the init. The init runs under ``policy``
        (the runtime's default when None) with native WASI preview 1.

        Args:
            source: a core module (bytes, text, or a path to ``.wasm``/``.wat``).
            policy: the sandbox of the init run.
            init: the export to call (default ``wizer.initialize``, else ``_initialize``).
            argv0: the program name the init sees.

        Raises:
            SnapshotError: the module imports host state (anything but WASI preview 1
                functions), or the init left an open file, closed a preopened directory,
                grew a table or exited.
            InvalidModule: malformed, or no such init export.
            ExecutionError: the init trapped or hit a policy limit.

        """
        data, where = read_source(source)
        name = argv0 if argv0 is not None else os.path.basename(where)
        return eng.snapshot_module(
            self._native,
            data,
            policy if policy is not None else self.policy,
            init=init,
            argv0=name,
            source=where,
        )

    def compile(self, source: Source) -> bytes:
        """Compile ahead of time; returns ``.cwasm`` bytes that ``load`` accepts.

        Raises:
            InvalidModule: the input is not valid WebAssembly.

        """
        return self.load(source).serialize()

    def __repr__(self) -> str:
        return f"<Runtime fuel={self.fuel} pooling={self.pooling} cache={self._cache.root}>"
