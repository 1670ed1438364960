"""The bindings generator proper: one world in, the text of one typed Python module out.

:mod:`._bindgen` is the entry point (components, WIT directories, files); this module turns a
:class:`~omniwasm.types.WorldType` into source text. What the output contains is described in
:mod:`._bindgen`'s docstring.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from .._component import split_member
from .._wit import types as t
from .._wit.values import _member, camel, snake

__all__ = ["Generator"]


# -- the generator --------------------------------------------------------------------------

_PRIMS = {"bool": "bool", "char": "str", "string": "str", "f32": "float", "f64": "float"}
# Host code may receive list<u8> as a memoryview valid during the call (ARCHITECTURE.md).
_BYTES = {"arg": "bytes | bytearray | memoryview", "ret": "bytes", "host": "bytes | memoryview"}
_HANDLE_MEMBERS = [
    ("dropped", "    @property\n    def dropped(self) -> bool: ..."),
    ("drop", "    def drop(self) -> None: ..."),
    ("__enter__", "    def __enter__(self) -> _t.Self: ..."),
    ("__exit__", "    def __exit__(self, *exc: object) -> None: ..."),
]
_RESERVED = {"annotations", "link"}  # `from __future__ import annotations` binds the first
_WIDTH = 100


def _q(text: str) -> str:
    """A double-quoted Python string literal (JSON's escapes are valid Python)."""
    return json.dumps(text, ensure_ascii=False)


def _tuple(items: list[str]) -> str:
    """A tuple display: ``()``, ``(a,)``, ``(a, b)``."""
    return f"({items[0]},)" if len(items) == 1 else f"({', '.join(items)})"


def _split_top(text: str) -> list[str]:
    """Split ``a, b[c, d], e`` at the commas outside brackets."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        depth += (ch in "([{") - (ch in ")]}")
        if ch == "," and depth == 0:
            parts.append(text[start:i].strip())
            start = i + 1
    return [*parts, text[start:].strip()]


def _wrap(head: str, inner: str, tail: str = ")") -> list[str]:
    """``head + inner + tail`` on one line if it fits, else split as ruff format would."""
    line = head + inner + tail
    if len(line) <= _WIDTH:
        return [line]
    indent = " " * (len(head) - len(head.lstrip()))
    if len(indent) + 4 + len(inner) <= _WIDTH:
        return [head, f"{indent}    {inner}", indent + tail]
    return [head, *(f"{indent}    {part}," for part in _split_top(inner)), indent + tail]


def _qualified(interface: str) -> str:
    """``test:types/echo@1.0`` -> ``test-types-echo``: a name unique across packages."""
    return re.sub(r"[:/]", "-", interface.partition("@")[0])


def _short(interface: str) -> str:
    """``blog:example/summarizer@1.0.0`` -> ``summarizer``."""
    return interface.rpartition("/")[2].partition("@")[0]


class _Names:
    """Hands out identifiers that are unique within one namespace."""

    def __init__(self, reserved: set[str] | None = None) -> None:
        self.taken = set(reserved or ())

    def take(self, *candidates: str) -> str:
        for cand in candidates:
            if cand not in self.taken:
                self.taken.add(cand)
                return cand
        base, n = candidates[-1], 2
        while f"{base}{n}" in self.taken:
            n += 1
        self.taken.add(f"{base}{n}")
        return f"{base}{n}"


@dataclass
class _Res:
    """A resource: the Protocol of its objects/handles and of its class."""

    iface: t.InterfaceType
    name: str
    host: bool  # imported: the host implements it
    obj: str = ""
    cls: str = ""
    funcs: list[t.FuncSig] = field(default_factory=list)


def _param(n: str) -> str:
    p = snake(n)
    return p + "_" if p == "self" else p


class Generator:
    def __init__(self, world: t.WorldType, name: str, source: str) -> None:
        self.world = world
        self.wname = name
        self.source = source
        self.names = _Names(_RESERVED)
        self.imports = [i for i in world.imports if not i.name.startswith("wasi:")]
        self.types: dict[t.WitType, str] = {}  # named type -> Python name
        self.consts: dict[t.WitType, str] = {}  # record/enum -> descriptor constant
        self.resources: dict[tuple[str, str], _Res] = {}
        self.out: list[str] = []

    # -- collection ---------------------------------------------------------------------

    def _walk(self, ty: t.WitType | None, owner: str, found: dict[t.WitType, str]) -> None:
        if ty is None:
            return
        if isinstance(ty, t.RecordType):
            for _, f in ty.fields:
                self._walk(f, owner, found)
        elif isinstance(ty, t.VariantType):
            for _, c in ty.cases:
                self._walk(c, owner, found)
        elif isinstance(ty, t.ListType | t.OptionType):
            self._walk(ty.elem if isinstance(ty, t.ListType) else ty.inner, owner, found)
        elif isinstance(ty, t.TupleType):
            for item in ty.items:
                self._walk(item, owner, found)
        elif isinstance(ty, t.ResultType):
            self._walk(ty.ok, owner, found)
            self._walk(ty.err, owner, found)
        if isinstance(ty, t.RecordType | t.VariantType | t.EnumType | t.FlagsType):
            found.setdefault(ty, owner)  # after its parts: dependencies come first

    def _collect(self) -> None:
        found: dict[t.WitType, str] = {}
        items = [*self.imports, *self.world.exports]
        for ty in self.world.types:
            self._walk(ty, "", found)
        for item in items:
            owner = _short(item.name) if isinstance(item, t.InterfaceType) else ""
            sigs = item.funcs if isinstance(item, t.InterfaceType) else (item,)
            for ty in item.types if isinstance(item, t.InterfaceType) else ():
                self._walk(ty, owner, found)
            for sig in sigs:
                for _, p in sig.params:
                    self._walk(p, owner, found)
                self._walk(sig.result, owner, found)
        by_name: dict[str, int] = {}
        for ty in found:
            key = camel(str(ty))
            by_name[key] = by_name.get(key, 0) + 1
        for ty, owner in found.items():
            plain, qual = camel(str(ty)), camel(owner) + camel(str(ty))
            self.types[ty] = (
                self.names.take(plain, qual) if by_name[plain] == 1 else self.names.take(qual)
            )
        for item in items:
            if not isinstance(item, t.InterfaceType):
                continue
            host = item in self.imports
            for res in item.resources:
                r = _Res(item, res, host)
                r.funcs = [f for f in item.funcs if split_member(f.name)[1] == res]
                r.obj = self.names.take(camel(res), camel(_short(item.name)) + camel(res))
                r.cls = self.names.take(r.obj + "Class")
                self.resources[(item.name, res)] = r

    # -- type annotations ---------------------------------------------------------------

    def ann(self, ty: t.WitType | None, mode: str, top: bool = False) -> str:
        """The annotation for a value of ``ty``.

        ``mode`` is ``arg`` (Python makes it, the guest reads it), ``ret`` (the guest made it)
        or ``host`` (a host import's parameter: ``list<u8>`` may be a memoryview). ``top``
        marks a function's result, where ``result<T, E>`` is ``T`` (an err raises).
        """
        if ty is None:
            return "None"
        if isinstance(ty, t.IntType):
            return "int"
        if isinstance(ty, t.ResultType):
            return self.ann(ty.ok, mode) if top else "_ow.Ok | _ow.Err"
        if isinstance(ty, t.RecordType | t.EnumType | t.VariantType):
            return self.types[ty]
        if isinstance(ty, t.FlagsType):
            return "_abc.Set[str]" if mode == "arg" else self.types[ty]
        if isinstance(ty, t.ListType):
            if isinstance(ty.elem, t.U8Type):
                return _BYTES[mode]
            inner = self.ann(ty.elem, mode)
            return f"_abc.Sequence[{inner}]" if mode == "arg" else f"list[{inner}]"
        if isinstance(ty, t.TupleType):
            return f"tuple[{', '.join(self.ann(i, mode) for i in ty.items) or '()'}]"
        if isinstance(ty, t.OptionType):
            if isinstance(ty.inner, t.OptionType):
                return "_ow.Some | None"
            return f"{self.ann(ty.inner, mode)} | None"
        if isinstance(ty, t.OwnType | t.BorrowType):
            res = self.resources.get((ty.interface, ty.resource))
            return res.obj if res is not None else "object"
        if isinstance(ty, t.StreamType | t.FutureType):
            return "_t.Any"  # a stream/future reader from the guest, or data for one
        return _PRIMS[str(ty)]

    def literal(self, ty: t.WitType | None) -> str:
        """An ``omniwasm.types`` expression that builds the descriptor ``ty``."""
        if ty is None:
            return "None"
        if ty in self.consts:
            return self.consts[ty]
        if isinstance(ty, t.RecordType | t.VariantType):
            pairs = ty.fields if isinstance(ty, t.RecordType) else ty.cases
            items = _tuple([f"({_q(n)}, {self.literal(f)})" for n, f in pairs])
            return f"_wit.{type(ty).__name__}({_q(ty.name)}, {items})"
        if isinstance(ty, t.EnumType | t.FlagsType):
            names = ty.cases if isinstance(ty, t.EnumType) else ty.names
            return f"_wit.{type(ty).__name__}({_q(ty.name)}, {_tuple([_q(n) for n in names])})"
        if isinstance(ty, t.ListType):
            return f"_wit.ListType({self.literal(ty.elem)})"
        if isinstance(ty, t.OptionType):
            return f"_wit.OptionType({self.literal(ty.inner)})"
        if isinstance(ty, t.TupleType):
            return f"_wit.TupleType({_tuple([self.literal(i) for i in ty.items])})"
        if isinstance(ty, t.ResultType):
            return f"_wit.ResultType({self.literal(ty.ok)}, {self.literal(ty.err)})"
        if isinstance(ty, t.OwnType | t.BorrowType):
            return f"_wit.{type(ty).__name__}({_q(ty.resource)}, {_q(ty.interface)})"
        return f"_wit.{str(ty).capitalize()}"

    # -- emitting -----------------------------------------------------------------------

    def emit(self, *lines: str) -> None:
        self.out.extend(lines)

    def doc(self, indent: str, summary: str, *more: str) -> None:
        """A docstring: the summary line, then a blank line and ``more`` if given."""
        if not more:
            self.emit(f'{indent}"""{summary}"""')
            return
        self.emit(f'{indent}"""{summary}', *(f"{indent}{m}" if m else "" for m in ("", *more)))
        self.emit(f'{indent}"""')

    def func_doc(self, indent: str, sig: t.FuncSig, *, member: str = "", host: bool) -> None:
        text = str(sig) if not member else member + str(sig)[len(sig.name) :]
        res = sig.result
        if not isinstance(res, t.ResultType):
            self.doc(indent, f"``{text}``.")
            return
        err = "None" if res.err is None else self.ann(res.err, "ret")
        how = (
            f"Return the ok value; for ``err``, raise ``omniwasm.Err`` carrying ``{err}``."
            if host
            else f"An ``err`` raises ``omniwasm.Err`` carrying ``{err}``."
        )
        self.doc(indent, f"``{text}``.", how)

    def params(self, sig: t.FuncSig, mode: str, *, method: bool, pos_only: bool) -> list[str]:
        ps = sig.params[1:] if method else sig.params
        parts = ["self", *(f"{_param(n)}: {self.ann(p, mode)}" for n, p in ps)]
        return [*parts, "/"] if pos_only and len(parts) > 1 else parts

    def emit_types(self) -> None:
        for ty, name in self.types.items():
            if isinstance(ty, t.RecordType):
                self.emit("", "", "@_dc.dataclass(frozen=True, slots=True)", f"class {name}:")
                self.doc("    ", f"WIT ``{ty.definition()}``.")
                self.emit("")
                self.emit(*(f"    {snake(n)}: {self.ann(f, 'ret')}" for n, f in ty.fields))
                if not ty.fields:
                    self.emit("    pass")
            elif isinstance(ty, t.EnumType):
                self.emit("", "", f"class {name}(_enum.Enum):")
                self.doc("    ", f"WIT ``{ty.definition()}``.")
                self.emit("")
                taken: set[str] = set()
                for case in ty.cases:
                    member = _member(case)
                    while member in taken:  # as the runtime does for case-only differences
                        member += "_"
                    taken.add(member)
                    self.emit(f"    {member} = {_q(case)}")
            elif isinstance(ty, t.VariantType):
                cases = ", ".join(
                    n if c is None else f"{n}({self.ann(c, 'ret')})" for n, c in ty.cases
                )
                self.emit("", "", f"{name}: _t.TypeAlias = _ow.Variant")
                self.doc(
                    "", f"WIT ``variant {ty.name}``: ``Variant(case, value)``.", f"Cases: {cases}."
                )
            elif isinstance(ty, t.FlagsType):
                self.emit("", "", f"{name}: _t.TypeAlias = frozenset[str]")
                self.doc("", f"WIT ``{ty.definition()}``: the names of the flags that are set.")
        consts = [ty for ty in self.types if isinstance(ty, t.RecordType | t.EnumType)]
        if consts:
            self.emit("", "")
        cnames = _Names()
        for ty in consts:
            const = cnames.take("_" + snake(ty.name).upper().strip("_") + "_T")
            lit = self.literal(ty)
            cut = lit.index("(") + 1
            self.emit(*_wrap(f"{const} = {lit[:cut]}", lit[cut:-1]))
            self.consts[ty] = const
        for ty in consts:
            self.emit(f"_wit.use_class({self.consts[ty]}, {self.types[ty]})")

    def emit_resources(self) -> None:
        for r in self.resources.values():
            where = f"``{r.name}`` of ``{r.iface.name}``"
            self.emit("", "", f"class {r.obj}(_t.Protocol):")
            if r.host:
                self.doc(
                    "    ",
                    f"An object of the host resource {where}.",
                    "When the guest drops it, its ``close()`` runs if it has one.",
                )
            else:
                self.doc(
                    "    ",
                    f"A handle to the guest resource {where}.",
                    "Drop it exactly once: ``drop()`` or a ``with`` block.",
                )
                # A WIT method of the same name replaces the handle's own member (the runtime's
                # handle class does the same).
                wit_methods = {snake(split_member(f.name)[2]) for f in r.funcs}
                self.emit("")
                for name, line in _HANDLE_MEMBERS:
                    if name not in wit_methods:
                        self.emit(*line.split("\n"))
            self.emit_members(r, "method")
            self.emit("", "", f"class {r.cls}(_t.Protocol):")
            self.doc("    ", f"The class of {where}: its constructor and static functions.")
            self.emit_members(r, "constructor")
            self.emit_members(r, "static")

    def emit_members(self, r: _Res, tag: str) -> None:
        mode_in, mode_out = ("host", "arg") if r.host else ("arg", "ret")
        for sig in r.funcs:
            kind, _, member = split_member(sig.name)
            if kind != tag:
                continue
            method = "__call__" if tag == "constructor" else snake(member)
            ps = self.params(sig, mode_in, method=tag == "method", pos_only=True)
            ret = self.ann(sig.result, mode_out, top=True)
            self.emit("", *_wrap(f"    def {method}(", ", ".join(ps), f") -> {ret}:"))
            self.func_doc("        ", sig, member=member or "constructor", host=r.host)

    def emit_import(self, iface: t.InterfaceType) -> tuple[str, str, str]:
        """A Protocol and ``define_<iface>``; returns (keyword, protocol, define function)."""
        short = _short(iface.name)
        proto = self.names.take(
            camel(short), camel(short) + "Imports", camel(_qualified(iface.name))
        )
        define = self.names.take(f"define_{snake(short)}")
        self.emit("", "", f"class {proto}(_t.Protocol):")
        self.doc("    ", f"What the host implements for ``{iface.name}``.")
        members: list[str] = []
        for res in iface.resources:
            r = self.resources[(iface.name, res)]
            self.emit("", "    @property", f"    def {snake(res)}(self) -> {r.cls}:")
            self.doc("        ", f"The class implementing the resource ``{res}``.")
            members.append(snake(res))
        for sig in iface.funcs:
            if sig.name.startswith("["):
                continue
            ps = self.params(sig, "host", method=False, pos_only=True)
            ret = self.ann(sig.result, "arg", top=True)
            self.emit("", *_wrap(f"    def {snake(sig.name)}(", ", ".join(ps), f") -> {ret}:"))
            self.func_doc("        ", sig, host=True)
            members.append(snake(sig.name))
        self.emit("", "", f"def {define}(linker: _ow.Linker, impl: {proto}) -> _ow.Linker:")
        self.doc("    ", f"Define ``{iface.name}`` on ``linker`` with the members of ``impl``.")
        args = ", ".join([_q(iface.name), *(f"{m}=impl.{m}" for m in members)])
        self.emit(*_wrap("    return linker.define(", args, ")"))
        return snake(short), proto, define

    def emit_export(self, iface: t.InterfaceType) -> str:
        short = _short(iface.name)
        cls = self.names.take(camel(short), camel(short) + "Exports", camel(_qualified(iface.name)))
        self.emit("", "", f"class {cls}:")
        self.doc("    ", f"The exports of ``{iface.name}``.")
        self.emit("", "    def __init__(self, exports: _ow.InterfaceExports) -> None:")
        plain = [s for s in iface.funcs if not s.name.startswith("[")]
        for res in iface.resources:
            r = self.resources[(iface.name, res)]
            self.emit(f"        self.{camel(res)}: {r.cls} = exports.{camel(res)}")
            self.doc("        ", f"The resource ``{res}``: call it to construct one.")
        for sig in plain:
            self.emit(f"        self._f_{snake(sig.name)} = exports[{_q(sig.name)}]")
        if not plain and not iface.resources:
            self.emit("        pass")
        for sig in plain:
            self.emit_method(sig, snake(sig.name))
        return cls

    def emit_method(self, sig: t.FuncSig, attr: str) -> None:
        ps = self.params(sig, "arg", method=False, pos_only=False)
        ret = self.ann(sig.result, "ret", top=True)
        word = "async def" if sig.is_async else "def"  # an async export is awaited
        self.emit("", *_wrap(f"    {word} {attr}(", ", ".join(ps), f") -> {ret}:"))
        self.func_doc("        ", sig, host=False)
        call = f"self._f_{attr}({', '.join(_param(n) for n, _ in sig.params)})"
        if sig.is_async:
            call = f"await {call}"
        if ret == "None":
            self.emit(f"        {call}")
        else:
            self.emit(f"        _r: {ret} = {call}", "        return _r")

    def emit_link(self, imports: list[tuple[str, str, str]]) -> list[str]:
        """``link(linker, *, <imports>)``; returns its keyword parameters (with types)."""
        kw = _Names({"linker"})
        params: list[str] = []
        body: list[str] = []
        for key, proto, define in imports:
            name = kw.take(key)
            params.append(f"{name}: {proto}")
            body.append(f"    {define}(linker, {name})")
        for f in self.imports:
            if isinstance(f, t.FuncSig):
                name = kw.take(snake(f.name))
                args = ", ".join(self.ann(p, "host") for _, p in f.params)
                ret = self.ann(f.result, "arg", top=True)
                params.append(f"{name}: _abc.Callable[[{args}], {ret}]")
                body.append(f"    linker.define({_q(f.name)}, {name})")
        head = ["linker: _ow.Linker | None = None", *(["*", *params] if params else [])]
        self.emit("", "", *_wrap("def link(", ", ".join(head), ") -> _ow.Linker:"))
        self.doc("    ", "Define every import of the world on ``linker`` (a new one when None).")
        self.emit("    linker = _ow.Linker() if linker is None else linker", *body)
        self.emit("    return linker")
        return params

    def emit_world(self, exports: dict[str, str], params: list[str]) -> None:
        base = camel(self.wname)
        cls = self.names.take(base if base.endswith("World") else base + "World")
        members = _Names({"instance", "instantiate", "close"})
        self.emit("", "", f"class {cls}:")
        self.doc(
            "    ",
            f"The world of {self.source or 'the component'}: its exports as attributes.",
            "Make one with ``instantiate``; it is a context manager that closes the instance.",
        )
        self.emit("", "    def __init__(self, instance: _ow.Instance) -> None:")
        self.emit("        self.instance = instance")
        self.doc("        ", "The underlying ``omniwasm.Instance``.")
        world_funcs: list[tuple[str, t.FuncSig]] = []
        for item in self.world.exports:
            if isinstance(item, t.InterfaceType):
                attr = members.take(snake(_short(item.name)), snake(_qualified(item.name)))
                init = f"_export(instance, {_q(item.name)})"
                self.emit(*_wrap(f"        self.{attr} = {exports[item.name]}(", init))
                self.doc("        ", f"The exported interface ``{item.name}``.")
            else:
                attr = members.take(snake(item.name))
                world_funcs.append((attr, item))
                self.emit(f"        self._f_{attr} = _export(instance, {_q(item.name)})")
        self.emit(
            "",
            "    @classmethod",
            "    def instantiate(",
            "        cls,",
            "        runtime: _ow.Runtime,",
            "        compiled: _ow.Compiled | _ow.Source,",
            "        policy: _ow.Policy | None = None,",
            "        *,",
            "        linker: _ow.Linker | None = None,",
            *(f"        {p}," for p in params),
            f"    ) -> {cls}:",
        )
        self.doc(
            "        ",
            "Instantiate the component (see ``omniwasm.Runtime.instantiate``).",
            "The keyword arguments implement its imports; ``linker`` may define more.",
        )
        if params:
            keywords = [p.partition(":")[0] for p in params]
            call = ", ".join(["linker", *(f"{k}={k}" for k in keywords)])
            self.emit(*_wrap("        linker = link(", call, ")"))
        self.emit("        return cls(runtime.instantiate(compiled, policy, imports=linker))")
        for attr, sig in world_funcs:
            self.emit_method(sig, attr)
        self.emit(
            "",
            "    def close(self) -> None:",
            '        """Close the instance (idempotent)."""',
            "        self.instance.close()",
            "",
            "    def __enter__(self) -> _t.Self:",
            "        return self",
            "",
            "    def __exit__(self, *exc: object) -> None:",
            "        self.close()",
        )

    def run(self) -> str:
        self._collect()
        self.emit_types()
        self.emit_resources()
        imports = [self.emit_import(i) for i in self.imports if isinstance(i, t.InterfaceType)]
        exports = {
            i.name: self.emit_export(i)
            for i in self.world.exports
            if isinstance(i, t.InterfaceType)
        }
        self.emit(
            "",
            "",
            "def _export(instance: _ow.Instance, name: str) -> _t.Any:",
            "    try:",
            "        return instance.exports[name]",
            "    except KeyError:",
            "        raise _ow.OmniwasmError(",
            '            f"the component does not export {name!r}: are these its bindings?"',
            "        ) from None",
        )
        self.emit_world(exports, self.emit_link(imports))
        return self.header() + "\n".join(self.out) + "\n"

    def header(self) -> str:
        """The module docstring, the imports the body uses, and ``__all__``."""
        body = "\n".join(self.out)
        modules = [
            ("_abc", "import collections.abc as _abc"),
            ("_dc", "import dataclasses as _dc"),
            ("_enum", "import enum as _enum"),
            ("_t", "import typing as _t"),
        ]
        lines = [
            f'"""Typed bindings for {self.source or "a component"}.',
            "",
            "Generated by ``omniwasm bindgen``: do not edit, regenerate.",
            '"""',
            "",
            "from __future__ import annotations",
            "",
            *(imp for alias, imp in modules if f"{alias}." in body),
            "",
            "import omniwasm as _ow",
        ]
        if "_wit." in body:
            lines.append("from omniwasm import types as _wit")
        public = sorted(self.names.taken - {"annotations"})
        lines += ["", "__all__ = [", *(f"    {_q(n)}," for n in public), "]", ""]
        return "\n".join(lines)
