"""The gateway (or any ASGI app) as a Ray Serve deployment: replicas scale with load."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["serve_app"]


def serve_app(
    build: Callable[[], Any],
    *,
    name: str = "omniwasm",
    num_replicas: int | str | None = None,
    autoscaling_config: Mapping[str, Any] | None = None,
    ray_actor_options: Mapping[str, Any] | None = None,
    max_ongoing_requests: int | None = None,
) -> Any:
    """A Ray Serve application serving the ASGI app ``build()`` makes in each replica.

    ``build`` runs in every replica, so each has its own compiled code and instances; pass
    something picklable that makes the app, e.g. ``functools.partial(App, "omniwasm.toml")``
    with ``omniwasm.gateway.App`` (the app itself holds native state and cannot travel).
    Run it with ``ray.serve.run(app)``.

    Args:
        build: a callable without arguments returning an ASGI app.
        name: the deployment's name.
        num_replicas: replicas, or ``"auto"`` (Ray Serve's default autoscaling).
        autoscaling_config: Ray Serve's autoscaling settings (``min_replicas``,
            ``max_replicas``, ``target_ongoing_requests`` ...), replicas following the load.
        ray_actor_options: resources of each replica (``num_cpus`` ...).
        max_ongoing_requests: requests one replica takes at once.

    Returns:
        A bound ``ray.serve`` application.

    """
    from ray import serve

    options: dict[str, Any] = {"name": name}
    if num_replicas is not None:
        options["num_replicas"] = num_replicas
    if autoscaling_config is not None:
        options["autoscaling_config"] = dict(autoscaling_config)
    if ray_actor_options is not None:
        options["ray_actor_options"] = dict(ray_actor_options)
    if max_ongoing_requests is not None:
        options["max_ongoing_requests"] = max_ongoing_requests

    class OmniwasmGateway:
        """The replica: Ray Serve hands it every HTTP request through the ASGI app."""

    def build_app() -> Any:
        # Ray Serve takes a plain function as a builder (a partial or a class instance would
        # be taken for the ASGI app itself).
        return build()

    deployment = serve.deployment(**options)(serve.ingress(build_app)(OmniwasmGateway))
    return deployment.bind()
