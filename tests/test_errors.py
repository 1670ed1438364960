"""The error hierarchy: shape, messages, pickling."""

from __future__ import annotations

import pickle

import pytest

import omniwasm
from omniwasm import (
    Cancelled,
    ExecutionError,
    Frame,
    GuestError,
    GuestExit,
    HostFunctionError,
    InvalidModule,
    LimitExceeded,
    LinkError,
    MemoryLimitExceeded,
    MissingImport,
    OmniwasmError,
    OutOfFuel,
    PolicyError,
    Timeout,
    Trap,
    ValueConversionError,
    _errors,
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
    OmniwasmError("something failed"),
    PolicyError("no such directory: /x"),
    ExecutionError("stopped", frames=(Frame(0, None, None, 3), Frame(1, "g", None, 9))),
    LimitExceeded("over a limit", limit=3, used=4),
    Cancelled("omniwasm: call cancelled by the host"),
    GuestError(2, "bad input", function="count_vowels"),
    HostFunctionError("host function raised ValueError"),
    _errors.CompositionError("cannot plug app into math", detail="no export math"),
    _errors.SnapshotError("m.wasm: init left file descriptor 4 open"),
    _errors.RegistryError("registry answered 500", "example.com/app:1"),
    _errors.InvalidReference("not a reference: ':'", ":"),
    _errors.ArtifactNotFound("no tag 2 in example.com/app", "example.com/app:2"),
    _errors.AuthenticationFailed("credentials refused", "example.com/app:1"),
    _errors.DigestMismatch(
        "blob does not match", "example.com/app:1", expected="sha256:aa", actual="sha256:bb"
    ),
    _errors.LockMismatch("tag moved", "example.com/app:1", locked="sha256:aa", current="sha256:bb"),
]


def _error_classes() -> list[type[OmniwasmError]]:
    """Every exception class of the error tree."""
    found = [getattr(_errors, name) for name in _errors.__all__]
    return [c for c in found if isinstance(c, type) and issubclass(c, OmniwasmError)]


def test_every_error_class_has_a_sample() -> None:
    """The samples cover every class of the error tree, so each is checked below."""
    assert {type(e) for e in SAMPLES} == set(_error_classes())


@pytest.mark.parametrize("err", SAMPLES, ids=lambda e: type(e).__name__)
def test_repr_shows_every_field(err: OmniwasmError) -> None:
    """repr() shows the message and each structured field (frames by their count)."""
    text = repr(err)
    assert text.startswith(f"{type(err).__name__}({err.message!r}")
    for key, value in vars(err).items():
        if key == "frames":
            assert (f"frames=<{len(value)} frame" in text) == bool(value)
        elif key != "message":
            assert f"{key}={value!r}" in text


def test_repr_shows_the_cause() -> None:
    """A HostFunctionError's repr names the Python exception that caused it."""
    err = HostFunctionError("host function raised ValueError")
    err.__cause__ = ValueError("bad number")
    assert repr(err).endswith("cause=ValueError('bad number'))")


def test_most_specific_class_decides() -> None:
    """most_specific picks the nearest class of the error's MRO, else the default."""
    table: dict[type[BaseException], int] = {OmniwasmError: 1, LimitExceeded: 2, Timeout: 3}
    assert _errors.most_specific(table, Timeout("t"), 0) == 3
    assert _errors.most_specific(table, OutOfFuel("f"), 0) == 2
    assert _errors.most_specific(table, PolicyError("p"), 0) == 1
    assert _errors.most_specific(table, ValueError("v"), 0) == 0


def test_hierarchy_matches_design() -> None:
    """Each error sits where DESIGN.md draws it."""
    assert issubclass(ValueConversionError, TypeError)
    for cls in (Trap, GuestExit, HostFunctionError, LimitExceeded, Cancelled, GuestError):
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
