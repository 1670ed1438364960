"""map_batches: one guest call per block by default, one instance per worker process."""

from __future__ import annotations

import os
from typing import Any

import pyarrow as pa
import pytest
import ray

import omniwasm.ray as owr

pytestmark = pytest.mark.usefixtures("cluster")

# `calls` replaces each value of its batch by how many times this instance has been called.
CALLS = r"""(module
  (@custom "omniwasm:signatures" "calls: batch func(x: s64) -> s64\n")
  (memory (export "memory") 1)
  (global $n (mut i64) (i64.const 0))
  (func (export "omniwasm_scratch") (param $size i32) (result i32)
    (local $need i32)
    (local.set $need (i32.shr_u (i32.add (local.get $size) (i32.const 131071)) (i32.const 16)))
    (if (i32.gt_u (local.get $need) (memory.size))
      (then
        (if (i32.eq (memory.grow (i32.sub (local.get $need) (memory.size))) (i32.const -1))
          (then unreachable))))
    (i32.const 65536))
  (func (export "calls") (param $desc i32) (result i32)
    (local $p i32) (local $end i32)
    (global.set $n (i64.add (global.get $n) (i64.const 1)))
    (local.set $p (i32.load offset=28 (local.get $desc)))
    (local.set $end
      (i32.add (local.get $p) (i32.shl (i32.load (local.get $desc)) (i32.const 3))))
    (block $done (loop $row
      (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
      (i64.store (local.get $p) (global.get $n))
      (local.set $p (i32.add (local.get $p) (i32.const 8)))
      (br $row)))
    (i32.store offset=48 (local.get $desc) (i32.const 0))
    (i32.store offset=52 (local.get $desc) (i32.load offset=28 (local.get $desc)))
    (i32.const 0)))
"""


def _pid(batch: Any) -> Any:
    """A stage fused into the wasm one's task: the worker process it ran in."""
    return batch.append_column("pid", pa.array([os.getpid()] * batch.num_rows, pa.int64()))


def test_one_call_per_block_and_one_instance_per_worker_process() -> None:
    """Each block is one guest call; a worker's instance serves all of its blocks in turn."""
    ds = ray.data.range(8000, override_num_blocks=8)
    ds = owr.map_batches(ds, CALLS, "calls", columns=["id"], output="n")
    ds = ds.map_batches(_pid, batch_format="pyarrow")
    blocks: dict[int, set[tuple[int, int]]] = {}
    for row in ds.take_all():
        blocks.setdefault(row["id"] // 1000, set()).add((row["pid"], row["n"]))
    assert sorted(blocks) == list(range(8))
    assert all(len(seen) == 1 for seen in blocks.values())  # one call (and process) per block
    calls: dict[int, list[int]] = {}
    for seen in blocks.values():
        pid, n = next(iter(seen))
        calls.setdefault(pid, []).append(n)
    # a process's blocks were calls 1, 2, 3 ... of one instance: none was made per task
    assert max(len(ns) for ns in calls.values()) > 1, calls
    assert all(sorted(ns) == list(range(1, len(ns) + 1)) for ns in calls.values()), calls
