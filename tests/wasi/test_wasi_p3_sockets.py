"""wasi:sockets 0.3: real TCP and UDP on loopback for a componentize-py 0.25 WASI 0.3 guest.

The guest (``tests/fixtures/python/p3sock``) sends a line over TCP and a datagram over UDP to
echo servers on 127.0.0.1 and prints what comes back, or the error-code of the step that
failed. Sockets are denied by default; ``-S inherit-network`` (as wasmtime) or ``tcp://`` /
``udp://`` patterns in ``Policy.allowed_hosts`` allow them. wasmtime 49 prints the same.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import omniwasm
from fixtures.bounded import bounded_call
from fixtures.echo_servers import EchoServers
from omniwasm.wasi import p3

LIMIT = 300.0  # a fresh process compiles the guest's 18 MB of core modules
FLAGS = ["run", "-Sp3", "-W", "component-model-async=y"]
ECHOED = """\
tcp peer: True
tcp sent: ok
tcp echo: b'ping over tcp\\n' ok
udp echo: b'ping over udp' from port True
"""
DENIED = "tcp connect: AccessDenied\nudp: AccessDenied\n"


@pytest.fixture(scope="module")
def guest(py_guest: Callable[[str], Path]) -> Path:
    """The guest, built with componentize-py (cached by source hash)."""
    return py_guest("p3sock")


@pytest.fixture
def servers() -> Iterator[EchoServers]:
    """TCP and UDP echo servers on 127.0.0.1."""
    with EchoServers() as running:
        yield running


def _ports(servers: EchoServers) -> list[str]:
    return [str(servers.tcp_port), str(servers.udp_port)]


def _run(cmd: list[str]) -> tuple[int, str]:
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=LIMIT, check=False)
    return run.returncode, run.stdout


def test_sockets_are_denied_by_default(
    omniwasm_cli: list[str], guest: Path, servers: EchoServers
) -> None:
    """Without a grant, creating a TCP or UDP socket is access-denied."""
    assert _run([*omniwasm_cli, *FLAGS, str(guest), *_ports(servers)]) == (0, DENIED)


def test_inherit_network_reaches_loopback_servers(
    omniwasm_cli: list[str], guest: Path, servers: EchoServers
) -> None:
    """``-S inherit-network`` gives real TCP and UDP: both echoes come back."""
    cmd = [*omniwasm_cli, *FLAGS, "-S", "inherit-network", str(guest), *_ports(servers)]
    assert _run(cmd) == (0, ECHOED)


@pytest.mark.reference
def test_wasmtime_prints_the_same(
    reference_wasmtime: str, guest: Path, servers: EchoServers
) -> None:
    """wasmtime 49 prints the same, denied by default and with ``-S inherit-network``."""
    ports = _ports(servers)
    assert _run([reference_wasmtime, *FLAGS, str(guest), *ports]) == (0, DENIED)
    cmd = [reference_wasmtime, *FLAGS, "-Sinherit-network", str(guest), *ports]
    assert _run(cmd) == (0, ECHOED)


def _run_api(guest: Path, servers: EchoServers, *hosts: str) -> str:
    policy = omniwasm.Policy(args=_ports(servers), allowed_hosts=hosts, timeout=60)

    def run() -> omniwasm.RunResult:
        return p3.run(omniwasm.Runtime(), guest, policy)

    result = bounded_call(run, limit=LIMIT)
    assert result.exit_code == 0
    return str(result.stdout.decode())


def test_allow_list_grants_exactly_the_listed_addresses(guest: Path, servers: EchoServers) -> None:
    """A ``tcp://`` pattern for another port refuses the connect; ``udp://`` lets UDP through."""
    out = _run_api(guest, servers, f"tcp://127.0.0.1:{servers.tcp_port + 1}", "udp://127.0.0.1:*")
    assert out == "tcp connect: AccessDenied\nudp echo: b'ping over udp' from port True\n"


def test_allow_list_patterns_of_other_schemes_grant_no_sockets(
    guest: Path, servers: EchoServers
) -> None:
    """``*://`` and ``http://`` patterns (HTTP grants) do not open sockets."""
    assert _run_api(guest, servers, "*://127.0.0.1:*", "http://127.0.0.1:*") == DENIED


def test_allow_list_for_both_protocols_echoes(guest: Path, servers: EchoServers) -> None:
    """``tcp://127.0.0.1:PORT`` and ``udp://127.0.0.1:*`` through the Python API: both echo."""
    out = _run_api(guest, servers, f"tcp://127.0.0.1:{servers.tcp_port}", "udp://127.0.0.1:*")
    assert out == ECHOED
