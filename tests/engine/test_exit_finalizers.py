"""Native finalizers that wasmtime calls when a store is freed, at interpreter exit too.

At exit Python sets module globals to None before the last stores are freed; a finalizer that
looked its table up as a global then raised inside the ctypes callback ("Exception ignored",
thousands of lines at the end of a test run) and left its entry behind.
"""

from __future__ import annotations

import importlib
from typing import Any

import pytest

FINALIZERS = [
    ("omniwasm._engine.component.stock.imports", "_finalize", "_ENTRIES"),
    ("omniwasm._engine.component.stock.imports", "_dtor_finalize", "_DTORS"),
    ("omniwasm._engine.core.linked", "_finalize", "_ENTRIES"),
    ("omniwasm._engine.component.own.rawhost", "_finalize", "_CALLBACKS"),
    ("omniwasm._engine.component.own.rawhost", "_plan_finalize", "_PLANNED"),
]

KEY = 0x7FFF_0001


@pytest.mark.parametrize(("module", "func", "table"), FINALIZERS)
def test_a_finalizer_forgets_its_entry_with_module_globals_gone(
    monkeypatch: pytest.MonkeyPatch, module: str, func: str, table: str
) -> None:
    """With its module's table global set to None, as at exit, the finalizer still drops the entry."""
    mod = importlib.import_module(module)
    entries: dict[int, Any] = getattr(mod, table)
    key = KEY << mod.PLAN_BITS if func == "_plan_finalize" else KEY  # planned: env >> PLAN_BITS
    entries[KEY] = object()
    try:
        monkeypatch.setattr(mod, table, None)
        getattr(mod, func)(key)
        assert KEY not in entries
    finally:
        entries.pop(KEY, None)
