"""``--watch`` against a file that changed while the app was still loading."""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from pathlib import Path

from fixtures.wat_components import assemble
from omniwasm.gateway import App
from omniwasm.gateway.serve._sidecars import watch_files

GUESTS = Path(__file__).parents[2] / "fixtures" / "gateway"


def test_a_change_before_the_watchers_first_look_is_reloaded(tmp_path: Path) -> None:
    """A component file replaced after the app loaded, before its watcher started, reloads."""
    guest = tmp_path / "guest.wasm"
    shutil.copy(assemble(GUESTS / "hello.wat", prefix="gw-"), guest)
    os.utime(guest, ns=(1, 1))  # written long before the app loads it
    app = App(guest)
    first = app.gateways["app"]
    shutil.copy(assemble(GUESTS / "routes.wat", prefix="gw-"), guest)  # now: after the load
    deadline = time.monotonic() + 30

    def stopped() -> bool:
        return app.gateways["app"] is not first or time.monotonic() > deadline

    asyncio.run(watch_files(app, stopped, interval=0.05))
    assert app.gateways["app"] is not first
    for gateway in app.gateways.values():
        gateway.close()


def test_an_unchanged_file_is_not_reloaded(tmp_path: Path) -> None:
    """A component file untouched since before the app loaded stays on its first build."""
    guest = tmp_path / "guest.wasm"
    shutil.copy(assemble(GUESTS / "hello.wat", prefix="gw-"), guest)
    os.utime(guest, ns=(1, 1))
    app = App(guest)
    first = app.gateways["app"]
    polls = iter(range(6))
    asyncio.run(watch_files(app, lambda: next(polls, None) is None, interval=0.05))
    assert app.gateways["app"] is first
    for gateway in app.gateways.values():
        gateway.close()
