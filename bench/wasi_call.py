"""Virtual WASI host calls: omniwasm's Python WASI vs wasmtime-py's stock conversion vs the floor.

Guest: ``bench/wat/wasi_calls.wat``. Each export loops inside the guest, so the time per
iteration is the cost of one host call:

* ``monotonic-clock.now`` (a scalar host call, u64 result);
* ``output-stream.write`` of 0 bytes and of 1 KiB (a resource method taking ``list<u8>`` and
  returning ``result<_, stream-error>``).

Beside omniwasm (the shared ``wasi.linker()``, stdout discarded) the same guest runs with
wasmtime-py's stock ``LinkerInstance.add_func`` definitions, and, for the write, with the C API
floor: a raw ``CFUNCTYPE`` callback registered with ``wasmtime_component_linker_instance_add_func``
that only ends the borrow of ``self`` and writes a prebuilt ``ok`` result (the list is not read:
what wasmtime itself spends to lower a 1 KiB ``list<u8>`` into 1024 32-byte values is all that
is left).
"""

from __future__ import annotations

import ctypes
import subprocess
import sys
import time
from pathlib import Path

import wasmtime
from _common import REPEAT, table
from wasmtime import _ffi as ffi
from wasmtime import component as wc

from omniwasm import Policy, Runtime, wasi

HERE = Path(__file__).resolve().parent
N = {"now": 50_000, "write0": 30_000, "write1k": 5_000}
TARGETS = {"now": 3.0, "write0": 5.0}


def component_bytes() -> bytes:
    exe = Path(sys.executable).parent / "wasm-tools"
    out = subprocess.run(
        [str(exe), "parse", str(HERE / "wat" / "wasi_calls.wat"), "-o", "/dev/stdout"],
        capture_output=True,
        check=True,
    )
    return out.stdout


