"""``omniwasm run`` and ``omniwasm invoke``: run a WASI command or call one export."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from .._errors import InvalidModule, PolicyError, ValueConversionError
from .._policy import Policy
from .._runtime import Instance, Runtime
from ._app import (
    DEBUG,
    FILE_OR_REFERENCE,
    AllowPrecompiledOpt,
    Argv0Opt,
    DeterministicOpt,
    DirOpt,
    DirRoOpt,
    EnvOpt,
    FuelOpt,
    InstOpt,
    MemOpt,
    NoCacheOpt,
    OutputOpt,
    PolicyOpt,
    SeedOpt,
    SOpt,
    StdinOpt,
    TableOpt,
    TimeoutOpt,
    WasiOpt,
    WOpt,
    app,
    backstop,
    build_policy,
    check_precompiled,
    guarded,
    guest_name,
    option_groups,
)

__all__: list[str] = []

_CALL_RE = re.compile(r"^\s*([^\s(]+)\s*(?:\((.*)\))?\s*$", re.DOTALL)


def parse_core_call(text: str, extra: list[str]) -> tuple[str, list[str]]:
    """Split ``name(1, 2)`` (or ``name`` plus positional args) into a name and argument texts.

    Raises:
        ValueConversionError: the text is not a call expression.

    """
    m = _CALL_RE.match(text)
    if not m:
        raise ValueConversionError(text, "*", "NAME or NAME(ARG, ...)", repr(text))
    name, inner = m.group(1), m.group(2)
    if inner is None:
        return name, list(extra)
    args = [a.strip() for a in inner.split(",")]
    if args == [""]:
        args = []
    return name, args + list(extra)


def _number(text: str, ty: str, func: str, index: int) -> int | float:
    try:
        if ty in ("i32", "i64", "v128"):
            return int(text, 0)
        return float(text)
    except ValueError:
        raise ValueConversionError(func, str(index), ty, repr(text)) from None


def _render(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, tuple):
        return [str(v) for v in value]
    return [str(value)]


def invoke_core(inst: Instance, call: str, extra: list[str]) -> list[str]:
    """Call a core export from its textual form; returns the result lines wasmtime would print."""
    name, texts = parse_core_call(call, extra)
    func = inst.func(name)
    params = getattr(func, "params", [])
    if len(texts) != len(params):
        raise ValueConversionError(name, "*", f"{len(params)} argument(s)", f"{len(texts)}")
    args = [_number(t, ty, name, i) for i, (t, ty) in enumerate(zip(texts, params, strict=True))]
    return _render(func(*args))


def invoke_component(inst: Instance, call: str, extra: list[str]) -> str:
    """Call a component export from a WAVE call; returns the result in WAVE (``()`` if none).

    ``call`` is ``name(args...)`` (``iface#name`` or ``iface.name`` qualify a name exported
    by several interfaces) or a bare name whose arguments come as ``extra`` WAVE texts.
    """
    from .._wit.wave import format_value, parse_args, parse_call

    if "(" in call:
        # A WAVE call name has no '#': keep an ``iface#`` qualifier aside while parsing.
        head, sep, rest = call.partition("#")
        qualifier = head.strip() + sep if sep and "(" not in head else ""
        name, texts = parse_call(rest if qualifier else call)
        name = qualifier + name
        texts += extra
    else:
        name, texts = call.strip(), list(extra)
    func = inst.func(name)
    sig = func.sig  # type: ignore[attr-defined]
    value = func(*parse_args(texts, sig), raw=True)
    return "()" if sig.result is None else format_value(value, sig.result)


# Options come before FILE and are parsed strictly (an unknown one is a usage error); everything
# after FILE goes to the guest, as with `wasmtime run`.
_STRICT_BEFORE_FILE = {"allow_interspersed_args": False}

NnOpt = Annotated[
    list[str],
    typer.Option(
        "--nn-model",
        metavar="NAME=PATH",
        help="Grant an ONNX model to the guest's wasi:nn load-by-name (repeatable).",
    ),
]


@app.command(context_settings=_STRICT_BEFORE_FILE)
def run(
    file: Annotated[str, typer.Argument(help=FILE_OR_REFERENCE)],
    args: Annotated[list[str] | None, typer.Argument(help="Arguments passed to the guest.")] = None,
    invoke: Annotated[
        str | None,
        typer.Option(
            "--invoke",
            help="Call this export instead of running the command: NAME or 'NAME(ARGS)'.",
        ),
    ] = None,
    dirs: DirOpt = [],  # noqa: B006 (typer reads the default; it is never mutated)
    dirs_ro: DirRoOpt = [],  # noqa: B006
    env: EnvOpt = [],  # noqa: B006
    fuel: FuelOpt = None,
    timeout: TimeoutOpt = None,
    max_memory: MemOpt = None,
    max_output: OutputOpt = None,
    max_table_elements: TableOpt = None,
    max_instances: InstOpt = None,
    stdin: StdinOpt = None,
    policy_file: PolicyOpt = None,
    argv0: Argv0Opt = None,
    no_cache: NoCacheOpt = False,
    wasi: WasiOpt = "auto",
    deterministic: DeterministicOpt = False,
    seed: SeedOpt = 0,
    nn_models: NnOpt = [],  # noqa: B006
    w_opts: WOpt = [],  # noqa: B006
    s_opts: SOpt = [],  # noqa: B006
    allow_precompiled: AllowPrecompiledOpt = False,
    debug: Annotated[bool, DEBUG] = False,
) -> None:
    """Run a WASI command (p1 module or p2 component), or call one export with --invoke.

    Options go before FILE; everything after FILE is passed to the guest. The guest's exit
    code becomes this process's exit code.
    """
    groups = option_groups(
        w_opts,
        s_opts,
        fuel=fuel,
        timeout=timeout,
        max_memory=max_memory,
        max_table_elements=max_table_elements,
        max_instances=max_instances,
    )

    def go() -> int:
        guest_args = list(args or [])
        policy = build_policy(
            policy_file=policy_file,
            dirs=dirs,
            dirs_ro=dirs_ro,
            env=env,
            fuel=groups.fuel,
            timeout=groups.timeout,
            max_memory=groups.max_memory,
            max_output=max_output,
            max_table_elements=groups.max_table_elements,
            max_instances=groups.max_instances,
            stdin=stdin,
            args=guest_args if invoke is None else [],
        )
        if wasi not in ("native", "virtual", "auto"):
            raise PolicyError(f"--wasi is 'native', 'virtual' or 'auto', not {wasi!r}")
        if (deterministic or seed) and wasi != "virtual":
            raise PolicyError("--deterministic and --seed need --wasi virtual")
        if groups.http and wasi == "native":
            raise PolicyError("-S http needs the virtual WASI host (--wasi virtual or auto)")
        policy = policy.with_(deterministic=deterministic, seed=seed)
        if groups.inherit_env:
            policy = policy.with_(inherit_env=True)
        if groups.http:  # wasmtime's -S http: outgoing requests to any host
            policy = policy.with_(allowed_hosts=[*policy.allowed_hosts, "*://*:*"])
        if groups.inherit_network:  # wasmtime's -S inherit-network: sockets anywhere (0.3)
            policy = policy.with_(allowed_hosts=[*policy.allowed_hosts, "tcp://*:*", "udp://*:*"])
        if nn_models:  # added to the policy file's models (a name given twice is an error)
            policy = policy.with_(models=[*policy.models, *_granted(nn_models)])
        check_precompiled(file, allow_precompiled)
        backstop(policy)
        rt = Runtime(policy, cache=not no_cache)
        from ._progress import compiling

        with compiling(rt):
            compiled = rt.load(file)
        name = argv0 if argv0 is not None else guest_name(file)
        # wasmtime's native WASI 0.2 waits cannot be interrupted from Python; the virtual
        # host's all end at the deadline
        timed_component = compiled.kind == "component" and policy.timeout is not None
        try:
            if compiled.kind == "component" and compiled.uses_async:
                return _run_p3(rt, compiled, policy, name, invoke, guest_args, wasi)
            if wasi == "virtual" or (wasi == "auto" and (timed_component or groups.http)):
                return _run_virtual(rt, compiled, policy, name, invoke, guest_args)
            imports = _nn_imports(compiled, policy)
            if invoke is None:
                return rt.run(compiled, argv0=name, imports=imports).exit_code
        except InvalidModule as exc:
            if invoke is None and "not a WASI command" in exc.reason:
                raise _invoke_hint(exc, compiled) from exc
            raise
        with rt.instantiate(compiled, argv0=name, imports=imports) as inst:
            if compiled.kind == "component":
                print(invoke_component(inst, invoke, guest_args))
                sys.stdout.flush()
                return 0
            if "_initialize" in inst.exports:
                inst.call("_initialize")
            for line in invoke_core(inst, invoke, guest_args):
                print(line)
            sys.stdout.flush()
        return 0

    guarded(debug, go)


def _invoke_hint(exc: InvalidModule, compiled: Any) -> InvalidModule:
    """``exc`` (no ``_start`` / ``wasi:cli/run``) with the exports ``--invoke`` could call."""
    skip = ("memory", "table", "global", "tag")
    names = [e.name for e in compiled.exports if not e.type.startswith(skip)]
    if not names:
        return exc
    funcs = [e.name for e in compiled.exports if e.type.startswith("func")]
    example = f"{funcs[0]}(...)" if funcs else "INTERFACE#NAME(...)"
    shown = ", ".join(names[:8]) + (", ..." if len(names) > 8 else "")
    return InvalidModule(
        f"{exc.reason}; to call an export use --invoke, e.g. --invoke '{example}' "
        f"(exports: {shown})",
        source=exc.source,
    )


def _granted(specs: list[str]) -> list[tuple[str, str]]:
    """``--nn-model NAME=PATH`` values as (name, absolute path) pairs.

    Raises:
        PolicyError: a value is not NAME=PATH.

    """
    pairs = []
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep or not name or not path:
            raise PolicyError(f"--nn-model needs NAME=PATH, got {spec!r}")
        pairs.append((name, str(Path(path).absolute())))
    return pairs


def _nn_imports(compiled: Any, policy: Policy) -> Any:
    """wasi:nn for a component on native WASI that imports it, else None."""
    if compiled.kind != "component" or not any(
        e.module.startswith("wasi:nn/") for e in compiled.imports
    ):
        return None
    from ..wasi import nn

    return nn.linker(policy)


def _run_virtual(
    rt: Runtime,
    compiled: Any,
    policy: Policy,
    name: str,
    invoke: str | None,
    guest_args: list[str],
) -> int:
    """``run --wasi virtual``: the component runs on omniwasm's Python WASI 0.2 host."""
    from .. import wasi

    if compiled.kind != "component":
        raise PolicyError(
            "--wasi virtual runs components (WASI 0.2); a core module runs on native WASI p1"
        )
    if invoke is None:
        return wasi.run(rt, compiled, policy, argv0=name).exit_code
    context = wasi.WasiContext(policy, argv0=name)
    try:
        with wasi.instantiate(rt, compiled, context) as inst:
            print(invoke_component(inst, invoke, guest_args))
            sys.stdout.flush()
    finally:
        context.close()
    return 0


