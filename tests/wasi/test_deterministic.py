"""Deterministic mode of the virtual WASI host: fixed clocks, seeded random, reproducible runs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from omniwasm import Policy, Runtime, wasi

Guest = Callable[[str], Path]


@pytest.fixture(scope="module")
def rt() -> Runtime:
    """One runtime for the module."""
    return Runtime()


def _keyed(stdout: bytes) -> dict[str, str]:
    return dict(line.split(": ", 1) for line in stdout.decode().splitlines())


def test_two_deterministic_runs_print_identical_time_and_random(
    rt: Runtime, wasi_guest: Guest
) -> None:
    """A guest printing clocks and random values gives byte-identical output twice."""
    for name, args in (("clocks", ("20",)), ("random", ("32",))):
        policy = Policy(deterministic=True, seed=7, args=args)
        first = wasi.run(rt, wasi_guest(name), policy)
        second = wasi.run(rt, wasi_guest(name), policy)
        assert first.exit_code == 0, first.stderr
        assert first.stdout == second.stdout, name


def test_real_mode_random_differs_between_runs(rt: Runtime, wasi_guest: Guest) -> None:
    """Without deterministic mode the random bytes differ from run to run."""
    first = _keyed(wasi.run(rt, wasi_guest("random"), Policy()).stdout)
    second = _keyed(wasi.run(rt, wasi_guest("random"), Policy()).stdout)
    assert first["getentropy"] != second["getentropy"]


def test_another_seed_gives_other_random_values(rt: Runtime, wasi_guest: Guest) -> None:
    """The seed selects the random stream."""
    one = _keyed(wasi.run(rt, wasi_guest("random"), Policy(deterministic=True, seed=1)).stdout)
    two = _keyed(wasi.run(rt, wasi_guest("random"), Policy(deterministic=True, seed=2)).stdout)
    assert one["getentropy"] != two["getentropy"]


def test_deterministic_sleep_advances_virtual_time_without_waiting(
    rt: Runtime, wasi_guest: Guest
) -> None:
    """Sleeping 500 ms on the virtual clock takes no real time but moves the clock enough."""
    import time

    started = time.monotonic()
    out = _keyed(
        wasi.run(rt, wasi_guest("clocks"), Policy(deterministic=True, args=("500",))).stdout
    )
    assert time.monotonic() - started < 1.0  # three 500 ms sleeps did not really happen
    assert out["nanosleep_enough"] == "yes"
    assert out["abstime_enough"] == "yes"
    assert out["wall"].startswith("1700000000.")  # the fixed start date, plus the sleeps


def test_real_clocks_really_sleep(rt: Runtime, wasi_guest: Guest) -> None:
    """Outside deterministic mode, a 30 ms sleep blocks for at least 30 ms."""
    out = _keyed(wasi.run(rt, wasi_guest("clocks"), Policy(args=("30",))).stdout)
    assert out["nanosleep_enough"] == "yes"
    assert out["clock_nanosleep_enough"] == "yes"
    assert out["abstime_enough"] == "yes"
    assert out["wall_after_2020"] == "yes"


def test_packaged_example_is_reproducible_and_runs_natively(rt: Runtime) -> None:
    """examples/wasi_hello.wat runs on both hosts; deterministic runs print the same random."""
    import omniwasm

    hello = rt.load((Path(omniwasm.__file__).parent / "examples" / "wasi_hello.wat").read_bytes())
    native = rt.run(hello)
    assert native.stdout.startswith(b"Hello from a WASI 0.2 component! random: ")
    runs = [wasi.run(rt, hello, Policy(deterministic=True, seed=7)) for _ in range(2)]
    assert runs[0].stdout == runs[1].stdout
    assert len(runs[0].stdout) == len(native.stdout)
