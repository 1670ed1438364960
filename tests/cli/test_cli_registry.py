"""``omniwasm push/pull/publish/tags/lock/compose/targets`` as a user types them."""

from __future__ import annotations

import subprocess
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest

from fixtures.registry_server import (
    AUTH_USERS,
    RegistryServer,
    needs_registry,
    unique_repo,
    with_custom_section,
)
from fixtures.wat_components import assemble

pytestmark = [needs_registry, pytest.mark.usefixtures("registry_env")]
COMPOSE = Path(__file__).parents[1] / "fixtures" / "compose"


def _cli(
    cli: list[str],
    *args: str,
    cwd: Path | None = None,
    stdin: str | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run(
        [*cli, *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        input=stdin,
        timeout=120,
        env=None if env is None else {**os.environ, **env},
        check=False,
    )


def _name() -> str:
    return "p" + unique_repo().split("/")[1]


def test_push_pull_tags(
    omniwasm_cli: list[str],
    registry: RegistryServer,
    tmp_path: Path,
    c_component: Callable[[str], Path],
) -> None:
    """push prints the digest; pull writes the same bytes; tags lists the tag."""
    hello = c_component("hello")
    ref = f"{registry.host}/{unique_repo()}:1.0.0"
    pushed = _cli(omniwasm_cli, "push", str(hello), ref)
    assert pushed.returncode == 0, pushed.stderr
    assert pushed.stdout.startswith(f"pushed {ref}@sha256:")
    out = tmp_path / "got.wasm"
    pulled = _cli(omniwasm_cli, "pull", ref, "-o", str(out))
    assert pulled.returncode == 0, pulled.stderr
    assert out.read_bytes() == hello.read_bytes()
    listed = _cli(omniwasm_cli, "tags", ref.rsplit(":", 1)[0])
    assert (listed.returncode, listed.stdout) == (0, "1.0.0\n")


def test_errors_have_their_exit_codes(
    omniwasm_cli: list[str], registry: RegistryServer, auth_registry: RegistryServer
) -> None:
    """Bad reference 64, not found 66, refused credentials 77, offline miss 66."""
    assert _cli(omniwasm_cli, "pull", "not a reference").returncode == 64
    missing = _cli(omniwasm_cli, "pull", f"{registry.host}/{unique_repo()}:1")
    assert missing.returncode == 66 and "ArtifactNotFound" in missing.stderr
    denied = _cli(omniwasm_cli, "tags", f"{auth_registry.host}/{unique_repo()}")
    assert denied.returncode == 77 and "AuthenticationFailed" in denied.stderr
    offline = _cli(omniwasm_cli, "pull", "--offline", f"{registry.host}/{unique_repo()}:1")
    assert offline.returncode == 66 and "offline" in offline.stderr


def test_credentials_from_flags(
    omniwasm_cli: list[str], auth_registry: RegistryServer, c_component: Callable[[str], Path]
) -> None:
    """``-u USER --password-stdin`` and ``OMNIWASM_REGISTRY_PASSWORD`` authenticate."""
    ref = f"{auth_registry.host}/{unique_repo()}:1"
    ok = _cli(
        omniwasm_cli,
        "push",
        "-u",
        "alice",
        "--password-stdin",
        str(c_component("hello")),
        ref,
        stdin=AUTH_USERS["alice"] + "\n",
    )
    assert ok.returncode == 0, ok.stderr
    env = {"OMNIWASM_REGISTRY_USERNAME": "bob", "OMNIWASM_REGISTRY_PASSWORD": AUTH_USERS["bob"]}
    assert _cli(omniwasm_cli, "tags", ref.rsplit(":", 1)[0], env=env).stdout == "1\n"


def test_publish_lock_and_a_moved_tag(
    omniwasm_cli: list[str],
    registry: RegistryServer,
    tmp_path: Path,
    c_component: Callable[[str], Path],
) -> None:
    """publish through the mapping; lock pins; a tag pushed over fails the next pull with 65."""
    name = _name()
    env = {"OMNIWASM_NAMESPACE_REGISTRIES": f"acme={registry.host}"}
    hello = c_component("hello")
    pub = _cli(omniwasm_cli, "publish", str(hello), "--package", f"acme:{name}@1.1.0", env=env)
    assert pub.returncode == 0, pub.stderr
    assert f"published acme:{name}@1.1.0 as {registry.host}/acme/{name}:1.1.0@sha256:" in pub.stdout
    locked = _cli(omniwasm_cli, "lock", f"acme:{name}@^1", cwd=tmp_path, env=env)
    assert locked.returncode == 0, locked.stderr
    lock = tomllib.loads((tmp_path / "omniwasm.lock").read_text())
    assert lock["artifact"][0]["resolved"] == f"{registry.host}/acme/{name}:1.1.0"
    other = tmp_path / "other.wasm"
    other.write_bytes(with_custom_section(hello.read_bytes(), "x", 4))
    assert _cli(omniwasm_cli, "push", str(other), f"acme:{name}@1.1.0", env=env).returncode == 0
    moved = _cli(omniwasm_cli, "pull", f"acme:{name}@^1", "-o", "x.wasm", cwd=tmp_path, env=env)
    assert moved.returncode == 65
    assert "LockMismatch" in moved.stderr and f"acme:{name}@^1" in moved.stderr
    update = _cli(omniwasm_cli, "lock", "--update", f"acme:{name}@^1", cwd=tmp_path, env=env)
    assert update.returncode == 0, update.stderr
    again = _cli(omniwasm_cli, "pull", f"acme:{name}@^1", "-o", "x.wasm", cwd=tmp_path, env=env)
    assert again.returncode == 0, again.stderr
    assert (tmp_path / "x.wasm").read_bytes() == other.read_bytes()


def test_compose_and_targets(omniwasm_cli: list[str], tmp_path: Path) -> None:
    """compose --plug and --file build components; targets exits 0 when it fits, 1 if not."""
    parts = {n: assemble(COMPOSE / f"{n}.wat") for n in ("adder", "calc", "report")}
    out = tmp_path / "app.wasm"
    plugged = _cli(
        omniwasm_cli,
        "compose",
        str(parts["report"]),
        "--plug",
        str(parts["calc"]),
        "--plug",
        str(parts["adder"]),
        "-o",
        str(out),
    )
    assert plugged.returncode == 0, plugged.stderr
    invoked = _cli(omniwasm_cli, "invoke", str(out), "test:compose/report@0.1.0#total(4)")
    assert (invoked.returncode, invoked.stdout.strip()) == (0, "20"), invoked.stderr
    (tmp_path / "app.wac").write_text(
        'let a = new acme:adder {};\nlet c = new "calc.wasm" { math: a.math };\n'
        "let r = new acme:report { calc: c.calc };\nexport r...;\n"
    )
    (tmp_path / "calc.wasm").write_bytes(parts["calc"].read_bytes())
    described = _cli(
        omniwasm_cli,
        "compose",
        "-f",
        str(tmp_path / "app.wac"),
        "--dep",
        f"acme:adder={parts['adder']}",
        "--dep",
        f"acme:report={parts['report']}",
        "-o",
        str(tmp_path / "d.wasm"),
    )
    assert described.returncode == 0, described.stderr
    wit = tmp_path / "w.wit"
    wit.write_text(
        "package test:compose@0.1.0;\n"
        "interface report { total: func(x: u32) -> u32; }\n"
        "interface math { add: func(a: u32, b: u32) -> u32; }\n"
        "world app { export report; }\nworld lib { export math; }\n"
    )
    fits = _cli(omniwasm_cli, "targets", str(out), str(wit), "--world", "app")
    assert (fits.returncode, fits.stdout.split("\n")[0].endswith("fits app")) == (0, True)
    misfit = _cli(omniwasm_cli, "targets", str(out), str(wit), "--world", "lib")
    assert misfit.returncode == 1
    assert "missing export: test:compose/math@0.1.0" in misfit.stdout


def test_targets_world_from_the_registry(
    omniwasm_cli: list[str], registry: RegistryServer, tmp_path: Path, wasm_tools: str
) -> None:
    """A WIT package published to the registry is a world ``targets`` can check against."""
    ns = "w" + _name()[1:9]
    wit = tmp_path / "w.wit"
    wit.write_text(
        f"package {ns}:compose@0.1.0;\n"
        "interface math { add: func(a: u32, b: u32) -> u32; }\n"
        "world lib { export math; }\n"
    )
    pkg = tmp_path / "pkg.wasm"
    subprocess.run([wasm_tools, "component", "wit", str(wit), "--wasm", "-o", str(pkg)], check=True)
    env = {"OMNIWASM_NAMESPACE_REGISTRIES": f"{ns}={registry.host}"}
    published = _cli(omniwasm_cli, "publish", str(pkg), env=env)
    assert published.returncode == 0, published.stderr
    assert f"published {ns}:compose@0.1.0" in published.stdout
    adder = assemble(COMPOSE / "adder.wat")
    checked = _cli(omniwasm_cli, "targets", str(adder), f"{ns}:compose/lib@0.1.0", env=env)
    # adder exports test:compose/math, not this package's math: the gap is named.
    assert checked.returncode == 1
    assert f"missing export: {ns}:compose/math@0.1.0" in checked.stdout


@pytest.mark.parametrize("command", ["pull", "push", "tags"])
def test_registry_commands_load_no_engine(command: str, tmp_path: Path) -> None:
    """``omniwasm pull/push/tags`` run without importing wasmtime, the engine, the WIT types or the parser."""
    import sys

    args = {
        "pull": ["pull", "--offline", "127.0.0.1:1/x/y:1", "-o", str(tmp_path / "x.wasm")],
        "push": ["push", str(tmp_path / "missing.wasm"), "127.0.0.1:1/x/y:1"],
        "tags": ["tags", "--offline", "127.0.0.1:1/x/y"],
    }[command]
    code = (
        "import sys\n"
        f"sys.argv = ['omniwasm', *{args!r}]\n"
        "from omniwasm.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "heavy = ('wasmtime', 'omniwasm._engine', 'omniwasm._wit',\n"
        "         'omniwasm._binary.component', 'omniwasm._runtime')\n"
        "print(sorted(m for m in sys.modules if m.startswith(heavy)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stderr