def _run_p3(
    rt: Runtime,
    compiled: Any,
    policy: Policy,
    name: str,
    invoke: str | None,
    guest_args: list[str],
    wasi_mode: str,
) -> int:
    """A component-model async component (WASI 0.3): omniwasm's runtime, the virtual host."""
    from .. import wasi
    from ..wasi import p3

    if wasi_mode == "native":
        raise PolicyError(
            "a component-model async (WASI 0.3) component runs on the virtual WASI host "
            "(--wasi virtual or auto), not native WASI"
        )
    if invoke is None:
        return p3.run(rt, compiled, policy, argv0=name).exit_code
    context = wasi.WasiContext(policy, argv0=name)
    try:
        with rt.instantiate(
            compiled, policy, imports=p3.linker(), argv0=name, host_data=context
        ) as inst:
            print(invoke_component(inst, invoke, guest_args))
            sys.stdout.flush()
    finally:
        context.close()
    return 0


@app.command(context_settings=_STRICT_BEFORE_FILE)
def invoke(
    file: Annotated[str, typer.Argument(help=FILE_OR_REFERENCE)],
    call: Annotated[
        str,
        typer.Argument(
            help="NAME or 'NAME(ARGS)', e.g. 'add(1, 2)'; WAVE values for components, "
            'e.g. \'summarize({title: "t", content: "c", language: "en"}, 5)\'.'
        ),
    ],
    args: Annotated[list[str] | None, typer.Argument(help="More arguments for NAME.")] = None,
    dirs: DirOpt = [],  # noqa: B006
    dirs_ro: DirRoOpt = [],  # noqa: B006
    env: EnvOpt = [],  # noqa: B006
    fuel: FuelOpt = None,
    timeout: TimeoutOpt = None,
    max_memory: MemOpt = None,
    max_output: OutputOpt = None,
    max_table_elements: TableOpt = None,
    max_instances: InstOpt = None,
    stdin: StdinOpt = None,
    policy_file: PolicyOpt = None,
    argv0: Argv0Opt = None,
    no_cache: NoCacheOpt = False,
    wasi: WasiOpt = "auto",
    deterministic: DeterministicOpt = False,
    seed: SeedOpt = 0,
    nn_models: NnOpt = [],  # noqa: B006
    w_opts: WOpt = [],  # noqa: B006
    s_opts: SOpt = [],  # noqa: B006
    allow_precompiled: AllowPrecompiledOpt = False,
    debug: Annotated[bool, DEBUG] = False,
) -> None:
    """Call one export and print its results (``run --invoke``; the same options as run)."""
    run(
        file,
        args,
        invoke=call,
        dirs=dirs,
        dirs_ro=dirs_ro,
        env=env,
        fuel=fuel,
        timeout=timeout,
        max_memory=max_memory,
        max_output=max_output,
        max_table_elements=max_table_elements,
        max_instances=max_instances,
        stdin=stdin,
        policy_file=policy_file,
        argv0=argv0,
        no_cache=no_cache,
        wasi=wasi,
        deterministic=deterministic,
        seed=seed,
        nn_models=nn_models,
        w_opts=w_opts,
        s_opts=s_opts,
        allow_precompiled=allow_precompiled,
        debug=debug,
    )
