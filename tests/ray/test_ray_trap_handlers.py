"""A driver that ran guests before ``ray.init()`` still gets Trap for a guest's fault after it.

``ray.init()`` installs absl's failure signal handler (and enables faulthandler) over
wasmtime's trap handlers; the next guest trap in the driver used to kill it with "SIGILL
received" and "Fatal Python error: Illegal instruction". The driver runs in a subprocess, so a
crash fails the test.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import omniwasm

DRIVER = """
import sys, ray, wasmtime, omniwasm
from omniwasm import Runtime, Trap
CORE = wasmtime.wat2wasm('(module (func (export "boom") unreachable))')
def trap(inst):
    try:
        inst.func("boom")()
    except Trap as e:
        print(e.code, flush=True)
rt = Runtime(cache=False)
old = rt.instantiate(rt.load(CORE))
trap(old)
ray.init(address=sys.argv[1], _node_ip_address="127.0.0.1", log_to_driver=False)
try:
    trap(rt.instantiate(rt.load(CORE)))  # a new instance
    Runtime(cache=False)
    trap(old)  # an instance from before, once a Runtime was made
finally:
    ray.shutdown()
"""


def test_guest_traps_in_a_driver_after_ray_init_stay_traps(cluster: Any) -> None:
    """After ray.init(), new instances and (once a Runtime is made) older ones raise Trap."""
    src = str(Path(omniwasm.__file__).parents[1])
    env = {**os.environ, "PYTHONPATH": src, "RAY_AUTH_MODE": "disabled"}
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(DRIVER), cluster.address],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["unreachable"] * 3
