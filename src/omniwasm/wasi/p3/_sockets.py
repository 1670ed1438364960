"""``wasi:sockets`` 0.3 on the virtual host: real TCP and UDP through asyncio, allow-listed.

Deny by default: creating a TCP (UDP) socket is ``access-denied`` unless the policy allows some
TCP (UDP) address, as wasmtime without ``-S inherit-network``; and every address a guest
binds, connects or sends to must match a ``tcp://HOST:PORT`` or ``udp://HOST:PORT`` pattern of
``Policy.allowed_hosts`` (the pattern language of :mod:`omniwasm._policy.hosts`: ``*`` globs,
port ranges; the port is required, ``tcp://127.0.0.1:*`` is loopback on any port), else the
call fails with ``access-denied``. Patterns of other schemes (``http``, ``*``) grant no
sockets. A name resolves only when a ``tcp``/``udp`` pattern's host matches it.

The sockets are the host's own, non-blocking, driven by the event loop the guest's host calls
run on (``loop.sock_*``): a stream the guest reads from ``receive`` is fed as the peer sends,
``send`` drains the guest's stream into the socket and then shuts the write side down, as the
0.3 WIT says. Errors are the WIT ``error-code`` cases; a socket is closed when the guest
drops it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import errno
import ipaddress
import socket
from collections.abc import Callable, Mapping
from typing import Any

from ..._component import host_data
from ..._policy.hosts import HostPattern
from ..._wit.values import Err, Ok, Variant

__all__ = ["SOCKET_INTERFACES", "TcpSocket", "UdpSocket"]

CHUNK = 64 << 10
"""Bytes received per read of a TCP stream."""

_MAX_DATAGRAM = 65535

_ERRNO = {
    errno.EACCES: "access-denied",
    errno.EPERM: "access-denied",
    errno.EADDRINUSE: "address-in-use",
    errno.EADDRNOTAVAIL: "address-not-bindable",
    errno.ECONNREFUSED: "connection-refused",
    errno.ECONNRESET: "connection-reset",
    errno.ECONNABORTED: "connection-aborted",
    errno.EPIPE: "connection-broken",
    errno.ENETUNREACH: "remote-unreachable",
    errno.EHOSTUNREACH: "remote-unreachable",
    errno.ETIMEDOUT: "timeout",
    errno.EINVAL: "invalid-argument",
    errno.EISCONN: "invalid-state",
    errno.EMSGSIZE: "datagram-too-large",
    errno.ENOMEM: "out-of-memory",
    errno.EAFNOSUPPORT: "not-supported",
}


def _code(exc: OSError) -> Variant:
    """The WIT ``error-code`` of an OS error (``other`` with its text when unmapped)."""
    code = _ERRNO.get(exc.errno or 0)
    return Variant(code, None) if code else Variant("other", exc.strerror or str(exc))


def _patterns(kind: str) -> list[HostPattern]:
    policy = host_data().policy
    out = []
    for text in policy.allowed_hosts:
        parsed = HostPattern.parse(text)
        if parsed is not None and parsed.scheme == kind:
            out.append(parsed)
    return out


def _check(kind: str, host: str, port: int) -> None:
    """Refuse an address no ``kind://`` pattern allows (``access-denied``)."""
    if not any(p.matches(kind, host, port) for p in _patterns(kind)):
        raise Err(Variant("access-denied", None))


def _get(record: Any, name: str) -> Any:
    if isinstance(record, Mapping):
        return record[name]
    return getattr(record, name.replace("-", "_"))


def _address(value: Any) -> tuple[str, tuple[Any, ...]]:
    """An ``ip-socket-address`` as ``(host text, sockaddr)``."""
    case = value.case if isinstance(value, Variant) else value.tag
    body = value.value if isinstance(value, Variant) else value.payload
    port = int(_get(body, "port"))
    parts = _get(body, "address")
    if case == "ipv4":
        host = ".".join(str(int(p)) for p in parts)
        return host, (host, port)
    host = str(ipaddress.IPv6Address(b"".join(int(p).to_bytes(2, "big") for p in parts)))
    return host, (host, port, int(_get(body, "flow-info")), int(_get(body, "scope-id")))


def _socket_address(sockaddr: tuple[Any, ...]) -> Variant:
    """A ``sockaddr`` as an ``ip-socket-address``."""
    ip = ipaddress.ip_address(sockaddr[0])
    if isinstance(ip, ipaddress.IPv4Address):
        return Variant("ipv4", {"port": sockaddr[1], "address": tuple(ip.packed)})
    words = _words(ip.packed)
    return Variant(
        "ipv6",
        {"port": sockaddr[1], "flow-info": sockaddr[2], "address": words, "scope-id": sockaddr[3]},
    )


