"""``wasi:http`` in Python: ``types`` and ``outgoing-handler`` for every 0.2.x version.

The resources live in ``_fields.py`` (fields, error codes), ``_body.py`` (bodies and their
byte feeds) and ``_types.py`` (requests, responses, futures); the client is in ``_client.py``
(the policy check and the ``httpx`` background thread). This package names them for the
linker: :data:`HTTP_INTERFACES` maps each interface to its members, as ``wasi/_host.py``
expects (the linker matches unversioned names, so one definition serves 0.2.0 through 0.2.x).
Its names are the public face of ``wasi:http`` for the habitats (the gateway builds requests
and responses with them).

A guest's outgoing request goes out only when the instance's ``Policy.allowed_hosts`` allows
its target (Spin-style ``scheme://host[:port]`` patterns); otherwise ``handle`` answers
``error-code.HTTP-request-denied``, never a trap.
"""

from __future__ import annotations

from typing import Any

from ..._policy.hosts import host_allowed
from ._body import OUTGOING_BUFFER, BodyFeed, FutureTrailers, IncomingBody, OutgoingBody
from ._client import (
    DEFAULT_MAX_RESPONSE_BYTES,
    DEFAULT_TIMEOUT_NS,
    Target,
    handle,
    outgoing_target,
    send,
)
from ._fields import FORBIDDEN_HEADERS, Fields, HttpIoError, error_code, http_error_code
from ._types import (
    FutureIncomingResponse,
    IncomingRequest,
    IncomingResponse,
    OutgoingRequest,
    OutgoingResponse,
    RequestOptions,
    ResponseOutparam,
    method_variant,
    valid_authority,
)

__all__ = [
    "DEFAULT_MAX_RESPONSE_BYTES",
    "DEFAULT_TIMEOUT_NS",
    "FORBIDDEN_HEADERS",
    "HTTP_INTERFACES",
    "OUTGOING_BUFFER",
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
    "Target",
    "error_code",
    "host_allowed",
    "method_variant",
    "outgoing_target",
    "send",
    "valid_authority",
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
