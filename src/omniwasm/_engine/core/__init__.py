"""Core modules on wasmtime: instances, fast calls, and modules linked with companions."""