def _ip_address(text: str) -> Variant:
    ip = ipaddress.ip_address(text)
    if isinstance(ip, ipaddress.IPv4Address):
        return Variant("ipv4", tuple(ip.packed))
    return Variant("ipv6", _words(ip.packed))


def _words(packed: bytes) -> tuple[int, ...]:
    """An IPv6 address's 16 bytes as its eight 16-bit words."""
    return tuple(int.from_bytes(packed[i : i + 2], "big") for i in range(0, 16, 2))


def _family(value: Any) -> str:
    name = str(getattr(value, "name", value)).lower().replace("_", "-")
    if name not in ("ipv4", "ipv6"):
        raise Err(Variant("invalid-argument", None))
    return name


class _Socket:
    """What TCP and UDP sockets share: the host socket, its family, its addresses."""

    kind = ""

    def __init__(self, family: str, sock: socket.socket) -> None:
        self.family = family
        self.sock = sock
        sock.setblocking(False)

    def _family_of(self, sockaddr: tuple[Any, ...]) -> None:
        if (len(sockaddr) == 2) != (self.family == "ipv4"):
            raise Err(Variant("invalid-argument", None))

    def bind(self, local_address: Any) -> None:
        """``bind``: to an address the policy allows."""
        host, sockaddr = _address(local_address)
        self._family_of(sockaddr)
        _check(self.kind, host, sockaddr[1])
        try:
            self.sock.bind(sockaddr)
        except OSError as exc:
            raise Err(_code(exc)) from None

    def get_local_address(self) -> Variant:
        try:
            return _socket_address(self.sock.getsockname())
        except OSError as exc:
            raise Err(_code(exc)) from None

    def get_remote_address(self) -> Variant:
        try:
            return _socket_address(self.sock.getpeername())
        except OSError:
            raise Err(Variant("invalid-state", None)) from None

    def get_address_family(self) -> str:
        return self.family

    def get_receive_buffer_size(self) -> int:
        return int(self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF))

    def set_receive_buffer_size(self, value: int) -> None:
        self._setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, value)

    def get_send_buffer_size(self) -> int:
        return int(self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF))

    def set_send_buffer_size(self, value: int) -> None:
        self._setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, value)

    def _setsockopt(self, level: int, name: int, value: int) -> None:
        if value <= 0:
            raise Err(Variant("invalid-argument", None))
        try:
            self.sock.setsockopt(level, name, min(int(value), 1 << 30))
        except OSError as exc:
            raise Err(_code(exc)) from None

    def close(self) -> None:
        """Dropped by the guest: close the host socket."""
        self.sock.close()


