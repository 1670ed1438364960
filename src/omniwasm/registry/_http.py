"""The httpx transport, and httpx imported and configured for a short-lived registry client.

``HttpxTransport`` carries every request the lean transport (``_httpclient.py``) does not:
HTTPS, redirects, proxies. It is the only place the registry client uses httpx, and it maps
httpx's exceptions to ``transport``'s here.

Two start-up costs are avoided, which matter to a short process that does use httpx (an
``omniwasm pull`` from an HTTPS registry): httpx imports its own command-line tool (click,
rich, pygments) whenever those are installed, as they are beside typer; marking
``httpx._main`` unimportable first makes httpx take its documented fallback (its CLI then says
it is not installed; omniwasm never runs it). And an ``httpx.Client`` loads certifi's CA
bundle on creation (~100 ms); registries are verified against the system's trust store
instead, as Docker and skopeo do (its hashed CA directory, read lazily during handshakes),
with certifi as the fallback where the system has none.
"""

from __future__ import annotations

import functools
import os
import ssl
import sys
from collections.abc import Iterator
from typing import Any

from .transport import (
    BodyInterrupted,
    ConnectFailed,
    Headers,
    Response,
    TimedOut,
    TransportError,
)

__all__ = ["HttpxTransport", "skip_httpx_cli", "ssl_context", "tls_on_demand"]


def skip_httpx_cli() -> None:
    """Call before ``import httpx``: it then skips importing its command-line tool."""
    if "httpx" not in sys.modules:
        sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]


@functools.cache
def ssl_context() -> ssl.SSLContext:
    """A verifying TLS client context on the system's CA store.

    The hashed CA directory is used when the system has one: certificates are then looked
    up during a handshake instead of all being parsed up front (~50 ms for a whole bundle, paid
    by every command even against a plain-HTTP loopback registry). Otherwise the default
    bundle, and certifi's where the system has none.
    """
    paths = ssl.get_default_verify_paths()
    capath = paths.capath
    chosen = os.environ.get(paths.openssl_cafile_env) or os.environ.get(paths.openssl_capath_env)
    if (
        not chosen  # SSL_CERT_FILE / SSL_CERT_DIR: the default context honours them
        and capath
        and os.path.isdir(capath)
        and any(n.endswith(".0") for n in os.listdir(capath))
    ):
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies, checks host names
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_verify_locations(capath=capath)
        return context
    context = ssl.create_default_context()
    if context.cert_store_stats().get("x509_ca", 0) == 0:
        try:
            import certifi
        except ImportError:  # pragma: no cover - httpx depends on certifi
            return context
        context.load_verify_locations(certifi.where())
    return context


def tls_on_demand(httpx: Any) -> Any:
    """An httpx transport for ``https://`` URLs that builds its TLS context on first use.

    A plain-HTTP (loopback) registry mounts it for ``https://``: a redirect or a token realm
    there is verified as always, and a pull that never leaves plain HTTP never loads the CA
    store (with ``SSL_CERT_FILE`` set, the whole bundle is parsed: tens of milliseconds).
    """

    class _TlsOnDemand(httpx.BaseTransport):  # type: ignore[misc]
        def __init__(self) -> None:
            self._transport: Any = None

        def handle_request(self, request: Any) -> Any:
            if self._transport is None:
                self._transport = httpx.HTTPTransport(verify=ssl_context())
            return self._transport.handle_request(request)

        def close(self) -> None:
            if self._transport is not None:
                self._transport.close()

    return _TlsOnDemand()


class _HttpxResponse(Response):
    """An ``httpx.Response`` (opened with ``stream=True``) behind ``transport.Response``."""

    def __init__(self, response: Any, httpx: Any) -> None:
        super().__init__(
            response.status_code,
            response.reason_phrase,
            Headers(response.headers.multi_items()),
            str(response.url),
        )
        self._response = response
        self._httpx = httpx

    def _chunks(self) -> Iterator[bytes]:
        httpx = self._httpx
        try:
            yield from self._response.iter_bytes()
        except (httpx.RemoteProtocolError, httpx.ReadError, httpx.ReadTimeout) as exc:
            raise BodyInterrupted(str(exc) or repr(exc)) from exc
        except httpx.HTTPError as exc:
            raise TransportError(str(exc) or repr(exc)) from exc

    def _release(self) -> None:
        self._response.close()


class HttpxTransport:
    """Requests through an ``httpx.Client``: TLS, redirects, proxies (``transport.Transport``).

    Args:
        timeout: seconds for connecting and for each read.
        https: the registry is reached over HTTPS (its CA store is loaded now); otherwise
            ``https://`` URLs (a redirect, a token realm) get one on first use.

    """

    def __init__(self, timeout: float, *, https: bool) -> None:
        skip_httpx_cli()
        import httpx

        self._httpx = httpx
        if https:
            tls: dict[str, Any] = {"verify": ssl_context()}
        else:
            # The default transport carries only http:// URLs here (https:// ones go to the
            # mount, verified), so it needs no CA store: loading one costs a local pull dearly.
            tls = {"verify": False, "mounts": {"https://": tls_on_demand(httpx)}}
        self._client = httpx.Client(timeout=httpx.Timeout(timeout), follow_redirects=True, **tls)

    def request(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        content: bytes | None,
        *,
        stream: bool,
    ) -> Response:
        """One exchange, redirects followed (``transport.Transport``).

        Raises:
            ConnectFailed: no connection (including a certificate that does not verify).
            TimedOut: no answer in time.
            TransportError: the exchange broke.

        """
        httpx = self._httpx
        try:
            request = self._client.build_request(method, url, headers=headers, content=content)
            raw = self._client.send(request, stream=True)
        except httpx.ConnectError as exc:
            raise ConnectFailed(str(exc) or repr(exc)) from exc
        except httpx.TimeoutException as exc:
            raise TimedOut(str(exc) or repr(exc)) from exc
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise TransportError(str(exc) or repr(exc)) from exc
        response = _HttpxResponse(raw, httpx)
        if not stream:
            response.read()
        return response

    def close(self) -> None:
        """Close the connection pool (idempotent)."""
        self._client.close()
