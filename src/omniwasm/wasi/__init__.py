"""WASI 0.2 implemented in Python: a virtual, fully controllable host for components.

wasmtime's native WASI is fast but closed: Python cannot create or read its streams. This host
implements every WASI 0.2 interface a component imports (``wasi:io``, ``wasi:clocks``,
``wasi:random``, ``wasi:cli``, ``wasi:filesystem``, ``wasi:sockets``, ``wasi:http``, and
``wasi:nn`` on ONNX Runtime: :mod:`omniwasm.wasi.nn`) in Python on omniwasm's host-import
layer, so the embedder controls every byte::

    from omniwasm import Policy, Runtime, wasi

    fs = wasi.MemoryFs({"in.txt": b"hello"})
    result = wasi.run(Runtime(), "app.wasm", Policy(deterministic=True, seed=7),
                      stdin=b"input", filesystems={"/data": fs})
    print(result.exit_code, result.stdout, fs.files())

One linker serves every instance (:func:`linker`); each instance's state is a
:class:`WasiContext` passed as ``host_data``. ``omniwasm run --wasi virtual`` uses it.
"""

from .._runtime import register_python_wasi
from ._host import WasiContext, _for_own_runtime, add_to_linker, instantiate, linker, run
from ._io import BufferSink, InputStream, LineLogger, OutputStream
from .fs import FsError, HostDir, MemoryFs

register_python_wasi(_for_own_runtime)  # the own component runtime's WASI

__all__ = [
    "BufferSink",
    "FsError",
    "HostDir",
    "InputStream",
    "LineLogger",
    "MemoryFs",
    "OutputStream",
    "WasiContext",
    "add_to_linker",
    "instantiate",
    "linker",
    "run",
]
