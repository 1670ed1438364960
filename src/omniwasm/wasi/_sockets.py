"""``wasi:sockets`` under a deny policy: every function present, every request refused.

Creating a TCP or UDP socket returns ``error-code.access-denied`` (the spec's answer when the
host does not grant network access), and resolving a name ``permanent-resolver-failure`` (name
lookup is not an access-checked call in the spec; wasmtime's native WASI answers the same), so
a guest sees a clean error, never a trap and never a hang. ``instance-network`` still hands
out a ``network`` resource (the capability itself grants nothing). The socket resources
cannot be obtained, but their methods are defined with the spec's results all the same:
results are ``access-denied``, queries give neutral values.
"""

from __future__ import annotations

from typing import Any

from .._wit.values import Err
from ._io import Pollable, ReadyPollable

__all__ = ["SOCKET_INTERFACES"]

DENIED = "access-denied"


def _deny(*_args: Any) -> None:
    raise Err(DENIED)


def _no_resolver(*_args: Any) -> None:
    raise Err("permanent-resolver-failure")


class Network:
    """``wasi:sockets/network.network``: the capability; it grants nothing here."""


class _Denied:
    """Methods shared by every socket resource: each refuses."""

    def subscribe(self) -> Pollable:
        return ReadyPollable()


def _methods(names: tuple[str, ...], values: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {name: (lambda self, *a: _deny()) for name in names}
    for name, value in values.items():
        out[name] = lambda self, *a, _v=value: _v
    return out


_TCP_RESULTS = (
    "start_bind", "finish_bind", "start_connect", "finish_connect", "start_listen",
    "finish_listen", "accept", "local_address", "remote_address", "set_listen_backlog_size",
    "keep_alive_enabled", "set_keep_alive_enabled", "keep_alive_idle_time",
    "set_keep_alive_idle_time", "keep_alive_interval", "set_keep_alive_interval",
    "keep_alive_count", "set_keep_alive_count", "hop_limit", "set_hop_limit",
    "receive_buffer_size", "set_receive_buffer_size", "send_buffer_size",
    "set_send_buffer_size", "shutdown",
)  # fmt: skip
_UDP_RESULTS = (
    "start_bind", "finish_bind", "stream", "local_address", "remote_address",
    "unicast_hop_limit", "set_unicast_hop_limit", "receive_buffer_size",
    "set_receive_buffer_size", "send_buffer_size", "set_send_buffer_size",
)  # fmt: skip

TcpSocket = type(
    "TcpSocket",
    (_Denied,),
    _methods(_TCP_RESULTS, {"is_listening": False, "address_family": "ipv4"}),
)
UdpSocket = type("UdpSocket", (_Denied,), _methods(_UDP_RESULTS, {"address_family": "ipv4"}))
IncomingDatagramStream = type("IncomingDatagramStream", (_Denied,), _methods(("receive",), {}))
OutgoingDatagramStream = type(
    "OutgoingDatagramStream", (_Denied,), _methods(("check_send", "send"), {})
)
ResolveAddressStream = type(
    "ResolveAddressStream", (_Denied,), _methods(("resolve_next_address",), {})
)

SOCKET_INTERFACES: dict[str, dict[str, Any]] = {
    "wasi:sockets/network": {"network": Network, "network_error_code": lambda err: None},
    "wasi:sockets/instance-network": {"instance_network": Network},
    "wasi:sockets/tcp-create-socket": {"create_tcp_socket": _deny},
    "wasi:sockets/udp-create-socket": {"create_udp_socket": _deny},
    "wasi:sockets/ip-name-lookup": {
        "resolve_addresses": _no_resolver,
        "resolve_address_stream": ResolveAddressStream,
    },
    "wasi:sockets/tcp": {"tcp_socket": TcpSocket},
    "wasi:sockets/udp": {
        "udp_socket": UdpSocket,
        "incoming_datagram_stream": IncomingDatagramStream,
        "outgoing_datagram_stream": OutgoingDatagramStream,
    },
}
"""Member definitions of every ``wasi:sockets`` interface, for ``Linker.define``."""