def per_call(fn: object, n: int) -> tuple[float, float]:
    """(median, best) seconds per host call over REPEAT runs of ``fn(n)``."""
    times = []
    for _ in range(REPEAT):
        t0 = time.perf_counter()
        fn(n)  # type: ignore[operator]
        times.append((time.perf_counter() - t0) / n)
    times.sort()
    return times[len(times) // 2], times[0]


_vp = ctypes.c_void_p
_CB = ctypes.CFUNCTYPE(ctypes.c_size_t, _vp, _vp, _vp, _vp, ctypes.c_size_t, _vp, ctypes.c_size_t)
_FIN = ctypes.CFUNCTYPE(None, _vp)
_add_func = ctypes.CFUNCTYPE(_vp, _vp, ctypes.c_char_p, ctypes.c_size_t, _CB, _vp, _FIN)(
    ("wasmtime_component_linker_instance_add_func", ffi.dll)
)
_OK = bytes([19]) + bytes(7) + bytes([1]) + bytes(23)  # kind RESULT (19), is_ok, no payload


_any_drop = ctypes.CFUNCTYPE(_vp, _vp, _vp)(("wasmtime_component_resource_any_drop", ffi.dll))


@_CB  # type: ignore[untyped-decorator]
def _floor_write(data, ctx, fty, args, nargs, results, nresults):  # type: ignore[no-untyped-def]  # noqa: PLR0917
    # The one thing a host must do: end the borrow of `self` (the resource value's pointer
    # sits at byte 8 of the first argument). The list is not read at all.
    _any_drop(ctx, ctypes.c_void_p.from_address(args + 8).value)
    ctypes.memmove(results, _OK, 32)
    return 0


_NO_FIN = _FIN()


def stock_instance(engine: wasmtime.Engine, wasm: bytes, *, floor: bool) -> tuple[object, object]:
    """The guest on wasmtime-py's stock definitions (``floor``: the raw write callback)."""
    store = wasmtime.Store(engine)
    linker = wc.Linker(engine)
    OS, ERR = 1, 2  # noqa: N806 - resource type ids
    with linker.root() as root:
        with root.add_instance("wasi:io/error@0.2.0") as li:
            li.add_resource("error", wc.ResourceType.host(ERR), lambda s, rep: None)
        with root.add_instance("wasi:io/streams@0.2.0") as li:
            li.add_resource("output-stream", wc.ResourceType.host(OS), lambda s, rep: None)
            if floor:
                name = b"[method]output-stream.write"
                err = _add_func(
                    ctypes.cast(li.ptr(), _vp).value, name, len(name), _floor_write, 0, _NO_FIN
                )
                assert not err
            else:

                def write(store: object, this: object, contents: object) -> object:
                    this.to_host(store)  # type: ignore[attr-defined]  # end the borrow
                    return wc.Variant("ok")  # how stock converters want result<_, E>

                li.add_func("[method]output-stream.write", write)
        with root.add_instance("wasi:cli/stdout@0.2.0") as li:
            li.add_func("get-stdout", lambda s: wc.ResourceHost.own(1, OS))
        with root.add_instance("wasi:clocks/monotonic-clock@0.2.0") as li:
            li.add_func("now", lambda s: time.monotonic_ns())
    inst = linker.instantiate(store, wc.Component(engine, wasm))

    def get(name: str) -> object:
        idx = inst.get_export_index(store, name)
        assert idx is not None
        func = inst.get_func(store, idx)
        assert func is not None

        def call(*args: int) -> object:
            out = func(store, *args)
            func.post_return(store)
            return out

        return call

    return get("now-loop"), get("write-loop")


def main() -> None:
    wasm = component_bytes()
    rt = Runtime()
    ctx = wasi.WasiContext(Policy(stdout="discard"))
    inst = wasi.instantiate(rt, rt.load(wasm), ctx)
    now_loop = inst.exports["now-loop"]
    write_loop = inst.exports["write-loop"]
    ours = {
        "now": per_call(now_loop, N["now"]),
        "write0": per_call(lambda n: write_loop(n, 0), N["write0"]),
        "write1k": per_call(lambda n: write_loop(n, 1024), N["write1k"]),
    }
    engine = wasmtime.Engine()
    s_now, s_write = stock_instance(engine, wasm, floor=False)
    stock = {
        "now": per_call(s_now, N["now"] // 10),
        "write0": per_call(lambda n: s_write(n, 0), N["write0"] // 10),  # type: ignore[operator]
        "write1k": per_call(lambda n: s_write(n, 1024), 100),  # type: ignore[operator]
    }
    _, f_write = stock_instance(engine, wasm, floor=True)
    floor = {
        "write0": per_call(lambda n: f_write(n, 0), N["write0"]),  # type: ignore[operator]
        "write1k": per_call(lambda n: f_write(n, 1024), N["write1k"]),  # type: ignore[operator]
    }

    def us(pair: tuple[float, float] | None) -> str:
        return "n/a" if pair is None else f"{pair[0] * 1e6:.2f}"

    def verdict(key: str) -> str:
        value = ours[key][0] * 1e6
        if key in TARGETS:
            ok = value <= TARGETS[key]
            return f"<= {TARGETS[key]:g} µs: {'**met**' if ok else '**NOT met**'}"
        ratio = ours[key][0] / floor[key][0]
        return f"{ratio:.2f}x the floor (<= 1.3x: {'**met**' if ratio <= 1.3 else '**NOT met**'})"

    labels = {
        "now": "`monotonic-clock.now` (u64 result)",
        "write0": "`output-stream.write`, 0 bytes",
        "write1k": "`output-stream.write`, 1 KiB",
    }
    rows = [
        [
            labels[k],
            us(ours[k]),
            f"{ours[k][1] * 1e6:.2f}",
            us(stock[k]),
            us(floor.get(k)),
            verdict(k),
        ]
        for k in ("now", "write0", "write1k")
    ]
    print(f"### Virtual WASI host calls (µs per guest-to-host call; median of {REPEAT})\n")
    print(
        table(
            [
                "call",
                "omniwasm virtual WASI",
                "best",
                "wasmtime-py stock conversion",
                "C API floor (no-op callback)",
                "target",
            ],
            rows,
        )
    )
    print()
    print(
        "The guest loops inside wasm (`bench/wat/wasi_calls.wat`); omniwasm runs the shared "
        "`wasi.linker()` with stdout discarded; the stock column defines the same imports with "
        "wasmtime-py's `LinkerInstance.add_func`; the floor registers a raw C callback that "
        "reads nothing and writes a prebuilt `ok`."
    )
    inst.close()
    ctx.close()


if __name__ == "__main__":
    main()
