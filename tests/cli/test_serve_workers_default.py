"""``omniwasm serve`` runs one worker process per core unless told otherwise."""

from __future__ import annotations

import os

from omniwasm.cli._serve import default_workers


def test_default_is_one_worker_per_core() -> None:
    """Without --workers, serve uses as many worker processes as the machine has cores."""
    assert default_workers(http2=False) == (os.cpu_count() or 1)


def test_http2_defaults_to_one_process() -> None:
    """With --http2 (Hypercorn, one process) the default is a single process."""
    assert default_workers(http2=True) == 1
