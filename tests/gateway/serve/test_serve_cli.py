"""`omniwasm serve`: a real server on 127.0.0.1 with an admin port, hot reload and workers."""

from __future__ import annotations

import importlib.util
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from fixtures.serving import free_port, serving, wait_ready
from fixtures.wat_components import assemble

pytest.importorskip("uvicorn")
GUESTS = Path(__file__).parents[2] / "fixtures" / "gateway"


@pytest.fixture(scope="module")
def hello() -> Path:
    """The lean hello handler."""
    return assemble(GUESTS / "hello.wat", prefix="gw-")


@pytest.fixture(scope="module")
def routes() -> Path:
    """The routes guest."""
    return assemble(GUESTS / "routes.wat", prefix="gw-")


def test_serve_a_component_with_metrics_and_a_clean_stop(hello: Path) -> None:
    """Requests get 200, /metrics counts them (within the publish lag), SIGTERM exits 0."""
    port, admin = free_port(), free_port()
    with serving(str(hello), "--addr", f"127.0.0.1:{port}", "--admin", f"127.0.0.1:{admin}") as p:
        wait_ready(f"http://127.0.0.1:{port}/", p)
        responses = [httpx.get(f"http://127.0.0.1:{port}/x{i}") for i in range(5)]
        assert {r.status_code for r in responses} == {200}
        # one worker per core by default: /metrics sums snapshots the workers publish every
        # PUBLISH_SECONDS, so the count appears within that lag (wait_ready's probes count too)
        line = re.compile(r'^omniwasm_requests_total\{route="/\.\.\.",status="200"\} (\d+)$', re.M)
        deadline = time.monotonic() + 10
        counted = 0
        while counted < 5 and time.monotonic() < deadline:
            time.sleep(0.1)
            found = line.search(httpx.get(f"http://127.0.0.1:{admin}/metrics").text)
            counted = int(found.group(1)) if found else 0
        assert counted >= 5
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=20) == 0


def test_watch_reloads_a_changed_component(tmp_path: Path, hello: Path, routes: Path) -> None:
    """With --watch, replacing the component file changes the answers without a restart."""
    app = tmp_path / "app.wasm"
    shutil.copy(hello, app)
    port = free_port()
    with serving(str(app), "--addr", f"127.0.0.1:{port}", "--watch") as p:
        wait_ready(f"http://127.0.0.1:{port}/", p)
        assert httpx.get(f"http://127.0.0.1:{port}/status/418").status_code == 200  # hello
        tmp = tmp_path / "new.wasm"
        shutil.copy(routes, tmp)
        tmp.replace(app)  # atomic, as a build tool would
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if httpx.get(f"http://127.0.0.1:{port}/status/418").status_code == 418:
                break
            time.sleep(0.2)
        else:
            raise AssertionError("the new component was not picked up")


def test_watch_reloads_when_an_exposed_file_changes(tmp_path: Path) -> None:
    """With --watch, editing a file a component's `files` glob exposes changes what it reads."""
    (tmp_path / "static").mkdir()
    (tmp_path / "static" / "a.txt").write_text("first")
    shutil.copy(assemble(GUESTS / "variables.wat", prefix="gw-"), tmp_path / "guest.wasm")
    manifest = tmp_path / "omniwasm.toml"
    manifest.write_text(
        '[[trigger.http]]\nroute = "/..."\ncomponent = "web"\n'
        '[component.web]\nsource = "guest.wasm"\nfiles = ["static/*.txt"]\n'
    )
    port = free_port()
    url = f"http://127.0.0.1:{port}/file/static/a.txt"
    with serving(str(manifest), "--addr", f"127.0.0.1:{port}", "--watch") as p:
        wait_ready(url, p)
        assert httpx.get(url).text == "first"
        (tmp_path / "static" / "a.txt").write_text("second, longer")
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if httpx.get(url).text == "second, longer":
                break
            time.sleep(0.2)
        else:
            raise AssertionError("the changed file was not picked up")


def test_two_workers_serve(hello: Path) -> None:
    """--workers 2 starts worker processes that answer requests."""
    port = free_port()
    with serving(str(hello), "--addr", f"127.0.0.1:{port}", "--workers", "2") as p:
        wait_ready(f"http://127.0.0.1:{port}/", p, seconds=60)
        assert all(httpx.get(f"http://127.0.0.1:{port}/").status_code == 200 for _ in range(10))


def test_bad_addr_is_a_usage_error(hello: Path) -> None:
    """A malformed --addr exits with the policy error code and says what is wrong."""
    run = subprocess.run(
        [sys.executable, "-m", "omniwasm", "serve", str(hello), "--addr", "nowhere"],
        capture_output=True,
        check=False,
    )
    assert run.returncode == 78
    assert b"HOST:PORT" in run.stderr


