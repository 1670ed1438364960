"""`omniwasm serve` on 127.0.0.1: bounded load with flat memory, answers as `wasmtime serve`."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from fixtures.serving import free_port, serving, wait_ready
from fixtures.wat_components import assemble

pytest.importorskip("uvicorn")
GUESTS = Path(__file__).parents[2] / "fixtures" / "gateway"
IGNORED_HEADERS = {"date", "server", "content-length", "transfer-encoding", "connection"}


def rss_kib(pid: int) -> int:
    """Resident memory of a process (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


async def load(url: str, total: int, concurrency: int) -> list[int]:
    """``total`` GETs with ``concurrency`` in flight; the status codes (0 for a failure)."""
    statuses: list[int] = []
    queue = iter(range(total))
    async with httpx.AsyncClient(timeout=30) as client:

        async def worker() -> None:
            for i in queue:
                try:
                    r = await client.get(f"{url}/echo?n={i}")
                    statuses.append(r.status_code)
                except httpx.HTTPError:
                    statuses.append(0)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return statuses


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc")
def test_bounded_load_has_no_failures_and_flat_memory() -> None:
    """2,000 requests, 32 concurrent, all 200; the server's RSS grows by less than 32 MiB."""
    routes = assemble(GUESTS / "routes.wat", prefix="gw-")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with serving(str(routes), "--addr", f"127.0.0.1:{port}", "--max-concurrency", "8") as p:
        wait_ready(url + "/", p)
        warm = asyncio.run(load(url, 300, 32))
        before = rss_kib(p.pid)
        statuses = asyncio.run(load(url, 2000, 32))
        grown = rss_kib(p.pid) - before
    assert set(warm) == {200}
    assert statuses.count(200) == 2000
    assert grown < 32 * 1024


CASES = [
    ("GET", "/info?q=1", b""),
    ("POST", "/echo", b"x" * 100_000),
    ("GET", "/status/201", b""),
    ("GET", "/status/404", b""),
    ("GET", "/nowhere", b""),
    ("GET", "/big", b""),
    ("GET", "/trap", b""),
]


def test_same_answers_as_wasmtime_serve(reference_wasmtime: str) -> None:
    """Statuses, headers (but date/server/framing) and bodies equal wasmtime serve's.

    A trap gives 500 on both; the text of that error page is each server's own.
    """
    routes = assemble(GUESTS / "routes.wat", prefix="gw-")
    answers: dict[str, list[tuple[int, list[tuple[str, str]], bytes]]] = {}
    servers = {
        "omniwasm": [sys.executable, "-m", "omniwasm", "serve", str(routes), "--addr"],
        "wasmtime": [reference_wasmtime, "serve", "-S", "cli", str(routes), "--addr"],
    }
    for name, argv in servers.items():
        port = free_port()
        proc = subprocess.Popen(
            [*argv, f"127.0.0.1:{port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            wait_ready(f"http://127.0.0.1:{port}/", proc)
            got = []
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
                for method, path, body in CASES:
                    r = client.request(
                        method, path, content=body, headers={"host": "example.com:80"}
                    )
                    headers = sorted(
                        (k.lower(), v)
                        for k, v in r.headers.items()
                        if k.lower() not in IGNORED_HEADERS
                    )
                    got.append((r.status_code, headers, r.content))
            answers[name] = got
        finally:
            proc.terminate()
            proc.wait(timeout=20)
    for case, ours, theirs in zip(CASES, answers["omniwasm"], answers["wasmtime"], strict=True):
        if case[1] == "/trap":  # each server words its own 500 page (wasmtime's is HTML)
            assert ours[0] == theirs[0] == 500
        else:
            assert ours == theirs, case[:2]
