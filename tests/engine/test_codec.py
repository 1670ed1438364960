"""The converter layer: every generated WIT value survives a write and a read, in both modes.

Borrowed mode (export arguments) keeps every byte in Python objects; owned mode (host results)
allocates with wasmtime's C API, which ``val_delete`` must then free without complaint.
"""

from __future__ import annotations

import ctypes
from typing import Any

import pytest
from hypothesis import given, settings

from fixtures.wit_values import loose_typed_values, same, typed_values
from omniwasm import ValueConversionError
from omniwasm._engine.component.stock.val import VAL, Bad, Call, ResourceHooks, val_delete
from omniwasm._engine.component.stock.val_read import reader
from omniwasm._engine.component.stock.val_write import writer
from omniwasm._wit.convert import from_python
from omniwasm._wit.types import U8, U32, ListType, RecordType, String, WitType

HOOKS = ResourceHooks()


def _roundtrip(ty: WitType, value: Any, *, owned: bool) -> Any:
    call = Call(0, HOOKS)
    buf = ctypes.create_string_buffer(VAL)
    writer(ty, owned=owned, hooks=HOOKS)(value, buf, 0, call)
    try:
        return reader(ty, hooks=HOOKS)(buf, 0, call)
    finally:
        if owned:
            val_delete(ctypes.addressof(buf))
        call.finish()


@settings(max_examples=300, deadline=None)
@given(typed_values())
def test_borrowed_write_then_read_gives_value_back(tv: tuple[WitType, Any]) -> None:
    """A value written in borrowed mode reads back equal, for generated types and values."""
    ty, value = tv
    assert same(_roundtrip(ty, value, owned=False), value)


@settings(max_examples=300, deadline=None)
@given(typed_values())
def test_owned_write_then_read_gives_value_back(tv: tuple[WitType, Any]) -> None:
    """A value written in owned mode reads back equal and frees cleanly with val_delete."""
    ty, value = tv
    assert same(_roundtrip(ty, value, owned=True), value)


def test_list_u8_accepts_bytes_like() -> None:
    """list<u8> takes bytes, bytearray, memoryview and a list of ints, and reads back bytes."""
    ty = ListType(U8)
    for value in (b"\x00\xff", bytearray(b"\x00\xff"), memoryview(b"\x00\xff"), [0, 255]):
        assert _roundtrip(ty, value, owned=False) == b"\x00\xff"


def test_bad_nested_value_reports_its_path() -> None:
    """A wrong value deep inside a list of records is reported with its position and type."""
    ty = ListType(RecordType("point", (("x", U32), ("label", String))))
    call = Call(0, HOOKS)
    buf = ctypes.create_string_buffer(VAL)
    with pytest.raises(Bad) as info:
        writer(ty, owned=False, hooks=HOOKS)(
            [{"x": 1, "label": "a"}, {"x": -1, "label": "b"}], buf, 0, call
        )
    assert (info.value.path, info.value.expected) == ("[1].x", "u32")


def _writes(ty: WitType, value: Any, *, owned: bool) -> bool:
    """Whether the codec's writer accepts ``value`` as ``ty``."""
    call = Call(0, HOOKS)
    buf = ctypes.create_string_buffer(VAL)
    try:
        writer(ty, owned=owned, hooks=HOOKS)(value, buf, 0, call)
    except Bad:
        return False
    finally:
        if owned:  # a half-written owned value is still a valid one to free
            val_delete(ctypes.addressof(buf))
        call.finish()
    return True


@settings(max_examples=1000, deadline=None)
@given(loose_typed_values())
def test_from_python_and_the_writers_agree(tv: tuple[WitType, Any]) -> None:
    """from_python and the codec's writers accept and refuse the same values, for any type."""
    ty, value = tv
    try:
        from_python(value, ty)
    except ValueConversionError:
        accepted = False
    else:
        accepted = True
    assert _writes(ty, value, owned=False) is accepted, (str(ty), value)
    assert _writes(ty, value, owned=True) is accepted, (str(ty), value)
