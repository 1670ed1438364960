"""The process's allocator told to keep freed memory for reuse (glibc's ``mallopt``).

A long-running server streams response bodies through the heap: a guest's 4 KiB writes, then
256 KiB messages, freed before the next response. glibc gives the top of its heap back to the
system as soon as more than its trim threshold is free (a few hundred KiB once large blocks
have been freed), so every such response page-faults the same memory back in: about 160 minor
faults per 1 MiB response from ``omniwasm serve`` with glibc's defaults, none with these
thresholds. ``omniwasm serve`` sets them in each serving process.
"""

from __future__ import annotations

import ctypes

__all__ = ["HEAP_MMAP_THRESHOLD", "HEAP_TRIM_THRESHOLD", "keep_freed_memory"]

HEAP_MMAP_THRESHOLD = 4 << 20
"""Allocations below this come from the heap (glibc's ``M_MMAP_THRESHOLD``), not a fresh
``mmap`` each."""
HEAP_TRIM_THRESHOLD = 64 << 20
"""Freed heap memory kept for reuse (glibc's ``M_TRIM_THRESHOLD``) before the top of the heap
goes back to the system."""
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters


def keep_freed_memory() -> bool:
    """Set the thresholds for this process; whether the allocator took them.

    Setting them turns off glibc's own adjustment of the mmap threshold, so both are set.
    Elsewhere (musl's ``mallopt`` does nothing, macOS has none) it returns False.
    """
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    mmap = mallopt(_M_MMAP_THRESHOLD, HEAP_MMAP_THRESHOLD)
    trim = mallopt(_M_TRIM_THRESHOLD, HEAP_TRIM_THRESHOLD)
    return bool(mmap and trim)
