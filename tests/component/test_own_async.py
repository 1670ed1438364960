"""Component-model async (callback form) on omniwasm's own runtime, one built-in per test.

The guests are hand-written WAT (``tests/fixtures/async/``). Each call runs under a policy
timeout and inside :func:`bounded`, which fails the test if it has not finished in time; where
the reference ``wasmtime run -W component-model-async=y --invoke`` can run the same export,
its answer is compared.
"""

from __future__ import annotations

import asyncio
import subprocess
import threading
from functools import partial
from pathlib import Path
from typing import Any

import pytest

import omniwasm
from fixtures.bounded import bounded_call, fresh_call
from fixtures.wat_components import assemble

ASYNC = Path(__file__).parent.parent / "fixtures" / "async"
LIMIT = 20.0
POLICY = omniwasm.Policy(timeout=5)


bounded = partial(bounded_call, limit=LIMIT)


@pytest.fixture(scope="module")
def builtins() -> Path:
    """The built-ins guest, assembled."""
    return assemble(ASYNC / "builtins.wat", "async-")


@pytest.fixture(scope="module")
def host_guest() -> Path:
    """The host-imports guest, assembled."""
    return assemble(ASYNC / "host.wat", "async-")


call = partial(fresh_call, policy=POLICY, limit=LIMIT)
"""Call an export on a fresh instance (bounded)."""


def reference(exe: str, path: Path, invoke: str, features: str = "") -> str:
    """What ``wasmtime run --invoke`` prints for the same export ("trap" when it fails)."""
    wasm = f"component-model-async=y{features}"
    cmd = [exe, "run", "-W", wasm, "--invoke", invoke, str(path)]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=LIMIT, check=False)
    return run.stdout.strip() if run.returncode == 0 else "trap"


CASES = [
    ("double", (21,), 42, "task.return from the first call, then EXIT"),
    ("yield3", (), 3, "YIELD resumes the callback with EVENT_NONE"),
    ("future-wait", (), 4042, "WAIT delivers FUTURE_READ, the value copied memory to memory"),
    ("stream-partial", (), 304848, "a 3-element read takes part of a 5-element write"),
    ("poll", (), 7004, "waitable-set.poll: NONE, NONE, then the event"),
    ("context", (), 77, "context.set survives a YIELD"),
    ("context-fresh", (), 0, "a new task's context starts at 0"),
    ("thread-yield", (), 10, "thread.yield in a task that is not cancelled returns 0"),
    ("cancel-read", (), 2, "stream.cancel-read of a waiting read reports CANCELLED"),
    ("drop-writer", (), 21, "dropping the writable end gives the reader DROPPED"),
]


@pytest.mark.parametrize(("name", "args", "expected", "what"), CASES, ids=[c[0] for c in CASES])
def test_async_builtin(
    builtins: Path, name: str, args: tuple[Any, ...], expected: int, what: str
) -> None:
    """Each async built-in's scenario returns the value its semantics give."""
    assert call(builtins, name, *args) == expected, what


@pytest.mark.reference
@pytest.mark.parametrize(
    ("name", "args", "expected"), [c[:3] for c in CASES], ids=[c[0] for c in CASES]
)
def test_async_builtin_matches_wasmtime(
    builtins: Path, reference_wasmtime: str, name: str, args: tuple[Any, ...], expected: int
) -> None:
    """wasmtime 49 gives the same answer for the same export of the same file."""
    assert call(builtins, name, *args) == expected
    invoke = f"{name}({', '.join(map(str, args))})"
    assert reference(reference_wasmtime, builtins, invoke) == str(call(builtins, name, *args))


TRAPS = [
    ("return-twice", "task.return called twice"),
    ("no-return", "exited without task.return"),
    ("bad-code", "unknown code 5"),
    ("bp-underflow", "backpressure.dec"),
    ("drop-busy-set", "still has waitables"),
]


@pytest.mark.parametrize(("name", "why"), TRAPS, ids=[t[0] for t in TRAPS])
def test_async_rule_broken_is_a_trap(builtins: Path, name: str, why: str) -> None:
    """A guest that breaks an async rule traps with the rule named (wasmtime traps too)."""
    with pytest.raises(omniwasm.Trap, match=why):
        call(builtins, name)


