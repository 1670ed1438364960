"""omniwasm's own component runtime: the canonical ABI over wasmtime's core API (#15).

``abi`` lifts and lowers every value type with direct reads and writes of linear memory;
``instance`` instantiates a component's core modules from its parsed binary and calls them.
"""
