"""Typed Python bindings for a component (``omniwasm bindgen``).

``generator`` writes the module text from a component's world; ``write`` loads the component
(or builds one from WIT) and writes the package.
"""

from .write import bindgen

__all__ = ["bindgen"]