@pytest.mark.reference
def test_broken_rules_trap_in_wasmtime_too(builtins: Path, reference_wasmtime: str) -> None:
    """wasmtime 49 refuses the same exports."""
    for name, _ in TRAPS:
        assert reference(reference_wasmtime, builtins, f"{name}()") == "trap", name


@pytest.mark.parametrize("name", ["deadlock", "sync-wait-deadlock"])
def test_a_wait_nothing_can_end_is_a_deadlock_trap(builtins: Path, name: str) -> None:
    """Waiting on an empty waitable set traps at once as a deadlock (wasmtime's CLI hangs)."""
    with pytest.raises(omniwasm.Trap, match="deadlock"):
        call(builtins, name)


def test_backpressure_holds_a_new_call_until_released(builtins: Path) -> None:
    """While a task holds backpressure, the next call starts only after it lowers it."""

    def run() -> tuple[int, int]:
        rt = omniwasm.Runtime()
        with rt.instantiate(rt.load(builtins), POLICY) as inst:
            return inst.call("bp-a"), inst.call("bp-b")

    assert bounded(run) == (1, 1)


def test_stackful_async_is_refused_naming_the_feature(tmp_path: Path) -> None:
    """An async lift without a callback (stackful) is an InvalidModule that names it."""
    src = tmp_path / "stackful.wat"
    src.write_text(
        """(component
  (core module $m
    (import "" "task.return" (func $r (param i32)))
    (func (export "run") (param i32) (call $r (local.get 0))))
  (core func $r (canon task.return (result u32)))
  (core instance $i (instantiate $m (with "" (instance (export "task.return" (func $r))))))
  (func (export "echo") async (param "x" u32) (result u32)
    (canon lift (core func $i "run") async)))"""
    )
    with pytest.raises(omniwasm.InvalidModule, match="stackful"):
        omniwasm.Runtime().load(assemble(src, "async-"))


def test_async_component_runs_with_the_default_backend(builtins: Path) -> None:
    """Runtime() (stock by default) runs an async component on omniwasm's runtime."""

    def run() -> tuple[int, str]:
        rt = omniwasm.Runtime()
        with rt.instantiate(rt.load(builtins), POLICY) as inst:
            return inst.call("double", 4), inst.component_backend

    assert bounded(run) == (8, "omniwasm")


@pytest.fixture(scope="module")
def rules() -> Path:
    """The may-block and copy rules guest, assembled."""
    return assemble(ASYNC / "rules.wat", "async-")


MORE = ",component-model-more-async-builtins=y"


def test_sync_stream_read_completes_from_a_waiting_writer(rules: Path) -> None:
    """A synchronous stream.read in an async task takes what a waiting writer offers."""
    assert call(rules, "sync-read") == 3 << 4


def test_sync_function_may_not_block(rules: Path) -> None:
    """waitable-set.wait inside a synchronous export traps (the may-block rule)."""
    with pytest.raises(omniwasm.Trap, match="may not block"):
        call(rules, "sync-wait")


def test_strings_do_not_copy_within_one_instance(rules: Path) -> None:
    """A stream<string> copy between two ends of one instance traps, as the spec says."""
    with pytest.raises(omniwasm.Trap, match="within one component instance"):
        call(rules, "string-copy")


@pytest.mark.reference
def test_rules_match_wasmtime(rules: Path, reference_wasmtime: str) -> None:
    """wasmtime 49 gives the same results and traps on the rules guest."""
    assert reference(reference_wasmtime, rules, "sync-read()", MORE) == str(3 << 4)
    assert reference(reference_wasmtime, rules, "sync-wait()", MORE) == "trap"
    assert reference(reference_wasmtime, rules, "string-copy()", MORE) == "trap"


@pytest.fixture(scope="module")
def error_context() -> Path:
    """The error-context guest, assembled."""
    return assemble(ASYNC / "error_context.wat", "async-")


def test_error_context_keeps_its_debug_message(error_context: Path) -> None:
    """error-context.debug-message gives back the message error-context.new was given."""
    assert call(error_context, "run") == 4 * 1000 + ord("b")


