"""One fuzz batch in its own process: every input goes through load, inspect, instantiate, calls.

Run as ``python worker.py DIR NAME...``; for each input it prints ``BEGIN name`` before touching
it and one JSON line after, both flushed, so the parent knows which input was being processed
if this process dies (an abort, a segfault) or hangs. An input passes when every step ends in
success or a typed ``OmniwasmError``; anything else is reported with its traceback.
"""

from __future__ import annotations

import atexit
import faulthandler
import json
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

import omniwasm
from omniwasm import OmniwasmError, Policy, Runtime
from omniwasm.types import (
    BoolType,
    CharType,
    EnumType,
    F32Type,
    F64Type,
    FlagsType,
    FuncSig,
    InterfaceType,
    IntType,
    ListType,
    OptionType,
    RecordType,
    ResultType,
    StringType,
    TupleType,
    VariantType,
)

POLICY = Policy(timeout=0.1, max_memory="64MiB", stdout="capture", stderr="capture")
FUEL_POLICY = POLICY.with_(fuel=2_000_000)
MAX_CALLS = 12
INPUT_LIMIT = 60.0
"""Seconds one input may take in all its steps (each bounded by a 0.1 s timeout) on a busy
machine before it counts as a hang."""


class NoDefault(Exception):
    """A parameter type with no value to make up (a resource handle)."""


def default(ty: Any) -> Any:
    """The simplest Python value of a WIT type."""
    if isinstance(ty, BoolType):
        return False
    if isinstance(ty, IntType):
        return 0
    if isinstance(ty, F32Type | F64Type):
        return 0.0
    if isinstance(ty, CharType):
        return "a"
    if isinstance(ty, StringType):
        return ""
    if isinstance(ty, ListType):
        return []
    if isinstance(ty, TupleType):
        return tuple(default(t) for t in ty.items)
    if isinstance(ty, RecordType):
        return {name: default(t) for name, t in ty.fields}
    if isinstance(ty, VariantType):
        case, payload = ty.cases[0]
        return omniwasm.Variant(case, None if payload is None else default(payload))
    if isinstance(ty, EnumType):
        return ty.cases[0]
    if isinstance(ty, FlagsType):
        return set()
    if isinstance(ty, OptionType):
        return None
    if isinstance(ty, ResultType):
        return omniwasm.Ok(None if ty.ok is None else default(ty.ok))
    raise NoDefault


CORE_DEFAULTS = {"i32": 0, "i64": 0, "f32": 0.0, "f64": 0.0, "v128": 0}


def core_args(sig: str) -> list[Any]:
    """Arguments for ``func(i32, f64) -> (...)``: zeros, None for references."""
    inner = sig[sig.index("(") + 1 : sig.index(") -> (")]
    if not inner:
        return []
    return [CORE_DEFAULTS.get(t.strip()) for t in _split(inner)]


def _split(text: str) -> list[str]:
    out, depth, cur = [], 0, ""
    for ch in text:
        if ch == "," and depth == 0:
            out.append(cur)
            cur = ""
            continue
        depth += ch == "("
        depth -= ch == ")"
        cur += ch
    return [*out, cur]


def host_imports(code: omniwasm.Compiled) -> dict[str, dict[str, Any]]:
    """A Python function for every imported function: returns zeros of its result types."""
    out: dict[str, dict[str, Any]] = {}
    for imp in code.imports:
        if not imp.type.startswith("func("):
            continue
        results = imp.type[imp.type.index(") -> (") + 6 : -1]
        values = [CORE_DEFAULTS.get(t.strip()) for t in _split(results)] if results else []

        def fn(*_: Any, _values: list[Any] = values) -> Any:
            if not _values:
                return None
            return _values[0] if len(_values) == 1 else tuple(_values)

        out.setdefault(imp.module, {})[imp.name] = fn
    return out


def probe_outcome(data: bytes) -> str:
    """Whether the grow probe followed this valid module (it must never give up on one)."""
    from omniwasm._engine.core import growprobe as _growprobe

    try:
        return "probe:rewritten" if _growprobe._instrument(data) else "probe:unchanged"
    except ValueError:  # an opcode it does not know (_Unknown) or a malformed binary
        return "probe:gave-up"


def step(log: list[str], name: str, fn: Any) -> Any:
    """Run one step; a typed error is an outcome, anything else propagates.

    ``omniwasm.Err`` is a component function's own ``result`` error: an answer, not a failure.
    """
    try:
        result = fn()
    except (OmniwasmError, omniwasm.Err) as exc:
        log.append(f"{name}:{type(exc).__name__}")
        return None
    log.append(f"{name}:ok")
    return result


