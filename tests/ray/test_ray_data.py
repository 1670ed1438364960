"""omniwasm.ray.map_batches over Ray Data, and the faults: a killed worker, a corrupted cache."""

from __future__ import annotations

import os
from importlib.resources import files
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
import ray

import omniwasm
import omniwasm.ray as owr
from fixtures.wat_components import build_wat_component

pytestmark = pytest.mark.usefixtures("cluster")

KERNELS = Path(str(files("omniwasm") / "examples" / "sql_kernels.wat"))


def _die_once(batch: Any, marker: str) -> Any:
    """A stage after the wasm one: the first batch ever seen kills its worker process."""
    try:
        fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return batch
    os.close(fd)
    os._exit(1)


def test_core_batch_function_over_a_dataset() -> None:
    """A core batch function adds its column to every row of a multi-block dataset."""
    ds = ray.data.range(20_000, override_num_blocks=4)
    rows = owr.map_batches(ds, KERNELS, "times2", columns=["id"], output="y").take_all()
    assert sorted((r["id"], r["y"]) for r in rows) == [(i, 2 * i + 1) for i in range(20_000)]


def test_reservation_off_is_the_returned_datasets_own() -> None:
    """resource_reservation=False turns Ray Data's reservation off for that dataset alone."""
    ds = ray.data.range(8000, override_num_blocks=4)
    out = owr.map_batches(
        ds, KERNELS, "times2", columns=["id"], output="y", resource_reservation=False
    )
    derived = out.map_batches(lambda b: b, batch_format="pyarrow")
    assert out.context.op_resource_reservation_enabled is False
    assert derived.context.op_resource_reservation_enabled is False
    assert ds.context.op_resource_reservation_enabled is True
    assert ray.data.DataContext.get_current().op_resource_reservation_enabled is True
    kept = owr.map_batches(ds, KERNELS, "times2", columns=["id"], output="y")
    assert kept.context.op_resource_reservation_enabled is True
    want = [(i, 2 * i + 1) for i in range(8000)]
    assert sorted((r["id"], r["y"]) for r in derived.take_all()) == want
    assert sorted((r["id"], r["y"]) for r in kept.take_all()) == want


def test_strings_and_nulls() -> None:
    """A string batch function rewrites each value; NULL in gives NULL out."""
    ds = ray.data.from_arrow(pa.table({"s": ["ab", None, "xyz"], "k": [0, 1, 2]}))
    rows = owr.map_batches(ds, KERNELS, "upper-ascii", columns=["s"]).take_all()
    assert sorted((r["k"], r["upper_ascii"]) for r in rows) == [(0, "AB"), (1, None), (2, "XYZ")]


def test_component_functions_over_a_dataset() -> None:
    """A component function over lists runs per batch, a scalar one per row; both exact."""
    udfs = build_wat_component("sql_udfs")
    ds = ray.data.range(3000, override_num_blocks=2)
    ds = owr.map_batches(ds, udfs, "double-all", columns=["id"], output="d")
    ds = owr.map_batches(ds, udfs, "plus-one", columns=["id"], output="p")
    got = sorted((r["id"], r["d"], r["p"]) for r in ds.take_all())
    assert got == [(i, 2 * i + 1, i + 1) for i in range(3000)]


def test_a_failed_batch_fails_the_dataset() -> None:
    """A batch that traps fails the dataset; the error names the class, function and row."""
    udfs = build_wat_component("sql_udfs")
    ds = ray.data.from_arrow(pa.table({"a": [1, 2], "b": [1, 0]}))
    with pytest.raises(
        ray.exceptions.RayTaskError, match=r"Trap: omniwasm.ray: div\(row 1: 2, 0\)"
    ):
        owr.map_batches(ds, udfs, "div", columns=["a", "b"]).take_all()


def test_a_looping_batch_is_cut_by_its_timeout() -> None:
    """A guest looping inside a batch fails the dataset as Timeout; the next dataset runs."""
    udfs = build_wat_component("sql_udfs")
    ds = ray.data.from_arrow(pa.table({"x": [1, 2]}))
    with pytest.raises(ray.exceptions.RayTaskError, match=r"Timeout: .*omniwasm.ray: spin"):
        owr.map_batches(ds, udfs, "spin", policy=omniwasm.Policy(timeout=0.3)).take_all()
    assert owr.map_batches(ds, udfs, "plus-one").sum("plus_one") == 5


def test_worker_killed_mid_batch_every_row_once(tmp_path: Path) -> None:
    """A worker process killed inside a task is retried by Ray: every row comes out once."""
    marker = tmp_path / "died"
    ds = ray.data.range(8000, override_num_blocks=4)
    ds = owr.map_batches(ds, KERNELS, "times2", columns=["id"], output="y")
    ds = ds.map_batches(_die_once, fn_kwargs={"marker": str(marker)}, batch_format="pyarrow")
    rows = ds.take_all()
    assert marker.exists()  # a worker did die
    assert sorted((r["id"], r["y"]) for r in rows) == [(i, 2 * i + 1) for i in range(8000)]


def test_corrupted_node_cache_is_recompiled(cluster: Any) -> None:
    """Every compile-cache file garbled: fresh workers recompile and compute the right answer."""
    assert owr.map(KERNELS, "twice-plus-one", [1, 2]) == [3, 5]
    entries = [p for p in cluster.cache.rglob("*") if p.is_file()]
    assert entries
    for path in entries:
        path.write_bytes(b"\0garbage" * 16)
    fresh = {"runtime_env": {"env_vars": {"OMNIWASM_TEST_FRESH_WORKERS": "1"}}}
    assert owr.map(KERNELS, "twice-plus-one", [20, 21], ray_remote_args=fresh) == [41, 43]
    rewritten = [p for p in cluster.cache.rglob("*") if p.is_file()]
    assert any(p.read_bytes()[:8] != b"\0garbage" for p in rewritten)
