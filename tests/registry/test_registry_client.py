"""Push, pull, resolve, lock and offline use against a real registry (docker-registry 2.8)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from fixtures.registry_server import RegistryServer, unique_repo, with_custom_section
from omniwasm.registry import (
    ArtifactNotFound,
    Client,
    InvalidReference,
    LockFile,
    LockMismatch,
    Mapping,
    OciClient,
    PackageSpec,
    RegistryConfig,
    RegistryError,
    Store,
    sha256_digest,
)

pytestmark = pytest.mark.usefixtures("registry_env")


@pytest.fixture
def hello(c_component: Callable[[str], Path]) -> bytes:
    """A WASI command component printing a greeting."""
    return c_component("hello").read_bytes()


def _package_name() -> str:
    """A package name (a WIT label: starts with a letter) no other test uses."""
    return "p" + unique_repo().split("/")[1]


def _client(tmp_path: Path, name: str = "store", **options: object) -> Client:
    options.setdefault("config", RegistryConfig.empty())
    return Client(store=Store(tmp_path / name), **options)  # type: ignore[arg-type]


def _mapped(registry: RegistryServer, tmp_path: Path, name: str = "store", **kw: object) -> Client:
    config = RegistryConfig.empty()
    config.namespace_registries["acme"] = Mapping(registry.host)
    return _client(tmp_path, name, config=config, **kw)


@pytest.mark.usefixtures("each_transport")
def test_push_then_pull_round_trips(registry: RegistryServer, tmp_path: Path, hello: bytes) -> None:
    """What one client pushes, another (fresh store) pulls byte for byte, config included."""
    ref = f"{registry.host}/{unique_repo()}:1.0.0"
    with _client(tmp_path, "a") as a:
        pushed = a.push(hello, ref)
    with _client(tmp_path, "b") as b:
        pulled = b.pull(ref)
        assert pulled.read_bytes() == hello
    assert pulled.digest == pushed.digest
    assert pulled.layer.digest == sha256_digest(hello)
    assert pulled.config is not None and pulled.config["os"] == "wasip2"
    assert pulled.config["component"]["exports"] == ["wasi:cli/run@0.2.12"]


@pytest.mark.usefixtures("each_transport")
def test_pull_by_digest(registry: RegistryServer, tmp_path: Path, hello: bytes) -> None:
    """A ``@sha256:`` reference pulls exactly that manifest."""
    repo = unique_repo()
    with _client(tmp_path, "a") as a:
        pushed = a.push(hello, f"{registry.host}/{repo}:v1")
    with _client(tmp_path, "b") as b:
        assert b.fetch(f"{registry.host}/{repo}@{pushed.digest}") == hello


@pytest.mark.usefixtures("each_transport")
def test_tags_and_missing_things(registry: RegistryServer, tmp_path: Path, hello: bytes) -> None:
    """Tags are listed; an unknown repository or tag is ArtifactNotFound naming the reference."""
    repo = unique_repo()
    with _client(tmp_path) as c:
        for tag in ("1.0.0", "1.1.0", "latest"):
            c.push(hello, f"{registry.host}/{repo}:{tag}")
        assert sorted(c.tags(f"{registry.host}/{repo}")) == ["1.0.0", "1.1.0", "latest"]
        with pytest.raises(ArtifactNotFound) as info:
            c.pull(f"{registry.host}/{repo}:9.9.9")
        assert f"{repo}:9.9.9" in str(info.value)
        with pytest.raises(ArtifactNotFound):
            c.tags(f"{registry.host}/{unique_repo('nothing')}")


def test_package_names_resolve_ranges_against_tags(
    registry: RegistryServer, tmp_path: Path, hello: bytes
) -> None:
    """``ns:name@range`` maps to ``host/ns/name`` and picks the highest matching tag."""
    name = _package_name()
    with _mapped(registry, tmp_path) as c:
        for version in ("1.0.0", "1.2.0", "1.3.0", "2.0.0", "2.1.0-rc.1"):
            c.push(with_custom_section(hello, "v", 1, version.encode()), f"acme:{name}@{version}")
        assert c.resolve(f"acme:{name}@^1.2").reference.tag == "1.3.0"
        assert c.resolve(f"acme:{name}@~1.2").reference.tag == "1.2.0"
        assert c.resolve(f"acme:{name}").reference.tag == "2.0.0"
        assert c.resolve(f"acme:{name}@1.0.0").reference.repository == f"acme/{name}"
        with pytest.raises(ArtifactNotFound, match=r"no a version matching \^3|version matching"):
            c.resolve(f"acme:{name}@^3")


def test_lock_file_pins_and_detects_a_moved_tag(
    registry: RegistryServer, tmp_path: Path, hello: bytes
) -> None:
    """A locked range stays on its version; a tag pushed over fails with LockMismatch."""
    name = _package_name()
    lock_path = tmp_path / "omniwasm.lock"
    with _mapped(registry, tmp_path) as c:
        c.push(hello, f"acme:{name}@1.0.0")
        with _mapped(registry, tmp_path, lock=lock_path) as locked:
            first = locked.resolve(f"acme:{name}@^1")
        entry = LockFile(lock_path).get(f"acme:{name}@^1")
        assert entry is not None and entry.digest == first.digest
        assert entry.resolved == f"{registry.host}/acme/{name}:1.0.0"
        c.push(with_custom_section(hello, "n", 1), f"acme:{name}@1.1.0")
        with _mapped(registry, tmp_path, lock=lock_path) as locked:
            assert locked.resolve(f"acme:{name}@^1").reference.tag == "1.0.0"
        moved = c.push(with_custom_section(hello, "m", 1), f"acme:{name}@1.0.0")
        with (
            _mapped(registry, tmp_path, lock=lock_path) as locked,
            pytest.raises(LockMismatch) as info,
        ):
            locked.pull(f"acme:{name}@^1")
    assert info.value.reference == f"acme:{name}@^1"
    assert (info.value.locked, info.value.current) == (first.digest, moved.digest)
    assert "moved" in str(info.value)


def test_lock_file_is_valid_toml_and_survives_concurrent_records(tmp_path: Path) -> None:
    """Entries recorded from many threads all land in one valid TOML file."""
    import tomllib

    from omniwasm.registry import LockEntry

    path = tmp_path / "omniwasm.lock"

    def record(i: int) -> None:
        LockFile(path).record(
            LockEntry(f"acme:t{i}@^1", f"h:1/acme/t{i}:1.0.{i}", "sha256:" + "a" * 64)
        )

    threads = [threading.Thread(target=record, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    data = tomllib.loads(path.read_text())
    assert data["version"] == 1
    assert sorted(a["reference"] for a in data["artifact"]) == sorted(
        f"acme:t{i}@^1" for i in range(12)
    )


def test_offline_uses_only_the_store(
    registry: RegistryServer, tmp_path: Path, hello: bytes
) -> None:
    """Offline, a pulled reference (and ranges over seen tags) resolve; unseen ones fail."""
    name = _package_name()
    with _mapped(registry, tmp_path) as c:
        c.push(hello, f"acme:{name}@1.0.0")
    with _mapped(registry, tmp_path, "fresh") as c:
        c.pull(f"acme:{name}@1.0.0")
    config = RegistryConfig.empty()
    config.namespace_registries["acme"] = Mapping("127.0.0.1:1")  # would refuse connections
    offline = Client(config=config, store=Store(tmp_path / "fresh"), offline=True)
    # The mapping now points elsewhere, so prove the data comes from the store by the old host.
    offline.config.namespace_registries["acme"] = Mapping(registry.host)
    assert offline.fetch(f"acme:{name}@1.0.0") == hello
    assert offline.resolve(f"acme:{name}@^1").reference.tag == "1.0.0"
    with pytest.raises(ArtifactNotFound, match="offline"):
        offline.fetch(f"acme:{name}@2.0.0")
    with pytest.raises(ArtifactNotFound, match="offline"):
        offline.fetch(f"acme:{_package_name()}@^1")


@pytest.mark.usefixtures("each_transport")
def test_chunked_and_monolithic_uploads_store_the_same_blob(
    registry: RegistryServer, tmp_path: Path, hello: bytes
) -> None:
    """A 20 MB component uploaded in chunks or in one PUT pulls back identical."""
    big = with_custom_section(hello, "padding", 20 << 20)
    repo_a, repo_b = unique_repo(), unique_repo()
    with _client(tmp_path, "a") as c:
        c.registry(registry.host).chunk_size = 3 << 20
        c.push(big, f"{registry.host}/{repo_a}:1", chunked=True)
        c.push(big, f"{registry.host}/{repo_b}:1", chunked=False)
    with _client(tmp_path, "b") as c:
        assert c.fetch(f"{registry.host}/{repo_a}:1") == big
        assert c.fetch(f"{registry.host}/{repo_b}:1") == big


@pytest.mark.usefixtures("each_transport")
def test_pull_to_writes_the_file(registry: RegistryServer, tmp_path: Path, hello: bytes) -> None:
    """``pull_to`` writes the component to the path given."""
    ref = f"{registry.host}/{unique_repo()}:1"
    with _client(tmp_path) as c:
        c.push(hello, ref)
        c.pull_to(ref, tmp_path / "out.wasm")
    assert (tmp_path / "out.wasm").read_bytes() == hello


def test_plain_http_needs_loopback_or_insecure(tmp_path: Path) -> None:
    """A remote registry is HTTPS unless ``insecure``; plain HTTP to it is refused."""
    store = Store(tmp_path)
    with pytest.raises(RegistryError, match="--insecure"):
        OciClient("registry.example.com", protocol="http", store=store)
    assert OciClient("registry.example.com", store=store).base == "https://registry.example.com"
    assert OciClient("registry.example.com", insecure=True, store=store).base.startswith("http:")
    assert OciClient("127.0.0.1:5000", store=store).base == "http://127.0.0.1:5000"


def test_publish_takes_name_and_version_from_the_binary(
    registry: RegistryServer, tmp_path: Path, wasm_tools: str, hello: bytes
) -> None:
    """``publish`` reads ``ns:name@version`` from the component's metadata, or ``package=``."""
    import subprocess

    name = _package_name()
    src, named = tmp_path / "hello.wasm", tmp_path / "named.wasm"
    src.write_bytes(hello)
    subprocess.run(
        [
            wasm_tools,
            "metadata",
            "add",
            "--name",
            f"acme:{name}",
            "--version",
            "0.3.1",
            str(src),
            "-o",
            str(named),
        ],
        check=True,
    )
    with _mapped(registry, tmp_path) as c:
        spec, ref = c.publish(named)
        assert (spec, ref.tag) == (PackageSpec("acme", name, "0.3.1"), "0.3.1")
        spec, ref = c.publish(src, package=f"acme:{name}@0.4.0")
        assert ref.tag == "0.4.0"
        assert sorted(c.tags(f"acme:{name}")) == ["0.3.1", "0.4.0"]
        with pytest.raises(InvalidReference, match="names no package"):
            c.publish(src)


