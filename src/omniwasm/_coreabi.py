r"""Typed calls into core exports: the scalar ABI, and signatures for it and the batch ABI.

A core module has only numbers in its function types. Habitats that turn rows or batches into
calls (``omniwasm.sql``, later the Ray habitat) need to know what those numbers mean, so a
module declares its functions in a custom section named ``omniwasm:signatures``, one per line,
in WIT's function syntax with an optional ``batch`` marker::

    (@custom "omniwasm:signatures" "upper: func(s: string) -> string\n")
    (@custom "omniwasm:signatures" "times2: batch func(x: s64) -> s64\n")

Without a declaration, an export whose parameters and one result are all numbers is taken as
it is (``i32`` -> ``s32``, ``i64`` -> ``s64``, ``f32``, ``f64``).

The scalar ABI (one call per value) lowers each type to core values:

==================================  =========================================================
WIT type                            core
==================================  =========================================================
``bool s8 s16 s32 u8 u16 u32``      one ``i32`` (results are wrapped to the type's width;
                                    ``bool`` is ``0``/non-zero)
``s64 u64``                         one ``i64``
``f32 f64``                         one ``f32`` / ``f64``
``string list<u8>`` parameter       two ``i32``: pointer and length of the bytes (UTF-8 for
                                    strings) the host copied into the guest's scratch area
``string list<u8>`` result          one ``i64``: ``length << 32 | pointer`` of bytes in guest
                                    memory, valid until the next call; the host copies them
==================================  =========================================================

The scratch area comes from the guest's ``omniwasm_scratch(size: i32) -> i32`` export: the
address of at least ``size`` bytes the host may overwrite, valid until the next
``omniwasm_scratch`` call. The host asks again only when it needs more room. The batch ABI
(``batch`` functions over whole columns in Arrow's layout) lives in ``_columnar``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import _engine as eng
from ._binary.reader import BinaryError, header, sections
from ._errors import InvalidModule, OmniwasmError, Trap, ValueConversionError
from ._wit import types as t

if TYPE_CHECKING:
    from ._compiled import Compiled
    from ._runtime import Instance

__all__ = [
    "SCRATCH_EXPORT",
    "SIGNATURES_SECTION",
    "CoreSignature",
    "Scratch",
    "check_lowering",
    "core_signatures",
    "parse_signatures",
    "row_function",
    "short_repr",
    "unary_function",
    "unary_types",
]

SIGNATURES_SECTION = "omniwasm:signatures"
"""The custom section in which a core module declares its functions' WIT types."""

SCRATCH_EXPORT = "omniwasm_scratch"
"""The export that gives the host a scratch area: ``(size: i32) -> i32``."""

SCALARS: dict[str, t.WitType] = {
    "bool": t.Bool,
    "s8": t.S8,
    "s16": t.S16,
    "s32": t.S32,
    "s64": t.S64,
    "u8": t.U8,
    "u16": t.U16,
    "u32": t.U32,
    "u64": t.U64,
    "f32": t.F32,
    "f64": t.F64,
    "string": t.String,
    "list<u8>": t.ListType(t.U8),
}
_FROM_CORE: dict[str, t.WitType] = {"i32": t.S32, "i64": t.S64, "f32": t.F32, "f64": t.F64}
_LINE = re.compile(
    r"^\s*(?P<name>[^\s:]+)\s*:\s*(?P<batch>batch\s+)?func\s*\((?P<params>[^)]*)\)"
    r"\s*->\s*(?P<result>\S+)\s*$"
)
_PARAM = re.compile(r"^\s*(?P<name>[A-Za-z_][\w-]*)\s*:\s*(?P<type>\S+)\s*$")


@dataclass(frozen=True, slots=True)
class CoreSignature:
    """The WIT-typed signature of a core export.

    Args:
        name: the export's name.
        params: ``(name, type)`` pairs; each type is one of the ABI's types.
        result: the result type.
        batch: True for the batch (columnar) ABI, False for the scalar ABI.

    """

    name: str
    params: tuple[tuple[str, t.WitType], ...]
    result: t.WitType
    batch: bool = False

    def __str__(self) -> str:
        params = ", ".join(f"{n}: {ty}" for n, ty in self.params)
        marker = "batch " if self.batch else ""
        return f"{self.name}: {marker}func({params}) -> {self.result}"


def _scalar(text: str, where: str) -> t.WitType:
    ty = SCALARS.get(text.replace(" ", ""))
    if ty is None:
        raise InvalidModule(
            f"{where}: type {text!r} is not in the core ABI ({', '.join(SCALARS)})",
            source=SIGNATURES_SECTION,
        )
    return ty


