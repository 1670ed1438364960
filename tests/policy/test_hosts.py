"""The one pattern language of allowed outbound hosts (_policy/hosts.py)."""

from __future__ import annotations

import pytest

from omniwasm._policy import HostPattern, host_allowed


@pytest.mark.parametrize(
    ("pattern", "target", "allowed"),
    [
        ("http://127.0.0.1:*", ("http", "127.0.0.1", 8080), True),
        ("http://127.0.0.1:*", ("https", "127.0.0.1", 8080), False),
        ("*://127.0.0.1:*", ("https", "127.0.0.1", 1), True),
        ("https://example.com", ("https", "example.com", 443), True),
        ("https://example.com", ("https", "example.com", 8443), False),
        ("https://EXAMPLE.com/", ("https", "example.COM", 443), True),
        ("https://*.example.com", ("https", "api.example.com", 443), True),
        ("https://*.example.com", ("https", "a.b.example.com", 443), True),
        ("https://*.example.com", ("https", "example.com", 443), False),
        ("https://*.example.com", ("https", "evilexample.com", 443), False),
        ("https://api-?.example.com", ("https", "api-2.example.com", 443), True),
        ("http://*:8000-8080", ("http", "anything", 8080), True),
        ("http://*:8000-8080", ("http", "anything", 8081), False),
        ("http://[::1]:*", ("http", "::1", 80), True),
        ("example.com", ("https", "example.com", 443), False),
        ("http://h:notaport", ("http", "h", 80), False),
    ],
)
def test_host_patterns(pattern: str, target: tuple[str, str, int], allowed: bool) -> None:
    """scheme://host[:port] patterns: wildcards, subdomains, default ports, ranges, IPv6."""
    assert host_allowed([pattern], *target) is allowed


@pytest.mark.parametrize(
    ("glob", "target", "allowed"),
    [
        ("127.0.0.1", ("http", "127.0.0.1", 8080), True),
        ("127.*", ("https", "127.0.0.1", 1), True),
        ("*.example.com", ("http", "api.example.com", 80), True),
        ("*.example.com", ("http", "example.com", 80), False),
        ("API.example.com", ("https", "api.EXAMPLE.com", 443), True),
    ],
)
def test_extism_globs_mean_any_scheme_and_port(
    glob: str, target: tuple[str, str, int], allowed: bool
) -> None:
    """An Extism host glob is the pattern *://GLOB:* of the same language."""
    pattern = HostPattern.from_glob(glob)
    assert pattern == HostPattern("*", glob.lower(), "*")
    assert pattern.matches(*target) is allowed
