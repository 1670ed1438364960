"""Plugins: run untrusted code as Extism-compatible plugins (bytes in, bytes out).

::

    from omniwasm.plugins import Plugin, host_fn

    with Plugin("count_vowels.wasm", config={"vowels": "aeiou"}) as plugin:
        print(plugin.call("count_vowels", "Hello, World!"))

Plugins built with any Extism PDK run unmodified: the ``extism:host/env`` kernel is a small
WebAssembly module living in the plugin's store, and the manifest format is Extism's.
"""

from ._hostfn import CurrentPlugin, HostFunction, host_fn
from ._manifest import Manifest, load_manifest
from ._plugin import CompiledPlugin, Plugin
from ._pool import PluginPool

__all__ = [
    "CompiledPlugin",
    "CurrentPlugin",
    "HostFunction",
    "Manifest",
    "Plugin",
    "PluginPool",
    "host_fn",
    "load_manifest",
]
