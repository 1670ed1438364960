"""``omniwasm demo``: the bundled examples, one per habitat."""

from __future__ import annotations

from typing import Annotated, Any

from .._policy import Policy
from .._runtime import Runtime
from ._app import DEBUG, app, guarded

__all__: list[str] = []


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
