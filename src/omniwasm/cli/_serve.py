"""``omniwasm serve APP.wasm | omniwasm.toml``: serve wasi:http components over HTTP."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from .._errors import PolicyError
from .._policy import DEFAULT_MAX_OUTPUT, parse_duration, parse_size
from ._app import DEBUG, app, guarded, parse_output_limit

__all__: list[str] = []


@app.command(name="serve")
def serve_cmd(
    source: Annotated[
        str,
        typer.Argument(
            help="A wasi:http/proxy component (a file or a registry reference), or an "
            "omniwasm.toml app manifest."
        ),
    ],
    addr: Annotated[
        str, typer.Option("--addr", help="Where to listen, HOST:PORT.")
    ] = "127.0.0.1:8080",
    admin: Annotated[
        str | None,
        typer.Option("--admin", help="Serve /metrics (Prometheus) and /healthz on HOST:PORT."),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            min=1,
            help="Worker processes (default: one per core; 1 serves from this process).",
        ),
    ] = None,
    watch: Annotated[
        bool, typer.Option("--watch", help="Reload a component when its file changes.")
    ] = False,
    timeout: Annotated[
        str | None, typer.Option("--timeout", help="Per-request time limit, e.g. 30s.")
    ] = None,
    max_memory: Annotated[
        str | None, typer.Option("--max-memory", help="Per-request memory limit, e.g. 64MiB.")
    ] = None,
    max_output: Annotated[
        str | None,
        typer.Option(
            "--max-output",
            help="Bytes kept of each guest output stream per request (default 16MiB), or "
            "'unlimited'.",
        ),
    ] = None,
    max_body: Annotated[
        str, typer.Option("--max-body", help="Largest request body (413 beyond).")
    ] = "10MiB",
    max_header_bytes: Annotated[
        str,
        typer.Option("--max-header-bytes", help="Largest request header section (431 beyond)."),
    ] = "64KiB",
    max_headers: Annotated[
        int,
        typer.Option("--max-headers", min=1, help="Most request header fields (431 beyond)."),
    ] = 100,
    header_timeout: Annotated[
        str,
        typer.Option(
            "--header-timeout",
            help="Time a client has to send a request's headers (408 or close beyond).",
        ),
    ] = "10s",
    max_concurrency: Annotated[
        int | None,
        typer.Option("--max-concurrency", min=1, help="Guests running at once per component."),
    ] = None,
    max_queue: Annotated[
        int | None,
        typer.Option("--max-queue", min=0, help="Requests that may wait for a guest (503 beyond)."),
    ] = None,
    instance_concurrency: Annotated[
        int | None,
        typer.Option(
            "--instance-concurrency",
            min=1,
            help="WASI 0.3 services: requests in flight at once in one instance (16).",
        ),
    ] = None,
    instance_reuse: Annotated[
        int | None,
        typer.Option(
            "--instance-reuse",
            min=1,
            help="WASI 0.3 services: requests one instance serves before it is replaced (128).",
        ),
    ] = None,
    kv: Annotated[
        Path | None, typer.Option("--kv", help="The key-value SQLite file (app stores).")
    ] = None,
    var: Annotated[
        list[str], typer.Option("--var", help="An application variable NAME=VALUE (repeatable).")
    ] = [],  # noqa: B006 (typer reads the default; it is never mutated)
    http2: Annotated[
        bool,
        typer.Option(
            "--http2",
            help="Serve with Hypercorn: HTTP/2 (h2c, or h2 with --tls-cert) and trailers.",
        ),
    ] = False,
    tls_cert: Annotated[
        Path | None,
        typer.Option("--tls-cert", help="Serve HTTPS with this PEM certificate (chain)."),
    ] = None,
    tls_key: Annotated[
        Path | None, typer.Option("--tls-key", help="The PEM private key of --tls-cert.")
    ] = None,
    log_format: Annotated[
        str, typer.Option("--log-format", help="Access and error logs: text or json.")
    ] = "text",
    nn_models: Annotated[
        list[str],
        typer.Option(
            "--nn-model",
            metavar="NAME=PATH",
            help="Grant an ONNX model to a single component's wasi:nn load-by-name "
            "(repeatable; an omniwasm.toml uses [component.ID.models]).",
        ),
    ] = [],  # noqa: B006
    on_ray: Annotated[
        bool,
        typer.Option(
            "--ray",
            help="Serve from Ray Serve replicas on a Ray cluster (--ray-address, else "
            "RAY_ADDRESS, else a new local Ray); --addr is Ray Serve's HTTP proxy.",
        ),
    ] = False,
    ray_address: Annotated[
        str | None,
        typer.Option("--ray-address", help="The Ray cluster to join (implies --ray)."),
    ] = None,
    replicas: Annotated[
        str,
        typer.Option(
            "--replicas", help="With --ray: replicas, or 'auto' (Ray Serve scales with the load)."
        ),
    ] = "1",
    replica_cpus: Annotated[
        float,
        typer.Option("--replica-cpus", min=0.0, help="With --ray: CPUs each replica reserves."),
    ] = 1.0,
    debug: Annotated[bool, DEBUG] = False,
) -> None:
    """Serve a wasi:http component (or an app of them) with a fresh instance per request."""

    def go() -> int:
        from ..gateway.serve import ServeSettings, serve

        if log_format not in ("text", "json"):
            raise PolicyError(f"--log-format is text or json, not {log_format!r}")
        variables = {}
        for item in var:
            name, sep, value = item.partition("=")
            if not sep or not name:
                raise PolicyError(f"--var expects NAME=VALUE, got {item!r}")
            variables[name] = value
        models = {}
        for item in nn_models:
            name, sep, path = item.partition("=")
            if not sep or not name or not path:
                raise PolicyError(f"--nn-model needs NAME=PATH, got {item!r}")
            models[name] = str(Path(path).absolute())
        ray = on_ray or ray_address is not None
        if ray:
            from ._serve_ray import parse_replicas

            refused = {
                "--workers": workers is not None,
                "--watch": watch,
                "--admin": admin is not None,
                "--http2": http2,
                "--tls-cert": tls_cert is not None or tls_key is not None,
            }
            for flag, given in refused.items():
                if given:
                    raise PolicyError(f"{flag} is not available with --ray (Ray Serve serves)")
            count = parse_replicas(replicas)
        settings = ServeSettings(
            source=str(source),
            addr=addr,
            admin=admin,
            workers=workers if workers is not None else default_workers(http2=http2),
            watch=watch,
            timeout=parse_duration(timeout) if timeout is not None else None,
            max_memory=parse_size(max_memory) if max_memory is not None else None,
            max_output=(
                parse_output_limit(max_output) if max_output is not None else DEFAULT_MAX_OUTPUT
            ),
            max_body_bytes=parse_size(max_body),
            max_header_bytes=parse_size(max_header_bytes),
            max_headers=max_headers,
            header_timeout=parse_duration(header_timeout),
            max_concurrency=max_concurrency,
            max_queue=max_queue,
            instance_concurrency=instance_concurrency,
            instance_reuse=instance_reuse,
            kv_path=str(kv) if kv is not None else None,
            variables=variables,
            log_format=log_format,
            http2=http2,
            tls_cert=str(tls_cert) if tls_cert is not None else None,
            tls_key=str(tls_key) if tls_key is not None else None,
            models=models,
        )
        if ray:
            from ._serve_ray import serve_on_ray

            return serve_on_ray(
                settings, address=ray_address, replicas=count, replica_cpus=replica_cpus
            )
        return serve(settings)

    guarded(debug, go)


def default_workers(*, http2: bool) -> int:
    """``--workers`` when not given: one process per core (Hypercorn's ``--http2``: one).

    One process runs one request's Python at a time (the GIL), so a process per core is what
    serves the most requests; ``wasmtime serve`` uses every core by default too.
    """
    return 1 if http2 else (os.cpu_count() or 1)
