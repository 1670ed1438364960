"""What the registry needs to know about a wasm binary, read in pure Python.

The artifact config lists a component's top-level imports and exports, and ``publish`` wants a
package name and version. The component comes from the one component parser
(``_binary/component.py``); the ``component-name`` and ``version`` custom sections that
``wasm-tools metadata add --name/--version`` writes are read here. A binary WIT package
(``wasm-tools component wit --wasm``) is a component with no code and no imports whose every
export is a type: each ``iface`` or ``world`` it exports is a component type that exports
``ns:pkg/iface@version``, which names the package.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .._binary.reader import BinaryError, Reader, header
from .._errors import InvalidModule

if TYPE_CHECKING:
    from .._binary.component_defs import Component

__all__ = ["WasmInfo", "read_info"]

_CUSTOM = 0
_LABEL = r"[a-z][a-z0-9]*(?:-[a-z0-9]+)*"
_QUALIFIED = re.compile(rf"^({_LABEL}:{_LABEL})/([^@]+)(@[0-9A-Za-z.+-]+)?$")


@dataclass(slots=True)
class WasmInfo:
    """The registry-relevant facts of a binary.

    Args:
        kind: ``"component"`` or ``"module"``.
        imports: top-level import names (components only).
        exports: top-level export names (components only).
        name: the component's name from its ``component-name`` section, if any.
        version: the ``version`` custom section, if any.
        wit_package: ``ns:name@version`` when the binary is an encoded WIT package.

    """

    kind: str
    imports: list[str] = field(default_factory=list)
    exports: list[str] = field(default_factory=list)
    name: str | None = None
    version: str | None = None
    wit_package: str | None = None


def _wit_package(comp: Component) -> str | None:
    """The ``ns:pkg@version`` an encoded WIT package names, or None if it is not one."""
    from .._binary.component_defs import Canon, ComponentType, CoreInstantiate, CoreModule

    if not comp.exports or comp.imports:
        return None
    code = (CoreModule, CoreInstantiate, Canon)
    if any(isinstance(d, code) for d in comp.definitions):
        return None
    found: set[str] = set()
    types = comp.spaces["type"]
    for export in comp.exports:
        if export.sort != "type" or not 0 <= export.index < len(types):
            return None
        item = types[export.index]
        if not isinstance(item, ComponentType):
            return None
        for decl in item.decls:
            m = _QUALIFIED.match(decl.name) if decl.kind == "export" else None
            if m is not None and m.group(2) == export.name:
                found.add(m.group(1) + (m.group(3) or ""))
    return found.pop() if len(found) == 1 else None


def _custom_sections(data: bytes, kind: str, info: WasmInfo) -> None:
    """Read the top-level ``version`` and (components) ``component-name`` sections."""
    r = Reader(data, 8)
    while not r.done():
        section = r.byte()
        payload = r.take(r.u32())
        if section != _CUSTOM:
            continue
        s = Reader(payload)
        name = s.name()
        rest = bytes(s.take(s.end - s.pos))
        if name == "version":
            info.version = rest.decode("utf-8", "replace").strip() or None
        elif name == "component-name" and kind == "component":
            sub = Reader(rest)
            while not sub.done():
                sub_id, body = sub.byte(), sub.take(sub.u32())
                if sub_id == 0x00:
                    info.name = Reader(body).name()


def read_info(data: bytes) -> WasmInfo:
    """Read the kind, top-level import/export names, and name/version metadata of a binary.

    Raises:
        BinaryError: not a wasm binary, or a malformed one.

    """
    kind = header(data)
    info = WasmInfo(kind)
    _custom_sections(data, kind, info)
    if kind != "component":
        return info
    # The parser is imported here, not at the top: pulling (and the pull command's start-up)
    # never needs it, only pushing and composing do.
    from .._binary.component import parse_component

    try:
        comp = parse_component(data)
    except InvalidModule as exc:
        raise BinaryError(exc.reason) from None
    info.imports = [item.name for item in comp.imports]
    info.exports = [item.name for item in comp.exports]
    info.wit_package = _wit_package(comp)
    return info