@pytest.mark.reference
def test_error_context_matches_wasmtime(error_context: Path, reference_wasmtime: str) -> None:
    """wasmtime 49 (with error-context on) gives the same answer."""
    features = ",component-model-error-context=y"
    assert reference(reference_wasmtime, error_context, "run()", features) == "4098"


# --- host imports -------------------------------------------------------------------------------


async def _slow(x: int) -> int:
    await asyncio.sleep(0.02)
    return x + 1


def _linker(slow: Any = _slow) -> omniwasm.Linker:
    linker = omniwasm.Linker()
    linker.define("slow", slow)
    linker.define("fast", lambda x: x * 3)
    return linker


def test_async_host_function_is_a_subtask(host_guest: Path) -> None:
    """An async-lowered ``async def`` import starts a subtask whose RETURNED event is waited."""
    assert call(host_guest, "await-slow", imports=_linker()) == 2042


def test_plain_host_function_returns_at_once(host_guest: Path) -> None:
    """An async-lowered plain ``def`` import returns RETURNED with no subtask."""
    assert call(host_guest, "call-fast", imports=_linker()) == 2015


def test_sync_lowered_async_host_function_blocks(host_guest: Path) -> None:
    """A sync-lowered ``async def`` import blocks the guest until the coroutine finishes."""
    assert call(host_guest, "sync-slow", imports=_linker()) == 2


def test_subtask_cancel_stops_the_host_coroutine(host_guest: Path) -> None:
    """subtask.cancel of a running host call cancels its coroutine: CANCELLED_BEFORE_RETURNED."""
    cancelled = threading.Event()

    async def forever(x: int) -> int:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return x

    assert call(host_guest, "cancel-slow", imports=_linker(forever)) == 4
    assert cancelled.wait(LIMIT)


def test_two_subtasks_in_one_waitable_set(host_guest: Path) -> None:
    """Two host calls in flight at once both deliver their events to one waitable set."""
    assert call(host_guest, "two-slow", imports=_linker()) == 32


def test_failing_async_host_function_is_a_host_function_error(host_guest: Path) -> None:
    """An ``async def`` import that raises ends the call with HostFunctionError."""

    async def broken(x: int) -> int:
        await asyncio.sleep(0)
        raise ValueError("no")

    with pytest.raises(omniwasm.HostFunctionError, match="ValueError"):
        call(host_guest, "await-slow", imports=_linker(broken))


def test_slow_host_coroutine_ends_at_the_policy_timeout(host_guest: Path) -> None:
    """A host coroutine that never finishes ends the call with Timeout at the policy's limit."""

    async def never(x: int) -> int:
        await asyncio.sleep(3600)
        return x

    def run() -> Any:
        rt = omniwasm.Runtime()
        linker = _linker(never)
        with rt.instantiate(
            rt.load(host_guest), omniwasm.Policy(timeout=0.5), imports=linker
        ) as inst:
            return inst.call("await-slow")

    with pytest.raises(omniwasm.Timeout):
        bounded(run)


# --- Python async API ---------------------------------------------------------------------------


def test_async_export_is_awaited(builtins: Path) -> None:
    """An async export is a coroutine function on the Python side: ``await exports.f(...)``."""

    async def main() -> int:
        rt = omniwasm.Runtime()
        with rt.instantiate(rt.load(builtins), POLICY) as inst:
            return int(await inst.exports.double(21))

    assert bounded(lambda: asyncio.run(main())) == 42


def test_awaited_export_runs_host_coroutines_on_the_callers_loop(host_guest: Path) -> None:
    """Host ``async def`` imports of an awaited export run on the awaiting event loop."""
    seen: list[asyncio.AbstractEventLoop] = []

    async def slow(x: int) -> int:
        seen.append(asyncio.get_running_loop())
        await asyncio.sleep(0.01)
        return x + 1

    async def main() -> tuple[int, bool]:
        rt = omniwasm.Runtime()
        with rt.instantiate(rt.load(host_guest), POLICY, imports=_linker(slow)) as inst:
            value = await inst.exports.two_slow()
        return value, all(loop is asyncio.get_running_loop() for loop in seen)

    assert bounded(lambda: asyncio.run(main())) == (32, True)


