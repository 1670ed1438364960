"""The public surface: explicit, sorted, documented, light to import."""

from __future__ import annotations

import inspect
import subprocess
import sys

import pytest

import omniwasm


def test_all_is_sorted_and_complete() -> None:
    """__all__ is sorted and every name in it exists."""
    assert list(omniwasm.__all__) == sorted(omniwasm.__all__)
    for name in omniwasm.__all__:
        assert hasattr(omniwasm, name), name


def test_every_public_name_has_a_docstring() -> None:
    """Every exported class and function carries a docstring."""
    for name in omniwasm.__all__:
        obj = getattr(omniwasm, name)
        if isinstance(obj, type) or inspect.isfunction(obj):
            assert (obj.__doc__ or "").strip(), name


def test_import_pulls_only_stdlib_and_wasmtime() -> None:
    """`import omniwasm` loads no third-party package except wasmtime (not typer, not rich)."""
    code = (
        "import sys, omniwasm\n"
        "mods = {m.split('.')[0] for m in sys.modules}\n"
        "third = {m for m in mods if m not in sys.stdlib_module_names and not m.startswith('_')}\n"
        "print(sorted(third - {'omniwasm', 'wasmtime'}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout


def test_py_typed_ships() -> None:
    """The package carries py.typed so users' type checkers read its annotations."""
    from importlib.resources import files

    assert files("omniwasm").joinpath("py.typed").is_file()


def _loaded_after(code: str) -> set[str]:
    """The modules a fresh interpreter has loaded after running ``code``."""
    probe = f"{code}\nimport sys\nprint(' '.join(sorted(sys.modules)))\n"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_import_is_lazy() -> None:
    """`import omniwasm` loads neither wasmtime nor any omniwasm module besides _version."""
    loaded = _loaded_after("import omniwasm")
    assert not {m for m in loaded if m.split(".")[0] == "wasmtime"}
    assert {m for m in loaded if m.startswith("omniwasm")} == {"omniwasm", "omniwasm._version"}


def test_policy_alone_stays_off_the_engine() -> None:
    """Using only `omniwasm.Policy` loads the policy and errors, not the engine or wasmtime."""
    loaded = _loaded_after("import omniwasm\nomniwasm.Policy(max_memory='1MiB')")
    assert "omniwasm._policy" in loaded
    assert not {m for m in loaded if m.split(".")[0] == "wasmtime"}
    assert "omniwasm._engine" not in loaded


def test_lazy_names_resolve_to_their_modules() -> None:
    """Every public name resolves on first use to the object its private module defines."""
    from omniwasm._policy import Policy
    from omniwasm._runtime import Runtime

    assert omniwasm.Runtime is Runtime
    assert omniwasm.Policy is Policy
    assert set(dir(omniwasm)) >= set(omniwasm.__all__)
    with pytest.raises(AttributeError, match="NoSuchThing"):
        omniwasm.NoSuchThing  # noqa: B018 (the attribute access is the test)
