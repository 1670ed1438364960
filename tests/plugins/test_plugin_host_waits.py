"""A component plugin's WASI waits end at its timeout and at cancel() (virtual WASI host)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from fixtures.bounded import bounded
from fixtures.cancelling import cancelled_soon
from omniwasm import Cancelled, Linker, Policy, Timeout
from omniwasm.plugins import Plugin

Build = Callable[[str], Path]


def test_component_plugin_sleep_ends_at_the_timeout(c_component: Build) -> None:
    """A component plugin sleeping an hour in wasi:cli/run raises Timeout."""
    plugin = Plugin(c_component("waits"), policy=Policy(timeout=0.3, args=["sleep", "3600"]))
    _, error, _ = bounded(lambda: plugin.call("run"))  # (never closed while in use)
    assert isinstance(error, Timeout), error
    plugin.close()


def test_component_plugin_sleep_is_cancellable(c_component: Build) -> None:
    """cancel() from another thread ends a component plugin's sleep with Cancelled."""
    plugin = Plugin(c_component("waits"), policy=Policy(args=["sleep", "3600"]))
    with cancelled_soon(plugin.cancel):
        _, error, _ = bounded(lambda: plugin.call("run"))
    assert isinstance(error, Cancelled), error
    plugin.close()


def test_component_plugin_with_its_own_linker_keeps_working(c_component: Build) -> None:
    """A plugin given imports=Linker() still runs, its WASI on the virtual host."""
    plugin = Plugin(
        c_component("waits"), imports=Linker(), policy=Policy(timeout=30, args=["sleep", "0"])
    )
    _, error, _ = bounded(lambda: plugin.call("run"))
    assert error is None, error
    plugin.close()
