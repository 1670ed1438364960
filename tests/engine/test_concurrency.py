"""One Runtime runs many guests from many threads at once, each with its own sandbox."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from omniwasm import Policy, RunResult, Runtime, Timeout

Build = Callable[[str], Path]


def _run_all(rt: Runtime, jobs: list[tuple[Path, Policy]]) -> list[RunResult | Exception]:
    barrier = threading.Barrier(len(jobs))

    def one(job: tuple[Path, Policy]) -> RunResult | Exception:
        path, policy = job
        barrier.wait(timeout=30)
        try:
            return rt.run(path, policy, argv0=f"t{policy.args[0] if policy.args else ''}")
        except Exception as exc:  # the test inspects what each thread got
            return exc

    with ThreadPoolExecutor(len(jobs)) as pool:
        return list(pool.map(one, jobs))


@pytest.mark.parametrize("kind", ["module", "component"])
def test_eight_threads_capture_only_their_own_output(
    c_module: Build, c_component: Build, kind: str
) -> None:
    """Eight simultaneous runs from one Runtime each capture exactly their own args and env."""
    build = c_module if kind == "module" else c_component
    rt = Runtime()
    path = build("args")
    compiled = rt.load(path)
    jobs = [(path, Policy(args=[str(i), f"payload-{i}" * 50])) for i in range(8)]
    results = _run_all(rt, jobs)
    for i, result in enumerate(results):
        assert isinstance(result, RunResult), result
        assert result.stdout.decode().splitlines() == [
            "argc=3",
            f"argv[0]=t{i}",
            f"argv[1]={i}",
            f"argv[2]={f'payload-{i}' * 50}",
        ]
    assert compiled.kind == kind


def test_one_thread_times_out_while_others_finish(c_module: Build) -> None:
    """A thread whose guest loops under a tiny timeout raises Timeout; the other seven succeed."""
    rt = Runtime()
    jobs = [(c_module("args"), Policy(args=[str(i)])) for i in range(7)]
    jobs.insert(3, (c_module("loop"), Policy(args=["loop"], timeout=0.2)))
    results = _run_all(rt, jobs)
    assert isinstance(results[3], Timeout)
    others = [r for i, r in enumerate(results) if i != 3]
    for n, result in enumerate(others):
        assert isinstance(result, RunResult), result
        assert result.exit_code == 0
        assert result.stdout == f"argc=2\nargv[0]=t{n}\nargv[1]={n}\n".encode()


def test_concurrent_env_and_stdin_do_not_mix(c_module: Build) -> None:
    """Concurrent runs with different env and stdin see only their own."""
    rt = Runtime()
    env_jobs = [(c_module("env"), Policy(args=[str(i)], env={"N": str(i)})) for i in range(4)]
    echo_jobs = [(c_module("echo"), Policy(args=[str(i)], stdin=b"in-%d" % i)) for i in range(4)]
    results = _run_all(rt, env_jobs + echo_jobs)
    for i in range(4):
        env_result, echo_result = results[i], results[4 + i]
        assert isinstance(env_result, RunResult) and isinstance(echo_result, RunResult)
        assert env_result.stdout == f"N={i}\ncount=1\n".encode()
        assert echo_result.stdout == b"in-%d" % i