HYPERCORN = pytest.mark.skipif(
    importlib.util.find_spec("hypercorn") is None, reason="--http2 needs hypercorn"
)


@pytest.mark.parametrize("server", [(), pytest.param(("--http2",), marks=HYPERCORN)])
def test_sigterm_finishes_the_request_in_flight(routes: Path, server: tuple[str, ...]) -> None:
    """A request running at SIGTERM gets its answer before the server exits (uvicorn, Hypercorn)."""
    import threading

    port, admin = free_port(), free_port()
    got: list[int] = []
    args = ("--addr", f"127.0.0.1:{port}", "--admin", f"127.0.0.1:{admin}", "--timeout", "1.5s")
    with serving(str(routes), *args, *server) as p:
        wait_ready(f"http://127.0.0.1:{port}/", p)
        # /loop runs until the 1.5 s timeout stops it: the request is in flight meanwhile.
        client = threading.Thread(
            target=lambda: got.append(
                httpx.get(f"http://127.0.0.1:{port}/loop", timeout=30).status_code
            )
        )
        client.start()
        deadline = time.monotonic() + 15  # wait until the server counts the request in flight
        while "omniwasm_in_flight 1" not in httpx.get(f"http://127.0.0.1:{admin}/metrics").text:
            assert time.monotonic() < deadline, "the /loop request never started"
            time.sleep(0.02)
        p.send_signal(signal.SIGTERM)
        client.join(timeout=30)
        assert p.wait(timeout=30) == 0
    assert got == [504]  # answered (its timeout), not dropped by the shutdown


@pytest.mark.parametrize("flag", ["--addr", "--admin"])
@pytest.mark.parametrize("workers", ["1", "2"])
def test_address_in_use_is_a_clear_policy_error(hello: Path, flag: str, workers: str) -> None:
    """A --addr or --admin port another socket listens on: exit 78 naming the flag, no traceback."""
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = f"127.0.0.1:{taken.getsockname()[1]}"
        addrs = {"--addr": f"127.0.0.1:{free_port()}", "--admin": f"127.0.0.1:{free_port()}"}
        addrs[flag] = busy
        run = subprocess.run(
            [sys.executable, "-m", "omniwasm", "serve", str(hello), "--workers", workers]
            + [arg for pair in addrs.items() for arg in pair],
            capture_output=True,
            check=False,
            timeout=60,
        )
    assert run.returncode == 78
    assert f"{flag} {busy}: Address already in use".encode() in run.stderr
    assert b"Traceback" not in run.stderr


@pytest.mark.parametrize(
    "option", [("--workers", "0"), ("--max-concurrency", "0"), ("--max-queue", "-1")]
)
def test_out_of_range_counts_are_usage_errors(hello: Path, option: tuple[str, str]) -> None:
    """--workers 0, --max-concurrency 0 or a negative --max-queue exit 2 naming the option."""
    run = subprocess.run(
        [sys.executable, "-m", "omniwasm", "serve", str(hello), *option],
        capture_output=True,
        check=False,
        timeout=60,
    )
    assert run.returncode == 2
    assert option[0].encode() in run.stderr


def test_an_aborted_response_is_logged_once_without_the_servers_traceback(routes: Path) -> None:
    """A guest trapping mid-body: the gateway logs why; uvicorn adds no ASGI traceback."""
    port = free_port()
    with serving(str(routes), "--addr", f"127.0.0.1:{port}") as p:
        wait_ready(f"http://127.0.0.1:{port}/status/200", p)
        with pytest.raises(httpx.TransportError):  # the body is cut short, never completed
            httpx.get(f"http://127.0.0.1:{port}/trap-after").read()
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=30) == 0
        p.log.seek(0)  # type: ignore[attr-defined]
        log = p.log.read().decode(errors="replace")  # type: ignore[attr-defined]
    assert "GET /trap-after: the response body failed" in log
    assert "Exception in ASGI application" not in log


def test_json_logs_include_the_servers_own_warnings(hello: Path) -> None:
    """With --log-format json every stderr line is JSON, uvicorn's warnings included."""
    import json
    import socket

    port = free_port()
    args = ("--addr", f"127.0.0.1:{port}", "--log-format", "json")
    with serving(str(hello), *args) as p:
        wait_ready(f"http://127.0.0.1:{port}/", p)
        with socket.create_connection(("127.0.0.1", port)) as raw:
            raw.sendall(b"GARBAGE \x00\x01\r\n\r\n")
            assert raw.recv(100).startswith(b"HTTP/1.1 400")
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=30) == 0
        p.log.seek(0)  # type: ignore[attr-defined]
        lines = p.log.read().decode().splitlines()  # type: ignore[attr-defined]
    records = [json.loads(line) for line in lines]
    assert {"logger": "uvicorn.error", "message": "Invalid HTTP request received."}.items() <= (
        next(r for r in records if r.get("logger") == "uvicorn.error").items()
    )
