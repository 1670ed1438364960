"""A real local Ray cluster for the ray habitat's tests (``make test-ray``).

A head and a second node, both on 127.0.0.1, started once per test session and stopped at its
end. The cluster is two ``ray start --block`` processes, each in its own process group so that
teardown ends exactly them and their workers. Workers import omniwasm from this checkout
and use a compile cache of their own (``OMNIWASM_CACHE_DIR``); tests/ray is on their path
so that functions defined in the tests can travel.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ray = pytest.importorskip("ray", reason="ray is not installed (pip install 'omniwasm[ray]')")

import omniwasm  # noqa: E402 - after the skip

HERE = Path(__file__).parent
START_TIMEOUT = 120.0
# Ends the cluster's process groups if this test process dies without its teardown.
WATCHDOG = """
import os, signal, sys, time
parent, groups = int(sys.argv[1]), [int(g) for g in sys.argv[2:]]
while os.getppid() == parent:  # reparented once the test process is gone (even as a zombie)
    time.sleep(1)
for g in groups:
    try:
        os.killpg(g, signal.SIGKILL)
    except ProcessLookupError:
        pass
"""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Ray's own deprecation warnings (from its modules and Ray Serve's pydantic models)."""
    for item in items:
        if item.path.is_relative_to(HERE):
            item.add_marker(pytest.mark.filterwarnings("ignore::DeprecationWarning:ray"))
            item.add_marker(pytest.mark.filterwarnings("ignore::DeprecationWarning:pydantic"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    ray_cli = Path(sys.executable).parent / "ray"
    with log.open("wb") as out:
        return subprocess.Popen(
            [str(ray_cli), "start", "--block", *args],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: teardown ends it and its workers
        )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(wait)
        except subprocess.TimeoutExpired:
            continue
        # the group may outlive its leader (workers, the GCS): give them the same signal
        time.sleep(0.5)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


@dataclass(frozen=True)
class Cluster:
    """The running test cluster: its GCS address, the nodes' compile cache and registry store."""

    address: str
    cache: Path
    store: Path


@pytest.fixture(scope="session")
def _one_session() -> None:
    """The cluster is one per test process: under pytest-xdist, leave it to ``make test-ray``."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        pytest.skip("the Ray tests start a cluster of their own: run them with make test-ray")


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory, _one_session: None) -> Iterator[Cluster]:
    """A two-node Ray cluster on 127.0.0.1 (one CPU each), the driver connected."""
    root = tmp_path_factory.mktemp("ray")
    temp = Path("/tmp") / f"owray-{os.getpid()}"  # Ray's socket paths must stay short
    src = Path(omniwasm.__file__).parents[1]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(src), str(HERE.parent), str(HERE)]),
        "OMNIWASM_CACHE_DIR": str(root / "cache"),
        "OMNIWASM_STORE_DIR": str(root / "store"),  # what workers pull from registries
        "RAY_USAGE_STATS_ENABLED": "0",
        # Ray >= 2.5x turns token auth on when ~/.ray/auth_token exists (any local ray.init
        # writes one): a test cluster on 127.0.0.1 stays off it and leaves $HOME alone.
        "RAY_AUTH_MODE": "disabled",
    }
    auth_before = os.environ.get("RAY_AUTH_MODE")
    os.environ["RAY_AUTH_MODE"] = "disabled"  # the driver (this process) too
    port = _free_port()
    address = f"127.0.0.1:{port}"
    common = ["--node-ip-address=127.0.0.1", "--num-cpus=1", "--disable-usage-stats"]
    head = _start(
        [
            "--head",
            f"--port={port}",
            f"--ray-client-server-port={_free_port()}",
            "--include-dashboard=false",
            "--object-store-memory=150000000",
            f"--temp-dir={temp}",
            *common,
        ],
        env,
        root / "head.log",
    )
    procs = [head]
    watchdog: subprocess.Popen[bytes] | None = None
    try:
        _wait_for_gcs(port, head, root / "head.log")
        procs.append(
            _start(
                [f"--address={address}", "--object-store-memory=100000000", *common],
                env,
                root / "worker.log",
            )
        )
        watchdog = subprocess.Popen(
            [sys.executable, "-c", WATCHDOG, str(os.getpid()), *(str(p.pid) for p in procs)],
            start_new_session=True,
        )
        deadline = time.monotonic() + START_TIMEOUT
        while True:  # a loaded machine may answer on the port before the GCS is ready
            try:
                ray.init(address=address, _node_ip_address="127.0.0.1", log_to_driver=False)
                break
            except (ConnectionError, RuntimeError):
                if ray.is_initialized():
                    ray.shutdown()
                if time.monotonic() > deadline:
                    raise
                time.sleep(2)
        while len([n for n in ray.nodes() if n["Alive"]]) < 2:
            if time.monotonic() > deadline:
                pytest.fail(
                    "the second Ray node did not join: " + (root / "worker.log").read_text()
                )
            time.sleep(0.5)
        yield Cluster(address, root / "cache", root / "store")
    finally:
        if ray.is_initialized():
            ray.shutdown()
        for proc in reversed(procs):
            _stop(proc)
        if watchdog is not None:
            watchdog.kill()
            watchdog.wait()
        if auth_before is None:
            os.environ.pop("RAY_AUTH_MODE", None)
        else:
            os.environ["RAY_AUTH_MODE"] = auth_before


def _wait_for_gcs(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"ray start --head exited {proc.returncode}: {log.read_text()}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.3)
    pytest.fail(f"the Ray head did not start within {START_TIMEOUT}s: {log.read_text()}")
