"""What bounds a guest's wasi:nn besides compute: session builds and guest model bytes.

Session builds run under the store's deadline, guest models wait for one of a few build
slots, and the bytes of guest models count against the instance's limit.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import omniwasm
from fixtures import nn_models as models
from omniwasm._deadline import Deadline
from omniwasm.wasi import nn


@pytest.fixture(scope="module")
def runtime() -> omniwasm.Runtime:
    """One runtime for the module."""
    return omniwasm.Runtime()


@pytest.fixture
def guest(runtime: omniwasm.Runtime, nn_app_cwasm: Path) -> Iterator[Callable[..., Any]]:
    """``guest(context, policy=None)``: the ``app`` exports of a fresh nn_app instance."""
    compiled = runtime.load(nn_app_cwasm)
    opened: list[omniwasm.Instance] = []

    def make(context: nn.NnContext, policy: omniwasm.Policy | None = None) -> Any:
        linker = nn.add_to_linker(omniwasm.Linker())
        inst = runtime.instantiate(compiled, policy, imports=linker, host_data=context)
        opened.append(inst)
        return inst.exports.app

    yield make
    for inst in opened:
        inst.close()


def wait_for(cache: nn.SessionCache, loads: int, seconds: float = 60.0) -> None:
    """Wait until ``cache`` has built ``loads`` sessions (a build left running finishes)."""
    end = time.monotonic() + seconds
    while cache.loads < loads:
        assert time.monotonic() < end, "the session build never finished"
        time.sleep(0.05)


def test_a_slow_named_build_ends_the_call_at_the_timeout(guest: Any, tmp_path: Path) -> None:
    """A session build past the policy's timeout ends load-by-name with Timeout.

    The build finishes on its own, and the next load is served from the cache.
    """
    path = models.save(tmp_path, "slow", models.slow_to_build())
    cache = nn.SessionCache()
    context = nn.NnContext(models={"slow": path}, cache=cache)
    app = guest(context, omniwasm.Policy(timeout=0.5))
    with pytest.raises(omniwasm.Timeout):
        app.load_many("slow", 1)
    assert cache.loads == 0
    wait_for(cache, 1)
    assert guest(context, omniwasm.Policy(timeout=30)).load_many("slow", 1) == 1
    assert cache.loads == 1


def test_guest_model_builds_wait_for_a_slot_within_the_deadline(guest: Any) -> None:
    """A guest model's load waits for a build slot only until its deadline (Timeout).

    The one slot is taken by a build left running; the model waiting would build in
    milliseconds. The guest is instantiated first (the policy's timeout is per call), so the
    build it must wait for started just before its call, whatever the machine's load: made
    after, a slow instantiation could outlast the build and find the slot free.
    """
    cache = nn.SessionCache(guest_builds=1)
    size = 64 << 20
    quick = nn.NnContext(max_model_size=size, cache=cache)
    waiting = guest(quick, omniwasm.Policy(timeout=0.2))
    # a host call whose deadline passes while its build runs: the build keeps the slot
    deadline = Deadline(timeout=0.05)
    deadline.enter()
    try:
        with pytest.raises(omniwasm.Timeout):
            cache.from_bytes(models.slow_to_build(), 1, deadline)
    finally:
        deadline.leave()
    assert cache.loads == 0
    with pytest.raises(omniwasm.Timeout):
        waiting.infer_bytes([models.mlp()], "onnx", "cpu", [])
    wait_for(cache, 1)
    x = np.zeros((1, 16), np.float32)
    value = {"name": "x", "dims": [1, 16], "ty": "FP32", "data": x.tobytes()}
    out = guest(quick, omniwasm.Policy(timeout=30)).infer_bytes(
        [models.mlp()], "onnx", "cpu", [value]
    )
    assert [v.name for v in out] == ["scores"]


def test_guest_model_bytes_count_against_the_limit(guest: Any) -> None:
    """A guest model that does not fit in max_tensor_bytes ends load with MemoryLimitExceeded.

    A model loaded from guest bytes counts its size while its graph is open.
    """
    blob = models.mlp()
    context = nn.NnContext(max_model_size=1 << 20, max_tensor_bytes=len(blob) - 1)
    with pytest.raises(omniwasm.MemoryLimitExceeded):
        guest(context).infer_bytes([blob], "onnx", "cpu", [])
    assert context.held == 0
    roomy = nn.NnContext(max_model_size=1 << 20, max_tensor_bytes=len(blob) + 4096)
    x = np.zeros((1, 16), np.float32)
    value = {"name": "x", "dims": [1, 16], "ty": "FP32", "data": x.tobytes()}
    assert [v.name for v in guest(roomy).infer_bytes([blob], "onnx", "cpu", [value])] == ["scores"]
    assert roomy.held == 0 and roomy.open_resources() == {}


ARENA_CHILD = """
import sys
import numpy as np
from fixtures import nn_models as models
from omniwasm.wasi import nn

context = nn.NnContext(max_model_size=1 << 20)
bound = type("Tensor", (nn.Tensor,), {"__slots__": (), "_bound": context})
model = context.cache.from_bytes(models.allocate(), 1)
exe = nn.ExecutionContext(context, model, bound)
for n in (1000, 20000, 1000):  # 4 MB, 1.6 GB, 4 MB of ones
    shape = np.array([n, n], np.int64).tobytes()
    result = exe.compute([("s", bound([2], "I64", shape))])
    value = result.value
    if isinstance(value, list):
        out = value[0][1]
        print("ok", float(np.frombuffer(out.data(), np.float32)[0]))
        out.close()
    else:
        print("error", value.code().value)
# VmHWM: this process's own peak (ru_maxrss keeps the forking parent's peak across exec)
hwm = next(line for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print("peak_mb", int(hwm.split()[1]) // 1024)
"""


def test_onnx_runtime_memory_is_capped_for_the_process(tmp_path: Path) -> None:
    """Past OMNIWASM_NN_MEMORY, an inference sized by the guest gets runtime-error.

    The process does not grow, and smaller runs before and after it still work.
    """
    env = {**os.environ, "OMNIWASM_NN_MEMORY": "256MiB", "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.run(
        [sys.executable, "-c", ARENA_CHILD],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.split("\n")
    assert lines[:3] == ["ok 1000000.0", "error runtime-error", "ok 1000000.0"]
    assert int(lines[3].split()[1]) < 1024  # the 1.6 GB tensor was never allocated
