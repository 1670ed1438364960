"""``map``/``starmap`` over Ray tasks and ``map_batches`` over Ray Data."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import ray

from .._compiled import Compiled, Source
from .._errors import OmniwasmError
from .._policy import Policy
from ._calls import apply_batch, run_items
from ._code import Code, code_of

__all__ = ["DEFAULT_POLICY", "map", "map_batches", "starmap"]

DEFAULT_POLICY = Policy(timeout=60.0, max_memory=512 << 20, stdout="discard", stderr="discard")
"""The sandbox when none is given: compute only, 512 MiB, 60 s per call (an item, or a batch
of a ``batch`` function), output discarded."""


def _task(
    code: Code, function: str, policy: Policy, items: list[Any], how: tuple[bool, int]
) -> list[Any]:
    """One Ray task: ``how`` is (items are argument tuples, index of the first item)."""
    return run_items(code, function, policy, items, star=how[0], first=how[1])


_run = ray.remote(_task)
_INLINE = 64 << 10


def _raise_cause(exc: ray.exceptions.RayTaskError) -> None:
    """Re-raise the omniwasm error a task failed with as itself (Ray wraps it)."""
    cause = getattr(exc, "cause", None)
    if isinstance(cause, OmniwasmError):
        raise cause from None


def _submit(
    source: Code | Compiled | Source,
    function: str,
    items: Iterable[Any],
    *,
    policy: Policy | None,
    chunksize: int,
    star: bool,
    options: Mapping[str, Any] | None,
) -> list[Any]:
    if chunksize < 1:
        raise ValueError("chunksize must be at least 1")
    shipped = code_of(source)
    # Small code travels inline with each task (cheaper than a fetch from the object store);
    # larger code goes to the object store once and each task carries only its reference.
    code: Any = shipped if len(shipped.data or b"") <= _INLINE else ray.put(shipped)
    policy = policy if policy is not None else DEFAULT_POLICY
    work = list(items)
    task = _run.options(**options) if options else _run
    refs = [
        task.remote(code, function, policy, work[i : i + chunksize], (star, i))
        for i in range(0, len(work), chunksize)
    ]
    try:
        chunks = ray.get(refs)
    except ray.exceptions.RayTaskError as exc:
        # The other tasks run to their end: ray.cancel races with task completion and can
        # abort the driver (ray-project/ray#54846).
        _raise_cause(exc)
        raise
    return [value for chunk in chunks for value in chunk]


def map(
    source: Code | Compiled | Source,
    function: str,
    items: Iterable[Any],
    *,
    policy: Policy | None = None,
    chunksize: int = 1,
    ray_remote_args: Mapping[str, Any] | None = None,
) -> list[Any]:
    """Call ``function`` on every item, in Ray tasks, and return the results in order.

    The code goes to the object store once; each worker process compiles it through its
    node's compile cache (so once per node) and keeps one instance for the job, reused by
    every later task.

    Args:
        source: the module or component (a path, bytes, WebAssembly text, a registry
            reference, or a :class:`Code`).
        function: the export to call (``iface#func`` for a component interface's function).
        items: one argument per call.
        policy: the sandbox (``DEFAULT_POLICY`` when None); its ``timeout`` and ``fuel``
            apply to each call.
        chunksize: items per task.
        ray_remote_args: options for the tasks (``num_cpus``, ``max_retries`` ...).

    Raises:
        OmniwasmError: a call failed (``Trap``, ``Timeout``, ``OutOfFuel`` ...: the class
            the guest failed with), its message naming the item; the other tasks are
            cancelled.

    """
    return _submit(
        source,
        function,
        items,
        policy=policy,
        chunksize=chunksize,
        star=False,
        options=ray_remote_args,
    )


def starmap(
    source: Code | Compiled | Source,
    function: str,
    items: Iterable[Sequence[Any]],
    *,
    policy: Policy | None = None,
    chunksize: int = 1,
    ray_remote_args: Mapping[str, Any] | None = None,
) -> list[Any]:
    """Like :func:`map`, with each item a sequence of arguments.

    Raises:
        OmniwasmError: as :func:`map`.

    """
    return _submit(
        source,
        function,
        (tuple(i) for i in items),
        policy=policy,
        chunksize=chunksize,
        star=True,
        options=ray_remote_args,
    )


def map_batches(
    dataset: Any,
    source: Code | Compiled | Source,
    function: str,
    *,
    policy: Policy | None = None,
    columns: Sequence[str] | None = None,
    output: str | None = None,
    batch_size: int | None = None,
    resource_reservation: bool = True,
    **ray_args: Any,
) -> Any:
    """Add the column ``function(columns)`` to a Ray Dataset, one Arrow batch at a time.

    A core ``batch`` function gets each batch's Arrow buffers through the columnar ABI (one
    guest call per batch, the same path as DuckDB functions); a component function whose
    parameters and result are lists gets the batch's columns as lists (one call); any other
    function is called per row inside the batch's task. NULL in gives NULL out. Lazy, as
    Ray Data is: nothing runs until the dataset is consumed.

    Args:
        dataset: a ``ray.data.Dataset``.
        source: the module or component (see :func:`map`).
        function: the export.
        policy: the sandbox (``DEFAULT_POLICY`` when None); ``timeout`` and ``fuel`` apply
            to each guest call (a batch, or a row).
        columns: the input columns, in parameter order (default: the parameters' names
            when the dataset has them, else its first columns).
        output: the result column's name (default: the function's name); an existing
            column of that name is replaced.
        batch_size: rows per guest call; None (Ray's default) calls it once per block,
            which also lets Ray run the dataset's read and this map in the same task (a
            ``batch_size`` keeps them apart, with a trip through the object store between).
        resource_reservation: False runs the returned dataset (and those made from it)
            without Ray Data's per-operator resource reservation
            (``DataContext.op_resource_reservation_enabled``), in a context of its own:
            every CPU works from the start of an execution instead of after its first
            second, but Ray Data no longer holds back tasks whose outputs a slow consumer
            has not taken (they spill to disk). The input dataset and the current
            ``DataContext`` are left as they are. True keeps the dataset's setting.
        ray_args: more options for ``Dataset.map_batches`` (``concurrency``, ``num_cpus``,
            ``ray_remote_args`` ...).

    Returns:
        The new dataset.

    Raises:
        InvalidModule: the code cannot be read (now); a failed call fails the dataset's
            execution later, with the omniwasm error as the cause.

    """
    code = code_of(source)
    name = output if output is not None else function.rpartition("#")[2].replace("-", "_")
    mapped = dataset.map_batches(
        apply_batch,
        batch_format="pyarrow",
        batch_size=batch_size,
        zero_copy_batch=True,
        fn_kwargs={
            "code": code,
            "function": function,
            "policy": policy if policy is not None else DEFAULT_POLICY,
            "columns": None if columns is None else list(columns),
            "output": name,
        },
        **ray_args,
    )
    return mapped if resource_reservation else _without_reservation(mapped)


def _without_reservation(dataset: Any) -> Any:
    """``dataset`` with a copy of its context whose per-operator reservation is off.

    A derived dataset shares its parent's context object, so the setting goes on a copy.
    """
    own = type(dataset).copy(dataset, _deep_copy=True)
    own.context.op_resource_reservation_enabled = False
    return own
