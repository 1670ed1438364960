"""Policy.max_output: captured guest output keeps at most that many bytes per stream.

Past the limit the guest's writes fail (it sees a closed stream), the bytes kept are exactly the
first ``max_output`` ones, and the result names the truncated stream. Covers native WASI p1 and
p2, the virtual WASI host, Extism plugins (output and logs), policy files and the CLI flags.
"""

from __future__ import annotations

import logging
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from fixtures.extism_plugins import build_plugin
from omniwasm import GuestExit, LimitExceeded, Policy, Runtime, wasi
from omniwasm.plugins import Plugin

Build = Callable[[str], Path]
LIMIT = 1 << 20
BLOCK = 1 << 16


def _spew(blocks: int, **limits: object) -> Policy:
    return Policy(args=(str(blocks),), **limits)  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", ["module", "component"])
def test_native_wasi_output_past_the_limit_is_cut_and_the_guest_sees_it(
    c_module: Build, c_component: Build, kind: str
) -> None:
    """A guest writing 64 MiB under max_output=1MiB keeps 1 MiB, fails its write, is told so."""
    guest = c_module("spew") if kind == "module" else c_component("spew")
    result = Runtime().run(guest, _spew(1024, max_output=LIMIT))
    assert result.stdout == b"x" * LIMIT
    assert result.truncated == ("stdout",)
    assert result.exit_code != 0  # 3 from a module; a component's run can only fail (1)
    # the pipe takes up to two more blocks (its 64 KiB, and a short write) before it closes
    assert re.match(rb"write failed after 1[678] blocks", result.stderr), result.stderr


def test_virtual_wasi_output_past_the_limit_is_cut(c_component: Build) -> None:
    """The virtual WASI host keeps max_output bytes and closes the stream for the guest."""
    result = wasi.run(Runtime(), c_component("spew"), _spew(1024, max_output=LIMIT))
    assert result.stdout == b"x" * LIMIT
    assert result.truncated == ("stdout",)
    assert result.exit_code != 0
    assert result.stderr.startswith(b"write failed after 16 blocks")


def test_output_under_the_limit_is_whole(c_module: Build) -> None:
    """Output within the limit is kept whole and nothing is marked truncated."""
    result = Runtime().run(c_module("spew"), _spew(16, max_output=LIMIT))
    assert result.stdout == b"x" * (16 * BLOCK)
    assert result.truncated == ()
    assert result.exit_code == 0


def test_the_default_limit_is_16_mib_and_none_means_unlimited(c_module: Build) -> None:
    """Policy() keeps 16 MiB per stream; max_output=None keeps everything."""
    assert Policy().max_output == 16 << 20
    rt = Runtime()
    capped = rt.run(c_module("spew"), _spew(272))  # 17 MiB
    assert len(capped.stdout) == 16 << 20 and capped.truncated == ("stdout",)
    whole = rt.run(c_module("spew"), _spew(272, max_output=None))
    assert len(whole.stdout) == 17 << 20 and whole.truncated == ()


def test_instance_output_is_readable_while_it_lives(c_module: Build) -> None:
    """Instance.stdout and Instance.truncated report what was written so far."""
    rt = Runtime()
    with rt.instantiate(c_module("spew"), _spew(64, max_output=LIMIT)) as inst:
        assert inst.stdout == b""
        with pytest.raises(GuestExit):
            inst.func("_start")()
        assert inst.stdout == b"x" * LIMIT
        assert inst.truncated == ("stdout",)
    assert inst.stdout == b"x" * LIMIT


MEMORY_SCRIPT = """
import sys
from omniwasm import Policy, Runtime

def peak_kib():  # this process's own peak (ru_maxrss keeps the forking parent's across exec)
    return int(next(l for l in open("/proc/self/status") if l.startswith("VmHWM:")).split()[1])

runtime = Runtime()
runtime.run(sys.argv[1], Policy(args=("16",)))  # 1 MiB: the engine and the module loaded
before = peak_kib()
result = runtime.run(sys.argv[1], Policy(args=("32768",)))  # 2 GiB attempted
after = peak_kib()
print(len(result.stdout), (after - before) // 1024)
"""


def test_a_guest_writing_2_gib_costs_the_host_at_most_the_limit(c_module: Build) -> None:
    """Under the default policy a guest trying to write 2 GiB raises peak RSS by < 64 MiB."""
    proc = subprocess.run(
        [sys.executable, "-c", MEMORY_SCRIPT, str(c_module("spew"))],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    kept, grown_mib = map(int, proc.stdout.split())
    assert kept == 16 << 20
    assert grown_mib < 64


def test_policy_files_carry_max_output() -> None:
    """max_output round-trips through TOML and JSON, sizes as text, None as 'unlimited'."""
    for policy in (Policy(max_output="2MiB"), Policy(max_output=None), Policy()):
        assert Policy.from_toml(policy.to_toml()) == policy
        assert Policy.from_json(policy.to_json()) == policy
    assert Policy.from_toml('max_output = "unlimited"\n').max_output is None
    assert Policy.from_json('{"max_output": "64KiB"}').max_output == 64 << 10


def test_plugin_output_past_the_limit_is_a_limit_error() -> None:
    """An Extism output larger than max_output raises LimitExceeded; the plugin stays usable."""
    with Plugin(build_plugin("echo"), policy=Policy(max_output=LIMIT)) as plugin:
        with pytest.raises(LimitExceeded) as info:
            plugin.call("echo", b"y" * (LIMIT + 1))
        assert info.value.limit == LIMIT and info.value.used == LIMIT + 1
        assert plugin.call("echo", b"y" * LIMIT) == b"y" * LIMIT


def test_plugin_logs_past_the_limit_are_dropped_with_one_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Logs past max_output bytes in one call are dropped after a single warning."""
    caplog.set_level(logging.DEBUG - 5, logger="omniwasm.plugins")
    with Plugin(build_plugin("logging"), policy=Policy(max_output=30)) as plugin:
        plugin.call("log_all")
    messages = [r.getMessage() for r in caplog.records]
    assert messages[:2] == ["trace message", "debug message"]
    assert "info message" not in messages
    assert sum("past max_output" in m for m in messages) == 1


def test_cli_plugin_max_output(omniwasm_cli: list[str], tmp_path: Path) -> None:
    """omniwasm plugin --max-output applies to the plugin's output."""
    proc = subprocess.run(
        [
            *omniwasm_cli,
            "plugin",
            "call",
            str(build_plugin("echo")),
            "echo",
            "--input",
            "z" * 2000,
            "--max-output",
            "1KiB",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode != 0
    assert "LimitExceeded" in proc.stderr and "max_output" in proc.stderr
