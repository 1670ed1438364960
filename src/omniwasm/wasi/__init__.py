"""WASI 0.2 implemented in Python (see omniwasm.wasi._host)."""
