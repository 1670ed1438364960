"""httpx, imported and configured for a short-lived registry client.

Two start-up costs are avoided, which matter to ``omniwasm pull`` (a whole process pulls one
component): httpx imports its own command-line tool (click, rich, pygments) whenever those are
installed, as they are beside typer; marking ``httpx._main`` unimportable first makes httpx
take its documented fallback (its CLI then says it is not installed; omniwasm never runs it).
And an ``httpx.Client`` loads certifi's CA bundle on creation (~100 ms); registries are
verified against the system's trust store instead, as Docker and skopeo do, with certifi as
the fallback where the system has none.
"""

from __future__ import annotations

import functools
import ssl
import sys

__all__ = ["skip_httpx_cli", "ssl_context"]


def skip_httpx_cli() -> None:
    """Call before ``import httpx``: it then skips importing its command-line tool."""
    if "httpx" not in sys.modules:
        sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]


@functools.cache
def ssl_context() -> ssl.SSLContext:
    """A verifying TLS context on the system's CA store (certifi's if the system has none)."""
    context = ssl.create_default_context()
    if context.cert_store_stats().get("x509_ca", 0) == 0:
        try:
            import certifi
        except ImportError:  # pragma: no cover - httpx depends on certifi
            return context
        context.load_verify_locations(certifi.where())
    return context
