"""A whole HTTP application: routes to components, key-value stores, metrics, access logs.

:class:`App` is the ASGI application ``omniwasm serve`` runs: it reads an ``omniwasm.toml``
(or wraps one component file as the route ``/...``), builds one :class:`Gateway` per component
with that component's policy, routes each request with Spin's rules (404 when no route
matches), gives each instance its key-value stores, its variables (``fermyon:spin/variables``,
``wasi:config/store``) and its files, counts everything in :class:`Metrics` and writes one
structured access-log record per request on the ``omniwasm.gateway.access`` logger.
:meth:`App.reload` swaps a component for its new build without dropping requests: requests
already running finish on the old instance's code. A component's ``files`` are read into
memory when it is built, so a reload also picks up changed files.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping, MutableMapping
from pathlib import Path
from typing import Any

from .._compiled import is_reference
from .._component import Linker
from .._errors import InvalidModule, PolicyError
from .._policy import DEFAULT_MAX_OUTPUT, Policy
from .._runtime import Runtime
from ..wasi import WasiContext, add_to_linker, p3
from ._asgi import (
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_HEADER_BYTES,
    DEFAULT_MAX_HEADERS,
    KEEP_RESIDENT,
    Gateway,
)
from ._exchange import Hooks
from ._kv import KV_INTERFACES, KeyValueAccess, KeyValueDatabase
from ._manifest import AppManifest, ComponentSpec, load_app_manifest
from ._messages import Receive, Scope, Send, refuse_head, send_plain
from ._metrics import Metrics, Rendering
from ._routes import Match, Router
from ._variables import VARIABLE_INTERFACES, ComponentVariables

__all__ = ["App", "MetricsApp"]

access_log = logging.getLogger("omniwasm.gateway.access")
logger = logging.getLogger("omniwasm.gateway")


def _compiling(source: str, size: int) -> None:
    """Say so before a component compiles (tens of seconds for a large one, cold)."""
    logger.info("compiling %s (%.1f MB)...", os.path.basename(source), size / 1e6)


def _linker() -> Linker:
    """WASI (0.2 and 0.3), key-value and variables: one linker for every component."""
    linker = p3.add_to_linker(add_to_linker(Linker(wasi=False)))
    for name, members in {**KV_INTERFACES, **VARIABLE_INTERFACES}.items():
        linker.define(name, **members)
    return linker


CLIENT_CLOSED = 499
"""The status logged for a request whose client left before any answer (nginx's code)."""


class App:
    """The ASGI application for an ``omniwasm.toml`` or a single component file.

    Args:
        source: a manifest (``.toml``) or a component (``.wasm``/``.wat``, or a registry
            reference such as ``acme:shop@1.0.0``, pulled verified), served at ``/...``.
        runtime: the runtime (a new one when None).
        policy: for a single component, its sandbox (a manifest gives each component its own;
            this policy's limits then apply where the manifest sets none).
        variables: values for the manifest's application variables (a single component
            has none: giving any is an error).
        kv_path: the key-value database (default ``.omniwasm/kv.sqlite`` beside the source;
            in the working directory for a reference).
        max_body_bytes, timeout, max_concurrency, max_queue, instance_concurrency,
            instance_reuse: per component, see :class:`Gateway`.
        max_header_bytes, max_headers: the request header limits (431 beyond), checked
            before routing; see :class:`Gateway` (None: no limit here).
        self_origin: where the app is served (``http://127.0.0.1:8080``): the target of
            Spin's self-requests (a path with no host, or the host ``self.alt``), allowed to
            components whose ``allowed_outbound_hosts`` name ``self`` or ``self.alt``. None:
            such requests are refused.

    Raises:
        PolicyError: the manifest is invalid, a component's files cannot be read, or
            variables are given for a single component.
        InvalidModule: a component is invalid or exports no ``wasi:http`` handler (a 0.2
            ``incoming-handler`` or a 0.3 ``handler``).

    """

    def __init__(
        self,
        source: str | os.PathLike[str],
        *,
        runtime: Runtime | None = None,
        policy: Policy | None = None,
        variables: Mapping[str, str] | None = None,
        kv_path: str | os.PathLike[str] | None = None,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        max_header_bytes: int | None = DEFAULT_MAX_HEADER_BYTES,
        max_headers: int | None = DEFAULT_MAX_HEADERS,
        timeout: float | None = None,
        max_concurrency: int | None = None,
        max_queue: int | None = None,
        self_origin: str | None = None,
        instance_concurrency: int | None = None,
        instance_reuse: int | None = None,
    ) -> None:
        state_dir: Path | None = None
        if isinstance(source, str) and is_reference(source):
            from ..registry import fetch_path

            path = fetch_path(source)  # the verified file in the local store
            state_dir = Path.cwd() / ".omniwasm"  # not beside the store's blob
        else:
            path = Path(source).resolve()
        self.self_origin = self_origin
        self.built_ns = time.time_ns()
        """When the app began reading its components: a file changed since is reloaded by
        ``--watch`` even if the change came before the watcher's first look."""
        self.metrics = Metrics()
        self._base_policy = policy
        self.max_header_bytes = max_header_bytes
        self.max_headers = max_headers
        self._options: dict[str, Any] = {
            "max_body_bytes": max_body_bytes,
            "timeout": timeout,
            "max_concurrency": max_concurrency,
            "max_queue": max_queue,
            "instance_concurrency": instance_concurrency,
            "instance_reuse": instance_reuse,
            "max_header_bytes": None,  # checked once, by the app, before Spin's headers are added
            "max_headers": None,
        }
        if path.suffix == ".toml":
            self.manifest: AppManifest | None = load_app_manifest(path, variables=variables)
            specs = dict(self.manifest.components)
            routes = [(t.route, t.component) for t in self.manifest.triggers]
        else:
            if not path.is_file():
                raise InvalidModule("file not found", source=str(path))
            if variables:
                raise PolicyError(
                    f"no application variable named {', '.join(sorted(variables))} "
                    "(a single component has no variables; use an omniwasm.toml)"
                )
            self.manifest = None
            specs = {"app": ComponentSpec("app", path, policy or Policy())}
            routes = [("/...", "app")]
        self.specs = specs
        # One engine for every component: it meters fuel when any component's policy sets fuel
        # (a Runtime without metering refuses such a policy on every request).
        metered = any(self._policy(spec).fuel is not None for spec in specs.values())
        self.runtime = (
            runtime
            if runtime is not None
            else Runtime(fuel=metered, keep_resident=KEEP_RESIDENT, on_compile=_compiling)
        )
        if metered and not self.runtime.fuel:
            raise PolicyError(
                "a component's policy sets fuel but the given Runtime does not meter fuel "
                "(create it with Runtime(fuel=True))"
            )
        known = {label for spec in specs.values() for label in spec.key_value_stores}
        self._kv_known = frozenset(known)
        state_dir = state_dir or path.parent / ".omniwasm"
        db_path = kv_path if kv_path is not None else state_dir / "kv.sqlite"
        self.kv = KeyValueDatabase(db_path) if known else None
        self._linker = _linker()
        self.router: Router[str] = Router(routes)
        self._route_targets = dict(routes)
        self.gateways: dict[str, Gateway] = {cid: self._gateway(cid) for cid in specs}

    def _policy(self, spec: ComponentSpec) -> Policy:
        base = self._base_policy
        if base is None or self.manifest is None:
            return spec.policy
        policy = spec.policy
        defaults = {
            name: getattr(base, name)
            for name in ("max_memory", "timeout", "fuel")
            if getattr(policy, name) is None and getattr(base, name) is not None
        }
        if policy.max_output == DEFAULT_MAX_OUTPUT != base.max_output:
            defaults["max_output"] = base.max_output  # the manifest left it: serve's flag
        return policy.with_(**defaults) if defaults else policy

    def _gateway(self, cid: str) -> Gateway:
        spec = self.specs[cid]
        policy = self._policy(spec)
        routes = [r.text for r in self.router.routes if self._route_targets[r.text] == cid]
        label = routes[0] if routes else cid
        kv, known = self.kv, self._kv_known
        stores = spec.key_value_stores
        variables = ComponentVariables(cid, spec.variables)
        filesystems = {}
        if spec.files is not None:
            fs, unmatched = spec.files.filesystem()  # shared: read-only, never changed
            for pattern in unmatched:
                logger.warning("component %s: files pattern %r matches no file", cid, pattern)
            if fs is not None:
                filesystems["/"] = fs

        def context(p: Policy) -> WasiContext:
            ctx = WasiContext(p, argv0=cid, filesystems=filesystems)
            ctx.variables = variables  # type: ignore[attr-defined]
            ctx.http_self_origin = self.self_origin  # type: ignore[attr-defined]
            if kv is not None:
                ctx.key_value = KeyValueAccess(kv, stores, known)  # type: ignore[attr-defined]
            return ctx

        hooks = Hooks(
            context=context,
            imports=self._linker,
            instantiated=lambda seconds: self.metrics.instantiated(label, seconds),
        )
        options = dict(self._options)
        if options["timeout"] is None:
            options["timeout"] = policy.timeout if policy.timeout is not None else 30.0
        return Gateway(spec.source, policy=policy, runtime=self.runtime, hooks=hooks, **options)

    def reload(self, component: str) -> None:
        """Recompile ``component`` from its file and route new requests to it.

        Requests already running finish on the previous build. A build that fails to load
        leaves the previous one serving.

        Raises:
            OmniwasmError: the new build is invalid (the old one keeps serving).

        """
        fresh = self._gateway(component)
        old, self.gateways[component] = self.gateways[component], fresh
        logger.info("reloaded component %s from %s", component, self.specs[component].source)
        _retire(old)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The ASGI entry point."""
        kind = scope["type"]
        if kind == "lifespan":
            await self._lifespan(receive, send)
            return
        if kind != "http":
            await send({"type": "websocket.close", "code": 1003})
            return
        started = time.perf_counter()
        refused = await refuse_head(send, scope, self.max_header_bytes, self.max_headers)
        if refused is not None:
            self._log(scope, None, refused, started, 0)
            return
        path = scope.get("path", "/")
        if self.manifest is not None and path.startswith(WELL_KNOWN):
            self._log(scope, None, await self._well_known(path, send), started, 0)
            return
        match = self.router.match(path)
        if match is None:
            await send_plain(send, 404, "no route matches")
            self._log(scope, None, 404, started, 0)
            return
        cid = match.target
        gateway = self.gateways[cid]
        route = match.route.text
        if self.manifest is not None:  # a Spin-style app: Spin's request headers
            scope = {**scope, "headers": spin_headers(scope, match)}
        status: int | None = None
        failed = False
        sent = 0

        async def watch(message: MutableMapping[str, Any]) -> None:
            nonlocal status, sent
            if message["type"] == "http.response.start":
                status = int(message["status"])
            elif message["type"] == "http.response.body":
                sent += len(message.get("body", b""))
            await send(message)

        self.metrics.started()
        try:
            await gateway(scope, receive, watch)
        except Exception:
            failed = True  # the server answers 500 if nothing was sent yet
            raise
        finally:
            if status is None:  # nothing sent: the client left (nginx's 499), or a failure
                status = 500 if failed else CLIENT_CLOSED
            elapsed = time.perf_counter() - started
            self.metrics.finished(route, status, elapsed)
            if status == 504:
                self.metrics.timed_out(route)
            elif status == 500:
                self.metrics.trapped(route)
            self._log(scope, (route, cid), status, started, sent)

    async def _well_known(self, path: str, send: Send) -> int:
        """Spin's reserved routes: ``health`` and ``info``; anything else there is 404."""
        if path == WELL_KNOWN + "health":
            await send_plain(send, 200, "OK")
            return 200
        if path == WELL_KNOWN + "info" and self.manifest is not None:
            from .._version import __version__

            info = {
                "application": {"name": self.manifest.name, "version": self.manifest.version},
                "runtime": {"name": "omniwasm", "version": __version__},
                "components": sorted(self.specs),
            }
            body = json.dumps(info).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-type", b"application/json")],
                }
            )
            await send({"type": "http.response.body", "body": body, "more_body": False})
            return 200
        await send_plain(send, 404, "not found")
        return 404

    def _log(
        self, scope: Scope, target: tuple[str, str] | None, status: int, started: float, sent: int
    ) -> None:
        route, cid = target if target is not None else (None, None)
        access_log.info(
            "%s %s %d",
            scope.get("method", "?"),
            scope.get("path", ""),
            status,
            extra={
                "method": scope.get("method"),
                "path": scope.get("path"),
                "query": bytes(scope.get("query_string", b"")).decode("latin-1"),
                "route": route,
                "component": cid,
                "status": status,
                "duration_ms": round((time.perf_counter() - started) * 1e3, 3),
                "bytes": sent,
                "client": (scope.get("client") or [None])[0],
            },
        )

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                for gateway in list(self.gateways.values()):
                    await gateway.aclose()  # waits for running guests: a graceful stop
                await send({"type": "lifespan.shutdown.complete"})
                return