def test_event_loop_keeps_running_while_the_guest_waits(host_guest: Path) -> None:
    """While an awaited export waits on a host coroutine, other tasks on the loop run."""
    ticks: list[int] = []

    async def slow(x: int) -> int:
        await asyncio.sleep(0.1)
        return x + 1

    async def ticker() -> None:
        for i in range(5):
            ticks.append(i)
            await asyncio.sleep(0.005)

    async def main() -> int:
        rt = omniwasm.Runtime()
        with rt.instantiate(rt.load(host_guest), POLICY, imports=_linker(slow)) as inst:
            value, _ = await asyncio.gather(inst.exports.await_slow(), ticker())
        return int(value)

    assert bounded(lambda: asyncio.run(main())) == 2042
    assert ticks == [0, 1, 2, 3, 4]


def test_cancelling_the_await_cancels_the_guest_task(host_guest: Path) -> None:
    """Cancelling an awaited export delivers TASK_CANCELLED; the guest ends with task.cancel."""
    stopped = threading.Event()

    async def forever(x: int) -> int:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            stopped.set()
            raise
        return x

    async def main() -> bool:
        rt = omniwasm.Runtime()
        with rt.instantiate(rt.load(host_guest), POLICY, imports=_linker(forever)) as inst:
            call_ = asyncio.ensure_future(inst.exports.wait_cancel())
            await asyncio.sleep(0.05)
            call_.cancel()
            with pytest.raises(asyncio.CancelledError):
                await call_
            return stopped.is_set()

    assert bounded(lambda: asyncio.run(main())) is True


# --- streams and futures across the boundary ----------------------------------------------------


@pytest.fixture(scope="module")
def streams() -> Path:
    """The stream/future guest, assembled."""
    return assemble(ASYNC / "streams.wat", "async-")


def _fresh(path: Path) -> Any:
    rt = omniwasm.Runtime()
    return rt.instantiate(rt.load(path), POLICY)


def test_guest_stream_reads_as_bytes(streams: Path) -> None:
    """A stream<u8> an export returns is read by the host in chunks, in order, to its end."""

    def run() -> tuple[list[int], bytes]:
        with _fresh(streams) as inst:
            reader = inst.call("produce", 70000)
            parts = []
            while (part := reader.read_sync(65536)) is not None:
                parts.append(part)
        return [len(p) for p in parts], b"".join(parts)

    sizes, data = bounded(run)
    assert sizes == [65536, 70000 - 65536]
    assert data == bytes(i & 255 for i in range(70000))


def test_guest_stream_is_an_async_iterator(streams: Path) -> None:
    """An awaited export's stream is read with ``async for`` / ``read_all`` on the loop."""

    async def main() -> bytes:
        with _fresh(streams) as inst:
            reader = await inst.exports.produce(100_000)
            return bytes(await reader.read_all())

    assert bounded(lambda: asyncio.run(main())) == bytes(i & 255 for i in range(100_000))


def test_host_bytes_become_a_guest_stream(streams: Path) -> None:
    """Bytes passed for a stream<u8> parameter are read by the guest to the stream's end."""
    data = bytes(range(256)) * 3

    def run() -> int:
        with _fresh(streams) as inst:
            return int(inst.call("consume", data))

    assert bounded(run) == sum(data)


def test_guest_future_and_host_future(streams: Path) -> None:
    """A future<u32> from the guest resolves to its value; a host value becomes a future."""

    async def main() -> tuple[int, int]:
        with _fresh(streams) as inst:
            fut = await inst.exports.make_future(41)
            first = await fut
            return first, await inst.exports.take_future(21)

    assert bounded(lambda: asyncio.run(main())) == (42, 42)


def test_closing_a_reader_ends_the_guests_writes(streams: Path) -> None:
    """Closing the host's reader makes the guest's next write DROPPED; the instance goes on."""

    def run() -> int:
        with _fresh(streams) as inst:
            reader = inst.call("produce", 100_000)
            assert reader.read_sync(1000) is not None
            reader.close()
            return int(inst.call("consume", b"\x01\x02"))

    assert bounded(run) == 3


