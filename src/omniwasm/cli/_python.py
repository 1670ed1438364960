"""``omniwasm python -c CODE`` / ``omniwasm python script.py``, and ``omniwasm mcp python``.

Untrusted Python in the sandbox of :mod:`omniwasm.python`: the flags build the policy, the
code's output is printed as it ran (or the whole result as JSON with ``--json``), and the exit
code says how it ended (0 ok, 1 an exception, the code of ``sys.exit``, a limit's own code).
``omniwasm mcp python`` serves the sandbox to any MCP client over stdio.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from .._errors import LimitExceeded, MemoryLimitExceeded, OutOfFuel, PolicyError, Timeout
from .._policy import DEFAULT_MAX_OUTPUT, Mount, Policy, parse_duration, parse_size
from ._app import DEBUG, app, guarded, parse_output_limit
from ._exit import exit_code_for

__all__ = ["mcp_app", "python_cmd"]

_LIMIT_ERRORS: dict[str, type[LimitExceeded]] = {
    "timeout": Timeout,
    "fuel": OutOfFuel,
    "memory": MemoryLimitExceeded,
}


def sandbox_policy(
    *,
    timeout: str,
    max_memory: str,
    fuel: int | None,
    max_output: str | None,
    dirs: list[str],
    dirs_ro: list[str],
    env: list[str],
    deterministic: bool = False,
    seed: int = 0,
) -> Policy:
    """The policy of ``omniwasm python``'s flags.

    Raises:
        PolicyError: a flag's value is malformed.

    """
    pairs = []
    for item in env:
        key, sep, value = item.partition("=")
        if not sep:
            raise PolicyError(f"--env takes KEY=VALUE (the host's environment stays out): {item}")
        pairs.append((key, value))
    mounts = [Mount.parse(d) for d in dirs] + [Mount.parse(d, read_only=True) for d in dirs_ro]
    return Policy(
        timeout=parse_duration(timeout),
        max_memory=parse_size(max_memory),
        fuel=fuel,
        max_output=parse_output_limit(max_output) if max_output is not None else DEFAULT_MAX_OUTPUT,
        dirs=tuple(mounts),
        env=tuple(pairs),
        deterministic=deterministic,
        seed=seed,
    )


@app.command("python")
def python_cmd(
    script: Annotated[
        Path | None, typer.Argument(help="A Python file to run (or use -c).", show_default=False)
    ] = None,
    code: Annotated[
        list[str] | None,
        typer.Option("-c", help="Code to run; repeat with --session to run several in turn."),
    ] = None,
    session: Annotated[
        bool, typer.Option("--session", help="Run every -c in one interpreter, state kept.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    value: Annotated[
        bool, typer.Option("--value", help="With --json: the last expression's value as JSON.")
    ] = False,
    timeout: Annotated[str, typer.Option(help="Wall-clock limit per run.")] = "30s",
    max_memory: Annotated[str, typer.Option(help="Memory limit.")] = "1GiB",
    fuel: Annotated[int | None, typer.Option(help="Instruction budget per run.")] = None,
    max_output: Annotated[
        str | None, typer.Option(help="Bytes kept of stdout and of stderr (16MiB).")
    ] = None,
    dirs: Annotated[
        list[str] | None, typer.Option("--dir", help="Grant HOST[::GUEST][:ro].")
    ] = None,
    dirs_ro: Annotated[
        list[str] | None, typer.Option("--dir-ro", help="Grant HOST[::GUEST] read-only.")
    ] = None,
    env: Annotated[list[str] | None, typer.Option("--env", help="KEY=VALUE for the code.")] = None,
    max_tool_calls: Annotated[int, typer.Option(help="Tool calls allowed per run.")] = 1000,
    max_open_files: Annotated[int, typer.Option(help="Files open at once.")] = 256,
    deterministic: Annotated[
        bool,
        typer.Option(
            "--deterministic", help="Virtual clocks, seeded random: the same run every time."
        ),
    ] = False,
    seed: Annotated[int, typer.Option(help="The seed of --deterministic.")] = 0,
    packages: Annotated[
        str, typer.Option(help="Modules imported in the image, comma-separated.")
    ] = "numpy,pandas",
    debug: Annotated[bool, DEBUG] = False,
) -> None:
    """Run untrusted Python (CPython 3.15 with numpy and pandas) in a WebAssembly sandbox."""

    def go() -> int:
        from ..python import Result, Session, run

        codes = list(code or [])
        if script is not None:
            try:
                codes.append(script.read_text())
            except OSError as exc:
                raise PolicyError(f"cannot read {script}: {exc.strerror}") from exc
        if not codes:
            raise PolicyError("give a script or -c CODE")
        if len(codes) > 1 and not session:
            raise PolicyError("several pieces of code run only with --session")
        policy = sandbox_policy(
            timeout=timeout,
            max_memory=max_memory,
            fuel=fuel,
            max_output=max_output,
            dirs=dirs or [],
            dirs_ro=dirs_ro or [],
            env=env or [],
            deterministic=deterministic,
            seed=seed,
        )
        preload = tuple(p for p in packages.split(",") if p)
        results: list[Result] = []
        if session:
            with Session(
                policy=policy,
                packages=preload,
                max_tool_calls=max_tool_calls,
                max_open_files=max_open_files,
            ) as s:
                for piece in codes:
                    results.append(s.run(piece, value=value))
                    _show(results[-1], as_json)
                    if not results[-1].ok:
                        break
        else:
            done = run(
                codes[0],
                policy=policy,
                packages=preload,
                value=value,
                max_tool_calls=max_tool_calls,
                max_open_files=max_open_files,
            )
            results.append(done)
            _show(results[-1], as_json)
        return _exit_code(results[-1])

    guarded(debug, go)


def _show(result: object, as_json: bool) -> None:
    from ..python import Result

    assert isinstance(result, Result)
    if as_json:
        print(json.dumps(result.to_dict(), ensure_ascii=False))
        return
    sys.stdout.write(result.stdout)
    if result.display is not None:
        sys.stdout.write(result.display + "\n")
    sys.stdout.flush()
    sys.stderr.write(result.stderr)
    if result.error is not None:
        sys.stderr.write(result.error.traceback or f"{result.error}\n")
    if result.limit is not None:
        sys.stderr.write(f"error: the {result.limit} limit stopped the code\n")


def _exit_code(result: object) -> int:
    from ..python import Result

    assert isinstance(result, Result)
    if result.limit is not None:
        error = _LIMIT_ERRORS.get(result.limit, LimitExceeded)("limit")
        return exit_code_for(error)
    if result.exit_code:
        return result.exit_code
    return 1 if result.error is not None else 0


mcp_app = typer.Typer(help="Serve omniwasm over the Model Context Protocol (stdio).")
app.add_typer(mcp_app, name="mcp")


@mcp_app.command("python")
def mcp_python(
    timeout: Annotated[str, typer.Option(help="Wall-clock limit per run.")] = "30s",
    max_memory: Annotated[str, typer.Option(help="Memory limit per sandbox.")] = "1GiB",
    fuel: Annotated[int | None, typer.Option(help="Instruction budget per run.")] = None,
    max_sessions: Annotated[int, typer.Option(help="Sessions open at once.")] = 16,
    debug: Annotated[bool, DEBUG] = False,
) -> None:
    """Serve run_python and session tools to an MCP client over stdin/stdout."""

    def go() -> int:
        from ..python.mcp import serve_stdio

        policy = Policy(
            timeout=parse_duration(timeout), max_memory=parse_size(max_memory), fuel=fuel
        )
        serve_stdio(policy=policy, max_sessions=max_sessions)
        return 0

    guarded(debug, go)