WELL_KNOWN = "/.well-known/spin/"
"""Spin's reserved routes (apps only): they take priority over every route of the app."""

SPIN_HEADERS = frozenset(
    {
        b"spin-full-url",
        b"spin-path-info",
        b"spin-matched-route",
        b"spin-raw-component-route",
        b"spin-component-route",
        b"spin-base-path",
        b"spin-client-addr",
    }
)
"""The request headers Spin's HTTP trigger sets (plus ``spin-path-match-NAME`` per ``:NAME``)."""


def spin_headers(scope: Scope, match: Match[str]) -> list[tuple[bytes, bytes]]:
    """The request's headers as Spin passes them to a component.

    The client's own headers, without any it sent under Spin's names, then Spin's: the full
    URL, the path below the matched route, the route, the client address, one
    ``spin-path-match-NAME`` per ``:NAME`` segment.
    """
    own = [
        (bytes(k), bytes(v))
        for k, v in scope.get("headers", ())
        if bytes(k).lower() not in SPIN_HEADERS
        and not bytes(k).lower().startswith(b"spin-path-match-")
    ]
    host = next((v for k, v in own if k.lower() == b"host"), None)
    if host is None:
        server = scope.get("server") or ("localhost", None)
        host = (f"{server[0]}:{server[1]}" if server[1] else str(server[0])).encode("latin-1")
    raw = scope.get("raw_path") or scope.get("path", "/").encode("utf-8")
    query = bytes(scope.get("query_string", b""))
    url = f"{scope.get('scheme', 'http')}://".encode() + host + bytes(raw)
    route = match.route.text
    added = [
        (b"spin-full-url", url + (b"?" + query if query else b"")),
        (b"spin-path-info", match.path_info.encode("utf-8")),
        (b"spin-matched-route", route.encode("utf-8")),
        (b"spin-raw-component-route", route.encode("utf-8")),
        (b"spin-component-route", route.removesuffix("/...").encode("utf-8")),
        (b"spin-base-path", b"/"),
    ]
    client = scope.get("client")
    if client:
        added.append((b"spin-client-addr", f"{client[0]}:{client[1]}".encode("latin-1")))
    for name, value in match.params.items():
        added.append((f"spin-path-match-{name}".encode("latin-1"), value.encode("utf-8")))
    return own + added


