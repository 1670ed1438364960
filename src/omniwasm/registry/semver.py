"""Semantic versions (semver 2.0.0) and version ranges, as package tags are resolved.

A range is a comma- or space-separated list of comparators, all of which must match:
``^1.2`` (compatible: ``>=1.2.0, <2.0.0``; for ``0.x`` the minor is the breaking digit, as in
Cargo and npm), ``~1.2.3`` (``>=1.2.3, <1.3.0``), ``>=1.0 <2``, ``=1.2.3``, ``1.2.*`` / ``1.x``
and ``*``. A bare full version (``1.2.3``) is exact and a bare partial one (``1.2``) is a
wildcard, as npm reads them (Cargo would read them as ``^``). A pre-release (``1.3.0-rc.1``)
matches only a comparator naming the same ``major.minor.patch`` with a pre-release, so ``^1.2``
never picks up ``2.0.0-beta``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = ["Version", "VersionRange", "is_version", "max_satisfying"]

_NUM = r"0|[1-9]\d*"
_IDENT = r"[0-9A-Za-z-]+"
_VERSION = re.compile(
    rf"^v?(?P<major>{_NUM})\.(?P<minor>{_NUM})\.(?P<patch>{_NUM})"
    rf"(?:-(?P<pre>{_IDENT}(?:\.{_IDENT})*))?(?:\+(?P<build>{_IDENT}(?:\.{_IDENT})*))?$"
)
_PARTIAL = re.compile(
    rf"^(?P<op>\^|~|>=|<=|>|<|=)?\s*v?(?P<major>{_NUM}|[*xX])"
    rf"(?:\.(?P<minor>{_NUM}|[*xX]))?(?:\.(?P<patch>{_NUM}|[*xX]))?"
    rf"(?:-(?P<pre>{_IDENT}(?:\.{_IDENT})*))?$"
)


def _pre_key(pre: tuple[str, ...]) -> tuple[tuple[int, int | str], ...]:
    # Numeric identifiers sort numerically and before alphanumeric ones (semver 11.4).
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in pre)


@dataclass(frozen=True, slots=True, order=False)
class Version:
    """A semantic version ``MAJOR.MINOR.PATCH[-PRE][+BUILD]``, ordered by semver precedence.

    Args:
        major: the major number.
        minor: the minor number.
        patch: the patch number.
        pre: the dot-separated pre-release identifiers (empty for a release).
        build: build metadata (ignored by ordering and equality of precedence).

    """

    major: int
    minor: int
    patch: int
    pre: tuple[str, ...] = ()
    build: str = field(default="", compare=False)

    @classmethod
    def parse(cls, text: str) -> Version:
        """Parse ``1.2.3``, ``1.2.3-rc.1+build`` (a leading ``v`` is accepted).

        Raises:
            ValueError: the text is not a semantic version.

        """
        m = _VERSION.match(text.strip())
        if m is None:
            raise ValueError(f"not a semantic version: {text!r}")
        pre = tuple(m["pre"].split(".")) if m["pre"] else ()
        return cls(int(m["major"]), int(m["minor"]), int(m["patch"]), pre, m["build"] or "")

    def _key(self) -> tuple[int, int, int, int, tuple[tuple[int, int | str], ...]]:
        # A release sorts after all of its pre-releases.
        return (self.major, self.minor, self.patch, 0 if self.pre else 1, _pre_key(self.pre))

    def __lt__(self, other: Version) -> bool:
        return self._key() < other._key()

    def __le__(self, other: Version) -> bool:
        return self._key() <= other._key()

    def __gt__(self, other: Version) -> bool:
        return self._key() > other._key()

    def __ge__(self, other: Version) -> bool:
        return self._key() >= other._key()

    def __str__(self) -> str:
        text = f"{self.major}.{self.minor}.{self.patch}"
        if self.pre:
            text += "-" + ".".join(self.pre)
        return text + (f"+{self.build}" if self.build else "")


def is_version(text: str) -> bool:
    """Whether ``text`` is a full semantic version (an exact version, not a range)."""
    return _VERSION.match(text.strip()) is not None


@dataclass(frozen=True, slots=True)
class _Comparator:
    op: str  # one of = > >= < <=
    version: Version


def _bump(parts: list[int], index: int) -> Version:
    bumped = [*parts[:index], parts[index] + 1] + [0] * (2 - index)
    return Version(bumped[0], bumped[1], bumped[2])


def _desugar(op: str, nums: list[int], pre: tuple[str, ...]) -> list[_Comparator]:
    """Turn one (possibly partial) comparator into plain ``op version`` comparators."""
    full = [*nums, 0, 0, 0][:3]
    lower = Version(full[0], full[1], full[2], pre)
    given = len(nums)
    if op == "^":
        if given == 3:
            first = next((i for i, n in enumerate(full) if n != 0), 2)
            return [_Comparator(">=", lower), _Comparator("<", _bump(full, first))]
        if given == 2 and full[0] == 0:
            return [_Comparator(">=", lower), _Comparator("<", _bump(full, 1))]
        return [_Comparator(">=", lower), _Comparator("<", _bump(full, 0))]
    if op == "~":
        index = 0 if given == 1 else 1
        return [_Comparator(">=", lower), _Comparator("<", _bump(full, index))]
    if op == "=" and given < 3:
        return [_Comparator(">=", lower), _Comparator("<", _bump(full, given - 1))]
    if op == ">" and given < 3:
        return [_Comparator(">=", _bump(full, given - 1))]
    if op == "<=" and given < 3:
        return [_Comparator("<", _bump(full, given - 1))]
    return [_Comparator(op, lower)]


@dataclass(frozen=True, slots=True)
class VersionRange:
    """A set of comparators a version must all satisfy (see the module docstring for syntax).

    Args:
        text: the range as written.

    """

    text: str
    _comparators: tuple[_Comparator, ...] = field(compare=False, repr=False)

    @classmethod
    def parse(cls, text: str) -> VersionRange:
        """Parse a range such as ``^1.2``, ``~0.3.1``, ``>=1.0, <2`` or ``1.x``.

        Raises:
            ValueError: the text is not a version range.

        """
        comparators: list[_Comparator] = []
        joined = re.sub(r"(\^|~|>=|<=|>|<|=)\s+", r"\1", text)
        items = [t for t in re.split(r"[\s,]+", joined) if t]
        if not items:
            raise ValueError(f"empty version range: {text!r}")
        for item in items:
            m = _PARTIAL.match(item)
            if m is None:
                raise ValueError(f"not a version range: {text!r}")
            raw = [m["major"], m["minor"], m["patch"]]
            nums: list[int] = []
            for i, part in enumerate(raw):
                if part is None or part in "*xX":
                    if any(p is not None and p not in "*xX" for p in raw[i + 1 :]):
                        raise ValueError(
                            f"not a version range (a number after a wildcard): {text!r}"
                        )
                    break
                nums.append(int(part))
            pre = tuple(m["pre"].split(".")) if m["pre"] else ()
            if pre and len(nums) < 3:
                raise ValueError(f"a pre-release needs a full version: {item!r} in {text!r}")
            op = m["op"] or "="
            if not nums:
                if op not in ("=", ">="):
                    raise ValueError(f"a wildcard takes no operator: {item!r} in {text!r}")
                comparators.append(_Comparator(">=", Version(0, 0, 0)))
                continue
            comparators.extend(_desugar(op, nums, pre))
        return cls(text.strip(), tuple(comparators))

    def matches(self, version: Version) -> bool:
        """Whether ``version`` satisfies every comparator (with semver's pre-release rule)."""
        for c in self._comparators:
            v, k = version._key(), c.version._key()
            ok = {
                "=": v == k,
                ">": v > k,
                ">=": v >= k,
                "<": v < k,
                "<=": v <= k,
            }[c.op]
            if not ok:
                return False
        if version.pre:
            # A pre-release is considered only when a comparator names its exact release
            # with a pre-release of its own (npm's and Cargo's rule).
            triple = (version.major, version.minor, version.patch)
            return any(
                c.version.pre and (c.version.major, c.version.minor, c.version.patch) == triple
                for c in self._comparators
            )
        return True

    def __str__(self) -> str:
        return self.text


def max_satisfying(tags: list[str], requirement: str | None) -> str | None:
    """The tag holding the highest version that satisfies ``requirement``.

    Tags that are not semantic versions are ignored. ``None`` asks for the highest release
    (no pre-release). An exact version matches only its own tag (``1.2.3`` or ``v1.2.3``).

    Raises:
        ValueError: ``requirement`` is neither a version nor a range.

    """
    if requirement is None:
        wanted: VersionRange | Version | None = None
    elif is_version(requirement):
        wanted = Version.parse(requirement)
    else:
        wanted = VersionRange.parse(requirement)
    best: tuple[Version, str] | None = None
    for tag in tags:
        try:
            version = Version.parse(tag)
        except ValueError:
            continue
        if wanted is None:
            ok = not version.pre
        elif isinstance(wanted, Version):
            ok = version._key() == wanted._key()
        else:
            ok = wanted.matches(version)
        if ok and (best is None or version > best[0]):
            best = (version, tag)
    return best[1] if best else None
