"""``omniwasm serve`` keeps freed heap memory for the next response (glibc's trim thresholds)."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
    reason="the thresholds are glibc's (mallopt)",
)

# A 1 MiB response as the gateway streams it: 256 guest writes of 4 KiB, joined into 256 KiB
# messages, all freed before the next response. Prints the minor page faults per response.
_RESPONSES = """
import resource, sys
if sys.argv[1] == "tuned":
    from omniwasm._runtime import keep_freed_memory
    assert keep_freed_memory()
piece = bytearray(b"x" * 4096)
def response():
    chunks = [bytes(piece) for _ in range(256)]
    messages = [b"".join(chunks[i : i + 64]) for i in range(0, 256, 64)]
    del chunks
    return sum(map(len, messages))
for _ in range(5):
    response()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(50):
    assert response() == 1 << 20
print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 50)
"""


def _faults_per_response(mode: str) -> float:
    env = {**os.environ}
    for name in ("MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TOP_PAD_"):
        env.pop(name, None)  # glibc's defaults, whatever the environment says
    out = subprocess.run(
        [sys.executable, "-c", _RESPONSES, mode],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    return float(out.stdout.strip())


def test_streamed_responses_reuse_freed_heap_memory() -> None:
    """A streamed 1 MiB response reuses the heap the previous one freed (next to no faults).

    glibc's defaults fault hundreds of pages back in for the same workload.
    """
    untuned = _faults_per_response("plain")
    tuned = _faults_per_response("tuned")
    assert untuned > 100, f"the workload no longer shows the trimming ({untuned} faults)"
    assert tuned < 5, f"{tuned} page faults per response with the heap kept"
