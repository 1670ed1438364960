"""`omniwasm demo` (what `make demo` runs): every bundled example runs and says what it did."""

from __future__ import annotations

import subprocess
import sys


def test_demo_runs_every_example_and_prints_their_results() -> None:
    """The demo exits 0 and prints each of its six steps' real results."""
    argv = [sys.executable, "-m", "omniwasm", "demo"]
    proc = subprocess.run(argv, check=False, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    for step in range(1, 7):
        assert f"\n{step}. " in f"\n{out}"
    assert "fib(90) = 2880067194370816120" in out
    assert '"count":3' in out  # count_vowels on "Hello, World!"
    assert "Hello, plugin! (from a Python host function)" in out
    randoms = [line for line in out.splitlines() if "Hello from a WASI 0.2 component!" in line]
    assert len(randoms) == 2 and randoms[0] == randoms[1]  # deterministic: identical runs
    assert "200 text/plain 'hello from wasm'" in out