def parse_signatures(text: str) -> list[CoreSignature]:
    """Parse signature lines (``name: [batch] func(a: T, ...) -> T``; ``#`` starts a comment).

    Raises:
        InvalidModule: a line is not a signature, or names a type outside the ABI.

    """
    out: list[CoreSignature] = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        m = _LINE.match(line)
        if m is None:
            raise InvalidModule(f"not a signature: {line!r}", source=SIGNATURES_SECTION)
        params: list[tuple[str, t.WitType]] = []
        for part in filter(None, (p.strip() for p in m["params"].split(","))):
            pm = _PARAM.match(part)
            if pm is None:
                raise InvalidModule(f"not a parameter: {part!r}", source=SIGNATURES_SECTION)
            params.append((pm["name"], _scalar(pm["type"], m["name"])))
        result = _scalar(m["result"], m["name"])
        out.append(CoreSignature(m["name"], tuple(params), result, m["batch"] is not None))
    return out


def _custom_sections(wasm: bytes, name: str) -> list[bytes]:
    """The payloads of the top-level custom sections called ``name``."""
    header(wasm)
    found: list[bytes] = []
    for sid, r in sections(wasm):
        if sid == 0 and r.name() == name:
            found.append(bytes(r.take(r.end - r.pos)))
    return found


def core_signatures(compiled: Compiled) -> dict[str, CoreSignature]:
    """Every export of a core module with a signature: declared ones, then numeric ones.

    Raises:
        InvalidModule: a declaration is malformed or names an export that does not exist.

    """
    exports = {e.name: e.type for e in compiled.exports if e.type.startswith("func")}
    declared: dict[str, CoreSignature] = {}
    wasm = compiled._artifact.wasm
    if wasm is not None:
        try:
            sections = _custom_sections(wasm, SIGNATURES_SECTION)
        except (BinaryError, UnicodeDecodeError) as exc:
            raise InvalidModule(str(exc), source=compiled.source) from exc
        for payload in sections:
            try:
                text = payload.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise InvalidModule(
                    f"{SIGNATURES_SECTION} is not UTF-8", source=compiled.source
                ) from exc
            for sig in parse_signatures(text):
                if sig.name not in exports:
                    raise InvalidModule(
                        f"{SIGNATURES_SECTION} declares {sig.name!r}, which is not an exported "
                        "function",
                        source=compiled.source,
                    )
                declared[sig.name] = sig
    out: dict[str, CoreSignature] = {}
    for name, ty in exports.items():
        if name in declared:
            out[name] = declared[name]
            continue
        params, results = _core_types(ty)
        if len(results) == 1 and all(p in _FROM_CORE for p in (*params, *results)):
            named = tuple((f"p{i}", _FROM_CORE[p]) for i, p in enumerate(params))
            out[name] = CoreSignature(name, named, _FROM_CORE[results[0]])
    return out


def _core_types(rendered: str) -> tuple[list[str], list[str]]:
    """``func(i32, i64) -> (i64)`` -> (["i32", "i64"], ["i64"])."""
    m = re.match(r"func\((.*)\) -> \((.*)\)$", rendered)
    if m is None:  # pragma: no cover - the engine renders every function type this way
        return [], []
    return _split(m[1]), _split(m[2])


def _split(text: str) -> list[str]:
    return [x.strip() for x in text.split(",") if x.strip()]


def _lowered(ty: t.WitType) -> list[str]:
    if ty in (t.S64, t.U64):
        return ["i64"]
    if ty in (t.F32, t.F64):
        return [str(ty)]
    if ty in (t.String, SCALARS["list<u8>"]):
        return ["i32", "i32"]
    return ["i32"]


def check_lowering(sig: CoreSignature, rendered: str) -> None:
    """Check that a core function type is what ``sig`` lowers to under its ABI.

    Raises:
        InvalidModule: it is not.

    """
    if sig.batch:
        want_p, want_r = ["i32"], ["i32"]
    else:
        want_p = [c for _, ty in sig.params for c in _lowered(ty)]
        want_r = ["i64"] if sig.result in (t.String, SCALARS["list<u8>"]) else _lowered(sig.result)
    params, results = _core_types(rendered)
    if params != want_p or results != want_r:
        want = f"func({', '.join(want_p)}) -> ({', '.join(want_r)})"
        raise InvalidModule(
            f"export {sig.name!r} is declared as `{sig}`, so its core type must be {want}, "
            f"not {rendered}",
            source=SIGNATURES_SECTION,
        )


