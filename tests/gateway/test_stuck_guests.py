"""A guest stuck in a host call past its timeout gets its 504 and gives its slot back at once.

The ``hang`` guest (``tests/fixtures/gateway/hang.wat``) calls the host function
``omniwasm:test/hang.hang`` before it answers; here that function blocks on a
``threading.Event`` while ``stuck`` is set: a host call that no deadline ends (an embedder's own
host function). The gateway answers 504 at ``timeout`` plus its grace, replaces the stuck
thread, and the slot serves the next request while the old thread is still blocked; at most
``max_concurrency`` such threads linger, beyond that a stuck guest keeps its slot. The
real-server version of the same attack (six ``/sleep`` requests and an unrelated ``GET``) is in
``test_hostile_clients.py``.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from fixtures.wat_components import assemble
from omniwasm import Linker
from omniwasm.gateway import Gateway
from omniwasm.gateway._exchange import Hooks
from omniwasm.wasi import add_to_linker

GUESTS = Path(__file__).parents[1] / "fixtures" / "gateway"


class Hang:
    """The ``hang`` host function: blocks while ``stuck`` is set, until ``release``."""

    def __init__(self) -> None:
        self.stuck = threading.Event()
        self.release = threading.Event()
        self.blocked = 0
        self.returned = 0
        self._lock = threading.Lock()

    def __call__(self) -> None:
        if not self.stuck.is_set():
            return
        with self._lock:
            self.blocked += 1
        self.release.wait(60)
        with self._lock:
            self.returned += 1


@pytest.fixture(scope="module")
def hang_wasm() -> Path:
    """The hang guest, assembled once."""
    return assemble(GUESTS / "hang.wat", prefix="gateway-")


@pytest.fixture
def hang() -> Iterator[Hang]:
    """A fresh host function; whatever it still blocks is released at the end of the test."""
    h = Hang()
    yield h
    h.release.set()


def gateway(path: Path, hang: Hang, **options: object) -> Gateway:
    """A gateway for the hang guest with ``hang`` linked in."""
    linker = add_to_linker(Linker(wasi=False)).define("omniwasm:test/hang", hang=hang)
    return Gateway(path, hooks=Hooks(imports=linker), **options)  # type: ignore[arg-type]


async def _get(client: httpx.AsyncClient) -> tuple[int, float]:
    started = time.monotonic()
    response = await client.get("/")
    return response.status_code, time.monotonic() - started


def _wait_for(condition: object, seconds: float = 20.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(0.02)
    return False


def test_a_stuck_guest_gives_its_slot_back_at_its_504(hang_wasm: Path, hang: Hang) -> None:
    """Two guests stuck in a host call get 504; the next request runs at once on a new thread."""
    app = gateway(hang_wasm, hang, timeout=0.3, max_concurrency=2, max_queue=8)

    async def go() -> tuple[list[tuple[int, float]], tuple[int, float]]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw.test") as client:
            hang.stuck.set()
            stuck = await asyncio.gather(_get(client), _get(client))
            hang.stuck.clear()
            after = await asyncio.wait_for(_get(client), 20)
            return stuck, after

    stuck, after = asyncio.run(go())
    assert [status for status, _ in stuck] == [504, 504]
    assert after[0] == 200
    assert hang.blocked == 2 and hang.returned == 0  # both still blocked while it was served
    # the third guest's thread counts it out as it lets go, which may follow its response
    assert _wait_for(lambda: app._admission.admitted == 0)
    assert app._guests is not None and app._guests.replaced == 2
    hang.release.set()  # the old threads return, trap at their passed deadline, and exit
    assert _wait_for(lambda: app._guests is not None and app._guests.replaced == 0)
    assert hang.returned == 2
    app.close()


def test_lingering_stuck_threads_are_bounded(hang_wasm: Path, hang: Hang) -> None:
    """Beyond max_concurrency lingering threads a stuck guest keeps its slot: threads stay bounded."""
    app = gateway(hang_wasm, hang, timeout=1.0, max_concurrency=1, max_queue=8)

    async def go() -> list[int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw.test") as client:
            hang.stuck.set()
            first = await _get(client)  # replaced: the one lingering thread allowed
            second = await _get(client)  # stuck too, and kept: its slot stays busy
            hang.stuck.clear()
            late = asyncio.create_task(_get(client))
            await asyncio.sleep(0.2)
            waiting = app._admission.waiting
            hang.release.set()  # both stuck guests return; the slot frees; the request runs
            third = await asyncio.wait_for(late, 20)
            return [first[0], second[0], waiting, third[0]]

    assert asyncio.run(go()) == [504, 504, 1, 200]
    assert _wait_for(lambda: app._guests is not None and app._guests.replaced == 0)
    assert _wait_for(lambda: app._admission.admitted == 0)
    app.close()


def test_a_request_waits_for_a_slot_at_most_its_timeout(hang_wasm: Path, hang: Hang) -> None:
    """A request queued behind a stuck guest that keeps its slot gets 503 after its queue wait."""
    app = gateway(hang_wasm, hang, timeout=0.3, max_concurrency=1, max_queue=8)

    async def go() -> tuple[int, int, int, float]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw.test") as client:
            hang.stuck.set()
            first = await _get(client)  # replaced: the one lingering thread allowed
            second = asyncio.create_task(_get(client))  # stuck too, and keeps its slot
            await asyncio.sleep(0.05)
            queued_status, queued_time = await asyncio.wait_for(_get(client), 20)
            await second
            return first[0], (await second)[0], queued_status, queued_time

    first, second, queued, waited = asyncio.run(go())
    assert (first, second, queued) == (504, 504, 503)
    assert waited < 0.3 + 0.5 + 0.5 + 2.0  # timeout + GRACE + QUEUE_SLACK (+ a busy machine's)
    hang.release.set()
    assert _wait_for(lambda: app._admission.admitted == 0)
    app.close()


def test_close_does_not_wait_for_a_guest_let_go(hang_wasm: Path, hang: Hang) -> None:
    """close() waits for running guests but not for one let go of after its 504."""
    app = gateway(hang_wasm, hang, timeout=0.2, max_concurrency=1, max_queue=0)

    async def go() -> int:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw.test") as client:
            hang.stuck.set()
            status, _ = await _get(client)
            return status

    assert asyncio.run(go()) == 504
    done = threading.Event()
    closer = threading.Thread(target=lambda: (app.close(), done.set()), daemon=True)
    closer.start()
    assert done.wait(10)  # the stuck thread is still blocked in hang()
    assert hang.returned == 0