class TcpSocket(_Socket):
    """``wasi:sockets/types.tcp-socket`` of WASI 0.3 over a host TCP socket."""

    kind = "tcp"

    def __init__(self, family: str, sock: socket.socket | None = None) -> None:
        af = socket.AF_INET if family == "ipv4" else socket.AF_INET6
        super().__init__(family, sock or socket.socket(af, socket.SOCK_STREAM))
        self.listening = False
        self.backlog = 128
        self._stop_accepting: Callable[[], Any] | None = None

    @staticmethod
    def create(address_family: Any) -> TcpSocket:
        """``create``: ``access-denied`` unless the policy allows some TCP address."""
        family = _family(address_family)
        if not _patterns("tcp"):
            raise Err(Variant("access-denied", None))
        return TcpSocket(family)

    def connect(self, remote_address: Any) -> Any:
        """``connect``: to an address the policy allows (checked before any I/O)."""
        host, sockaddr = _address(remote_address)
        self._family_of(sockaddr)
        _check("tcp", host, sockaddr[1])
        if self.listening:
            raise Err(Variant("invalid-state", None))
        return self._connect(sockaddr)

    async def _connect(self, sockaddr: tuple[Any, ...]) -> None:
        try:
            await asyncio.get_running_loop().sock_connect(self.sock, sockaddr)
        except OSError as exc:
            raise Err(_code(exc)) from None

    def listen(self) -> Any:
        """``listen``: the stream of accepted connections (needs an allowed ``bind``)."""
        try:
            self.sock.getsockname()
            self.sock.listen(self.backlog)
        except OSError as exc:
            raise Err(_code(exc)) from None
        self.listening = True
        return self._accepting()

    async def _accepting(self) -> Any:
        loop = asyncio.get_running_loop()
        closing = loop.create_future()
        self._stop_accepting = lambda: loop.call_soon_threadsafe(_settle, closing)
        try:
            while True:
                accept = asyncio.ensure_future(loop.sock_accept(self.sock))
                await asyncio.wait({accept, closing}, return_when=asyncio.FIRST_COMPLETED)
                if not accept.done():  # dropped: stop waiting on its socket, on this loop
                    accept.cancel()
                    with contextlib.suppress(asyncio.CancelledError, OSError):
                        await accept
                    return
                try:
                    conn, _ = accept.result()
                except OSError:
                    return
                yield [TcpSocket(self.family, conn)]  # a stream's chunks are lists of elements
        finally:
            self._stop_accepting = None
            if closing.done():
                self.sock.close()

    def close(self) -> None:
        """Dropped by the guest: close the host socket (after its accept loop lets go of it)."""
        stop = self._stop_accepting
        if stop is None:
            self.sock.close()
            return
        try:
            stop()  # the accept loop closes the socket once it stopped waiting on it
        except RuntimeError:  # its loop is closed already
            self.sock.close()

    def send(self, data: Any) -> Any:
        """``send``: drain the guest's stream into the socket, then shut the write side."""
        return self._send(data)

    async def _send(self, data: Any) -> Ok | Err:
        loop = asyncio.get_running_loop()
        try:
            async for chunk in data:
                await loop.sock_sendall(self.sock, bytes(chunk))
            self.sock.shutdown(socket.SHUT_WR)
        except OSError as exc:
            return Err(_code(exc))
        return Ok(None)

    def receive(self) -> tuple[Any, Any]:
        """``receive``: what the peer sends as a stream, and the future of its end."""
        reader = _Received(self.sock)
        return reader, reader.result

    def get_is_listening(self) -> bool:
        return self.listening

    def set_listen_backlog_size(self, value: int) -> None:
        if value <= 0:
            raise Err(Variant("invalid-argument", None))
        self.backlog = min(int(value), 4096)
        if self.listening:
            self.sock.listen(self.backlog)

    def get_keep_alive_enabled(self) -> bool:
        return bool(self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE))

    def set_keep_alive_enabled(self, value: bool) -> None:
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, int(bool(value)))

    def get_keep_alive_idle_time(self) -> int:
        return int(self.sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE)) * 10**9

    def set_keep_alive_idle_time(self, value: int) -> None:
        self._setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, max(1, int(value) // 10**9))

    def get_keep_alive_interval(self) -> int:
        return int(self.sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL)) * 10**9

    def set_keep_alive_interval(self, value: int) -> None:
        self._setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, max(1, int(value) // 10**9))

    def get_keep_alive_count(self) -> int:
        return int(self.sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT))

    def set_keep_alive_count(self, value: int) -> None:
        self._setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, value)

    def get_hop_limit(self) -> int:
        if self.family == "ipv4":
            return int(self.sock.getsockopt(socket.IPPROTO_IP, socket.IP_TTL))
        return int(self.sock.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS))

    def set_hop_limit(self, value: int) -> None:
        if self.family == "ipv4":
            self._setsockopt(socket.IPPROTO_IP, socket.IP_TTL, value)
        else:
            self._setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, value)


