"""Where the habitat keeps what it derives: verified stamps, snapshot images, compiled code."""

from __future__ import annotations

import os
from pathlib import Path

from .._cache import cache_dir

__all__ = ["cache_root"]


def cache_root() -> Path:
    """``$OMNIWASM_PYTHON_CACHE``, else ``python/`` in omniwasm's cache directory.

    Images and their compiled code are large (about 300 MB each) and slow to make (a minute
    or more each), so they outlive the compile cache's own directory when this is set.
    """
    env = os.environ.get("OMNIWASM_PYTHON_CACHE")
    return Path(env) if env else cache_dir() / "python"
