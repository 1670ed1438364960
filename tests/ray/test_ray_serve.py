"""omniwasm.ray.serve_app: the gateway as a Ray Serve deployment, over real HTTP."""

from __future__ import annotations

import functools
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

import omniwasm.ray as owr
from fixtures.wat_components import assemble
from omniwasm.gateway import App

pytestmark = pytest.mark.usefixtures("cluster")

GUESTS = Path(__file__).parents[1] / "fixtures" / "gateway"
MANIFEST = """omniwasm_manifest_version = 1
[application]
name = "demo"
[[trigger.http]]
route = "/hello"
component = "hello"
[component.hello]
source = "hello.wasm"
"""


@pytest.fixture
def port() -> Iterator[int]:
    """Ray Serve's HTTP proxy on a free port of 127.0.0.1, shut down after the test."""
    from ray import serve  # imported under the test's warning filters (pydantic v1 models)

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        free = int(s.getsockname()[1])
    serve.start(http_options={"host": "127.0.0.1", "port": free})
    yield free
    serve.shutdown()


def test_gateway_replicas_answer_over_http(tmp_path: Path, port: int) -> None:
    """An omniwasm.toml app runs in two Serve replicas; requests reach its component."""
    from ray import serve

    shutil.copy(assemble(GUESTS / "hello.wat", prefix="gw-"), tmp_path / "hello.wasm")
    manifest = tmp_path / "omniwasm.toml"
    manifest.write_text(MANIFEST)
    app = owr.serve_app(
        functools.partial(App, str(manifest)),
        num_replicas=2,
        ray_actor_options={"num_cpus": 0.1},
    )
    serve.run(app, name="gw", route_prefix="/")
    status = serve.status().applications["gw"].deployments["omniwasm"]
    assert status.replica_states.get("RUNNING") == 2
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
        answers = [client.get("/hello") for _ in range(6)]
        missing = client.get("/nope")
    assert {(r.status_code, r.text) for r in answers} == {(200, "hello from wasm")}
    assert missing.status_code == 404


def test_replicas_follow_the_load(tmp_path: Path, port: int) -> None:
    """With an autoscaling config a second replica starts while requests keep coming."""
    from ray import serve

    shutil.copy(assemble(GUESTS / "hello.wat", prefix="gw-"), tmp_path / "hello.wasm")
    manifest = tmp_path / "omniwasm.toml"
    manifest.write_text(MANIFEST)
    scaling = {
        "min_replicas": 1,
        "max_replicas": 2,
        "target_ongoing_requests": 0.05,  # any steady traffic is more than one replica's share
        "upscale_delay_s": 0,
        "look_back_period_s": 15,  # more than Serve's 10 s metrics interval
    }
    app = owr.serve_app(
        functools.partial(App, str(manifest)),
        autoscaling_config=scaling,
        ray_actor_options={"num_cpus": 0.1},
    )
    serve.run(app, name="auto", route_prefix="/")

    def running() -> int:
        states = serve.status().applications["auto"].deployments["omniwasm"].replica_states
        return int(states.get("RUNNING", 0))

    assert running() == 1
    stop = threading.Event()

    def load() -> None:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            while not stop.is_set():
                assert client.get("/hello").status_code == 200

    with ThreadPoolExecutor(4) as pool:
        clients = [pool.submit(load) for _ in range(4)]
        deadline = time.monotonic() + 240
        try:
            while running() < 2 and time.monotonic() < deadline:
                assert not any(c.done() for c in clients), [c.exception() for c in clients]
                time.sleep(0.5)
        finally:
            stop.set()
        for c in clients:
            c.result()
    assert running() == 2
