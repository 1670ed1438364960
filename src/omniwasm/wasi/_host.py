"""The virtual WASI host: one linker for every instance, one :class:`WasiContext` per instance.

The linker defines every WASI 0.2 interface in Python (``Linker(wasi=False)``: nothing is taken
from the engine's native WASI, whose resources Python cannot create or read). It is built once
and shared; each instance gets its own context through ``host_data``, which the root functions
(``get-stdout``, ``get-environment``, ``now``, ``get-directories``...) look up.
"""

from __future__ import annotations

import os
import sys
import weakref
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .._compiled import Compiled, Source
from .._component import Linker, host_data
from .._errors import GuestExit, PolicyError
from .._policy import Policy, merge_env
from .._runtime import Instance, RunResult, Runtime
from ._cli import CLI_INTERFACES
from ._clocks import Clock, Entropy
from ._io import BufferSink, InputStream, IoError, OutputStream, Pollable, poll
from ._sockets import SOCKET_INTERFACES
from .fs import FILESYSTEM_INTERFACES, Preopen, preopens_from
from .http import HTTP_INTERFACES
from .nn import NnContext
from .nn import add_to_linker as add_nn_to_linker

__all__ = ["WasiContext", "add_to_linker", "instantiate", "linker", "run"]


class WasiContext:
    """Everything one instance's WASI sees: arguments, environment, streams, clocks, files.

    Built from a :class:`~omniwasm.Policy` (args, env, preopened dirs, stdin/stdout/stderr,
    deterministic mode and seed); the keyword arguments override the policy's streams and add
    filesystems.

    Args:
        policy: the sandbox (deny by default).
        argv0: the program name the guest sees as its first argument.
        stdin: bytes, a binary file object or an iterable of ``bytes`` chunks (default: the
            policy's stdin).
        stdout: where stdout goes: a binary file object, a callable taking ``bytes``, a
            :class:`LineLogger`, or None to discard (default: the policy's ``stdout``;
            ``"capture"`` collects it, read it with :attr:`stdout_bytes`).
        stderr: as ``stdout``.
        filesystems: extra preopens ``{guest path: backend}`` such as
            ``{"/data": MemoryFs({...})}``, after the policy's ``dirs``.
        nn: the guest's ``wasi:nn`` (:class:`omniwasm.wasi.nn.NnContext`); by default the one
            the policy describes (its ``models``, ``max_model_size``, ``max_inference_time``,
            ``nn_threads`` and ``max_memory``), built when the guest first uses ``wasi:nn``.

    Raises:
        PolicyError: a preopened directory or stdin file cannot be opened.

    """

    def __init__(
        self,
        policy: Policy | None = None,
        *,
        argv0: str = "main",
        stdin: Any = None,
        stdout: Any = "policy",
        stderr: Any = "policy",
        filesystems: Mapping[str, Any] | None = None,
        nn: NnContext | None = None,
    ) -> None:
        policy = policy if policy is not None else Policy()
        self.policy = policy
        self._nn = nn
        self.args = [argv0, *policy.args]
        self.env = merge_env(policy, os.environ.items())
        self.cwd: str | None = None
        self.exit_code: int | None = None
        self.clock = Clock(deterministic=policy.deterministic)
        self.entropy = Entropy(policy.seed if policy.deterministic else None)
        self._files: list[Any] = []
        self.stdin = InputStream(stdin if stdin is not None else self._policy_stdin(policy))
        self.stdout, self._stdout_buffer = self._output(stdout, policy.stdout, "stdout")
        self.stderr, self._stderr_buffer = self._output(stderr, policy.stderr, "stderr")
        self.preopens: list[Preopen] = preopens_from(
            policy, filesystems or {}, deterministic=policy.deterministic, clock=self.clock
        )

    def _policy_stdin(self, policy: Policy) -> Any:
        stdin = policy.stdin
        if stdin is None or isinstance(stdin, bytes):
            return stdin
        if stdin == "inherit":
            return sys.stdin.buffer
        try:
            f = open(stdin, "rb")  # noqa: SIM115 - closed by close()
        except OSError as exc:
            raise PolicyError(f"cannot open stdin file {stdin}: {exc.strerror}") from exc
        self._files.append(f)
        return f

    def _output(self, given: Any, configured: Any, name: str) -> tuple[Any, BufferSink | None]:
        target = configured if isinstance(given, str) and given == "policy" else given
        if isinstance(target, str):
            if target == "capture":
                buf = BufferSink(self.policy.max_output)
                return buf, buf
            if target == "inherit":
                return getattr(sys, name).buffer, None
            if target == "discard":
                return None, None
            raise PolicyError(f"{name} must be 'capture', 'inherit', 'discard', a file or a Path")
        if isinstance(target, Path):
            try:
                f = open(target, "wb")  # noqa: SIM115 - closed by close()
            except OSError as exc:
                raise PolicyError(f"cannot open {name} file {target}: {exc.strerror}") from exc
            self._files.append(f)
            return f, None
        return target, None

    @property
    def nn(self) -> NnContext:
        """The guest's ``wasi:nn``: its granted models, limits and the tensors held for it."""
        if self._nn is None:
            self._nn = NnContext.from_policy(self.policy)
        return self._nn

    @property
    def stdout_bytes(self) -> bytes:
        """What the guest wrote to stdout (when captured)."""
        return self._stdout_buffer.getvalue() if self._stdout_buffer is not None else b""

    @property
    def stderr_bytes(self) -> bytes:
        """What the guest wrote to stderr (when captured)."""
        return self._stderr_buffer.getvalue() if self._stderr_buffer is not None else b""

    @property
    def truncated(self) -> tuple[str, ...]:
        """The captured streams cut at ``Policy.max_output`` bytes, e.g. ``("stdout",)``."""
        sinks = (("stdout", self._stdout_buffer), ("stderr", self._stderr_buffer))
        return tuple(name for name, sink in sinks if sink is not None and sink.truncated)

    def close(self) -> None:
        """Close the files this context opened and the preopened directories. Idempotent."""
        self.stdin.shutdown()
        for f in self._files:
            f.close()
        self._files.clear()
        for preopen in self.preopens:
            preopen.close()


