"""omniwasm.ray.map/starmap over Ray tasks and the actors, on the real two-node cluster."""

from __future__ import annotations

import ast
import functools
import os
import subprocess
import sys
from importlib.resources import files
from pathlib import Path
from typing import Any

import pytest
import ray

import omniwasm
import omniwasm.ray as owr
from fixtures.extism_plugins import build_plugin
from fixtures.wat_components import build_wat_component
from omniwasm.plugins import Plugin

pytestmark = pytest.mark.usefixtures("cluster")

KERNELS = Path(str(files("omniwasm") / "examples" / "sql_kernels.wat"))
SPIN = '(module (func (export "spin") (param i64) (result i64) (loop (br 0)) (i64.const 0)))'


@pytest.fixture(scope="module")
def udfs() -> Path:
    """The component test:sql/udfs (scalars, lists, a counter, a trap, a loop)."""
    return build_wat_component("sql_udfs")


def test_map_returns_results_in_order() -> None:
    """``map`` calls a core export once per item across the cluster; results keep item order."""
    assert owr.map(KERNELS, "twice-plus-one", range(40), chunksize=3) == [
        2 * i + 1 for i in range(40)
    ]


def test_instances_are_reused_across_tasks(udfs: Path) -> None:
    """Each worker process keeps one instance across tasks: its call counter keeps counting."""
    counts = owr.map(udfs, "calls", [0] * 24)
    assert len(counts) == 24
    fresh = counts.count(1)  # one per instance made: at most one per worker process
    assert 1 <= fresh <= 4
    assert max(counts) > 1


def test_a_trap_keeps_its_class_and_names_the_item(udfs: Path) -> None:
    """A trap in one task is raised in the driver as omniwasm.Trap naming the item."""
    with pytest.raises(omniwasm.Trap, match=r"omniwasm.ray: div\(item 2: \(1, 0\)\)"):
        owr.starmap(udfs, "div", [(4, 2), (9, 3), (1, 0), (8, 4)])
    assert owr.starmap(udfs, "div", [(8, 2)]) == [4]


def test_map_loop_is_cut_by_its_timeout() -> None:
    """A looping guest fails its task as omniwasm.Timeout at the policy's timeout."""
    with pytest.raises(omniwasm.Timeout, match="item 0"):
        owr.map(SPIN, "spin", [1], policy=omniwasm.Policy(timeout=0.3))


def test_component_actor_keeps_state(udfs: Path) -> None:
    """A ComponentActor's instance lives across calls; two actors never share state."""
    a = owr.ComponentActor.remote(udfs)
    b = owr.ComponentActor.remote(udfs)
    assert ray.get([a.call.remote("calls", 0) for _ in range(3)]) == [1, 2, 3]
    assert ray.get(b.call.remote("calls", 0)) == 1
    assert ray.get(a.call.remote("double-all", [1, 2, 3])) == [3, 5, 7]
    ray.kill(a)
    ray.kill(b)


def test_actor_timeout_spares_the_worker(udfs: Path) -> None:
    """A looping call on an actor fails as Timeout (it pickles) and the same process goes on."""
    actor = owr.ComponentActor.remote(udfs, omniwasm.Policy(timeout=0.5))
    before = ray.get(actor.where.remote())
    with pytest.raises(omniwasm.Timeout) as info:
        ray.get(actor.call.remote("spin", 1))
    cause: Any = info.value.cause  # type: ignore[attr-defined]
    assert isinstance(cause, omniwasm.Timeout) and cause.limit == 0.5
    assert ray.get(actor.call.remote("plus-one", 41)) == 42
    assert ray.get(actor.where.remote()) == before
    ray.kill(actor)


def test_plugin_actor_keeps_its_vars() -> None:
    """A PluginActor holds one Extism plugin: its vars count across calls."""
    make = functools.partial(Plugin, str(build_plugin("config_vars")))
    actor = owr.PluginActor.remote(make)
    assert ray.get([actor.call.remote("counter") for _ in range(3)]) == [b"1", b"2", b"3"]
    ray.kill(actor)


def test_jobs_never_share_instances(udfs: Path, cluster: Any) -> None:
    """A second driver (another Ray job) starts from fresh instances: its counters start at 1."""
    first = owr.map(udfs, "calls", [0] * 12)
    assert max(first) > 1  # this job's instances counted on
    script = (
        "import ray, omniwasm.ray as owr, sys\n"
        f"ray.init(address={cluster.address!r}, log_to_driver=False)\n"
        f"print(owr.map({str(udfs)!r}, 'calls', [0] * 4))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(omniwasm.__file__).parents[1])}
    proc = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    counts = ast.literal_eval(proc.stdout.strip().splitlines()[-1])
    assert len(counts) == 4 and min(counts) == 1 and max(counts) <= 4
