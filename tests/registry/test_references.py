"""Versions, ranges and references: the syntax users write, parsed as documented."""

from __future__ import annotations

import pytest

from omniwasm.registry import (
    InvalidReference,
    PackageSpec,
    Reference,
    Version,
    VersionRange,
    max_satisfying,
    parse_reference,
)
from omniwasm.registry.reference import is_loopback

TAGS = [
    "0.1.0",
    "0.1.5",
    "0.2.0",
    "1.0.0",
    "1.2.0",
    "1.2.7",
    "1.3.0-rc.1",
    "1.10.0",
    "2.0.0-beta",
    "2.0.0",
    "latest",
    "v3.0.0",
]


def test_versions_order_by_semver_precedence() -> None:
    """Pre-releases sort before their release, numeric identifiers numerically."""
    texts = [
        "1.0.0",
        "1.0.0-alpha",
        "1.0.0-alpha.1",
        "1.0.0-alpha.beta",
        "1.0.0-beta",
        "1.0.0-beta.2",
        "1.0.0-beta.11",
        "1.0.0-rc.1",
        "0.9.9",
        "1.10.0",
        "1.2.0",
    ]
    ordered = sorted((Version.parse(t) for t in texts), key=lambda v: v._key())
    assert [str(v) for v in ordered] == [
        "0.9.9",
        "1.0.0-alpha",
        "1.0.0-alpha.1",
        "1.0.0-alpha.beta",
        "1.0.0-beta",
        "1.0.0-beta.2",
        "1.0.0-beta.11",
        "1.0.0-rc.1",
        "1.0.0",
        "1.2.0",
        "1.10.0",
    ]


@pytest.mark.parametrize(
    ("requirement", "expected"),
    [
        ("^1.2", "1.10.0"),
        ("^1.2.7", "1.10.0"),
        ("~1.2", "1.2.7"),
        ("~1.2.3", "1.2.7"),
        ("^0.1", "0.1.5"),
        ("^0.1.2", "0.1.5"),
        (">=1.0, <1.3", "1.2.7"),
        (">=1.0 <1.3", "1.2.7"),
        ("1.2", "1.2.7"),
        ("1.x", "1.10.0"),
        ("1.2.*", "1.2.7"),
        ("*", "3.0.0"),
        ("1.2.0", "1.2.0"),
        ("=1.2", "1.2.7"),
        (">1.2", "3.0.0"),
        ("<=1.2", "1.2.7"),
        ("^1.3.0-rc.0", "1.10.0"),
        ("~1.3.0-rc.0", "1.3.0-rc.1"),
        ("^2", "2.0.0"),
        ("^4", None),
        (None, "3.0.0"),
    ],
)
def test_max_satisfying_picks_the_highest_match(
    requirement: str | None, expected: str | None
) -> None:
    """A range resolves to its highest matching tag; pre-releases only when named."""
    found = max_satisfying(TAGS, requirement)
    assert (found.lstrip("v") if found else None) == expected


def test_a_range_never_picks_up_a_prerelease_of_another_version() -> None:
    """``^1.2`` does not match ``2.0.0-beta`` nor ``1.3.0-rc.1``."""
    r = VersionRange.parse("^1.2")
    assert not r.matches(Version.parse("1.3.0-rc.1"))
    assert not r.matches(Version.parse("2.0.0-beta"))
    assert r.matches(Version.parse("1.9.9"))


@pytest.mark.parametrize("bad", ["", "^", "1.2.3.4", "abc", ">=x.1", "^1.2-rc", "~>1.0"])
def test_malformed_ranges_are_rejected(bad: str) -> None:
    """A malformed range raises ValueError, never matches everything."""
    with pytest.raises(ValueError, match=r"range|version"):
        VersionRange.parse(bad)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:5000/demo/hello:1.0.0", Reference("127.0.0.1:5000", "demo/hello", "1.0.0")),
        ("oci://ghcr.io/acme/tool:v2", Reference("ghcr.io", "acme/tool", "v2")),
        ("localhost/app", Reference("localhost", "app", "latest")),
        (
            "registry.example.com/a/b/c@sha256:" + "ab" * 32,
            Reference("registry.example.com", "a/b/c", None, "sha256:" + "ab" * 32),
        ),
        (
            "host.io:443/x:1@sha256:" + "00" * 32,
            Reference("host.io:443", "x", "1", "sha256:" + "00" * 32),
        ),
        ("[::1]:5000/app:1", Reference("[::1]:5000", "app", "1")),
        ("wasi:http@0.2.0", PackageSpec("wasi", "http", "0.2.0")),
        ("acme:my-tool@^1.2", PackageSpec("acme", "my-tool", "^1.2")),
        ("acme:tool", PackageSpec("acme", "tool", None)),
    ],
)
def test_references_parse(text: str, expected: Reference | PackageSpec) -> None:
    """Both forms parse into their parts, with ``latest`` as the default tag."""
    assert parse_reference(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "demo/hello:1",  # no registry host
        "127.0.0.1:5000/Demo:1",  # uppercase repository
        "127.0.0.1:5000/demo@sha256:1234",  # short digest
        "127.0.0.1:5000/demo@md5:" + "0" * 32,
        "127.0.0.1:5000/demo:bad tag",
        "Acme:tool@1.0.0",
        "acme:tool@not-a-version",
        "hello.wasm",
        "x" * 5000,
    ],
)
def test_malformed_references_name_themselves(text: str) -> None:
    """A malformed reference raises InvalidReference carrying the text."""
    with pytest.raises(InvalidReference) as info:
        parse_reference(text)
    assert info.value.reference[:40] == text[:40]


def test_references_print_back() -> None:
    """``str()`` of a parsed reference is the canonical text."""
    for text in ["127.0.0.1:5000/demo/hello:1.0.0", "acme:tool@^1.2", "acme:tool"]:
        assert str(parse_reference(text)) == text


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("localhost", True),
        ("localhost:5000", True),
        ("127.0.0.1:5000", True),
        ("127.5.5.5", True),
        ("[::1]:5000", True),
        ("ghcr.io", False),
        ("10.0.0.1:5000", False),
        ("127.0.0.1.evil.com", False),
    ],
)
def test_loopback_detection(host: str, loopback: bool) -> None:
    """Only this machine's addresses count as loopback (plain HTTP allowed)."""
    assert is_loopback(host) is loopback
