"""Spin-style HTTP routes: exact, trailing and single-segment wildcards, Spin's precedence."""

from __future__ import annotations

import pytest

import omniwasm
from omniwasm.gateway._routes import Route, Router

ROUTER = Router(
    [
        ("/...", "fallback"),
        ("/cart", "cart"),
        ("/cart/checkout", "checkout"),
        ("/static/...", "static"),
        ("/users/:id", "user"),
        ("/users/:id/...", "user-tree"),
        ("/users/me", "me"),
        ("/users/...", "users-any"),
    ]
)


@pytest.mark.parametrize(
    ("path", "target", "params", "info"),
    [
        ("/cart", "cart", {}, ""),
        ("/cart/", "cart", {}, ""),
        ("/cart/checkout", "checkout", {}, ""),
        ("/cart/other", "fallback", {}, "/cart/other"),
        ("/static", "static", {}, ""),
        ("/static/css/site.css", "static", {}, "/css/site.css"),
        ("/users/me", "me", {}, ""),
        ("/users/42", "user", {"id": "42"}, ""),
        ("/users/42/posts/7", "user-tree", {"id": "42"}, "/posts/7"),
        ("/users", "users-any", {}, ""),
        ("/", "fallback", {}, ""),
        ("/cart?x=1", "cart", {}, ""),
    ],
)
def test_most_specific_route_wins(
    path: str, target: str, params: dict[str, str], info: str
) -> None:
    """Exact beats wildcards, the longest route wins, :name beats a trailing wildcard."""
    found = ROUTER.match(path)
    assert found is not None
    assert (found.target, found.params, found.path_info) == (target, params, info)


def test_no_match_without_a_fallback() -> None:
    """A path no route covers gives None."""
    router = Router([("/a", 1), ("/b/:x", 2)])
    assert router.match("/c") is None
    assert router.match("/b") is None
    assert router.match("/b/1/2") is None


def test_order_of_routes_does_not_matter() -> None:
    """The same routes in reverse order route every path the same way."""
    routes = [(r.text, r.text) for r in ROUTER.routes]
    reverse = Router(list(reversed(routes)))
    for path in ("/cart", "/users/9", "/users/9/x", "/static/a", "/zz"):
        a, b = ROUTER.match(path), reverse.match(path)
        assert a is not None and b is not None
        assert a.route.text == b.route.text


@pytest.mark.parametrize(
    ("routes", "message"),
    [
        ([("cart", 1)], "must start with '/'"),
        ([("/a/.../b", 1)], "may only end a route"),
        ([("/a//b", 1)], "empty segment"),
        ([("/a/:", 1)], "without a name"),
        ([("/a/:x", 1), ("/a/:y", 2)], "match the same paths"),
        ([("/a", 1), ("/a/", 2)], "match the same paths"),
    ],
)
def test_bad_routes_are_refused(routes: list[tuple[str, int]], message: str) -> None:
    """Malformed or indistinguishable routes raise PolicyError naming the problem."""
    with pytest.raises(omniwasm.PolicyError, match=message):
        Router(routes)


def test_route_parse_keeps_the_text() -> None:
    """A parsed route remembers what was written and whether it is exact."""
    route = Route.parse("/users/:id/...")
    assert (route.text, route.segments, route.trailing, route.exact) == (
        "/users/:id/...",
        ("users", ":id"),
        True,
        False,
    )
