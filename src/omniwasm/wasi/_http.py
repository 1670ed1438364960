"""``wasi:http`` in Python: ``types`` and ``outgoing-handler`` for every 0.2.x version.

The resources live in ``_http_fields.py`` (fields, error codes), ``_http_body.py`` (bodies and
their byte feeds) and ``_http_types.py`` (requests, responses, futures); the client is in
``_http_client.py`` (the policy check and the ``httpx`` background thread). This
module names them for the linker: :data:`HTTP_INTERFACES` maps each interface to its members,
as ``_host.py`` expects (the linker matches unversioned names, so one definition serves 0.2.0
through 0.2.x).

A guest's outgoing request goes out only when the instance's ``Policy.allowed_hosts`` allows
its target (Spin-style ``scheme://host[:port]`` patterns); otherwise ``handle`` answers
``error-code.HTTP-request-denied``, never a trap.
"""

from __future__ import annotations

from typing import Any

from ._http_body import BodyFeed, FutureTrailers, IncomingBody, OutgoingBody
from ._http_client import DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_TIMEOUT_NS, handle, host_allowed, send
from ._http_fields import Fields, HttpIoError, error_code, http_error_code
from ._http_types import (
    FutureIncomingResponse,
    IncomingRequest,
    IncomingResponse,
    OutgoingRequest,
    OutgoingResponse,
    RequestOptions,
    ResponseOutparam,
)

__all__ = [
    "DEFAULT_MAX_RESPONSE_BYTES",
    "DEFAULT_TIMEOUT_NS",
    "HTTP_INTERFACES",
    "BodyFeed",
    "Fields",
    "FutureIncomingResponse",
    "FutureTrailers",
    "HttpIoError",
    "IncomingBody",
    "IncomingRequest",
    "IncomingResponse",
    "OutgoingBody",
    "OutgoingRequest",
    "OutgoingResponse",
    "RequestOptions",
    "ResponseOutparam",
    "error_code",
    "host_allowed",
    "send",
]

HTTP_INTERFACES: dict[str, dict[str, Any]] = {
    "wasi:http/types": {
        "fields": Fields,
        "incoming_request": IncomingRequest,
        "outgoing_request": OutgoingRequest,
        "request_options": RequestOptions,
        "response_outparam": ResponseOutparam,
        "incoming_response": IncomingResponse,
        "incoming_body": IncomingBody,
        "future_trailers": FutureTrailers,
        "outgoing_response": OutgoingResponse,
        "outgoing_body": OutgoingBody,
        "future_incoming_response": FutureIncomingResponse,
        "http_error_code": http_error_code,
    },
    "wasi:http/outgoing-handler": {"handle": handle},
}
"""Member definitions of ``wasi:http/types`` and ``wasi:http/outgoing-handler``."""
