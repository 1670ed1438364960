"""Running a WASI 0.3 command (``wasi:cli/run@0.3.x``) on the virtual host."""

from __future__ import annotations

from typing import Any

from ..._compiled import Compiled, Source
from ..._errors import GuestExit
from ..._policy import Policy
from ..._runtime import RunResult, Runtime
from .._host import WasiContext
from ._host import linker

__all__ = ["run"]


def run(
    runtime: Runtime,
    compiled: Compiled | Source,
    policy: Policy | None = None,
    *,
    argv0: str | None = None,
    **streams: Any,
) -> RunResult:
    """Run a WASI 0.3 command component on the virtual host and wait for its output.

    Args:
        runtime: the runtime to use.
        compiled: the command component.
        policy: the sandbox (the runtime's default when None).
        argv0: the program name (the file's name by default).
        streams: ``stdin``, ``stdout``, ``stderr``, ``filesystems``: see
            :class:`~omniwasm.wasi.WasiContext`.

    Returns:
        the exit code (``ok`` 0, ``err`` 1, or ``exit-with-code``'s) and captured output.

    Raises:
        ExecutionError: the guest trapped or hit a limit.

    """
    code = runtime._compiled(compiled)
    name = argv0 if argv0 is not None else code._artifact.program_name
    context = WasiContext(policy if policy is not None else runtime.policy, argv0=name, **streams)
    try:
        with runtime.instantiate(
            code, context.policy, imports=linker(), argv0=name, host_data=context
        ) as inst:
            inner: Any = inst._inner
            try:
                exit_code = inner.run_command()
            except GuestExit as exc:
                exit_code = exc.code
            drain = getattr(inner, "drain_host", None)
            if drain is not None:  # the host still writing the guest's output streams
                drain()
        return RunResult(exit_code, context.stdout_bytes, context.stderr_bytes, context.truncated)
    finally:
        context.close()
