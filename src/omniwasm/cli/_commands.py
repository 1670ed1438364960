"""``omniwasm run / invoke / compile / cache``: flags in, one public call, output rendered."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from .._errors import PolicyError, ValueConversionError
from .._policy import Policy
from .._runtime import Instance, Runtime
from . import DEBUG, app, backstop, build_policy, cache_app, guarded

__all__: list[str] = []

_SANDBOX = "Sandbox"
_LIMITS = "Limits"

DirOpt = Annotated[
    list[str],
    typer.Option(
        "--dir",
        help="Preopen HOST[::GUEST] for the guest (repeatable; suffix :ro for read-only).",
        rich_help_panel=_SANDBOX,
    ),
]
DirRoOpt = Annotated[
    list[str],
    typer.Option("--dir-ro", help="Preopen HOST[::GUEST] read-only.", rich_help_panel=_SANDBOX),
]
EnvOpt = Annotated[
    list[str],
    typer.Option(
        "--env",
        help="Set KEY=VALUE in the guest, or inherit KEY from this process (repeatable).",
        rich_help_panel=_SANDBOX,
    ),
]
FuelOpt = Annotated[
    int | None,
    typer.Option(
        "--fuel",
        help="Fuel the guest may burn (about one unit per instruction).",
        rich_help_panel=_LIMITS,
    ),
]
TimeoutOpt = Annotated[
    str | None,
    typer.Option(
        "--timeout", help="Wall-clock limit, e.g. 2s, 500ms, 1m.", rich_help_panel=_LIMITS
    ),
]
MemOpt = Annotated[
    str | None,
    typer.Option("--max-memory", help="Linear memory limit, e.g. 64MiB.", rich_help_panel=_LIMITS),
]
TableOpt = Annotated[
    int | None,
    typer.Option(
        "--max-table-elements", help="Elements any one table may hold.", rich_help_panel=_LIMITS
    ),
]
InstOpt = Annotated[
    int | None,
    typer.Option(
        "--max-instances", help="Instances the guest's store may create.", rich_help_panel=_LIMITS
    ),
]
StdinOpt = Annotated[
    Path | None,
    typer.Option("--stdin", help="Feed this file to the guest's stdin.", rich_help_panel=_SANDBOX),
]
PolicyOpt = Annotated[
    Path | None,
    typer.Option("--policy", help="Start from a policy file (.toml or .json); flags override it."),
]
Argv0Opt = Annotated[
    str | None, typer.Option("--argv0", help="The program name the guest sees as argv[0].")
]
NoCacheOpt = Annotated[
    bool, typer.Option("--no-cache", help="Neither read nor write the compile cache.")
]
WasiOpt = Annotated[
    str,
    typer.Option(
        "--wasi",
        help="WASI 0.2 host for components: 'native' (wasmtime's), 'virtual' (omniwasm's "
        "Python host: controllable streams, in-memory files, --deterministic, waits that end "
        "at --timeout) or 'auto' (virtual with --timeout, else native).",
        rich_help_panel=_SANDBOX,
    ),
]
DeterministicOpt = Annotated[
    bool,
    typer.Option(
        "--deterministic",
        help="With --wasi virtual: fixed clocks (advancing only on sleep), seeded random, "
        "ordered directory listings: identical runs give identical output.",
        rich_help_panel=_SANDBOX,
    ),
]
SeedOpt = Annotated[
    int,
    typer.Option("--seed", help="The seed of --deterministic runs.", rich_help_panel=_SANDBOX),
]

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


@app.command(
    context_settings={"allow_interspersed_args": False, "ignore_unknown_options": True},
)
def run(
    file: Annotated[Path, typer.Argument(help="A .wasm, .wat or .cwasm module or component.")],
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
    max_table_elements: TableOpt = None,
    max_instances: InstOpt = None,
    stdin: StdinOpt = None,
    policy_file: PolicyOpt = None,
    argv0: Argv0Opt = None,
    no_cache: NoCacheOpt = False,
    wasi: WasiOpt = "auto",
    deterministic: DeterministicOpt = False,
    seed: SeedOpt = 0,
    debug: Annotated[bool, DEBUG] = False,
) -> None:
    """Run a WASI command (p1 module or p2 component), or call one export with --invoke.

    The guest's exit code becomes this process's exit code.
    """

    def go() -> int:
        guest_args = list(args or [])
        policy = build_policy(
            policy_file=policy_file,
            dirs=dirs,
            dirs_ro=dirs_ro,
            env=env,
            fuel=fuel,
            timeout=timeout,
            max_memory=max_memory,
            max_table_elements=max_table_elements,
            max_instances=max_instances,
            stdin=stdin,
            args=guest_args if invoke is None else [],
        )
        if wasi not in ("native", "virtual", "auto"):
            raise PolicyError(f"--wasi is 'native', 'virtual' or 'auto', not {wasi!r}")
        if (deterministic or seed) and wasi != "virtual":
            raise PolicyError("--deterministic and --seed need --wasi virtual")
        policy = policy.with_(deterministic=deterministic, seed=seed)
        backstop(policy)
        rt = Runtime(policy, cache=not no_cache)
        compiled = rt.load(file)
        name = argv0 if argv0 is not None else file.name
        # wasmtime's native WASI 0.2 waits cannot be interrupted from Python; the virtual
        # host's all end at the deadline
        timed_component = compiled.kind == "component" and policy.timeout is not None
        if wasi == "virtual" or (wasi == "auto" and timed_component):
            return _run_virtual(rt, compiled, policy, name, invoke, guest_args)
        if invoke is None:
            return rt.run(compiled, argv0=name).exit_code
        with rt.instantiate(compiled, argv0=name) as inst:
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


@app.command(context_settings={"allow_interspersed_args": False, "ignore_unknown_options": True})
def invoke(
    file: Annotated[Path, typer.Argument(help="A .wasm, .wat or .cwasm module or component.")],
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
    policy_file: PolicyOpt = None,
    debug: Annotated[bool, DEBUG] = False,
) -> None:
    """Call one export and print its results (alias of ``run --invoke``)."""
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
        policy_file=policy_file,
        debug=debug,
    )


@app.command()
def compile(
    file: Annotated[Path, typer.Argument(help="A .wasm or .wat module or component.")],
    output: Annotated[
        Path | None,
        typer.Option("-o", "--output", help="Where to write the .cwasm (default: FILE.cwasm)."),
    ] = None,
    fuel: Annotated[bool, typer.Option("--fuel", help="Compile with fuel metering.")] = False,
    debug: Annotated[bool, DEBUG] = False,
) -> None:
    """Compile ahead of time to a .cwasm that `omniwasm run` loads without compiling."""

    def go() -> int:
        rt = Runtime(fuel=fuel, cache=False)
        blob = rt.compile(file)
        out = output if output is not None else file.with_suffix(".cwasm")
        tmp = out.with_name(out.name + ".tmp")
        tmp.write_bytes(blob)
        tmp.replace(out)
        print(f"wrote {out} ({len(blob)} bytes)", file=sys.stderr)
        return 0

    guarded(debug, go)


@cache_app.command("info")
def cache_info(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show where the compile cache is and how much it holds."""
    info = Runtime(cache=True).cache.info()
    if as_json:
        print(json.dumps({"path": str(info.path), "entries": info.entries, "bytes": info.size}))
    else:
        print(f"path:    {info.path}\nentries: {info.entries}\nsize:    {info.size} bytes")


