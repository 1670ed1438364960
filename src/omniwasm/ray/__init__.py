"""Scale out on Ray: sandboxed functions over Ray tasks, Ray Data, actors and Ray Serve.

::

    import ray, omniwasm.ray as owr
    ray.init()
    owr.map("fib.wasm", "fib", range(30))                       # Ray tasks, results in order
    ds = owr.map_batches(ray.data.range(10**6), "kernels.wat", "times2", columns=["id"])
    actor = owr.ComponentActor.remote("counter.wasm")            # a live instance
    ray.get(actor.call.remote("incr", 1))

Code travels as bytes (or a registry reference), each node compiles it once through its
compile cache, and each worker process keeps one instance per job, reused across tasks and
batches. Errors keep their omniwasm class across processes. Needs the ``ray`` extra
(``pip install 'omniwasm[ray]'``).
"""

from ._actors import ComponentActor, PluginActor, where
from ._api import DEFAULT_POLICY, map, map_batches, starmap
from ._code import Code, code_of, forget
from ._serve import serve_app

__all__ = [
    "DEFAULT_POLICY",
    "Code",
    "ComponentActor",
    "PluginActor",
    "code_of",
    "forget",
    "map",
    "map_batches",
    "serve_app",
    "starmap",
    "where",
]
