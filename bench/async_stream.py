"""Component-model async on omniwasm's own runtime: stream throughput and host-import round trips.

Guest: ``bench/wat/async_bench.wat`` (hand-written WAT, callback-lifted exports):

* ``produce(total, chunk)`` returns a ``stream<u8>`` and writes ``total`` bytes into it,
  ``chunk`` bytes per ``stream.write``; the host reads it with ``StreamReader.read_sync``;
* ``ping(n)`` calls an async-lowered plain ``def`` host import ``n`` times (RETURNED at once);
* ``ping-async(n)`` calls an async-lowered ``async def`` host import ``n`` times; the guest
  waits for a subtask when it gets STARTED. A synchronous caller's host coroutines start
  eagerly on the instance's own loop on the store's thread, so one that returns at once is
  RETURNED with no subtask and no thread hand-off.

Targets (issue #16): ``stream<u8>`` of 64 MiB guest to host >= 1 GB/s; an async host import
round trip <= 10 µs. wasmtime's CLI cannot host Python imports, so there is no peer column.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from _common import REPEAT, table

from omniwasm import Linker, Runtime

HERE = Path(__file__).resolve().parent
TOTAL = 64 << 20


def component_bytes() -> bytes:
    exe = Path(sys.executable).parent / "wasm-tools"
    out = subprocess.run(
        [str(exe), "parse", str(HERE / "wat" / "async_bench.wat"), "-o", "/dev/stdout"],
        capture_output=True,
        check=True,
    )
    return out.stdout


async def _now(x: int) -> int:
    return x


async def _suspend(x: int) -> int:
    await asyncio.sleep(0)
    return x


def main() -> None:
    rt = Runtime()
    code = rt.load(component_bytes())
    linker = Linker().define("fast", lambda x: x).define("slow", _now)
    inst = rt.instantiate(code, imports=linker)

    def stream(read: int, write: int) -> float:
        best = float("inf")
        for _ in range(REPEAT):
            t0 = time.perf_counter()
            reader = inst.call("produce", TOTAL, write)
            n = 0
            while (part := reader.read_sync(read)) is not None:
                n += len(part)
            assert n == TOTAL
            best = min(best, time.perf_counter() - t0)
        return TOTAL / best / 1e9

    def per_call(name: str, n: int, on: Any = inst) -> list[str]:
        wall = cpu = float("inf")
        for _ in range(REPEAT):
            t0, c0 = time.perf_counter(), time.process_time()
            on.call(name, n)
            wall = min(wall, (time.perf_counter() - t0) / n)
            cpu = min(cpu, (time.process_time() - c0) / n)
        return [f"{wall * 1e6:.1f}", f"{cpu * 1e6:.1f}"]

    suspending = rt.instantiate(
        code, imports=Linker().define("fast", lambda x: x).define("slow", _suspend)
    )
    rows = [
        [
            "stream<u8> 64 MiB, 1 MiB writes and reads (GB/s)",
            f"{stream(1 << 20, 1 << 20):.2f}",
            "",
            ">= 1.0",
        ],
        [
            "stream<u8> 64 MiB, 64 KiB writes and reads (GB/s)",
            f"{stream(1 << 16, 1 << 16):.2f}",
            "",
            ">= 1.0",
        ],
        ["async-lowered plain def import, per call (µs)", *per_call("ping", 20_000), "<= 10"],
        [
            "async-lowered async def import returning at once, per call (µs)",
            *per_call("ping-async", 20_000),
            "<= 10",
        ],
        [
            "async-lowered async def import suspending once (sleep(0)), per call (µs)",
            *per_call("ping-async", 2_000, suspending),
            "",
        ],
    ]
    suspending.close()
    print(f"### Component-model async (best of {REPEAT})\n")
    print(table(["what", "omniwasm", "omniwasm CPU", "target"], rows))
    print()
    print(
        "Stream bytes move from linear memory into one `bytes` per copy (no per-element "
        "Python values); each read of a stream the host holds drives the instance on the "
        "reading thread. Host imports are raw wasmtime callbacks (arguments unpacked from the "
        "value slots, no per-call type objects). An `async def` import's coroutine starts "
        "inside an asyncio task on the instance's own loop on the store's thread (an eager "
        "first step): returning without suspending it is RETURNED at once; a suspended one "
        "goes on whenever the store's thread waits for the host. Timings are wall time, best "
        "of N; the CPU column is process CPU time per call, best of N."
    )
    inst.close()


if __name__ == "__main__":
    main()
