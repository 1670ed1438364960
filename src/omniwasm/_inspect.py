"""Describe a module or component: kind, size, hash, imports and exports with types, sections.

``inspect(source)`` is what ``omniwasm inspect`` prints. A WebAssembly binary (or text) is
described by pure-Python parsers, without compiling: ``_binary.module`` for a core module's
typed imports and exports, ``_binary.component`` and ``component_types`` for a component's
world, ``_binary.layout`` for the sections and ``producers`` metadata (an 18 MB component is
described in about a second where compiling it takes tens). Parsing is not validation: a
binary whose function bodies are invalid is described, and refused when it is loaded. A
precompiled ``.cwasm`` has no WebAssembly bytes left to parse, so the engine that loads it
reports its types; so does a ``Compiled`` given directly.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Literal

from . import _engine as eng
from ._binary import layout as binary_layout
from ._binary.layout import CustomSection, Producer, Section
from ._compiled import Compiled, Export, Source, describe_exports, describe_imports, read_source
from ._errors import InvalidModule
from ._runtime import Runtime
from ._wit.world import WorldItem, render_world, world_rows

__all__ = [
    "CustomSection",
    "Inspection",
    "Producer",
    "Section",
    "WorldItem",
    "inspect",
]


@dataclass(frozen=True, slots=True)
class Inspection:
    """What ``inspect`` found out about a module or component.

    Args:
        source: where it came from (a path, ``<bytes>`` or ``<text>``).
        kind: ``"module"`` or ``"component"``.
        format: ``"binary"``, ``"text"`` (compiled from WAT) or ``"precompiled"`` (``.cwasm``).
        size: bytes of the WebAssembly binary (of the ``.cwasm`` file when precompiled).
        sha256: hex sha256 of those bytes.
        imports: every import with its type (one row per interface member for components).
        exports: every export with its type (``iface#member`` for component interfaces).
        world_imports: a component's imports as a tree (empty for core modules).
        world_exports: a component's exports as a tree (empty for core modules).
        sections: top-level sections in binary order (empty when precompiled).
        custom_sections: custom sections, nested modules' included (empty when precompiled).
        producers: the parsed ``producers`` sections (empty when precompiled).
        engine: the wasmtime version that compiled or deserialised it.

    """

    source: str
    kind: Literal["module", "component"]
    format: Literal["binary", "text", "precompiled"]
    size: int
    sha256: str
    imports: tuple[Export, ...]
    exports: tuple[Export, ...]
    world_imports: tuple[WorldItem, ...] = ()
    world_exports: tuple[WorldItem, ...] = ()
    sections: tuple[Section, ...] = ()
    custom_sections: tuple[CustomSection, ...] = ()
    producers: tuple[Producer, ...] = ()
    engine: str = field(default_factory=eng.wasmtime_version)

    @property
    def precompiled(self) -> bool:
        """True for a ``.cwasm``: types come from the engine, no sections could be read."""
        return self.format == "precompiled"

    @property
    def wit(self) -> str | None:
        """A component's world as WIT text (None for core modules)."""
        if self.kind != "component":
            return None
        return render_world(self.world_imports, self.world_exports)

    def producer_fields(self, where: str = "") -> dict[str, list[tuple[str, str]]]:
        """``{"language": [("C11", "")], "processed-by": [("clang", "19.1")], ...}``.

        Args:
            where: whose producers: ``""`` for the outermost binary, ``"module 0"`` etc.

        """
        out: dict[str, list[tuple[str, str]]] = {}
        for p in self.producers:
            if p.where == where:
                out.setdefault(p.field, []).append((p.name, p.version))
        return out

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of everything here (what ``omniwasm inspect --json`` prints)."""
        producers: dict[str, list[dict[str, str]]] = {}
        for p in self.producers:
            entry = {"name": p.name, "version": p.version, "where": p.where}
            producers.setdefault(p.field, []).append(entry)
        world: dict[str, Any] | None = None
        if self.kind == "component":
            world = {
                "imports": [i.to_dict() for i in self.world_imports],
                "exports": [i.to_dict() for i in self.world_exports],
                "wit": self.wit,
            }
        return {
            "source": self.source,
            "kind": self.kind,
            "format": self.format,
            "precompiled": self.precompiled,
            "size": self.size,
            "sha256": self.sha256,
            "engine": {"wasmtime": self.engine},
            "imports": [{"module": e.module, "name": e.name, "type": e.type} for e in self.imports],
            "exports": [{"module": e.module, "name": e.name, "type": e.type} for e in self.exports],
            "world": world,
            "sections": [{"id": s.id, "name": s.name, "size": s.size} for s in self.sections],
            "custom_sections": [
                {"name": c.name, "size": c.size, "where": c.where} for c in self.custom_sections
            ],
            "producers": producers,
        }


def _parsed(data: bytes, where: str, is_text: bool) -> Inspection | None:
    """Describe a binary module or component without an engine (None: leave it to the engine).

    Raises:
        InvalidModule: the binary is malformed.

    """
    form = eng.sniff(data)
    if form == "component":
        from ._binary.component import parse_component
        from ._binary.component_types import world_items

        try:
            world_imports, world_exports = world_items(parse_component(data))
        except TypeError:
            return None  # a type the walk cannot name yet (stream, future): the engine's walk
        kind: Literal["module", "component"] = "component"
        imports = tuple(Export(*r) for r in world_rows(world_imports, imports=True))
        exports = tuple(Export(*r) for r in world_rows(world_exports, imports=False))
    elif form == "module":
        from ._binary.module import module_interface

        found = module_interface(data)
        if found is None:
            raise InvalidModule("malformed module (its import or export sections)", source=where)
        kind = "module"
        imports = tuple(Export(i.module, i.name, i.type) for i in found.import_types)
        exports = tuple(Export("", e.name, e.type) for e in found.export_types)
        world_imports = world_exports = ()
    else:
        return None
    try:
        layout = binary_layout.read_layout(data)
    except binary_layout.BinaryError as exc:
        raise InvalidModule(str(exc), source=where) from exc
    return Inspection(
        source=where,
        kind=kind,
        format="text" if is_text else "binary",
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        imports=imports,
        exports=exports,
        world_imports=world_imports,
        world_exports=world_exports,
        sections=tuple(layout.sections),
        custom_sections=tuple(layout.custom_sections),
        producers=tuple(layout.producers),
    )


def _load(source: Compiled | Source, runtime: Runtime | None) -> tuple[Compiled, bool, bytes]:
    """Compile ``source``; returns it, whether the input was WebAssembly text, and its bytes."""
    if isinstance(source, Compiled):
        return source, False, b""
    data, where = read_source(source)  # once: a reference is pulled once
    form = eng.sniff(data)
    rt = runtime if runtime is not None else Runtime()
    try:
        return rt._load_read(data, where), form == "text", data
    except InvalidModule:
        if runtime is not None or form != "precompiled" or rt.fuel:
            raise
        # A .cwasm compiled with fuel metering only loads into a metering engine.
        return Runtime(fuel=True)._load_read(data, where), False, data


def inspect(source: Compiled | Source, *, runtime: Runtime | None = None) -> Inspection:
    """Describe a module or component without running it.

    Args:
        source: what ``Runtime.load`` accepts (bytes, WebAssembly text, a ``.wasm``/``.wat``/
            ``.cwasm`` path, a registry reference), or an already compiled ``Compiled``.
        runtime: the runtime to compile with (a default one when None).

    Raises:
        InvalidModule: unreadable, malformed or invalid WebAssembly.
        RegistryError: a reference that cannot be resolved or pulled.

    """
    if not isinstance(source, Compiled):
        data, where = read_source(source)  # once: a reference is pulled once
        is_text = eng.sniff(data) == "text"
        if is_text:
            from ._engine.artifact import text_to_binary

            binary = text_to_binary(data, where)
        else:
            binary = data
        described = _parsed(binary, where, is_text)
        if described is not None:
            return described
    compiled, is_text, data = _load(source, runtime)
    artifact = compiled._artifact
    wasm = artifact.wasm
    imports = tuple(describe_imports(artifact))
    exports = tuple(describe_exports(artifact))
    world_imports: tuple[WorldItem, ...] = ()
    world_exports: tuple[WorldItem, ...] = ()
    if artifact.kind == "component":
        world_imports, world_exports = eng.world_items(artifact)
    common: dict[str, Any] = {
        "source": compiled.source,
        "kind": artifact.kind,
        "imports": imports,
        "exports": exports,
        "world_imports": world_imports,
        "world_exports": world_exports,
    }
    if wasm is None:
        blob = data or artifact.serialize()
        return Inspection(
            format="precompiled",
            size=len(blob),
            sha256=hashlib.sha256(blob).hexdigest(),
            **common,
        )
    try:
        layout = binary_layout.read_layout(wasm)
    except binary_layout.BinaryError as exc:
        raise InvalidModule(str(exc), source=compiled.source) from exc
    return Inspection(
        format="text" if is_text else "binary",
        size=len(wasm),
        sha256=hashlib.sha256(wasm).hexdigest(),
        sections=tuple(layout.sections),
        custom_sections=tuple(layout.custom_sections),
        producers=tuple(layout.producers),
        **common,
    )