def _clock() -> Clock:
    ctx: WasiContext = host_data()
    return ctx.clock


def _entropy() -> Entropy:
    ctx: WasiContext = host_data()
    return ctx.entropy


_INTERFACES: dict[str, dict[str, Any]] = {
    "wasi:io/error": {"error": IoError},
    "wasi:io/poll": {"pollable": Pollable, "poll": poll},
    "wasi:io/streams": {"input_stream": InputStream, "output_stream": OutputStream},  # resources
    "wasi:clocks/monotonic-clock": {
        "now": lambda: _clock().now(),
        "resolution": lambda: _clock().resolution(),
        "subscribe_instant": lambda when: _clock().subscribe_instant(when),
        "subscribe_duration": lambda duration: _clock().subscribe_duration(duration),
    },
    "wasi:clocks/wall-clock": {
        "now": lambda: _clock().wall(),
        "resolution": lambda: _clock().wall_resolution(),
    },
    "wasi:random/random": {
        "get_random_bytes": lambda length: _entropy().get_random_bytes(length),
        "get_random_u64": lambda: _entropy().get_random_u64(),
    },
    "wasi:random/insecure": {
        "get_insecure_random_bytes": lambda length: _entropy().get_insecure_random_bytes(length),
        "get_insecure_random_u64": lambda: _entropy().get_insecure_random_u64(),
    },
    "wasi:random/insecure-seed": {"insecure_seed": lambda: _entropy().insecure_seed()},
    **CLI_INTERFACES,
    **FILESYSTEM_INTERFACES,
    **SOCKET_INTERFACES,
    **HTTP_INTERFACES,
}


def add_to_linker(target: Linker) -> Linker:
    """Define every WASI 0.2 interface of the virtual host in ``target`` (any 0.2.x version).

    ``wasi:nn`` (``@0.2.0-rc-2024-10-28``) is defined too, each instance's from its
    :attr:`WasiContext.nn`.

    ``target`` must not use native WASI (``Linker(wasi=False)``): wasmtime's WASI resources
    cannot mix with Python ones.

    Raises:
        PolicyError: ``target`` provides native WASI.

    """
    if target._wasi:
        raise PolicyError("the virtual WASI host needs Linker(wasi=False)")
    for name, members in _INTERFACES.items():
        target.define(name, **members)
    return add_nn_to_linker(target)