def _retire(gateway: Gateway) -> None:
    """Stop a replaced gateway's pool once its running guests finish (off the event loop)."""
    threading.Thread(target=gateway.close, name="omniwasm-gateway-retire", daemon=True).start()


class MetricsApp:
    """The admin ASGI app: ``GET /metrics`` in Prometheus text format, ``GET /healthz``.

    ``/healthz`` answers 200 ``ok`` while ``healthy()`` is true, else 503 (for ``--workers``:
    no live worker is serving yet, or any more).
    """

    def __init__(self, metrics: Rendering, healthy: Callable[[], bool] | None = None) -> None:
        self.metrics = metrics
        self.healthy = healthy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve ``/metrics`` and ``/healthz``; 404 for anything else."""
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                kind = message["type"].removeprefix("lifespan.")
                await send({"type": f"lifespan.{kind}.complete"})
                if kind == "shutdown":
                    return
        if scope["type"] != "http":
            return
        path = scope.get("path")
        if path == "/metrics":
            body = self.metrics.render().encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-type", b"text/plain; version=0.0.4; charset=utf-8")],
                }
            )
            await send({"type": "http.response.body", "body": body, "more_body": False})
        elif path == "/healthz":
            if self.healthy is None or self.healthy():
                await send_plain(send, 200, "ok")
            else:
                await send_plain(send, 503, "no worker is serving")
        else:
            await send_plain(send, 404, "not found")