class Scratch:
    """The guest's scratch area, asked for again only when more room is needed.

    Args:
        instance: the instance exporting ``omniwasm_scratch`` and ``memory``.
        memory: its memory.

    Raises:
        OmniwasmError: the instance does not export ``omniwasm_scratch``.

    """

    def __init__(self, instance: Instance, memory: eng.LinearMemory) -> None:
        try:
            self._call = eng.SlotCall(instance._inner, SCRATCH_EXPORT)  # type: ignore[arg-type]
        except OmniwasmError as exc:
            raise OmniwasmError(
                f"strings and batches need the guest to export {SCRATCH_EXPORT}(size: i32) -> i32"
            ) from exc
        self._memory = memory
        self._slot = self._call.slots.cast("I")
        self.address = 0
        self.capacity = 0

    def reserve(self, size: int) -> int:
        """The address of at least ``size`` scratch bytes.

        Raises:
            Trap: the guest answered with an area outside its memory.

        """
        if size > self.capacity:
            self._slot[0] = max(size, 256)
            self._call.run()
            address = self._slot[0]
            if address + max(size, 256) > len(self._memory.view()):
                raise Trap(f"{SCRATCH_EXPORT}({size}) returned {address}, outside memory")
            self.address, self.capacity = address, max(size, 256)
        return self.address


_VIEWS = {"s8": "b", "u8": "B", "s16": "h", "u16": "H", "s32": "i", "u32": "I"}
_VIEWS |= {"s64": "q", "u64": "Q", "f32": "f", "f64": "d", "bool": "i"}
_NARROW = frozenset({"s8", "s16", "u8", "u16", "bool"})
_BYTES = (t.String, SCALARS["list<u8>"])
_BAD_VALUE = (TypeError, ValueError, OverflowError)


def _typed(slots: memoryview, wit: str) -> memoryview:
    """``slots`` viewed as values of the core type ``wit`` lowers to."""
    return slots.cast(_VIEWS[wit])  # type: ignore[call-overload,no-any-return]


def row_function(
    instance: Instance, sig: CoreSignature, *, fuel_per_call: int | None = None
) -> Callable[..., Any]:
    """A core export as a Python function called one row at a time under the scalar ABI.

    The function takes Python values (``int``, ``float``, ``bool``, ``str``, ``bytes``) and
    returns the result as one. It belongs to the calling thread, like the instance's store.

    Args:
        instance: a core instance.
        sig: the export's signature (``batch`` must be False).
        fuel_per_call: fuel each call starts with (None: the store's fuel runs down).

    Raises:
        OmniwasmError: no such export, or strings without ``omniwasm_scratch``.

    """
    if unary_types(sig):
        return unary_function(instance, sig, fuel_per_call=fuel_per_call)
    inner = instance._inner
    slot_call = eng.SlotCall(inner, sig.name, fuel_per_call=fuel_per_call)  # type: ignore[arg-type]
    slots, call = slot_call.slots, slot_call.run
    has_bytes = any(ty in _BYTES for _, ty in sig.params)
    memory = inner.memory() if has_bytes or sig.result in _BYTES else None  # type: ignore[union-attr]
    read = _reader(slots, sig, memory)
    if has_bytes:
        assert memory is not None
        return _with_bytes(slot_call, sig, memory, Scratch(instance, memory), read)
    writers = [_writer(slots, i, ty, sig.name, n) for i, (n, ty) in enumerate(sig.params)]

    def many(*args: Any) -> Any:
        if len(args) != len(writers):
            raise ValueConversionError(sig.name, "*", f"{len(writers)} argument(s)", f"{len(args)}")
        for w, a in zip(writers, args, strict=True):
            w(a)
        call()
        return read()

    return many


def unary_types(sig: CoreSignature) -> bool:
    """Whether ``sig`` takes the one-frame path: one wide number in, one out."""
    wide = ("s32", "u32", "s64", "u64", "f32", "f64")
    return len(sig.params) == 1 and str(sig.params[0][1]) in wide and str(sig.result) in wide


def unary_function(
    instance: Instance,
    sig: CoreSignature,
    *,
    fuel_per_call: int | None = None,
    nulls: bool = False,
    failure: Callable[[BaseException, Any], BaseException] | None = None,
    fallback: Callable[[Any], Any] | None = None,
) -> Callable[[Any], Any]:
    """A one-number export as a one-frame Python function (for a row-at-a-time caller).

    ``nulls``: None in, None out without a call. ``failure(exc, value)`` makes the exception
    raised for a failed call (and ``ValueConversionError`` for a value that does not fit)
    from the translated one; ``fallback(value)`` is called instead of the guest from a thread
    that does not own the instance or after it was closed (without one, that raises).

    Raises:
        OmniwasmError: no such export, or ``sig`` is not ``unary_types``.

    """
    if not unary_types(sig):
        raise OmniwasmError(f"{sig}: not one number in and one out")
    slot_call = eng.SlotCall(instance._inner, sig.name, fuel_per_call=fuel_per_call)  # type: ignore[arg-type]
    pname, pty = sig.params[0]

    def bad(value: Any) -> BaseException:
        err = ValueConversionError(sig.name, pname, str(pty), short_repr(value))
        return err if failure is None else failure(err, value)

    return slot_call.unary(
        _VIEWS[str(pty)],
        _VIEWS[str(sig.result)],
        bad_value=bad,
        nulls=nulls,
        failure=failure,
        fallback=fallback,
    )


