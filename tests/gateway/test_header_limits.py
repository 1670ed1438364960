"""Request-header limits (431) and guest statuses (500 outside 200-599), in process.

The same limits as ``test_hostile_clients.py`` checks on a real server, here on the ASGI
applications themselves (``Gateway`` and ``App``), which enforce them whatever server runs them.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import httpx
import pytest

from fixtures.wat_components import assemble
from omniwasm.gateway import DEFAULT_MAX_HEADER_BYTES, DEFAULT_MAX_HEADERS, App, Gateway
from omniwasm.gateway._messages import header_problem

GUESTS = Path(__file__).parents[1] / "fixtures" / "gateway"


@pytest.fixture(scope="module")
def routes() -> Path:
    """The many-behaviours handler (/status/NNN)."""
    return assemble(GUESTS / "routes.wat", prefix="gateway-")


def fetch(app: Any, path: str, headers: list[tuple[str, str]] | None = None) -> httpx.Response:
    """One GET through httpx's in-process ASGI transport."""

    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw.test") as client:
            return await client.get(path, headers=headers)

    return asyncio.run(go())


def test_the_defaults_match_hyper() -> None:
    """By default 100 header fields and 64 KiB of header section are accepted."""
    assert (DEFAULT_MAX_HEADERS, DEFAULT_MAX_HEADER_BYTES) == (100, 64 << 10)


def test_header_problem_counts_fields_and_bytes() -> None:
    """header_problem names a section with too many fields or too many bytes, else None."""
    scope = {"method": "GET", "raw_path": b"/x", "headers": [(b"a", b"1")] * 3}
    assert header_problem(scope, None, None) is None
    assert header_problem(scope, 1000, 3) is None
    assert "4 header fields" not in (header_problem(scope, 1000, 2) or "")
    assert "3 header fields" in (header_problem(scope, 1000, 2) or "")
    assert "bytes" in (header_problem(scope, 20, None) or "")


@pytest.mark.parametrize(
    ("options", "headers", "status"),
    [
        # httpx adds five fields of its own (host, accept, accept-encoding, connection,
        # user-agent), about 120 bytes
        ({"max_headers": 8}, [("x-a", "1"), ("x-b", "2"), ("x-c", "3")], 200),
        ({"max_headers": 8}, [("x-a", "1"), ("x-b", "2"), ("x-c", "3"), ("x-d", "4")], 431),
        ({"max_header_bytes": 2048}, [("x-a", "a" * 1700)], 200),
        ({"max_header_bytes": 2048}, [("x-a", "a" * 2100)], 431),
        ({"max_headers": None, "max_header_bytes": None}, [("x-a", "a" * 100_000)], 200),
    ],
)
def test_gateway_header_limits(
    routes: Path, options: dict[str, Any], headers: list[tuple[str, str]], status: int
) -> None:
    """The Gateway answers 431 past max_headers or max_header_bytes, before calling the guest."""
    app = Gateway(routes, **options)
    assert fetch(app, "/status/200", headers).status_code == status
    app.close()


def test_app_checks_the_client_headers_before_routing(routes: Path) -> None:
    """App answers 431 for any path (404 ones too), counting only the client's own fields."""
    app = App(routes, max_headers=5)  # httpx sends five of its own
    assert fetch(app, "/status/200").status_code == 200  # Spin's added headers not counted
    assert fetch(app, "/status/200", [("x-a", "1")]).status_code == 431
    big = App(routes, max_header_bytes=2048)
    assert fetch(big, "/nowhere", [("x-a", "a" * 4096)]).status_code == 431


@pytest.mark.parametrize("status", [100, 101, 199, 600, 700, 942, 999])
def test_a_guest_status_outside_200_599_is_a_logged_500(
    routes: Path, status: int, caplog: pytest.LogCaptureFixture
) -> None:
    """A guest status that is not a final HTTP status becomes 500 and the reason is logged."""
    app = Gateway(routes)
    with caplog.at_level(logging.ERROR, logger="omniwasm.gateway"):
        response = fetch(app, f"/status/{status}")
    app.close()
    assert response.status_code == 500
    assert f"status {status}, not a final HTTP status (200-599)" in caplog.text


@pytest.mark.parametrize("status", [200, 299, 301, 404, 599])
def test_final_guest_statuses_pass_through(routes: Path, status: int) -> None:
    """Statuses 200 to 599 reach the client as the guest set them."""
    app = Gateway(routes)
    assert fetch(app, f"/status/{status}").status_code == status
    app.close()
