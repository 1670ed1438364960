"""The one pure-Python reader of WebAssembly binaries (no engine, no wasmtime).

``reader`` decodes the primitives (LEB128 integers, names, sections), ``layout`` walks the
sections of a module or component for ``inspect`` (custom sections, ``producers``), and
``module`` reads a core module's imports and exported functions for the linker's fast path.
"""
