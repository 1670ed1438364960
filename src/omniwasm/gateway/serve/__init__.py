"""``omniwasm serve``: an :class:`~omniwasm.gateway.App` under uvicorn, with admin and hot reload.

One process (the default) runs the app server, the optional admin server (``/metrics``,
``/healthz``) and the ``--watch`` poller in one event loop. ``--workers N`` starts N uvicorn
worker processes, each building the app from the same settings (passed in an environment
variable) and running its own ``--watch`` poller; the admin server then runs in the supervising
process and sums the metrics the workers publish (:mod:`._workers`). The key-value database is
shared through its SQLite file. ``--http2`` serves with Hypercorn instead (:mod:`._http2`).
``--tls-cert``/``--tls-key`` serve HTTPS. Stopping (Ctrl-C, SIGTERM) finishes the requests in
flight before the process exits.
"""

from ._logs import configure_logging
from ._run import app_from_env, serve
from ._settings import ServeSettings, logger, parse_addr

__all__ = ["ServeSettings", "app_from_env", "configure_logging", "logger", "parse_addr", "serve"]
