"""Pulling a 20 MB component from a local registry: ``omniwasm pull`` vs ``skopeo copy``.

A Debian ``docker-registry`` (distribution 2.8) runs on 127.0.0.1 with its storage under
bench/.build/. The component is a small WAT component carrying a 20 MiB custom section of
random bytes (incompressible), pushed once by omniwasm. Each repetition pulls it cold: skopeo
into a fresh ``dir:`` destination, omniwasm into a fresh store (``OMNIWASM_STORE_DIR``) and a
fresh output file, so both download, check and write all 20 MB every time. Measured as whole
processes (the commands a user types) and, for omniwasm, also in-process (``Client.pull_to``,
no interpreter start). Interleaved; medians.
"""

from __future__ import annotations

import os
import random
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

from _common import OMNIWASM_CLI, REPEAT, build_dir, fresh_dir, ms, run_process, table

SIZE = 20 << 20
WAT = """(component
  (core module $m (func (export "add") (param i32 i32) (result i32)
    local.get 0 local.get 1 i32.add))
  (core instance $mi (instantiate $m))
  (func $add (param "a" u32) (param "b" u32) (result u32) (canon lift (core func $mi "add")))
  (export "add" (func $add))
)"""


def _leb(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def component() -> bytes:
    wasm_tools = Path(sys.executable).parent / "wasm-tools"
    base = subprocess.run(
        [str(wasm_tools), "parse", "-", "-o", "/dev/stdout"],
        input=WAT.encode(),
        capture_output=True,
        check=True,
    ).stdout
    name = b"payload"
    payload = _leb(len(name)) + name + random.Random(20).randbytes(SIZE)
    return base + b"\x00" + _leb(len(payload)) + payload


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_registry(root: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    config = root / "config.yml"
    config.write_text(
        '{"version": "0.1", "log": {"level": "error", "accesslog": {"disabled": true}},'
        f' "storage": {{"filesystem": {{"rootdirectory": "{root / "storage"}"}}}},'
        f' "http": {{"addr": "127.0.0.1:{port}", "secret": "bench"}}}}'
    )
    exe = shutil.which("docker-registry")
    assert exe is not None
    proc = subprocess.Popen([exe, "serve", str(config)], stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return proc, f"127.0.0.1:{port}"
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("docker-registry did not start")


def main() -> None:
    if not shutil.which("docker-registry") or not shutil.which("skopeo"):
        print("_docker-registry or skopeo missing (make test installs them): not measured._")
        return
    from omniwasm.registry import Client, RegistryConfig, Store

    work = fresh_dir(build_dir() / "registry-pull")
    proc, host = start_registry(work)
    try:
        wasm = component()
        ref = f"{host}/bench/component:1.0.0"
        with Client(config=RegistryConfig.empty(), store=Store(work / "push-store")) as c:
            c.push(wasm, ref)
        skopeo = shutil.which("skopeo")
        assert skopeo is not None
        samples: dict[str, list[float]] = {"skopeo": [], "omniwasm": [], "api": []}
        for i in range(REPEAT + 1):  # the first round warms the page cache; dropped
            dest = work / f"skopeo-{i}"
            t_sk = run_process(
                [skopeo, "copy", "-q", "--src-tls-verify=false", f"docker://{ref}", f"dir:{dest}"]
            )
            store = work / f"store-{i}"
            env = dict(os.environ, OMNIWASM_STORE_DIR=str(store))
            out = work / f"out-{i}.wasm"
            t_om = run_process([str(OMNIWASM_CLI), "pull", ref, "-o", str(out)], env=env)
            assert out.read_bytes() == wasm
            api_store = Store(work / f"api-store-{i}")
            t0 = time.perf_counter()
            with Client(config=RegistryConfig.empty(), store=api_store) as c:
                c.pull_to(ref, work / f"api-{i}.wasm")
            t_api = time.perf_counter() - t0
            for path in (dest, store, work / f"api-store-{i}"):
                shutil.rmtree(path, ignore_errors=True)
            if i:
                samples["skopeo"].append(t_sk)
                samples["omniwasm"].append(t_om)
                samples["api"].append(t_api)
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(work, ignore_errors=True)

    import statistics

    med = {k: statistics.median(v) for k, v in samples.items()}
    rows = [
        ["`skopeo copy docker://... dir:DIR` (process)", ms(med["skopeo"]), "1.00x"],
        [
            "`omniwasm pull REF -o FILE` (process)",
            ms(med["omniwasm"]),
            f"{med['omniwasm'] / med['skopeo']:.2f}x",
        ],
        [
            "`Client().pull_to(REF, FILE)` (in-process)",
            ms(med["api"]),
            f"{med['api'] / med['skopeo']:.2f}x",
        ],
    ]
    size_mb = len(wasm) / 1e6
    print(f"### Registry pull: a {size_mb:.1f} MB component from docker-registry on 127.0.0.1")
    print()
    print(table(["pull, cold (fresh store / destination)", "median ms", "vs skopeo"], rows))
    print()
    print(
        f"Median of {REPEAT} interleaved rounds (plus one warm-up round, dropped). Both tools "
        "fetch manifest, config and layer and check the layer's sha256; omniwasm also writes "
        "it to its content-addressed store (fsync, rename) before copying it to FILE. The "
        "process rows include interpreter/runtime start-up; skopeo 1.9.3 (Debian), "
        "docker-registry 2.8.2."
    )


if __name__ == "__main__":
    main()
