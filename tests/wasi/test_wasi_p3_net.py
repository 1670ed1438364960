"""wasi:sockets 0.3 listen/accept, connected UDP, IPv6 loopback and name lookup.

The guest (``tests/fixtures/python/p3net``) listens on loopback and accepts a connection it
makes itself (``ping`` -> ``pong:ping``), sends between two UDP sockets one of which is
connected and then disconnected, and resolves names; one line per step. wasmtime 49 (``-Sp3
-Sinherit-network -Sallow-ip-name-lookup``) prints the same.
"""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

import omniwasm
from fixtures.bounded import bounded_call
from omniwasm.wasi import p3

LIMIT = 300.0  # a fresh process compiles the guest's 18 MB of core modules
FLAGS = ["run", "-Sp3", "-W", "component-model-async=y"]
TCP = "listening=True accepted-peer-is-client=True answer=b'pong:ping'"
UDP = "connected=True b-got=b'one' from-a=True a-got=b'two:one' after-disconnect=InvalidArgument"


def _has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


IPV6 = pytest.mark.skipif(not _has_ipv6_loopback(), reason="no IPv6 loopback on this machine")


@pytest.fixture(scope="module")
def guest(py_guest: Callable[[str], Path]) -> Path:
    """The guest, built with componentize-py (cached by source hash)."""
    return py_guest("p3net")


def _run(cmd: list[str]) -> tuple[int, list[str]]:
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=LIMIT, check=False)
    return run.returncode, run.stdout.splitlines()


def test_tcp_listen_accepts_and_udp_connects_on_ipv4(omniwasm_cli: list[str], guest: Path) -> None:
    """With ``-S inherit-network`` a listener accepts and echoes; a connected UDP socket talks."""
    cmd = [*omniwasm_cli, *FLAGS, "-S", "inherit-network", str(guest), "tcp4", "udp4"]
    assert _run(cmd) == (0, [f"tcp4 {TCP}", f"udp4 {UDP}"])


@IPV6
def test_ipv6_loopback_listens_and_connects(omniwasm_cli: list[str], guest: Path) -> None:
    """The same TCP and UDP exchanges work on ::1."""
    cmd = [*omniwasm_cli, *FLAGS, "-S", "inherit-network", str(guest), "tcp6", "udp6"]
    assert _run(cmd) == (0, [f"tcp6 {TCP}", f"udp6 {UDP}"])


def test_name_lookup_resolves_localhost_and_literals(omniwasm_cli: list[str], guest: Path) -> None:
    """``localhost`` resolves to loopback; an address literal resolves to itself."""
    cmd = [*omniwasm_cli, *FLAGS, "-S", "inherit-network", str(guest), "lookup:localhost"]
    code, lines = _run([*cmd, "lookup:127.0.0.1"])
    assert code == 0
    assert "127.0.0.1" in lines[0].split()[1:]
    assert lines[1] == "lookup:127.0.0.1 127.0.0.1"


@pytest.mark.reference
def test_wasmtime_prints_the_same(
    reference_wasmtime: str, omniwasm_cli: list[str], guest: Path
) -> None:
    """wasmtime 49 prints the same lines for every step, IPv6 included where the host has it."""
    ops = ["tcp4", "udp4", "lookup:localhost", "lookup:127.0.0.1"]
    if _has_ipv6_loopback():
        ops += ["tcp6", "udp6"]
    ours = _run([*omniwasm_cli, *FLAGS, "-S", "inherit-network", str(guest), *ops])
    flags = "-Sinherit-network,allow-ip-name-lookup"
    assert _run([reference_wasmtime, *FLAGS, flags, str(guest), *ops]) == ours


def _run_api(guest: Path, ops: list[str], *hosts: str) -> list[str]:
    policy = omniwasm.Policy(args=ops, allowed_hosts=hosts, timeout=60)

    def run() -> omniwasm.RunResult:
        return p3.run(omniwasm.Runtime(), guest, policy)

    result = bounded_call(run, limit=LIMIT)
    assert result.exit_code == 0
    return str(result.stdout.decode()).splitlines()


OPS = ["tcp4", "udp4", "lookup:localhost", "lookup:127.0.0.1"]


def test_everything_is_denied_by_default(guest: Path) -> None:
    """Without a grant, sockets and name lookups are access-denied."""
    assert _run_api(guest, OPS) == [f"{op} error AccessDenied" for op in OPS]


def test_a_tcp_pattern_grants_listening_and_lookups_of_its_host_only(guest: Path) -> None:
    """``tcp://127.0.0.1:*`` lets the listener work and resolves only its own host."""
    assert _run_api(guest, OPS, "tcp://127.0.0.1:*") == [
        f"tcp4 {TCP}",
        "udp4 error AccessDenied",
        "lookup:localhost error AccessDenied",
        "lookup:127.0.0.1 127.0.0.1",
    ]
