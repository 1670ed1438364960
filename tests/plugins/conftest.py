"""Fixtures of the plugin tests: a kernel instance driven directly through the core API."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import omniwasm
from fixtures.kernel import KERNEL


@pytest.fixture(scope="module")
def runtime() -> omniwasm.Runtime:
    """One runtime for a test module's kernels."""
    return omniwasm.Runtime()


@pytest.fixture
def k(runtime: omniwasm.Runtime) -> Iterator[Any]:
    """The exports of a fresh kernel instance."""
    with runtime.instantiate(runtime.load(KERNEL)) as inst:
        yield inst.exports
