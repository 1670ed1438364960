"""Resource methods whose names clash with the handle's own API."""

from __future__ import annotations

from omniwasm._component.exports import _handle_class
from omniwasm._engine import GuestHandle
from omniwasm._wit import types as t


def test_wit_method_named_drop_shadows_drop_but_not_with() -> None:
    """A WIT method `drop` becomes the handle's `drop`, while `with` still drops the handle."""
    ty = t.OwnType("file", "my:app/fs")
    sig = t.FuncSig("[method]file.drop", (("self", t.BorrowType("file", "my:app/fs")),))
    cls = _handle_class(ty, {"drop": sig})
    assert cls.drop is not GuestHandle.drop
    assert "[method]file.drop" in (cls.drop.__doc__ or "")
    assert cls.__exit__ is GuestHandle.__exit__


def test_runtime_internals_are_underscored() -> None:
    """Every attribute the runtime uses on a handle starts with an underscore (no WIT clash)."""
    assert all(name.startswith("_") for name in GuestHandle.__slots__)
