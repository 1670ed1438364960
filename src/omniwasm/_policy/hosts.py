"""The one matcher of outbound hosts: where a guest's HTTP requests may go.

Every allow-list in omniwasm uses this pattern language: ``Policy.allowed_hosts`` (the
virtual WASI host's ``wasi:http``), an app manifest's ``allowed_outbound_hosts`` and a plugin's
``allowed_hosts``. A pattern is Spin's ``scheme://host[:port]``:

- ``scheme``: ``http``, ``https``, or ``*`` for either;
- ``host``: a host name or IP address, compared case-insensitively, where ``*`` stands for any
  run of characters and ``?`` for one (so ``*.example.com`` is every subdomain of
  ``example.com`` and ``*`` every host); an IPv6 address is written in brackets
  (``http://[::1]:8080``);
- ``port``: a number, a range (``8000-8080``) or ``*``; without a port the scheme's default
  (80 for http, 443 for https) is meant.

A malformed pattern (``example.com`` without a scheme, a port that is not a number) matches
nothing. Extism manifests list bare host globs (``*.example.com``, ``127.0.0.*``), allowed on
any scheme and port: :meth:`HostPattern.from_glob` reads one as ``*://GLOB:*``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["DEFAULT_PORTS", "HostPattern", "host_allowed"]

DEFAULT_PORTS = {"http": 80, "https": 443}
"""The port a pattern without one means, by scheme."""

_PATTERN = re.compile(r"(?P<scheme>[^:/]+)://(?P<host>\[[^\]]*\]|[^:/]*)(?::(?P<port>[^/]*))?/?")


@functools.lru_cache(maxsize=256)
def _host_regex(glob: str) -> re.Pattern[str]:
    body = re.escape(glob).replace(r"\*", ".*").replace(r"\?", ".")
    return re.compile(body, re.DOTALL)


@dataclass(frozen=True, slots=True)
class HostPattern:
    """One parsed ``scheme://host[:port]`` pattern (see the module docstring).

    Args:
        scheme: a lower-case scheme, or ``*``.
        host: a lower-case host glob, without IPv6 brackets.
        port: ``""`` for the scheme's default port, ``*``, a number or a range ``LOW-HIGH``.

    """

    scheme: str
    host: str
    port: str = ""

    @classmethod
    def parse(cls, text: str) -> HostPattern | None:
        """Read ``scheme://host[:port]``; None when ``text`` is not a pattern."""
        m = _PATTERN.fullmatch(text.strip())
        if m is None:
            return None
        return cls(m["scheme"].lower(), m["host"].lower().strip("[]"), m["port"] or "")

    @classmethod
    def from_glob(cls, glob: str) -> HostPattern:
        """An Extism host glob (``*.example.com``), allowed on any scheme and port."""
        return cls("*", glob.strip().lower().strip("[]"), "*")

    def matches(self, scheme: str, host: str, port: int) -> bool:
        """Whether a request to ``scheme://host:port`` is allowed by this pattern."""
        scheme = scheme.lower()
        if self.scheme not in ("*", scheme):
            return False
        if not _host_regex(self.host).fullmatch(host.lower().strip("[]")):
            return False
        return self._port_matches(scheme, port)

    def _port_matches(self, scheme: str, port: int) -> bool:
        spec = self.port
        if spec == "":
            return DEFAULT_PORTS.get(scheme) == port
        if spec == "*":
            return True
        low, sep, high = spec.partition("-")
        try:
            if sep:
                return int(low) <= port <= int(high)
            return int(spec) == port
        except ValueError:
            return False


def host_allowed(patterns: Iterable[str | HostPattern], scheme: str, host: str, port: int) -> bool:
    """Whether a request to ``scheme://host:port`` matches one of ``patterns``.

    Args:
        patterns: ``scheme://host[:port]`` texts (malformed ones match nothing) or parsed
            :class:`HostPattern` objects.
        scheme: ``http`` or ``https``.
        host: the host name or IP address (IPv6 with or without brackets).
        port: the port the request goes to.

    """
    for pattern in patterns:
        parsed = HostPattern.parse(pattern) if isinstance(pattern, str) else pattern
        if parsed is not None and parsed.matches(scheme, host, port):
            return True
    return False
