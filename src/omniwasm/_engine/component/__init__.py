"""Component backends.

``stock`` runs components on wasmtime's component C API with omniwasm's own value
converters; ``own`` (planned) is omniwasm's own canonical ABI over core modules.
"""