def core(rt: Runtime, data: bytes, log: list[str], policy: Policy) -> None:
    """Feed one input to the core-module entry points, logging each step."""
    code = step(log, "load", lambda: rt.load(data))
    if code is None:
        return
    step(log, "inspect", lambda: omniwasm.inspect(code).to_dict())
    log.append(probe_outcome(data))
    exports = step(log, "exports", lambda: code.exports)
    imports = step(log, "imports", lambda: host_imports(code))
    inst = step(log, "instantiate", lambda: rt.instantiate(code, policy, imports=imports))
    if inst is None:
        return
    with inst:
        funcs = [e for e in exports or () if e.type.startswith("func(")]
        for export in funcs[:MAX_CALLS]:
            args = core_args(export.type)
            step(log, "call", lambda e=export, a=args: inst.func(e.name)(*a))
        step(log, "list", lambda: sorted(inst.exports))
        _ = inst.stdout, inst.stderr
    step(log, "run", lambda: rt.run(code, policy))
    plugin(rt, data, log, policy)


def plugin(rt: Runtime, data: bytes, log: list[str], policy: Policy) -> None:
    """Feed one input to the plugin entry points, logging each step."""
    from omniwasm.plugins import Plugin

    wasi = len(data) % 2 == 0
    found = step(log, "plugin", lambda: Plugin(data, policy=policy, wasi=wasi, runtime=rt))
    if found is None:
        return
    with found:
        if found.kind != "module":
            return
        for name in found.exports[:MAX_CALLS]:
            step(log, "plugin-call", lambda n=name: found.call(n, b"fuzz"))


def waits_natively(world: Any) -> bool:
    """Whether the component can sleep on wasmtime's native ``wasi:clocks`` (no timeout ends it).

    README, "What a timeout covers": such components go to the virtual WASI host.
    """
    return world is None or any(
        item.name.startswith("wasi:clocks/monotonic-clock@") for item in world.imports
    )


def component(rt: Runtime, data: bytes, log: list[str], policy: Policy) -> None:
    """Feed one input to the component entry points, logging each step.

    Calls and ``run`` go through the native WASI 0.2 host unless the component could sleep in
    it; then through the virtual one (``omniwasm.wasi``), as README advises for timed guests.
    The virtual host's ``run`` is always tried too.
    """
    from omniwasm import wasi

    code = step(log, "load", lambda: rt.load(data))
    if code is None:
        return
    step(log, "inspect", lambda: omniwasm.inspect(code).to_dict())
    world = step(log, "world", lambda: code.world)
    virtual = waits_natively(world)
    context = wasi.WasiContext(policy)
    if virtual:
        inst = step(log, "vinstantiate", lambda: wasi.instantiate(rt, code, context))
    else:
        inst = step(log, "instantiate", lambda: rt.instantiate(code, policy))
    if inst is not None:
        with inst:
            calls = 0
            for item in world.exports if world is not None else ():
                sigs = item.funcs if isinstance(item, InterfaceType) else (item,)
                for sig in sigs:
                    if calls >= MAX_CALLS or not isinstance(sig, FuncSig):
                        continue
                    name = (
                        f"{item.name}#{sig.name}" if isinstance(item, InterfaceType) else sig.name
                    )
                    try:
                        args = [default(t) for _, t in sig.params]
                    except NoDefault:
                        continue
                    calls += 1
                    step(log, "call", lambda n=name, a=args: inst.func(n)(*a))
    context.close()
    if not virtual:
        step(log, "run", lambda: rt.run(code, policy))
    step(log, "vrun", lambda: wasi.run(rt, code, policy))
    plugin(rt, data, log, policy)


def main() -> None:
    """Run every input of the folder named by argv[1] through every entry point."""
    folder = Path(sys.argv[1])
    # A private compile cache: each input compiles once for all its steps (and the plugin).
    cache = Path(tempfile.mkdtemp(prefix="omniwasm-fuzz-cache-"))
    atexit.register(shutil.rmtree, cache, ignore_errors=True)
    runtimes = {
        "pooled": Runtime(cache=cache),
        "unpooled": Runtime(cache=cache, pooling=False),
        "fuel": Runtime(cache=cache, fuel=True),
    }
    for i, name in enumerate(sys.argv[2:]):
        print(f"BEGIN {name}", flush=True)
        # an input still running after INPUT_LIMIT is a hang: dump every thread, exit 1
        faulthandler.dump_traceback_later(INPUT_LIMIT, exit=True)
        data = (folder / name).read_bytes()
        kind = ("pooled", "unpooled", "fuel")[i % 3]
        rt = runtimes[kind]
        policy = FUEL_POLICY if kind == "fuel" else POLICY
        log: list[str] = [kind]
        started = time.monotonic()
        untyped = None
        try:
            if data[4:8] == b"\x0d\x00\x01\x00":
                component(rt, data, log, policy)
            else:
                core(rt, data, log, policy)
        except Exception:  # the finding this harness exists for
            untyped = traceback.format_exc()
        faulthandler.cancel_dump_traceback_later()
        seconds = round(time.monotonic() - started, 4)
        print(json.dumps({"name": name, "log": log, "untyped": untyped, "s": seconds}), flush=True)


if __name__ == "__main__":
    main()
