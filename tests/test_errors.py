"""The error hierarchy: shape, messages, pickling."""

from __future__ import annotations

import pickle

import pytest

import omniwasm
from omniwasm import (
    ExecutionError,
    Frame,
    GuestExit,
    InvalidModule,
    LimitExceeded,
    LinkError,
    MemoryLimitExceeded,
    MissingImport,
    OmniwasmError,
    OutOfFuel,
    Timeout,
    Trap,
    ValueConversionError,
)

SAMPLES = [
    InvalidModule("bad magic", source="x.wasm"),
    LinkError((MissingImport("env", "f", "func(i32) -> ()"),)),
    ValueConversionError("add", "0", "i32", "'x'"),
    Trap("wasm trap: unreachable", code="unreachable", frames=(Frame(1, "f", "m", 16),)),
    GuestExit(3),
    Timeout("too slow", limit=1.0),
    OutOfFuel("no fuel", limit=10, used=10),
    MemoryLimitExceeded("too big", limit=65536, used=65536),
]


def test_hierarchy_matches_design() -> None:
    """Each error sits where DESIGN.md draws it."""
    assert issubclass(ValueConversionError, TypeError)
    for cls in (Trap, GuestExit, omniwasm.HostFunctionError, LimitExceeded):
        assert issubclass(cls, ExecutionError)
    for cls in (Timeout, OutOfFuel, MemoryLimitExceeded):
        assert issubclass(cls, LimitExceeded)
    for cls in (InvalidModule, LinkError, omniwasm.PolicyError, ExecutionError):
        assert issubclass(cls, OmniwasmError)


@pytest.mark.parametrize("err", SAMPLES, ids=lambda e: type(e).__name__)
def test_errors_pickle_with_their_fields(err: OmniwasmError) -> None:
    """Every error survives pickling with its class, message and structured fields."""
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is type(err)
    assert str(back) == str(err)
    assert back.__dict__ == err.__dict__


@pytest.mark.parametrize("err", SAMPLES, ids=lambda e: type(e).__name__)
def test_str_is_one_line_and_repr_names_the_class(err: OmniwasmError) -> None:
    """str() is a single line and repr() starts with the class name."""
    assert "\n" not in str(err)
    assert repr(err).startswith(type(err).__name__ + "(")


def test_link_error_names_every_missing_import() -> None:
    """A LinkError's message lists each missing import with its type."""
    err = LinkError(
        (MissingImport("env", "f", "func(i32) -> ()"), MissingImport("env", "g", "global(i32)"))
    )
    assert "env::f: func(i32) -> ()" in str(err) and "env::g: global(i32)" in str(err)


def test_trap_backtrace_renders_frames() -> None:
    """backtrace() shows function names and offsets, innermost first."""
    err = Trap("t", frames=(Frame(0, "inner", "m", 0x1F), Frame(1, None, "m", 0x23)))
    assert err.backtrace().splitlines() == ["  0: m!inner @ 0x1f", "  1: m!<func 1> @ 0x23"]
