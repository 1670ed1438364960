"""What the registry needs to know about a wasm binary, read in pure Python.

The artifact config lists a component's top-level imports and exports, and ``publish`` wants a
package name and version. This reads exactly that much: the component's import and export
sections (names only, the rest of each entry skipped by its grammar), the ``component-name``
and ``version`` custom sections that ``wasm-tools metadata add --name/--version`` writes, and,
for a binary WIT package (``wasm-tools component wit --wasm``), the fully qualified
``ns:pkg/item@version`` name inside each exported type.

That last step is a targeted search of the type section for the length-prefixed name rather
than a parse of the component type grammar; it stays until the full component parser
(``_binary/component.py``) can hand over the decoded types.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .._binary.reader import BinaryError, Reader, header

__all__ = ["WasmInfo", "read_info"]

_CUSTOM, _CORE_MODULE, _CORE_INSTANCE, _TYPE, _CANON, _IMPORT, _EXPORT = 0, 1, 2, 7, 8, 10, 11
_SORT_TYPE = 0x03
_LABEL = rb"[a-z][a-z0-9]*(?:-[a-z0-9]+)*"


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


def _extern_name(r: Reader) -> str:
    tag = r.byte()
    name = r.name()
    if tag == 0x01:
        r.name()  # a version suffix (an older encoding)
    elif tag == 0x02:
        for _ in range(r.u32()):  # attributes: implements / version suffix / external id
            if r.byte() > 0x02:
                raise BinaryError(f"unknown extern name attribute at offset {r.pos}")
            r.name()
    elif tag != 0x00:
        raise BinaryError(f"unknown extern name encoding 0x{tag:02x} at offset {r.pos}")
    return name


def _skip_extern_desc(r: Reader) -> None:
    kind = r.byte()
    if kind == 0x00:
        if r.byte() != 0x11:
            raise BinaryError(f"bad core module descriptor at offset {r.pos}")
        r.u32()
    elif kind in (0x01, 0x04, 0x05):
        r.u32()
    elif kind == 0x02:  # value bound: eq index, or a value type (s33)
        if r.byte() == 0x00:
            r.u32()
        else:
            r.uleb(5)
    elif kind == 0x03:  # type bound: eq index, or sub resource
        if r.byte() == 0x00:
            r.u32()
    else:
        raise BinaryError(f"unknown extern descriptor 0x{kind:02x} at offset {r.pos}")


def _exports(r: Reader) -> list[tuple[str, int]]:
    out = []
    for _ in range(r.u32()):
        name = _extern_name(r)
        sort = r.byte()
        if sort == 0x00:
            r.byte()  # core sort
        r.u32()  # index
        if r.byte() == 0x01:
            _skip_extern_desc(r)
        out.append((name, sort))
    return out


def _wit_package(type_payloads: list[bytes], exports: list[tuple[str, int]]) -> str | None:
    """Find the ``ns:pkg`` (and version) of an encoded WIT package's exported items."""
    if not exports or any(sort != _SORT_TYPE for _, sort in exports):
        return None
    found: set[bytes] = set()
    blob = b"".join(type_payloads)
    for item, _ in exports:
        qualified = rb"(" + _LABEL + rb":" + _LABEL + rb")/" + re.escape(item.encode())
        pattern = re.compile(qualified + rb"(@[0-9A-Za-z.+-]+)?")
        for m in pattern.finditer(blob):
            text = m.group(0)
            # Accept only a whole length-prefixed name (LEB128 length byte just before it).
            if m.start() > 0 and blob[m.start() - 1] == len(text) < 0x80:
                found.add(m.group(1) + (m.group(2) or b""))
    if len(found) != 1:
        return None
    return found.pop().decode()


def read_info(data: bytes) -> WasmInfo:
    """Read the kind, top-level import/export names, and name/version metadata of a binary.

    Raises:
        BinaryError: not a wasm binary, or a section it reads is malformed.

    """
    kind = header(data)
    info = WasmInfo(kind)
    r = Reader(data, 8)
    types: list[bytes] = []
    exports: list[tuple[str, int]] = []
    code = False
    while not r.done():
        section = r.byte()
        payload = r.take(r.u32())
        s = Reader(payload)
        if section == _CUSTOM:
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
        elif kind != "component":
            continue
        elif section == _IMPORT:
            for _ in range(s.u32()):
                info.imports.append(_extern_name(s))
                _skip_extern_desc(s)
        elif section == _EXPORT:
            exports += _exports(s)
        elif section == _TYPE:
            types.append(bytes(payload))
        elif section in (_CORE_MODULE, _CORE_INSTANCE, _CANON):
            code = True
    info.exports = [name for name, _ in exports]
    if kind == "component" and not code and not info.imports:
        info.wit_package = _wit_package(types, exports)
    return info