@cache_app.command("clear")
def cache_clear() -> None:
    """Delete every compiled entry in the cache."""
    removed = Runtime(cache=True).cache.clear()
    print(f"removed {removed} entries")


def _asgi_get(component: bytes, rt: Runtime) -> tuple[int, dict[str, str], bytes]:
    """One ``GET /`` through a :class:`~omniwasm.gateway.Gateway`, driven as ASGI by hand."""
    import asyncio

    from ..gateway import Gateway

    gateway = Gateway(rt.load(component), runtime=rt)
    sent: list[dict[str, Any]] = []
    scope = {"type": "http", "method": "GET", "scheme": "http", "path": "/",
             "raw_path": b"/", "query_string": b"", "headers": [(b"host", b"demo")]}  # fmt: skip

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Any) -> None:
        sent.append(dict(message))

    try:
        asyncio.run(gateway(scope, receive, send))
    finally:
        gateway.close()
    start = sent[0]
    headers = {bytes(k).decode(): bytes(v).decode() for k, v in start["headers"]}
    body = b"".join(m.get("body", b"") for m in sent[1:])
    return int(start["status"]), headers, body


@app.command()
def demo(debug: Annotated[bool, DEBUG] = False) -> None:
    """Run the bundled examples: WASI programs, a component call, plugins, an HTTP handler."""
    from importlib.resources import files

    def go() -> int:
        examples = files("omniwasm") / "examples"
        rt = Runtime()
        hello = rt.load(examples.joinpath("hello.wat").read_bytes())
        result = rt.run(hello, argv0="hello")
        print("1. WASI p1 program examples/hello.wat (core module, _start)")
        print(f"   exit code {result.exit_code}, stdout: {result.stdout.decode()!r}")
        fib = rt.load(examples.joinpath("fib.wat").read_bytes())
        with rt.instantiate(fib) as inst:
            value = inst.call("fib", 90)
        print("2. Component call examples/fib.wat (fib: func(n: u32) -> u64)")
        print(f"   fib(90) = {value}")
        from ..plugins import Plugin, host_fn

        with Plugin(examples.joinpath("count_vowels.wat").read_bytes()) as plugin:
            outs = [plugin.call("count_vowels", text) for text in ("Hello, World!", "omniwasm")]
        print("3. Extism plugin examples/count_vowels.wat (the total persists in a var)")
        for out in outs:
            print(f"   {out.decode()}")

        @host_fn(name="hello_world")
        def hello_world(name: str) -> str:
            return f"Hello, {name}! (from a Python host function)"

        with Plugin(
            examples.joinpath("user_fn.wat").read_bytes(), host_functions=[hello_world]
        ) as plugin:
            out = plugin.call("hello", "plugin")
        print("4. Extism plugin examples/user_fn.wat calling a Python host function")
        print(f"   {out.decode()}")
        from .. import wasi

        hello_p2 = rt.load(examples.joinpath("wasi_hello.wat").read_bytes())
        runs = [wasi.run(rt, hello_p2, Policy(deterministic=True, seed=7)) for _ in range(2)]
        print("5. WASI 0.2 component examples/wasi_hello.wat on the virtual WASI host,")
        print("   deterministic (seed 7): two runs, identical output")
        for run_result in runs:
            print(f"   {run_result.stdout.decode().rstrip()}")
        status, headers, body = _asgi_get(examples.joinpath("http_hello.wat").read_bytes(), rt)
        print("6. HTTP gateway: examples/http_hello.wat (a wasi:http/proxy component) answering")
        print("   GET / as an ASGI app, in process (`omniwasm serve` serves it over HTTP)")
        print(f"   {status} {headers.get('content-type', '')} {body.decode()!r}")
        print(f"engine: pooling={rt.pooling}, compile cache at {rt.cache.root}")
        return 0

    guarded(debug, go)
