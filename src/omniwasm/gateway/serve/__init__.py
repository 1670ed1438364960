"""``omniwasm serve``: an :class:`~omniwasm.gateway.App` under uvicorn or Hypercorn."""

from ._run import ServeSettings, app_from_env, parse_addr, serve

__all__ = ["ServeSettings", "app_from_env", "parse_addr", "serve"]
