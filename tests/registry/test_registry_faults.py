"""Failures on the wire and on disk: nothing half-written stays, and transfers resume.

The faults are real: a registry process killed with SIGKILL mid-upload, connections cut by a
TCP proxy (``fixtures/tcp_proxy.py``) in the middle of a body, bytes flipped in a stored file.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from fixtures.registry_server import (
    RegistryServer,
    env_for_subprocess,
    unique_repo,
    with_custom_section,
)
from fixtures.tcp_proxy import FaultyProxy
from omniwasm.registry import (
    ArtifactNotFound,
    Client,
    DigestMismatch,
    RegistryConfig,
    RegistryError,
    Store,
    sha256_digest,
)

pytestmark = pytest.mark.usefixtures("registry_env", "each_transport")


@pytest.fixture
def hello(c_component: Callable[[str], Path]) -> bytes:
    """A WASI command component."""
    return c_component("hello").read_bytes()


def _client(tmp_path: Path, name: str = "s", **options: object) -> Client:
    return Client(config=RegistryConfig.empty(), store=Store(tmp_path / name), **options)  # type: ignore[arg-type]


@pytest.fixture
def proxy_for() -> Iterator[Callable[..., FaultyProxy]]:
    """Make ``FaultyProxy`` objects, closed after the test."""
    made: list[FaultyProxy] = []

    def make(port: int, **options: object) -> FaultyProxy:
        proxy = FaultyProxy(port, **options)  # type: ignore[arg-type]
        made.append(proxy)
        return proxy

    yield make
    for proxy in made:
        proxy.close()


def _no_temp_files(store: Store) -> bool:
    return list((store.root / "tmp").iterdir()) == []


def test_registry_killed_mid_push_leaves_no_artifact(
    own_registry: RegistryServer,
    proxy_for: Callable[..., FaultyProxy],
    tmp_path: Path,
    hello: bytes,
) -> None:
    """SIGKILL to the registry mid-upload: the push fails, no tag exists, a new push works.

    distribution 2.8 refuses to resume a session whose data file holds more than the last
    acknowledged chunk (a PATCH cut short), so the client must notice and start over.
    """
    big = with_custom_section(hello, "padding", 16 << 20)
    proxy = proxy_for(
        own_registry.port,
        up_rate=16 << 20,
        on_up=(6 << 20, lambda: own_registry.proc.kill() if own_registry.proc else None),
    )
    ref = f"{proxy.host}/{unique_repo()}:1.0.0"
    repository = ref.split("/", 1)[1].split(":", maxsplit=1)[0]
    client = _client(tmp_path)
    client.registry(proxy.host).chunk_size = 1 << 20
    with pytest.raises(RegistryError) as info:
        client.push(big, ref, chunked=True)
    assert ref in str(info.value)
    client.close()
    own_registry.restart()
    proxy.up_rate, proxy.on_up = None, None
    with _client(tmp_path, "other") as other, pytest.raises(ArtifactNotFound):
        other.pull(ref)
    assert client.store.get_tag(proxy.host, repository, "1.0.0") is None
    assert _no_temp_files(client.store)
    with _client(tmp_path) as again:
        again.push(big, ref, chunked=True)
    assert list((client.store.root / "uploads").iterdir()) == []
    with _client(tmp_path, "fresh") as fresh:
        assert fresh.fetch(ref) == big


class _Pause(Exception):
    pass


def test_an_interrupted_push_resumes_in_a_new_client(
    registry: RegistryServer,
    proxy_for: Callable[..., FaultyProxy],
    tmp_path: Path,
    hello: bytes,
) -> None:
    """A push stopped between chunks resumes from the registry's offset, not from zero."""
    big = with_custom_section(hello, "padding", 12 << 20)
    proxy = proxy_for(registry.port)
    ref = f"{proxy.host}/{unique_repo()}:1"

    def stop_after_5mb(sent: int, size: int) -> None:
        if sent >= 5 << 20:
            raise _Pause

    with _client(tmp_path) as first:
        first.registry(proxy.host).chunk_size = 1 << 20
        with pytest.raises(_Pause):
            first.push(big, ref, chunked=True, progress=stop_after_5mb)
    sent_before = proxy.up_bytes
    seen: list[int] = []
    with _client(tmp_path) as second:
        second.registry(proxy.host).chunk_size = 1 << 20
        second.push(big, ref, chunked=True, progress=lambda sent, size: seen.append(sent))
    assert seen[0] == 6 << 20  # the first chunk sent picks up after the 5 MB held
    assert proxy.up_bytes - sent_before < len(big) - (4 << 20)
    with _client(tmp_path, "fresh") as fresh:
        assert fresh.fetch(ref) == big