def test_resources_cross_async_exports() -> None:
    """An async export returns an own<r> handle; another takes it as borrow<r>."""

    def run() -> int:
        rt = omniwasm.Runtime()
        with rt.instantiate(rt.load(assemble(ASYNC / "resources.wat", "async-")), POLICY) as inst:
            handle = inst.call("make", 4)
            return int(inst.call("peek", handle))

    assert bounded(run) == 40


def test_two_awaited_calls_are_in_flight_at_once() -> None:
    """A second awaited call starts while the first waits: the first's host call waits for it."""

    async def main() -> list[int]:
        gate = asyncio.Event()
        calls: list[int] = []

        async def gated(x: int) -> int:
            calls.append(x)
            if len(calls) == 2:  # only a second call in flight can open the gate
                gate.set()
            await gate.wait()
            return x + 100

        rt = omniwasm.Runtime()
        linker = omniwasm.Linker().define("gate", gated)
        code = rt.load(assemble(ASYNC / "concurrent.wat", "async-"))
        with rt.instantiate(code, POLICY, imports=linker) as inst:
            return list(await asyncio.gather(inst.exports.gated(1), inst.exports.gated(2)))

    assert bounded(lambda: asyncio.run(main())) == [101, 102]


def test_inspect_shows_async_functions_and_streams(
    streams: Path, omniwasm_cli: list[str], tmp_path: Path
) -> None:
    """``omniwasm inspect`` renders async funcs and stream/future types; wasm-tools parses it."""
    import shutil
    import sys

    run = subprocess.run(
        [*omniwasm_cli, "inspect", str(streams)],
        capture_output=True,
        text=True,
        timeout=LIMIT,
        check=True,
    )
    assert "export produce: async func(n: u32) -> stream<u8>;" in run.stdout
    assert "export make-future: async func(x: u32) -> future<u32>;" in run.stdout
    lines = []
    for line in run.stdout.partition("world (WIT):\n")[2].splitlines():
        if line and not line.startswith("  "):
            break
        lines.append(line[2:])
    wit = "\n".join(lines)
    (tmp_path / "world.wit").write_text(wit + "\n")
    exe = Path(sys.executable).parent / "wasm-tools"
    tool = str(exe) if exe.exists() else shutil.which("wasm-tools")
    assert tool is not None
    check = subprocess.run(
        [tool, "component", "wit", str(tmp_path / "world.wit")],
        capture_output=True,
        text=True,
        timeout=LIMIT,
        check=False,
    )
    assert check.returncode == 0, check.stderr


def test_bindgen_emits_async_methods(builtins: Path, streams: Path, tmp_path: Path) -> None:
    """Bindings of an async component have ``async def`` methods that await the guest."""
    import importlib
    import sys

    from omniwasm._bindgen import bindgen

    bindgen(builtins, tmp_path / "async_b")
    bindgen(streams, tmp_path / "streams_b")
    source = (tmp_path / "async_b" / "__init__.py").read_text()
    assert "async def double(self, x: int) -> int:" in source
    sys.path.insert(0, str(tmp_path))
    try:
        mod = importlib.import_module("async_b")
        importlib.import_module("streams_b")
    finally:
        sys.path.remove(str(tmp_path))
        for name in ("async_b", "streams_b"):
            sys.modules.pop(name, None)
    world_cls = next(v for k, v in vars(mod).items() if k.endswith("World") and isinstance(v, type))

    async def main() -> int:
        with world_cls.instantiate(omniwasm.Runtime(), builtins, POLICY) as world:
            return int(await world.double(21))

    assert bounded(lambda: asyncio.run(main())) == 42


def test_async_iterable_feeds_a_guest_stream(streams: Path) -> None:
    """An async generator passed for a stream<u8> is pulled chunk by chunk as the guest reads."""
    pulled: list[int] = []

    async def chunks() -> Any:
        for part in (b"\x01\x02", b"\x03" * 5000, b"\x04"):
            await asyncio.sleep(0.005)
            pulled.append(len(part))
            yield part

    async def main() -> int:
        with _fresh(streams) as inst:
            return int(await inst.exports.consume(chunks()))

    assert bounded(lambda: asyncio.run(main())) == 1 + 2 + 3 * 5000 + 4
    assert pulled == [2, 5000, 1]
