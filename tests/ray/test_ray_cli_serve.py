"""``omniwasm serve --ray``: an omniwasm.toml app served by Ray Serve replicas, over real HTTP."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from fixtures.wat_components import assemble

GUESTS = Path(__file__).parents[1] / "fixtures" / "gateway"
SRC = Path(__file__).parents[2] / "src"
DEADLINE = 240.0
MANIFEST = """omniwasm_manifest_version = 1
[application]
name = "demo"
[[trigger.http]]
route = "/hello"
component = "hello"
[component.hello]
source = "hello.wasm"
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _omniwasm(*args: str, cwd: Path, **kw: Any) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(SRC), "RAY_AUTH_MODE": "disabled"}
    return subprocess.Popen(
        [sys.executable, "-m", "omniwasm", "serve", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kw,
    )


def _hello(port: int, proc: subprocess.Popen[str]) -> httpx.Response:
    """The first answer of /hello from a 200-serving proxy, polled until the deadline."""
    deadline = time.monotonic() + DEADLINE
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
        while True:
            assert proc.poll() is None, proc.communicate()
            try:
                answer = client.get("/hello")
                if answer.status_code == 200:
                    return answer
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "omniwasm serve --ray never answered"
            time.sleep(0.5)


@pytest.mark.usefixtures("cluster")
def test_serve_ray_answers_from_replicas_and_stops_on_sigint(tmp_path: Path, cluster: Any) -> None:
    """The app answers through Ray Serve's proxy from two replicas; Ctrl-C exits 0."""
    shutil.copy(assemble(GUESTS / "hello.wat", prefix="gw-"), tmp_path / "hello.wasm")
    (tmp_path / "omniwasm.toml").write_text(MANIFEST)
    port = _free_port()
    proc = _omniwasm(
        "omniwasm.toml",
        f"--ray-address={cluster.address}",
        f"--addr=127.0.0.1:{port}",
        "--replicas=2",
        "--replica-cpus=0.1",
        cwd=tmp_path,
    )
    try:
        assert _hello(port, proc).text == "hello from wasm"
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            assert client.get("/nope").status_code == 404
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err[-3000:]
    assert "with 2 replicas running" in err


def test_serve_ray_refuses_a_bad_manifest_before_joining_ray(tmp_path: Path) -> None:
    """A manifest naming a missing component fails with its own error (65), Ray untouched."""
    (tmp_path / "omniwasm.toml").write_text(MANIFEST)
    proc = _omniwasm("omniwasm.toml", "--ray-address=127.0.0.1:1", cwd=tmp_path)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 65, err
    assert "hello.wasm" in err
