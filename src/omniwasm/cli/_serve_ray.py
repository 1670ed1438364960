"""``omniwasm serve ... --ray``: the same app served by Ray Serve replicas on a Ray cluster.

The app is built here first, so that a bad manifest or component fails now with its own
error; then this process joins the cluster (``--ray-address``, else ``RAY_ADDRESS``, else a
new local Ray), starts Ray Serve's HTTP proxy on ``--addr`` and deploys
:func:`omniwasm.ray.serve_app` of the settings, each replica building its own app. It serves
until Ctrl-C or SIGTERM, then shuts the application and Ray Serve down.
"""

from __future__ import annotations

import dataclasses
import signal
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._errors import OmniwasmError, PolicyError

if TYPE_CHECKING:
    from ..gateway.serve import ServeSettings

__all__ = ["parse_replicas", "serve_on_ray"]

APP = "omniwasm"


def parse_replicas(text: str) -> int | str:
    """``--replicas``: a count of at least 1, or ``auto`` (Ray Serve scales with the load).

    Raises:
        PolicyError: anything else.

    """
    if text == "auto":
        return text
    if text.isdigit() and int(text) >= 1:
        return int(text)
    raise PolicyError(f"--replicas expects a count of at least 1 or 'auto', got {text!r}")


def serve_on_ray(
    settings: ServeSettings, *, address: str | None, replicas: int | str, replica_cpus: float
) -> int:
    """Serve ``settings``' app from Ray Serve replicas until stopped; the exit code.

    Raises:
        PolicyError: Ray is not installed (``omniwasm[ray]``).
        OmniwasmError: the app cannot be built (its own error), the cluster cannot be
            joined, or Ray Serve cannot deploy the app.

    """
    try:
        import ray
        from ray import serve as ray_serve
    except ImportError as exc:
        raise PolicyError("omniwasm serve --ray needs Ray: pip install 'omniwasm[ray]'") from exc
    from ..gateway.serve import configure_logging, logger, parse_addr
    from ..ray import serve_app

    serve: Any = ray_serve  # partly untyped
    host, port = parse_addr(settings.addr)
    configure_logging(settings.log_format)
    # replicas run elsewhere (another directory, another node): files by absolute path
    settings = dataclasses.replace(
        settings,
        source=_absolute(settings.source),
        kv_path=None if settings.kv_path is None else _absolute(settings.kv_path),
    )
    settings.build()  # fails here, with the app's own error, before any replica tries
    stop = threading.Event()
    try:
        ray.init(address=address, log_to_driver=False, configure_logging=False)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise OmniwasmError(f"--ray: cannot join the Ray cluster: {exc}") from exc
    try:
        for sig in (signal.SIGINT, signal.SIGTERM):  # after ray.init, which sets its own
            signal.signal(sig, lambda *_: stop.set())
        serve.start(http_options={"host": host, "port": port})
        try:
            serve.run(
                serve_app(
                    settings.build,
                    name=APP,
                    num_replicas=replicas,
                    ray_actor_options={"num_cpus": replica_cpus},
                ),
                name=APP,
                route_prefix="/",
            )
        except RuntimeError as exc:
            raise OmniwasmError(f"Ray Serve did not deploy the app: {exc}") from exc
        running = _running(serve.status())
        logger.info(
            "serving %s on Ray Serve at http://%s:%d with %d replicas running",
            settings.source,
            host,
            port,
            running,
        )
        while not stop.wait(0.5):
            pass
        logger.info("stopping: shutting the Ray Serve application down")
    finally:
        serve.shutdown()
        ray.shutdown()
    return 0


def _absolute(path: str) -> str:
    """``path`` made absolute when it names a file here (a registry reference stays)."""
    return str(Path(path).absolute()) if Path(path).exists() else path


def _running(status: Any) -> int:
    """Replicas of the app's deployment that Ray Serve reports running."""
    deployment = status.applications[APP].deployments[APP]
    return int(deployment.replica_states.get("RUNNING", 0))