class _Received:
    """A TCP socket's incoming bytes as chunks; ``result`` resolves when they end."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self.result: concurrent.futures.Future[Any] = concurrent.futures.Future()

    def __aiter__(self) -> _Received:
        return self

    async def __anext__(self) -> bytes:
        if self.result.done():
            raise StopAsyncIteration
        try:
            data: bytes = await asyncio.get_running_loop().sock_recv(self._sock, CHUNK)
        except OSError as exc:
            self._end(Err(_code(exc)))
            raise StopAsyncIteration from None
        if not data:
            self._end(Ok(None))
            raise StopAsyncIteration
        return data

    async def aclose(self) -> None:
        """The guest dropped the stream: receiving ends without an error."""
        self._end(Ok(None))

    def _end(self, outcome: Any) -> None:
        if not self.result.done():
            self.result.set_result(outcome)


class UdpSocket(_Socket):
    """``wasi:sockets/types.udp-socket`` of WASI 0.3 over a host UDP socket."""

    kind = "udp"

    def __init__(self, family: str) -> None:
        af = socket.AF_INET if family == "ipv4" else socket.AF_INET6
        super().__init__(family, socket.socket(af, socket.SOCK_DGRAM))
        self.remote: tuple[Any, ...] | None = None

    @staticmethod
    def create(address_family: Any) -> UdpSocket:
        """``create``: ``access-denied`` unless the policy allows some UDP address."""
        family = _family(address_family)
        if not _patterns("udp"):
            raise Err(Variant("access-denied", None))
        return UdpSocket(family)

    def connect(self, remote_address: Any) -> None:
        """``connect``: fix the peer (an address the policy allows)."""
        host, sockaddr = _address(remote_address)
        self._family_of(sockaddr)
        _check("udp", host, sockaddr[1])
        try:
            self.sock.connect(sockaddr)
        except OSError as exc:
            raise Err(_code(exc)) from None
        self.remote = sockaddr

    def disconnect(self) -> None:
        """``disconnect``: forget the peer (a fresh socket on the same local address)."""
        if self.remote is None:
            raise Err(Variant("invalid-state", None))
        local = self.sock.getsockname()
        self.sock.close()
        af = socket.AF_INET if self.family == "ipv4" else socket.AF_INET6
        self.sock = socket.socket(af, socket.SOCK_DGRAM)
        self.sock.setblocking(False)
        self.remote = None
        try:
            self.sock.bind(local)
        except OSError as exc:
            raise Err(_code(exc)) from None

    def send(self, data: Any, remote_address: Any) -> Any:
        """``send``: one datagram, to ``remote-address`` or the connected peer."""
        if len(data) > _MAX_DATAGRAM:
            raise Err(Variant("datagram-too-large", None))
        if remote_address is None:
            if self.remote is None:
                raise Err(Variant("invalid-argument", None))
            return self._send(bytes(data), None)
        host, sockaddr = _address(remote_address)
        self._family_of(sockaddr)
        _check("udp", host, sockaddr[1])
        if self.remote is not None and sockaddr[:2] != self.remote[:2]:
            raise Err(Variant("invalid-argument", None))
        return self._send(bytes(data), sockaddr)

    async def _send(self, data: bytes, sockaddr: tuple[Any, ...] | None) -> None:
        loop = asyncio.get_running_loop()
        try:
            if sockaddr is None:
                await loop.sock_sendall(self.sock, data)
            else:
                await loop.sock_sendto(self.sock, data, sockaddr)
        except OSError as exc:
            raise Err(_code(exc)) from None

    async def receive(self) -> tuple[bytes, Variant]:
        """``receive``: the next datagram and its sender (needs a bound or connected socket)."""
        try:
            self.sock.getsockname()
            data, sender = await asyncio.get_running_loop().sock_recvfrom(self.sock, _MAX_DATAGRAM)
        except OSError as exc:
            raise Err(_code(exc)) from None
        return bytes(data), _socket_address(sender)

    def get_unicast_hop_limit(self) -> int:
        if self.family == "ipv4":
            return int(self.sock.getsockopt(socket.IPPROTO_IP, socket.IP_TTL))
        return int(self.sock.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS))

    def set_unicast_hop_limit(self, value: int) -> None:
        if self.family == "ipv4":
            self._setsockopt(socket.IPPROTO_IP, socket.IP_TTL, value)
        else:
            self._setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, value)


def _settle(fut: asyncio.Future[Any]) -> None:
    if not fut.done():
        fut.set_result(None)


def _resolve_addresses(name: str) -> Any:
    """``resolve-addresses``: only names a ``tcp``/``udp`` pattern's host matches."""
    allowed = [*_patterns("tcp"), *_patterns("udp")]
    if not any(HostPattern(p.scheme, p.host, "*").matches(p.scheme, name, 0) for p in allowed):
        raise Err(Variant("access-denied", None))
    return _resolve(name)


async def _resolve(name: str) -> list[Variant]:
    try:
        return [_ip_address(name)]
    except ValueError:
        pass
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(name, None)
    except socket.gaierror:
        raise Err(Variant("name-unresolvable", None)) from None
    seen: list[str] = []
    for info in infos:
        host = str(info[4][0])
        if host not in seen:
            seen.append(host)
    return [_ip_address(h) for h in seen]


SOCKET_INTERFACES: dict[str, dict[str, Any]] = {
    "wasi:sockets/types": {"tcp_socket": TcpSocket, "udp_socket": UdpSocket},
    "wasi:sockets/ip-name-lookup": {"resolve_addresses": _resolve_addresses},
}
"""Member definitions of the ``wasi:sockets`` 0.3 interfaces, for ``Linker.define``."""
