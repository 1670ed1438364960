"""The package version (read statically by setuptools; no importlib.metadata at import)."""

__version__ = "0.1.0"