_shared: Linker | None = None
_joined: weakref.WeakKeyDictionary[Linker, tuple[object, Linker]] = weakref.WeakKeyDictionary()


def _for_own_runtime(
    target: Linker | None, policy: Policy, argv0: str, data: Any
) -> tuple[Linker, WasiContext] | str:
    """WASI for omniwasm's own component runtime where the engine's native WASI was asked for.

    The linker: ``target``'s definitions plus every WASI interface wasmtime's native WASI
    provides (not ``wasi:http`` nor ``wasi:nn``, which native WASI does not link either) that
    ``target`` does not define itself. The context: built from ``policy`` as native WASI would
    be; ``data`` may be a wasi:nn context (anything else is the embedder's own ``host_data``,
    which this host's ``host_data()`` would shadow).
    """
    global _native  # noqa: PLW0603 - one lazily built linker for every plain instance
    if data is not None and not isinstance(data, NnContext):
        return "it imports WASI and host_data is set (the Python WASI host needs host_data)"
    if target is None:
        if _native is None:
            _native = _native_like(Linker(wasi=False))
        joined = _native
    else:
        version = target._prepared  # replaced by every define()
        cached = _joined.get(target)
        if cached is not None and cached[0] is version:
            joined = cached[1]
        else:
            joined = _native_like(target.without_native_wasi())
            _joined[target] = (version, joined)
    return joined, WasiContext(policy, argv0=argv0, nn=data)


def _native_like(joined: Linker) -> Linker:
    for name, members in _INTERFACES.items():
        if not name.startswith("wasi:http/") and not joined.defines(name):
            joined.define(name, **members)
    return joined


_native: Linker | None = None


def linker() -> Linker:
    """The shared linker with every WASI 0.2 interface (linked once per component)."""
    global _shared  # noqa: PLW0603 - one lazily built linker shared by every instance
    if _shared is None:
        _shared = add_to_linker(Linker(wasi=False))
    return _shared


def instantiate(
    runtime: Runtime,
    compiled: Compiled | Source,
    context: WasiContext,
    *,
    imports: Linker | None = None,
) -> Instance:
    """Instantiate a component on the virtual WASI host with ``context`` as its WASI state.

    Args:
        runtime: the runtime to use.
        compiled: the component.
        context: its WASI state (the policy's limits apply to the instance).
        imports: a linker with the component's other imports and the WASI interfaces (see
            :func:`add_to_linker`); the shared WASI linker when None.

    """
    return runtime.instantiate(
        compiled,
        context.policy,
        imports=imports if imports is not None else linker(),
        argv0=context.args[0],
        host_data=context,
    )


def run(
    runtime: Runtime,
    compiled: Compiled | Source,
    policy: Policy | None = None,
    *,
    argv0: str | None = None,
    **streams: Any,
) -> RunResult:
    """Run a WASI 0.2 command component (``wasi:cli/run``) on the virtual host.

    Args:
        runtime: the runtime to use.
        compiled: the command component.
        policy: the sandbox (the runtime's default when None).
        argv0: the program name (the file's name by default).
        streams: ``stdin``, ``stdout``, ``stderr``, ``filesystems``: see :class:`WasiContext`.

    Raises:
        ExecutionError: the guest trapped or hit a limit.

    """
    code = runtime._compiled(compiled)
    name = argv0 if argv0 is not None else code._artifact.program_name
    context = WasiContext(policy if policy is not None else runtime.policy, argv0=name, **streams)
    try:
        with instantiate(runtime, code, context) as inst:
            try:
                exit_code = inst._inner.run_command()  # type: ignore[union-attr]
            except GuestExit as exc:
                exit_code = exc.code
        return RunResult(exit_code, context.stdout_bytes, context.stderr_bytes, context.truncated)
    finally:
        context.close()
