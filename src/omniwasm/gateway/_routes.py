"""HTTP routes as Spin writes them, matched with Spin's precedence.

A route is exact (``/cart``), ends in a trailing wildcard (``/static/...``, ``/...``), or has
single-segment wildcards (``/users/:id``, ``/users/:id/...``). When several routes match a
path, the most specific wins, as in Spin: an exact route before any wildcard, then the
longer route (more segments, parameters included: the longest prefix), a single-segment
wildcard before a trailing one, then fewer ``:name`` segments. So the order of the manifest
never matters. Two routes that match exactly the same paths (``/a/:x`` and ``/a/:y``) are
refused when the router is built.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from .._errors import PolicyError

__all__ = ["Match", "Route", "Router"]

T = TypeVar("T")
_TRAILING = "..."


@dataclass(frozen=True, slots=True)
class Route:
    """One parsed route.

    Args:
        text: the route as written (``/users/:id/...``).
        segments: its segments before any trailing wildcard; ``:name`` marks a parameter.
        trailing: it ends in ``/...`` (matches the prefix and anything below it).

    """

    text: str
    segments: tuple[str, ...]
    trailing: bool

    @classmethod
    def parse(cls, text: str) -> Route:
        """Parse ``text``.

        Raises:
            PolicyError: it does not start with ``/``, has an empty or a misplaced ``...``
                segment, or an unnamed ``:`` parameter.

        """
        if not text.startswith("/"):
            raise PolicyError(f"route {text!r} must start with '/'")
        parts = text.split("/")[1:]
        trailing = bool(parts) and parts[-1] == _TRAILING
        if trailing:
            parts = parts[:-1]
        if parts and parts[-1] == "":
            parts = parts[:-1]  # "/cart/" is "/cart"
        for part in parts:
            if part == _TRAILING:
                raise PolicyError(f"route {text!r}: '...' may only end a route")
            if part == "":
                raise PolicyError(f"route {text!r} has an empty segment")
            if part == ":":
                raise PolicyError(f"route {text!r} has a parameter without a name")
        return cls(text, tuple(parts), trailing)

    @property
    def exact(self) -> bool:
        """No wildcard of either kind."""
        return not self.trailing and not any(s.startswith(":") for s in self.segments)

    def specificity(self) -> tuple[int, int, int, int]:
        """Sort key: smaller is more specific (see the module docstring)."""
        params = sum(1 for s in self.segments if s.startswith(":"))
        return (0 if self.exact else 1, -len(self.segments), 1 if self.trailing else 0, params)

    def match(self, path: str) -> tuple[dict[str, str], str] | None:
        """``(parameters, path info)`` when ``path`` matches, else None.

        The path info is what the trailing wildcard matched (``""`` or ``/rest``).
        """
        parts = path.split("/")[1:]
        if parts and parts[-1] == "" and len(parts) > len(self.segments):
            parts = parts[:-1]
        n = len(self.segments)
        if len(parts) < n or (not self.trailing and len(parts) != n):
            return None
        params: dict[str, str] = {}
        for want, got in zip(self.segments, parts, strict=False):
            if want.startswith(":"):
                if not got:
                    return None
                params[want[1:]] = got
            elif want != got:
                return None
        rest = parts[n:]
        return params, ("/" + "/".join(rest) if rest else "")


@dataclass(frozen=True, slots=True)
class Match(Generic[T]):
    """A routed request: the target, the route, its parameters and the path info."""

    target: T
    route: Route
    params: dict[str, str] = field(default_factory=dict)
    path_info: str = ""


class Router(Generic[T]):
    """Routes paths to targets.

    Args:
        routes: ``(route text, target)`` pairs, in any order.

    Raises:
        PolicyError: a route is malformed, or two routes are indistinguishable.

    """

    def __init__(self, routes: Iterable[tuple[str, T]]) -> None:
        parsed = [(Route.parse(text), target) for text, target in routes]
        seen: dict[tuple[tuple[str, ...], bool], str] = {}
        for route, _ in parsed:
            shape = (tuple(":" if s.startswith(":") else s for s in route.segments), route.trailing)
            if shape in seen:
                raise PolicyError(f"routes {seen[shape]!r} and {route.text!r} match the same paths")
            seen[shape] = route.text
        self._routes = sorted(parsed, key=lambda pair: pair[0].specificity())

    @property
    def routes(self) -> list[Route]:
        """The routes, most specific first."""
        return [route for route, _ in self._routes]

    def match(self, path: str) -> Match[T] | None:
        """The most specific route matching ``path`` (without its query), or None."""
        path = path.split("?", 1)[0] or "/"
        for route, target in self._routes:
            found = route.match(path)
            if found is not None:
                params, info = found
                return Match(target, route, params, info)
        return None
