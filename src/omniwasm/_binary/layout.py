"""The section layout of a WebAssembly binary, for ``inspect``: pure Python, no engine.

Walks the sections of a core module or a component (LEB128 sizes), names them, lists the custom
sections (recursing into the core modules and components nested in a component), and parses the
``producers`` custom section (tool-conventions ``ProducersSection.md``).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

from .reader import BinaryError, Reader, header, sections

__all__ = [
    "BinaryError",
    "CustomSection",
    "Layout",
    "Producer",
    "Section",
    "parse_producers",
    "read_layout",
]

_MODULE_SECTIONS = {
    0: "custom",
    1: "type",
    2: "import",
    3: "function",
    4: "table",
    5: "memory",
    6: "global",
    7: "export",
    8: "start",
    9: "element",
    10: "code",
    11: "data",
    12: "datacount",
    13: "tag",
}
_COMPONENT_SECTIONS = {
    0: "custom",
    1: "core module",
    2: "core instance",
    3: "core type",
    4: "component",
    5: "instance",
    6: "alias",
    7: "type",
    8: "canon",
    9: "start",
    10: "import",
    11: "export",
    12: "value",
}
_CORE_MODULE_SECTION = 1
_COMPONENT_SECTION = 4


@dataclass(frozen=True, slots=True)
class Section:
    """One top-level section: its name (``"custom:NAME"`` for custom ones) and payload size."""

    id: int
    name: str
    size: int


@dataclass(frozen=True, slots=True)
class CustomSection:
    """A custom section: its name, payload size, and where it sits.

    ``where`` is ``""`` for the outermost binary, or a path like ``"module 0"`` /
    ``"component 1/module 0"`` for code nested in a component (indices count in binary order).
    """

    name: str
    size: int
    where: str = ""


@dataclass(frozen=True, slots=True)
class Producer:
    """One entry of a ``producers`` section: ``field`` is language, processed-by or sdk."""

    field: str
    name: str
    version: str
    where: str = ""


@dataclass(slots=True)
class Layout:
    """What a walk over a binary found."""

    kind: str
    size: int
    sections: list[Section] = field(default_factory=list)
    custom_sections: list[CustomSection] = field(default_factory=list)
    producers: list[Producer] = field(default_factory=list)


def parse_producers(payload: bytes | memoryview, where: str = "") -> list[Producer]:
    """Parse the payload of a ``producers`` custom section.

    Raises:
        BinaryError: the payload is malformed.

    """
    r = Reader(payload)
    out: list[Producer] = []
    for _ in range(r.u32()):
        fld = r.name()
        for _ in range(r.u32()):
            name = r.name()
            out.append(Producer(fld, name, r.name(), where))
    if not r.done():
        raise BinaryError("trailing bytes after the producers section")
    return out


def _walk(data: memoryview, where: str, layout: Layout, *, top: bool) -> None:
    kind = header(data)
    names = _MODULE_SECTIONS if kind == "module" else _COMPONENT_SECTIONS
    counts = {"module": 0, "component": 0}
    for sid, r in sections(data):
        size = r.end - r.pos
        label = names.get(sid, f"unknown({sid})")
        if sid == 0:
            cname = r.name()
            body = data[r.pos : r.end]
            layout.custom_sections.append(CustomSection(cname, len(body), where))
            label = f"custom:{cname}"
            if cname == "producers":
                # a malformed producers section is listed as a plain custom section
                with contextlib.suppress(BinaryError):
                    layout.producers.extend(parse_producers(body, where))
        elif kind == "component" and sid in (_CORE_MODULE_SECTION, _COMPONENT_SECTION):
            nested = "module" if sid == _CORE_MODULE_SECTION else "component"
            path = f"{nested} {counts[nested]}"
            counts[nested] += 1
            _walk(data[r.pos : r.end], f"{where}/{path}" if where else path, layout, top=False)
        if top:
            layout.sections.append(Section(sid, label, size))


def read_layout(data: bytes) -> Layout:
    """Walk ``data`` (a core module or component binary) and report its sections.

    Raises:
        BinaryError: not a WebAssembly binary, or a malformed one.

    """
    view = memoryview(data)
    layout = Layout(kind=header(view), size=len(data))
    _walk(view, "", layout, top=True)
    return layout