def _with_bytes(
    call: eng.SlotCall,
    sig: CoreSignature,
    memory: eng.LinearMemory,
    scratch: Scratch,
    read: Callable[[], Any],
) -> Callable[..., Any]:
    """Signatures with string or blob parameters: their bytes go into the scratch area."""
    words, run = call.slots.cast("I"), call.run
    plan: list[tuple[int, bool, Callable[[Any], None] | None, str, t.WitType]] = []
    slot = 0
    for pname, ty in sig.params:
        if ty in _BYTES:
            plan.append((slot, True, None, pname, ty))
            slot += 2
        else:
            plan.append((slot, False, _writer(call.slots, slot, ty, sig.name, pname), pname, ty))
            slot += 1
    step = eng.SLOT // 4

    def with_bytes(*args: Any) -> Any:
        if len(args) != len(plan):
            raise ValueConversionError(sig.name, "*", f"{len(plan)} argument(s)", f"{len(args)}")
        blobs = [
            _encode(a, ty, sig.name, pname) if is_bytes else b""
            for (_, is_bytes, _, pname, ty), a in zip(plan, args, strict=True)
        ]
        base = scratch.reserve(sum(map(len, blobs)))
        mem = memory.view()
        for (at, is_bytes, write, _, _), a, blob in zip(plan, args, blobs, strict=True):
            if is_bytes:
                mem[base : base + len(blob)] = blob
                words[at * step] = base
                words[(at + 1) * step] = len(blob)
                base += len(blob)
            else:
                assert write is not None
                write(a)
        run()
        return read()

    return with_bytes


def _reader(
    slots: memoryview, sig: CoreSignature, memory: eng.LinearMemory | None
) -> Callable[[], Any]:
    """A function that reads the result from slot 0 after a call."""
    result = sig.result
    if result not in _BYTES:
        view = _typed(slots, str(result))
        if result is t.Bool:
            return lambda: view[0] != 0
        return lambda: view[0]
    assert memory is not None
    packed = slots.cast("Q")
    name = sig.name
    text = result is t.String

    def read() -> Any:
        ptr, size = packed[0] & 0xFFFF_FFFF, packed[0] >> 32
        mem = memory.view()
        if ptr + size > len(mem):
            raise Trap(f"{name} returned {size} bytes at {ptr}, outside memory ({len(mem)})")
        raw = bytes(mem[ptr : ptr + size])
        if not text:
            return raw
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise Trap(f"{name} returned a string that is not UTF-8: {exc.reason}") from None

    return read


def _encode(value: Any, ty: t.WitType, function: str, param: str) -> bytes:
    if ty is t.String:
        if isinstance(value, str):
            try:
                return value.encode("utf-8")
            except UnicodeEncodeError:
                pass
        raise ValueConversionError(function, param, "string", short_repr(value))
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    raise ValueConversionError(function, param, str(ty), short_repr(value))


def short_repr(value: Any) -> str:
    """``repr(value)`` cut to 60 characters, for error messages."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _writer(
    slots: memoryview, slot: int, ty: t.WitType, function: str, param: str
) -> Callable[[Any], None]:
    """A function that stores one argument of type ``ty`` into slot ``slot``."""
    name = str(ty)
    if name in _NARROW:
        lo, hi = (0, 1) if ty is t.Bool else (ty.min, ty.max)  # type: ignore[union-attr]
        word = slots.cast("i")
        index = slot * eng.SLOT // 4

        def narrow(value: Any) -> None:
            if type(value) is bool:
                value = int(value)
            if type(value) is not int or not lo <= value <= hi:
                raise ValueConversionError(function, param, name, short_repr(value))
            word[index] = value

        return narrow
    view = _typed(slots, name)
    index = slot * eng.SLOT // view.itemsize

    def store(value: Any) -> None:
        try:
            view[index] = value
        except _BAD_VALUE:
            raise ValueConversionError(function, param, name, short_repr(value)) from None

    return store