def test_not_a_wasm_artifact_is_refused(registry: RegistryServer, tmp_path: Path) -> None:
    """A container image (tar layer, image config) is not pulled as a component."""
    repo = unique_repo()
    with _client(tmp_path) as c:
        oci = c.registry(registry.host)
        layer, config = b"tarball bytes", b'{"architecture":"amd64","os":"linux"}'
        for blob in (layer, config):
            oci.push_blob(repo, sha256_digest(blob), blob)
        manifest = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": sha256_digest(config),
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": sha256_digest(layer),
                    "size": len(layer),
                }
            ],
        }
        oci.put_manifest(repo, "img", json.dumps(manifest).encode())
        with pytest.raises(RegistryError, match="not a Wasm artifact"):
            c.pull(f"{registry.host}/{repo}:img")


@pytest.fixture
def well_known(registry: RegistryServer) -> Iterator[str]:
    """A host whose /.well-known/wasm-pkg/registry.json points at the test registry."""
    body = json.dumps(
        {
            "preferredProtocol": "oci",
            "oci": {"registry": registry.host, "namespacePrefix": "mirror/"},
        }
    ).encode()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            if self.path == "/.well-known/wasm-pkg/registry.json":
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            else:
                self.send_response(404)
                self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.usefixtures("each_transport")
def test_well_known_metadata_redirects_a_namespace(
    registry: RegistryServer, well_known: str, tmp_path: Path, hello: bytes
) -> None:
    """A namespace mapped to a plain host follows its wasm-pkg metadata (registry and prefix)."""
    name = _package_name()
    config = RegistryConfig.empty()
    config.namespace_registries["acme"] = Mapping(well_known)
    with Client(config=config, store=Store(tmp_path / "s")) as c:
        pushed = c.push(hello, f"acme:{name}@1.0.0")
        assert (pushed.registry, pushed.repository) == (registry.host, f"mirror/acme/{name}")
        assert c.fetch(f"acme:{name}@^1") == hello
