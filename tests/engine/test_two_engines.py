"""Runtimes with different settings (so different native engines) live side by side in one process.

wasmtime binds a function type to the first engine it is used with; one type object shared by
two engines aborts the process. Each case runs in a subprocess so an abort fails the test.
"""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
from omniwasm import Policy, Runtime
wat = '''(module
  (import "wasi_snapshot_preview1" "poll_oneoff" (func (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "_start")))'''
policy = Policy(timeout=5)
for rt in (Runtime(cache=False), Runtime(cache=False, pooling=False), Runtime(fuel=True)):
    print(rt.run(wat, policy.with_(fuel=1000) if rt.fuel else policy).exit_code)
"""


def test_wasi_modules_with_a_timeout_run_on_three_engines() -> None:
    """A WASI module with a timeout runs under pooled, on-demand and fuel engines in turn."""
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split() == ["0", "0", "0"]
