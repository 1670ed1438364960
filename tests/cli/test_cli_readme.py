"""The README's command-line examples run as written and do what their comments say.

Every command line of the shell blocks in "Command line", "`omniwasm serve` and
`omniwasm.toml`", "Plugins", "Registry and composition", "Composition" and "SQL functions" is a test case below, keyed by the line itself: a line the
README gains without a case here fails, and so does a case whose line the README lost. Each case runs in a
fresh directory holding real files under the names the README uses (``prog.wasm`` is a C
program built with zig, ``app.wasm`` whatever that line's command takes: the componentize-py
summarizer, an HTTP handler, a composed component...). ``[optional]`` parts are given.

What is changed, and only that: the fixed addresses and placeholders. Registry lines go to a
registry started for the test instead of ``127.0.0.1:5000`` (the ``acme`` and ``wasi``
namespaces mapped to it, where the README maps ``wasi`` to ghcr.io), ``sha256:4f3c...`` is the
digest the push printed, ``serve`` listens on free ports instead of 8080,
8443 and 9090 (and gets ``--addr`` when the line has none: the default port may be taken on a
shared machine).
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import ssl
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import wasmtime

from fixtures.readme import argv, blocks, commands, section
from fixtures.readme import shared_cache as readme_shared_cache
from fixtures.serving import free_port, serving, wait_ready
from fixtures.wat_components import assemble

TESTS = Path(__file__).parents[1]
FIXTURES = TESTS / "fixtures"
EXAMPLES = TESTS.parent / "src" / "omniwasm" / "examples"

PLUGINS = "Plugins: run untrusted code (Extism plugins and component plugins)"
SQL = "SQL functions: WebAssembly UDFs in SQLite and DuckDB"
LINES = [
    *commands(blocks(section("Command line"), "sh")[0]),
    *commands(blocks(section("`omniwasm serve` and `omniwasm.toml`"), "sh")[0]),
    *commands(blocks(section(PLUGINS), "sh")[0]),
    *commands(blocks(section("Registry and composition"), "sh")[0]),
    *commands(blocks(section("Composition"), "sh")[0]),
    *commands(blocks(section(SQL), "sh")[0]),
]

ADD = '(module (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add))'
INIT = """(module
  (global $n (mut i32) (i32.const 0))
  (func (export "wizer.initialize") (global.set $n (i32.const 42)))
  (func (export "answer") (result i32) (global.get $n)))"""
APP_WIT = """package test:compose@0.1.0;
interface math { add: func(a: u32, b: u32) -> u32; }
interface report { total: func(x: u32) -> u32; }
world app { import math; export report; }
"""


@dataclass
class Shell:
    """A directory to run README lines in, with the test's fixtures at hand."""

    cwd: Path
    cli: list[str]
    fixture: Callable[[str], Any]
    addresses: dict[str, str] = field(default_factory=dict)

    def put(self, name: str, source: Path | bytes | bytearray | str) -> Path:
        """Write ``name`` (a copy of a file, bytes, or text) in the directory."""
        path = self.cwd / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(source, Path):
            if source.is_dir():
                shutil.copytree(source, path)
            else:
                shutil.copyfile(source, path)
        elif isinstance(source, (bytes, bytearray)):
            path.write_bytes(source)
        else:
            path.write_text(source)
        return path

    def words(self, line: str) -> list[str]:
        """The line's words with the fixed addresses replaced."""
        words = argv(line)
        for fixed, actual in self.addresses.items():
            words = [w.replace(fixed, actual) for w in words]
        assert words[0] == "omniwasm"
        return words[1:]

    def run(self, line: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """Run a README line; its exit code and output are the case's to check."""
        return subprocess.run(
            [*self.cli, *self.words(line)],
            cwd=self.cwd,
            check=False,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def ok(self, line: str) -> str:
        """Run a README line that must succeed; its stdout."""
        proc = self.run(line)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    @contextmanager
    def serve(self, line: str) -> Iterator[str]:
        """Start a README ``omniwasm serve`` line; yield its base URL once it answers."""
        port = free_port()
        for fixed in ("127.0.0.1:8080", "0.0.0.0:8443"):
            self.addresses[fixed] = f"127.0.0.1:{port}"
        words = self.words(line)
        assert words[0] == "serve"
        if "--addr" not in words:
            words += ["--addr", f"127.0.0.1:{port}"]
        scheme = "https" if "--tls-cert" in words else "http"
        with serving(*words[1:]) as proc:
            base = f"{scheme}://127.0.0.1:{port}"
            wait_ready(f"{base}/", proc, seconds=120, verify=self.fixture("tls_client"))
            yield base


Key = tuple[str, ...]
CASES: dict[Key, Callable[[Shell, str], None]] = {}


def _key(line: str) -> Key:
    """What a line runs: its words (its comment and the brackets of optional parts dropped)."""
    return tuple(argv(line))


def case(*lines: str) -> Callable[[Callable[[Shell, str], None]], Callable[[Shell, str], None]]:
    """Register a check for these README lines (lines running the same words share it)."""

    def register(check: Callable[[Shell, str], None]) -> Callable[[Shell, str], None]:
        for line in lines:
            assert CASES.setdefault(_key(line), check) is check, line
        return check

    return register


def c_module(sh: Shell, name: str) -> Path:
    """The C program tests/fixtures/c/NAME.c built as a WASI p1 module."""
    return sh.fixture("c_module")(name)  # type: ignore[no-any-return]


def _line(start: str) -> str:
    """The README line running exactly these words, else the one line starting with ``start``."""
    try:
        exact = [line for line in LINES if _key(line) == _key(start)]
    except ValueError:  # a prefix cut inside quotes
        exact = []
    if exact:
        return exact[0]
    found = {_key(line): line for line in LINES if line.startswith(start)}
    assert len(found) == 1, (start, found)
    return next(iter(found.values()))


# --- run ---------------------------------------------------------------------------------------


@case(_line("omniwasm run prog.wasm arg1 arg2"), _line("omniwasm prog.wasm arg1 arg2"))
def _args(sh: Shell, line: str) -> None:
    sh.put("prog.wasm", c_module(sh, "args"))
    assert "argv[1]=arg1\nargv[2]=arg2\n" in sh.ok(line)


@case(_line("omniwasm run -W fuel=10000000,timeout=2s -S inherit-env prog.wasm"))
def _w_and_s(sh: Shell, line: str) -> None:
    sh.put("prog.wasm", c_module(sh, "env"))
    monkeypatch = sh.fixture("monkeypatch")
    monkeypatch.setenv("README_PROBE", "inherited")
    assert "README_PROBE=inherited\n" in sh.ok(line)


@case(_line("omniwasm run --dir ./data::/data --dir-ro ./config::/etc/app"))
def _dirs_and_env(sh: Shell, line: str) -> None:
    sh.put("prog.wasm", c_module(sh, "env"))
    (sh.cwd / "data").mkdir()
    (sh.cwd / "config").mkdir()
    sh.fixture("monkeypatch").setenv("HOME", "/home/reader")
    out = sh.ok(line)
    assert "MODE=fast\nHOME=/home/reader\ncount=2\n" in out


@case(_line("omniwasm run --timeout 2s --fuel 10000000 --max-memory 64MiB prog.wasm"))
def _limits(sh: Shell, line: str) -> None:
    sh.put("prog.wasm", c_module(sh, "hello"))
    assert sh.ok(line) == "hello from wasm\n"


@case(_line("omniwasm run --stdin input.txt prog.wasm"))
def _stdin(sh: Shell, line: str) -> None:
    sh.put("prog.wasm", c_module(sh, "echo"))
    sh.put("input.txt", "three\nlines\nhere\n")
    assert sh.ok(line) == "three\nlines\nhere\n"


@case(_line("omniwasm run --policy sandbox.toml prog.wasm"))
def _policy_file(sh: Shell, line: str) -> None:
    from omniwasm import Policy

    sh.put("prog.wasm", c_module(sh, "env"))
    sh.put("sandbox.toml", Policy(env={"MODE": "from-file"}, timeout=5.0).to_toml())
    assert sh.ok(line) == "MODE=from-file\ncount=1\n"


@case(_line("omniwasm run --wasi virtual app.wasm"))
def _virtual(sh: Shell, line: str) -> None:
    sh.put("app.wasm", sh.fixture("c_component")("hello"))
    assert sh.ok(line) == "hello from wasm\n"


@case(_line("omniwasm run --wasi virtual --deterministic --seed 42 app.wasm"))
def _deterministic(sh: Shell, line: str) -> None:
    sh.put("app.wasm", assemble(EXAMPLES / "wasi_hello.wat", prefix="readme-"))
    first = sh.ok(line)
    assert "Hello from a WASI 0.2 component!" in first
    assert sh.ok(line) == first  # the random number too


@case(_line("omniwasm run --nn-model sentiment=models/sentiment.onnx app.wasm"))
def _nn_model(sh: Shell, line: str) -> None:
    from fixtures import nn_models

    sh.put("app.wasm", sh.fixture("nn_c_wasm"))
    sh.put("models/sentiment.onnx", nn_models.mlp())
    # The C guest wants MODEL X... arguments: it ran (linked, with the model granted) and
    # printed its usage. The grant itself is tested in tests/wasi/nn/test_nn_integration.py.
    proc = sh.run(line)
    assert (proc.returncode, proc.stderr) == (1, "usage: nn_c MODEL X...\n")  # 0.2: 0 or 1


# --- invoke ------------------------------------------------------------------------------------


@case(_line("omniwasm run --invoke 'add(1, 2)' math.wat"))
def _invoke_wat(sh: Shell, line: str) -> None:
    sh.put("math.wat", ADD)
    assert sh.ok(line) == "3\n"


@case(_line("omniwasm run --invoke add math.wasm 1 2"), _line("omniwasm invoke math.wasm"))
def _invoke_wasm(sh: Shell, line: str) -> None:
    sh.put("math.wasm", wasmtime.wat2wasm(ADD))
    assert sh.ok(line) == "3\n"


@case(
    _line("omniwasm run --invoke 'summarize("),
    _line("omniwasm invoke app.wasm 'blog:example/summarizer@1.0.0#summarize("),
)
def _invoke_component(sh: Shell, line: str) -> None:
    sh.put("app.wasm", sh.fixture("summarizer_wasm"))
    # Both lines compile the 18 MB summarizer: one compile cache for them saves one compile.
    sh.fixture("monkeypatch").setenv("OMNIWASM_CACHE_DIR", str(sh.fixture("shared_cache")))
    out = sh.ok(line)
    assert out.startswith('ok({text: "c"') and "word-count: 1}" in out, out


# --- bindgen, compile, snapshot, cache, inspect --------------------------------------------------


@case(_line("omniwasm bindgen app.wasm -o app_bindings/"))
def _bindgen_binary(sh: Shell, line: str) -> None:
    sh.put("app.wasm", sh.fixture("summarizer_wasm"))
    sh.ok(line)
    assert "def summarize(" in "".join(p.read_text() for p in sh.cwd.glob("app_bindings/**/*.py"))


@case(_line("omniwasm bindgen wit/ --world summarizer-world -o app_bindings/"))
def _bindgen_wit(sh: Shell, line: str) -> None:
    sh.put("wit", FIXTURES / "python" / "summarizer" / "wit")
    sh.ok(line)
    assert "def summarize(" in "".join(p.read_text() for p in sh.cwd.glob("app_bindings/**/*.py"))


@case(_line("omniwasm compile prog.wasm -o prog.cwasm"))
def _compile(sh: Shell, line: str) -> None:
    sh.put("prog.wasm", c_module(sh, "hello"))
    sh.ok(line)
    assert (sh.cwd / "prog.cwasm").read_bytes()[:4] == b"\x7fELF"


@case(_line("omniwasm run --allow-precompiled prog.cwasm"))
def _precompiled(sh: Shell, line: str) -> None:
    sh.put("prog.wasm", c_module(sh, "hello"))
    sh.ok(_line("omniwasm compile prog.wasm -o prog.cwasm"))
    assert sh.ok(line) == "hello from wasm\n"


@case(_line("omniwasm snapshot app.wasm -o app.init.wasm"))
def _snapshot(sh: Shell, line: str) -> None:
    sh.put("app.wasm", wasmtime.wat2wasm(INIT))
    (sh.cwd / "data").mkdir()
    sh.ok(line)
    assert sh.ok("omniwasm invoke app.init.wasm answer") == "42\n"
    assert sh.ok("omniwasm invoke app.wasm answer") == "0\n"


def _cache_info(sh: Shell) -> dict[str, Any]:
    return json.loads(sh.ok("omniwasm cache info --json"))  # type: ignore[no-any-return]


@case(_line("omniwasm cache info"))
def _cache_info_line(sh: Shell, line: str) -> None:
    sh.put("prog.wasm", c_module(sh, "hello"))
    sh.ok("omniwasm run prog.wasm")
    info = json.loads(sh.ok(line))
    assert (info["entries"], info["max_bytes"]) == (1, 1 << 30)


@case(_line("omniwasm cache prune"))
def _cache_prune(sh: Shell, line: str) -> None:
    sh.put("prog.wasm", c_module(sh, "hello"))
    sh.ok("omniwasm run prog.wasm")
    sh.ok(line)
    assert _cache_info(sh)["entries"] == 1  # far under 200 MiB: kept


@case(_line("omniwasm cache clear"))
def _cache_clear(sh: Shell, line: str) -> None:
    sh.put("prog.wasm", c_module(sh, "hello"))
    sh.ok("omniwasm run prog.wasm")
    sh.ok(line)
    assert _cache_info(sh)["entries"] == 0


@case(_line("omniwasm inspect prog.wasm"))
def _inspect(sh: Shell, line: str) -> None:
    sh.put("prog.wasm", c_module(sh, "hello"))
    info = json.loads(sh.ok(line))
    assert info["kind"] == "module"
    assert "_start" in json.dumps(info["exports"])


# --- serve -------------------------------------------------------------------------------------


def _hello_handler(sh: Shell, name: str) -> None:
    sh.put(name, assemble(FIXTURES / "gateway" / "hello.wat", prefix="gw-"))


def _readme_app(sh: Shell) -> None:
    """The README's omniwasm.toml app: its manifest, cart.wasm (a hello handler), its files."""
    manifest = blocks(section("`omniwasm serve` and `omniwasm.toml`"), "toml")[0]
    sh.put("omniwasm.toml", manifest)
    _hello_handler(sh, "cart.wasm")
    sh.put("static/index.html", "<p>hi</p>")
    sh.put("assets/logo.txt", "logo")


def _get(url: str, sh: Shell) -> httpx.Response:
    return httpx.get(url, timeout=30, verify=sh.fixture("tls_client"))


@case(_line("omniwasm serve app.wasm --addr 127.0.0.1:8080 --workers 2"))
def _serve_workers(sh: Shell, line: str) -> None:
    _hello_handler(sh, "app.wasm")
    with sh.serve(line) as base:
        assert _get(f"{base}/any/path", sh).text == "hello from wasm"


@case(_line("omniwasm serve hello.wasm --addr 127.0.0.1:8080"))
def _serve_one(sh: Shell, line: str) -> None:
    _hello_handler(sh, "hello.wasm")
    with sh.serve(line) as base:
        assert _get(f"{base}/", sh).text == "hello from wasm"


@case(
    *[line for line in LINES if line.startswith("omniwasm serve omniwasm.toml")],
)
def _serve_app(sh: Shell, line: str) -> None:
    _readme_app(sh)
    admin = free_port()
    sh.addresses["127.0.0.1:9090"] = f"127.0.0.1:{admin}"
    with sh.serve(line) as base:
        response = _get(f"{base}/cart/items", sh)
        assert (response.status_code, response.text) == (200, "hello from wasm")
        if "--admin" in line:
            metrics = _poll_metrics(f"http://127.0.0.1:{admin}/metrics")
            assert 'omniwasm_requests_total{route="/cart/...",status="200"}' in metrics


def _poll_metrics(url: str, seconds: float = 30.0) -> str:
    """/metrics once it counts a request (workers publish every 0.5 s)."""
    import time

    deadline = time.monotonic() + seconds
    text = ""
    while time.monotonic() < deadline:
        text = httpx.get(url, timeout=10).text
        if "omniwasm_requests_total{" in text:
            return text
        time.sleep(0.2)
    return text


@case(*[line for line in LINES if line.startswith("omniwasm serve app.wasm") and "--tls" in line])
def _serve_tls(sh: Shell, line: str) -> None:
    _hello_handler(sh, "app.wasm")
    cert, key = sh.fixture("tls_files")
    sh.put("cert.pem", cert)
    sh.put("key.pem", key)
    with sh.serve(line) as base:
        response = _get(f"{base}/", sh)
        assert (response.status_code, response.text) == (200, "hello from wasm")


# --- registry and composition ------------------------------------------------------------------


def _registry(sh: Shell) -> str:
    """A registry of the test's own for 127.0.0.1:5000, mapped for the acme namespace."""
    sh.fixture("registry_env")
    host: str = sh.fixture("own_registry").host
    sh.addresses["127.0.0.1:5000"] = host
    sh.put("omniwasm.toml", f'[registry.namespace_registries]\nacme = "{host}"\nwasi = "{host}"\n')
    return host


def _published(sh: Shell) -> None:
    """acme:app@1.2.0 published: the hello component."""
    _registry(sh)
    sh.put("hello.wasm", sh.fixture("c_component")("hello"))
    sh.ok("omniwasm publish hello.wasm --package acme:app@1.2.0")


@case(_line("omniwasm push app.wasm 127.0.0.1:5000/demo/app:1.0.0"))
def _push(sh: Shell, line: str) -> None:
    _registry(sh)
    sh.put("app.wasm", sh.fixture("c_component")("hello"))
    host = sh.addresses["127.0.0.1:5000"]
    assert re.fullmatch(rf"pushed {host}/demo/app:1.0.0@sha256:[0-9a-f]{{64}}\n", sh.ok(line))


@case(_line("omniwasm tags 127.0.0.1:5000/demo/app"))
def _tags(sh: Shell, line: str) -> None:
    _push(sh, _line("omniwasm push app.wasm 127.0.0.1:5000/demo/app:1.0.0"))
    assert sh.ok(line) == "1.0.0\n"


@case(_line("omniwasm pull 'acme:app@^1.2' -o app.wasm"))
def _pull(sh: Shell, line: str) -> None:
    _published(sh)
    sh.ok(line)
    assert sh.ok("omniwasm run app.wasm") == "hello from wasm\n"


@case(_line("omniwasm publish app.wasm"))
def _publish(sh: Shell, line: str) -> None:
    _registry(sh)
    tools = sh.fixture("wasm_tools")
    hello = str(sh.fixture("c_component")("hello"))
    named = ["metadata", "add", "--name", "acme:app", "--version", "1.2.0", hello, "-o", "app.wasm"]
    subprocess.run([tools, *named], cwd=sh.cwd, check=True, capture_output=True)
    sh.ok(line)
    sh.ok("omniwasm pull acme:app@1.2.0 -o pulled.wasm")
    assert (sh.cwd / "pulled.wasm").read_bytes() == (sh.cwd / "app.wasm").read_bytes()


@case(_line("omniwasm lock 'acme:app@^1.2'"))
def _lock(sh: Shell, line: str) -> None:
    host = _registry(sh)
    sh.put("hello.wasm", sh.fixture("c_component")("hello"))
    sh.ok("omniwasm publish hello.wasm --package acme:app@1.2.3")
    sh.ok(line)
    lock = (sh.cwd / "omniwasm.lock").read_text()
    digest = re.search(r'digest = "(sha256:[0-9a-f]{64})"', lock)
    assert digest, lock
    # the file is the README's example of it, with this registry and digest
    shown = blocks(section("Registry and composition"), "toml")[1]
    assert lock == shown.replace("127.0.0.1:5000", host).replace("sha256:9b2f...", digest[1])


PUSH_HELLO = "omniwasm push hello.wasm 127.0.0.1:5000/demo/hello:1.0.0"


@case(PUSH_HELLO)
def _push_hello(sh: Shell, line: str) -> None:
    _registry(sh)
    sh.put("hello.wasm", sh.fixture("c_component")("hello"))
    host = sh.addresses["127.0.0.1:5000"]
    out = sh.ok(line)
    found = re.fullmatch(rf"pushed {host}/demo/hello:1.0.0@(sha256:[0-9a-f]{{64}})\n", out)
    assert found, out
    sh.addresses["sha256:4f3c..."] = found.group(1)  # the README's elided digest


@case("omniwasm pull 127.0.0.1:5000/demo/hello:1.0.0 -o hello.wasm")
def _pull_tag(sh: Shell, line: str) -> None:
    _push_hello(sh, PUSH_HELLO)
    pushed = (sh.cwd / "hello.wasm").read_bytes()
    (sh.cwd / "hello.wasm").unlink()
    sh.ok(line)
    assert (sh.cwd / "hello.wasm").read_bytes() == pushed


@case("omniwasm pull 127.0.0.1:5000/demo/hello@sha256:4f3c...")
def _pull_digest(sh: Shell, line: str) -> None:
    _push_hello(sh, PUSH_HELLO)
    sh.ok(line)
    sh.ok("omniwasm pull 127.0.0.1:5000/demo/hello@sha256:4f3c... -o again.wasm")
    assert (sh.cwd / "again.wasm").read_bytes() == (sh.cwd / "hello.wasm").read_bytes()


@case("omniwasm tags 127.0.0.1:5000/demo/hello")
def _tags_hello(sh: Shell, line: str) -> None:
    _push_hello(sh, PUSH_HELLO)
    assert sh.ok(line) == "1.0.0\n"


@case("omniwasm publish app.wasm --package acme:app@1.2.0")
def _publish_named(sh: Shell, line: str) -> None:
    _registry(sh)
    sh.put("app.wasm", sh.fixture("c_component")("hello"))
    sh.ok(line)
    sh.ok("omniwasm pull acme:app@1.2.0 -o pulled.wasm")
    assert sh.ok("omniwasm run pulled.wasm") == "hello from wasm\n"


def _wasi_http_package(sh: Shell) -> None:
    """wasi:http@0.2.0 published as an encoded WIT package (the gateway fixture's WIT)."""
    tools = sh.fixture("wasm_tools")
    wit = FIXTURES / "gateway" / "py_hello" / "wit"
    cmd = [tools, "component", "wit", str(wit), "--wasm", "-o", "wasi-http.wasm"]
    subprocess.run(cmd, cwd=sh.cwd, check=True, capture_output=True)
    sh.ok("omniwasm publish wasi-http.wasm")


@case("omniwasm lock 'acme:app@^1.2' wasi:http@0.2.0")
def _lock_two(sh: Shell, line: str) -> None:
    _published(sh)
    _wasi_http_package(sh)
    sh.ok(line)
    lock = (sh.cwd / "omniwasm.lock").read_text()
    assert 'reference = "acme:app@^1.2"' in lock
    assert 'reference = "wasi:http@0.2.0"' in lock


@case("omniwasm lock --update 'acme:app@^1.2'")
def _lock_update(sh: Shell, line: str) -> None:
    _published(sh)
    sh.ok("omniwasm lock 'acme:app@^1.2'")
    before = (sh.cwd / "omniwasm.lock").read_text()
    sh.put("v2.wasm", sh.fixture("c_component")("args"))
    sh.ok("omniwasm publish v2.wasm --package acme:app@1.2.1")
    sh.ok(line)
    after = (sh.cwd / "omniwasm.lock").read_text()
    assert "acme/app:1.2.0" in before and "acme/app:1.2.1" in after
    assert before != after


@case("omniwasm pull --offline 'acme:app@^1.2'")
def _pull_offline(sh: Shell, line: str) -> None:
    _published(sh)
    sh.ok("omniwasm pull 'acme:app@^1.2' -o online.wasm")
    sh.fixture("own_registry").stop()  # offline means the store alone
    sh.ok(line)


@case("omniwasm compose report.wasm --plug calc.wasm --plug acme:adder@^1 -o app.wasm")
def _compose_registry_plug(sh: Shell, line: str) -> None:
    _registry(sh)
    _compose_parts(sh)
    sh.put("adder.wasm", assemble(FIXTURES / "compose" / "adder.wat"))
    sh.ok("omniwasm publish adder.wasm --package acme:adder@1.0.0")
    sh.ok(line)
    assert _total(sh.cwd / "app.wasm", 5) == 25  # sum3(5, 5, 5) + double(5)


@case("omniwasm compose -f app.wac --dep acme:report=report.wasm -o app.wasm")
def _compose_wac(sh: Shell, line: str) -> None:
    _registry(sh)
    _compose_parts(sh)
    sh.put("adder.wasm", assemble(FIXTURES / "compose" / "adder.wat"))
    sh.ok("omniwasm publish adder.wasm --package acme:adder@1.0.0")
    wac = blocks(section("Composition"), "wac")[0]
    sh.put("app.wac", wac)
    sh.ok(line)
    assert _total(sh.cwd / "app.wasm", 5) == 25


@case("omniwasm targets app.wasm wasi:http/proxy@0.2.0")
def _targets_registry(sh: Shell, line: str) -> None:
    _registry(sh)
    _wasi_http_package(sh)
    # A component of exactly that world (wasm-tools' dummy), as a toolchain targeting it makes.
    tools, wit = sh.fixture("wasm_tools"), str(FIXTURES / "gateway" / "py_hello" / "wit")
    for cmd in (
        ["component", "embed", "--dummy", wit, "--world", "proxy", "-o", "core.wasm"],
        ["component", "new", "core.wasm", "-o", "app.wasm"],
    ):
        subprocess.run([tools, *cmd], cwd=sh.cwd, check=True, capture_output=True)
    sh.ok(line)  # exit 0: it fits
    _compose_parts(sh)
    misfit = sh.run("omniwasm targets report.wasm wasi:http/proxy@0.2.0")
    assert misfit.returncode == 1, misfit.stderr


def _total(app: Path, n: int) -> int:
    """report's total(n) in a composed component (the stock backend runs compositions)."""
    import omniwasm

    rt = omniwasm.Runtime(components="stock")
    with rt.instantiate(rt.load(app)) as inst:
        return int(inst.exports["test:compose/report@0.1.0"]["total"](n))


def _compose_parts(sh: Shell) -> None:
    for name in ("report", "calc"):
        sh.put(f"{name}.wasm", assemble(FIXTURES / "compose" / f"{name}.wat"))


@case(_line("omniwasm compose report.wasm --plug calc.wasm -o app.wasm"))
def _compose(sh: Shell, line: str) -> None:
    _compose_parts(sh)
    sh.ok(line)
    info = json.loads(sh.ok("omniwasm inspect app.wasm --json"))
    assert "test:compose/math@0.1.0" in json.dumps(info["imports"])
    assert "test:compose/calc@0.1.0" not in json.dumps(info["imports"])


@case(_line("omniwasm targets app.wasm wit/ --world app"))
def _targets(sh: Shell, line: str) -> None:
    _compose_parts(sh)
    sh.ok(_line("omniwasm compose report.wasm --plug calc.wasm -o app.wasm"))
    sh.put("wit/app.wit", APP_WIT)
    sh.ok(line)


# --- plugins -----------------------------------------------------------------------------------

# An Extism plugin whose fetch outputs its config value "greeting" (a block the host returned
# belongs to the plugin and may be output directly).
FETCH = """(module
  (import "extism:host/env" "alloc" (func $alloc (param i64) (result i64)))
  (import "extism:host/env" "length" (func $length (param i64) (result i64)))
  (import "extism:host/env" "store_u64" (func $store_u64 (param i64 i64)))
  (import "extism:host/env" "output_set" (func $output_set (param i64 i64)))
  (import "extism:host/env" "config_get" (func $config_get (param i64) (result i64)))
  (memory (export "memory") 1)
  (data (i32.const 16) "greeting")
  (func (export "fetch") (result i32)
    (local $key i64) (local $value i64)
    (local.set $key (call $alloc (i64.const 8)))
    (call $store_u64 (local.get $key) (i64.load (i32.const 16)))
    (local.set $value (call $config_get (local.get $key)))
    (call $output_set (local.get $value) (call $length (local.get $value)))
    (i32.const 0)))"""


@case(_line("omniwasm plugin call src/omniwasm/examples/count_vowels.wat count_vowels"))
def _plugin_call(sh: Shell, line: str) -> None:
    sh.put("src/omniwasm/examples/count_vowels.wat", EXAMPLES / "count_vowels.wat")
    assert sh.ok(line) == '{"count":3,"total":3,"vowels":"aeiouAEIOU"}'  # raw output


@case(_line("omniwasm plugin call manifest.json fetch"))
def _plugin_manifest(sh: Shell, line: str) -> None:
    sh.put("fetch.wasm", wasmtime.wat2wasm(FETCH))
    sh.put("manifest.json", json.dumps({"wasm": [{"path": "fetch.wasm"}]}))
    sh.put("req.json", '{"url": "https://api.example.com/items"}')
    (sh.cwd / "data").mkdir()
    assert sh.ok(line) == "hi"


# --- sql, demo ---------------------------------------------------------------------------------


@case(_line("omniwasm sql sales.parquet"))
def _sql(sh: Shell, line: str) -> None:
    duckdb = pytest.importorskip("duckdb")
    duckdb.connect().execute(
        f"COPY (SELECT * FROM (VALUES ('apple'), ('pear')) t(item)) TO '{sh.cwd}/sales.parquet'"
    )
    sh.put("sql_kernels.wat", EXAMPLES / "sql_kernels.wat")
    out = sh.ok(line)
    assert "APPLE" in out and "PEAR" in out


@case(
    "omniwasm sql shop.db 'SELECT x, next(x) FROM t' --udf next=sql_kernels.wat:twice-plus-one -f csv"
)
def _sql_sqlite(sh: Shell, line: str) -> None:
    import sqlite3

    with contextlib.closing(sqlite3.connect(sh.cwd / "shop.db")) as db:
        db.execute("CREATE TABLE t (x INTEGER)")
        db.executemany("INSERT INTO t VALUES (?)", [(1,), (20,)])
        db.commit()
    sh.put("sql_kernels.wat", EXAMPLES / "sql_kernels.wat")
    assert sh.ok(line).splitlines() == ["x,next(x)", "1,3", "20,41"]


@case("omniwasm sql :memory: \"SELECT omniwasm_register('udfs.wasm')\" --timeout 2s -f json")
def _sql_register(sh: Shell, line: str) -> None:
    pytest.importorskip("duckdb")
    sh.put("udfs.wasm", wasmtime.wat2wasm((EXAMPLES / "sql_kernels.wat").read_text()))
    rows = json.loads(sh.ok(line))
    assert len(rows) == 1, rows
    assert "shout" in json.dumps(rows)


@case(_line("omniwasm demo"))
def _demo(sh: Shell, line: str) -> None:
    assert "fib(90) = 2880067194370816120" in sh.ok(line)


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session's compile cache for the summarizer (fixtures.readme.shared_cache)."""
    return readme_shared_cache(tmp_path_factory)


@pytest.fixture(scope="module")
def _tls(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, bytes, ssl.SSLContext]:
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1")
    client = ssl.create_default_context()
    ca.configure_trust(client)
    return server.cert_chain_pems[0].bytes(), server.private_key_pem.bytes(), client


@pytest.fixture
def tls_files(_tls: tuple[bytes, bytes, ssl.SSLContext]) -> tuple[bytes, bytes]:
    """A certificate for 127.0.0.1 and its key (PEM), from a test CA."""
    return _tls[0], _tls[1]


@pytest.fixture
def tls_client(_tls: tuple[bytes, bytes, ssl.SSLContext]) -> ssl.SSLContext:
    """A client context trusting the test CA."""
    return _tls[2]


UNIQUE = list({_key(line): line for line in reversed(LINES)}.values())[::-1]


@pytest.mark.parametrize("line", UNIQUE, ids=[re.sub(r"\W+", "-", x)[9:60] for x in UNIQUE])
def test_readme_command_line(
    line: str,
    omniwasm_cli: list[str],
    tmp_path: Path,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A README command line runs as written in a directory with its files, as it says."""
    assert _key(line) in CASES, f"the README line {line!r} has no case in {__file__}"
    monkeypatch.chdir(tmp_path)  # for serve, started by fixtures.serving
    CASES[_key(line)](Shell(tmp_path, omniwasm_cli, request.getfixturevalue), line)


def test_every_case_is_a_readme_line() -> None:
    """No case is left for a line the README no longer has."""
    assert sorted(set(CASES) - {_key(line) for line in LINES}) == []


def test_every_flag_of_the_readme_table_is_a_run_option() -> None:
    """Each flag the "Command line" table documents is an option of `omniwasm run`."""
    import typer.main

    from omniwasm.cli._app import app
    from omniwasm.cli._run import run  # noqa: F401  # registers the command

    group: Any = typer.main.get_command(app)
    command = group.commands["run"]
    options = {flag for param in command.params for flag in getattr(param, "opts", [])}
    text = section("Command line")
    rows = [line for line in text.splitlines() if line.startswith("| `-")]
    flags = {f for row in rows for f in re.findall(r"`(-{1,2}[\w-]+)", row.split(" | ")[0])}
    assert len(flags) >= 15
    assert flags - options == set()