def test_a_truncated_download_keeps_nothing(
    registry: RegistryServer,
    proxy_for: Callable[..., FaultyProxy],
    tmp_path: Path,
    hello: bytes,
) -> None:
    """Every connection cut after 1 MB: the pull fails naming the reference, the store is clean."""
    big = with_custom_section(hello, "padding", 6 << 20)
    repo = unique_repo()
    with _client(tmp_path, "pusher") as c:
        c.push(big, f"{registry.host}/{repo}:1")
    proxy = proxy_for(registry.port, cut_down_after=1 << 20)
    ref = f"{proxy.host}/{repo}:1"
    with _client(tmp_path) as c:
        with pytest.raises(RegistryError, match="interrupted") as info:
            c.fetch(ref)
        assert ref in str(info.value)
        assert not c.store.has(sha256_digest(big))
        assert _no_temp_files(c.store)
    assert proxy.cuts >= 3


def test_a_dropped_download_resumes_with_a_range_request(
    registry: RegistryServer,
    proxy_for: Callable[..., FaultyProxy],
    tmp_path: Path,
    hello: bytes,
) -> None:
    """The first connection cut mid-blob: the download resumes from where it stopped."""
    big = with_custom_section(hello, "padding", 6 << 20)
    repo = unique_repo()
    with _client(tmp_path, "pusher") as c:
        c.push(big, f"{registry.host}/{repo}:1")
    proxy = proxy_for(registry.port, cut_down_after=3 << 20, cut_connections=1)
    with _client(tmp_path) as c:
        assert c.fetch(f"{proxy.host}/{repo}:1") == big
    assert proxy.cuts == 1
    assert proxy.down_bytes < len(big) + (1 << 20)  # the first 3 MB were not fetched again


def test_a_corrupted_stored_blob_is_detected_and_fetched_again(
    registry: RegistryServer, tmp_path: Path, hello: bytes
) -> None:
    """Flipped bytes on disk: online, the blob is re-fetched; offline, DigestMismatch."""
    ref = f"{registry.host}/{unique_repo()}:1"
    with _client(tmp_path) as c:
        c.push(hello, ref)
    store = Store(tmp_path / "s")
    path = store.blob_path(sha256_digest(hello))

    def corrupt() -> None:
        path.chmod(0o644)
        with path.open("r+b") as f:
            f.seek(len(hello) // 2)
            f.write(b"\xff\xff")

    corrupt()
    with _client(tmp_path) as c:
        assert c.fetch(ref) == hello
    corrupt()
    offline = _client(tmp_path, offline=True)
    with pytest.raises(DigestMismatch, match="corrupted") as info:
        offline.fetch(ref)
    assert info.value.reference == ref
    assert not path.exists()


_PULLER = """
import hashlib, sys
from omniwasm.registry import Client, RegistryConfig, Store
with Client(config=RegistryConfig.empty(), store=Store(sys.argv[1])) as c:
    print(hashlib.sha256(c.fetch(sys.argv[2])).hexdigest())
"""


def test_concurrent_pulls_of_one_digest_download_it_once(
    registry: RegistryServer,
    proxy_for: Callable[..., FaultyProxy],
    tmp_path: Path,
    hello: bytes,
) -> None:
    """Four processes pull the same 8 MB component into one store: all succeed, one download."""
    big = with_custom_section(hello, "padding", 8 << 20)
    repo = unique_repo()
    with _client(tmp_path, "pusher") as c:
        c.push(big, f"{registry.host}/{repo}:1")
    proxy = proxy_for(registry.port)
    ref = f"{proxy.host}/{repo}:1"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _PULLER, str(tmp_path / "shared"), ref],
            env=env_for_subprocess(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    results = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, results
    assert {out.strip() for out, _ in results} == {sha256_digest(big).removeprefix("sha256:")}
    assert proxy.down_bytes < 2 * len(big)
    assert _no_temp_files(Store(tmp_path / "shared"))
