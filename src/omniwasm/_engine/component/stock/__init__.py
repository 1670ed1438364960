"""The stock component backend: wasmtime's component C API, with omniwasm's converters.

``instance`` instantiates and runs components, ``exports`` calls their exported functions,
``imports`` serves their imports from Python, ``val``/``val_write``/``val_read`` convert Python
values to and from the C API's ``wasmtime_component_val_t``, ``handles`` wraps resources, and
``types`` turns wasmtime's component types into omniwasm's WIT descriptors.
"""
