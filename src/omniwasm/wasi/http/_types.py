"""``wasi:http/types`` requests and responses, incoming and outgoing, and their futures.

The resources here are plain Python objects; the linker registers them under their WIT names
(``HTTP_INTERFACES`` in ``_http.py``). Values follow omniwasm's mapping: ``method`` and
``scheme`` are :class:`~omniwasm.Variant` values, a failing ``result`` raises
:class:`~omniwasm.Err`. Incoming requests and outgoing responses are built and read by the
embedder (the HTTP gateway); outgoing requests by the guest, sent by ``_client.py``.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from typing import Any, Protocol

from ..._wit.values import Err, Ok, Variant
from .._io import Pollable
from ._body import BodyFeed, EventPollable, IncomingBody, OutgoingBody
from ._fields import Fields, error_code, valid_name, variant_case

__all__ = [
    "FutureIncomingResponse",
    "IncomingRequest",
    "IncomingResponse",
    "OutgoingRequest",
    "OutgoingResponse",
    "RequestOptions",
    "ResponseOutparam",
    "method_name",
    "method_variant",
    "scheme_name",
    "valid_authority",
]

_DONE_LOCK = threading.Lock()
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+\-.]*")
_AUTHORITY = re.compile(
    r"(?:[^\s@/?#\[\]]*@)?(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~!$&'()*+,;=%]+)(?::(\d{1,5}))?"
)
_PATH = re.compile(r"(?:[/?][^\x00-\x20\x7f]*)?")  # as wasmtime: "", "/..." or "?..."
_METHODS = {
    "get": "GET", "head": "HEAD", "post": "POST", "put": "PUT", "delete": "DELETE",
    "connect": "CONNECT", "options": "OPTIONS", "trace": "TRACE", "patch": "PATCH",
}  # fmt: skip


def method_name(method: Any) -> str:
    """The HTTP method string of a ``method`` variant (``Variant("get")`` -> ``GET``)."""
    case, payload = variant_case(method)
    return str(payload) if case == "other" else _METHODS.get(case, case.upper())


def method_variant(name: str) -> Variant:
    """The ``method`` variant of an HTTP method string (``POST`` -> ``Variant("post")``)."""
    lower = name.lower()
    return Variant(lower) if _METHODS.get(lower) == name else Variant("other", name)


def _scheme_variant(name: str | None) -> Variant | None:
    if name is None:
        return None
    lower = name.lower()
    return Variant(lower.upper()) if lower in ("http", "https") else Variant("other", name)


def scheme_name(scheme: Any) -> str | None:
    """``http``/``https``/the other name of an ``option<scheme>`` (None stays None)."""
    if scheme is None:
        return None
    case, payload = variant_case(scheme)
    return str(payload) if case == "other" else case.lower()


def valid_authority(authority: str) -> bool:
    """Whether ``authority`` is a syntactically valid URI authority (``host[:port]``)."""
    m = _AUTHORITY.fullmatch(authority)
    return m is not None and (not m.group(1) or int(m.group(1)) <= 65535)


class OutgoingRequest:
    """``outgoing-request``: what the guest builds before ``outgoing-handler.handle``.

    Args:
        headers: its headers (they become immutable: the request owns them now).

    """

    def __init__(self, headers: Fields) -> None:
        headers.immutable = True
        self._headers = headers
        self._method: Variant = Variant("get")
        self._path: str | None = None
        self._scheme: Variant | None = None
        self._authority: str | None = None
        self.outgoing_body: OutgoingBody | None = None

    def body(self) -> OutgoingBody:
        """``body``: the request body, at most once (``Err()`` after)."""
        if self.outgoing_body is not None:
            raise Err()
        self.outgoing_body = OutgoingBody(self._headers)
        return self.outgoing_body

    def method(self) -> Variant:
        """``method`` (GET by default)."""
        return self._method

    def set_method(self, method: Any) -> None:
        """``set-method``: ``Err()`` for an ``other`` that is not an HTTP token."""
        case, payload = variant_case(method)
        if case == "other" and not valid_name(str(payload)):
            raise Err()
        self._method = Variant(case, payload)

    def path_with_query(self) -> str | None:
        """``path-with-query``."""
        return self._path

    def set_path_with_query(self, path_with_query: str | None) -> None:
        """``set-path-with-query``: ``Err()`` for a malformed path.

        A path starts with ``/`` or ``?`` (or is empty) and holds no spaces or control
        characters, as wasmtime checks; a ``#fragment`` is kept here and not sent.
        """
        if path_with_query is not None and not _PATH.fullmatch(path_with_query):
            raise Err()
        self._path = path_with_query

    def scheme(self) -> Variant | None:
        """``scheme``."""
        return self._scheme

    def set_scheme(self, scheme: Any) -> None:
        """``set-scheme``: ``Err()`` for an ``other`` that is not a URI scheme."""
        if scheme is not None:
            case, payload = variant_case(scheme)
            if case == "other" and not _SCHEME.fullmatch(str(payload)):
                raise Err()
            scheme = Variant(case, payload)
        self._scheme = scheme

    def authority(self) -> str | None:
        """``authority``."""
        return self._authority

    def set_authority(self, authority: str | None) -> None:
        """``set-authority``: ``Err()`` for a string that is not a URI authority."""
        if authority is not None and not valid_authority(authority):
            raise Err()
        self._authority = authority

    def headers(self) -> Fields:
        """``headers``: an immutable view of the request's headers."""
        return self._headers.view()


class RequestOptions:
    """``request-options``: connect, first-byte and between-bytes timeouts (nanoseconds)."""

    def __init__(self) -> None:
        self._connect: int | None = None
        self._first_byte: int | None = None
        self._between_bytes: int | None = None

    def connect_timeout(self) -> int | None:
        """``connect-timeout``."""
        return self._connect

    def set_connect_timeout(self, duration: int | None) -> None:
        """``set-connect-timeout``."""
        self._connect = duration

    def first_byte_timeout(self) -> int | None:
        """``first-byte-timeout``."""
        return self._first_byte

    def set_first_byte_timeout(self, duration: int | None) -> None:
        """``set-first-byte-timeout``."""
        self._first_byte = duration

    def between_bytes_timeout(self) -> int | None:
        """``between-bytes-timeout``."""
        return self._between_bytes

    def set_between_bytes_timeout(self, duration: int | None) -> None:
        """``set-between-bytes-timeout``."""
        self._between_bytes = duration


class _Incoming:
    """What incoming requests and responses share: immutable headers and a body read once."""

    _headers: Fields
    _feed: BodyFeed
    _consumed: bool

    def headers(self) -> Fields:
        """``headers`` (immutable)."""
        return self._headers

    def consume(self) -> IncomingBody:
        """``consume``: the body, at most once (``Err()`` after)."""
        if self._consumed:
            raise Err()
        self._consumed = True
        return IncomingBody(self._feed)


class IncomingRequest(_Incoming):
    """``incoming-request``: a request handed to a guest (built by the embedder).

    Args:
        method: ``"GET"`` etc. or a ``method`` variant.
        path_with_query: e.g. ``/a?b=1``.
        scheme: ``"http"``, ``"https"`` or another name.
        authority: e.g. ``example.com:8080``.
        headers: the request's headers (pairs or Fields; handed out immutable).
        body: the complete body, or a :class:`BodyFeed` an embedder fills.

    """

    def __init__(  # noqa: PLR0917 - the WIT getters, in their order; keywords work too
        self,
        method: str | Variant = "GET",
        path_with_query: str | None = "/",
        scheme: str | None = "http",
        authority: str | None = None,
        headers: Fields | Iterable[tuple[str, bytes]] = (),
        body: bytes | BodyFeed = b"",
    ) -> None:
        self._method = method if isinstance(method, Variant) else method_variant(method)
        self._path = path_with_query
        self._scheme = _scheme_variant(scheme)
        self._authority = authority
        fields = headers if isinstance(headers, Fields) else Fields(headers)
        self._headers = fields.view()
        self._feed = body if isinstance(body, BodyFeed) else BodyFeed.of(body)
        self._consumed = False

    def method(self) -> Variant:
        """``method``."""
        return self._method

    def path_with_query(self) -> str | None:
        """``path-with-query``."""
        return self._path

    def scheme(self) -> Variant | None:
        """``scheme``."""
        return self._scheme

    def authority(self) -> str | None:
        """``authority``."""
        return self._authority


# ---------------------------------------------------------------------------- responses


class IncomingResponse(_Incoming):
    """``incoming-response``: status, headers and a body arriving through a feed.

    Args:
        status: the status code.
        headers: the response headers (handed out immutable).
        feed: the body's bytes.

    """

    def __init__(self, status: int, headers: Fields, feed: BodyFeed) -> None:
        self._status = status
        self._headers = headers.view()
        self._feed = feed
        feed.hold()
        self._consumed = False
        self._open = True

    def status(self) -> int:
        """``status``."""
        return self._status

    def close(self) -> None:
        """Dropped: a body nobody consumed is abandoned (the transfer stops)."""
        if self._open:
            self._open = False
            self._feed.release()


class FutureIncomingResponse:
    """``future-incoming-response``: resolved from the HTTP client's thread."""

    def __init__(self) -> None:
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._value: Ok | Err | None = None
        self._taken = False
        self.dropped = False

    def resolve(self, value: IncomingResponse | Variant) -> None:
        """Settle with a response or an ``error-code`` (first call wins)."""
        with self._lock:
            if self._done.is_set():
                return
            self._value = Ok(value) if isinstance(value, IncomingResponse) else Err(value)
            abandoned = self.dropped
            self._done.set()
        if abandoned and isinstance(value, IncomingResponse):
            value.close()

    def subscribe(self) -> Pollable:
        """``subscribe``: ready when the response (or an error) has arrived."""
        return EventPollable(self._done)

    def get(self) -> Ok | Err | None:
        """``get``: None until ready; then once the response or its error; then ``Err()``.

        The first answer is ``Ok(Ok(response))`` or ``Ok(Err(error-code))``.
        """
        with self._lock:
            if not self._done.is_set():
                return None
            if self._taken:
                return Err()
            self._taken = True
            return Ok(self._value)

    def wait(self, seconds: float | None = None) -> bool:
        """Block until resolved (host side); whether it is."""
        return self._done.wait(seconds)

    def close(self) -> None:
        """Dropped: a response nobody took is abandoned."""
        with self._lock:
            self.dropped = True
            value = None if self._taken else self._value
            self._taken = True
        if isinstance(value, Ok) and isinstance(value.value, IncomingResponse):
            value.value.close()


class OutgoingResponse:
    """``outgoing-response``: what a guest answers an incoming request with.

    Args:
        headers: its headers (they become immutable).

    """

    def __init__(self, headers: Fields) -> None:
        headers.immutable = True
        self._headers = headers
        self._status = 200
        self.outgoing_body: OutgoingBody | None = None

    def status_code(self) -> int:
        """``status-code`` (200 by default)."""
        return self._status

    def set_status_code(self, status_code: int) -> None:
        """``set-status-code``: ``Err()`` outside 100..999."""
        if not 100 <= status_code <= 999:
            raise Err()
        self._status = status_code

    def headers(self) -> Fields:
        """``headers`` (immutable)."""
        return self._headers.view()

    def body(self) -> OutgoingBody:
        """``body``: the response body, at most once (``Err()`` after)."""
        if self.outgoing_body is not None:
            raise Err()
        self.outgoing_body = OutgoingBody(self._headers, response=True)
        return self.outgoing_body


class Flag(Protocol):
    """What :attr:`ResponseOutparam.done` must offer (a ``threading.Event`` does)."""

    def is_set(self) -> bool: ...

    def set(self) -> None: ...


class ResponseOutparam:
    """``response-outparam``: where a guest's ``incoming-handler`` puts its answer.

    The embedder creates it, passes it to the guest, and reads :attr:`response` (an
    ``Ok(OutgoingResponse)`` or ``Err(error-code)``) once :attr:`done` is set.
    """

    def __init__(self) -> None:
        self.response: Ok | Err | None = None
        self._done: Flag | None = None

    @property
    def done(self) -> Flag:
        """Set once the guest has answered (made on first use: an embedder may set its own)."""
        done = self._done
        if done is None:
            with _DONE_LOCK:
                done = self._done
                if done is None:
                    done = self._done = threading.Event()
        return done

    @done.setter
    def done(self, event: Flag) -> None:
        self._done = event

    @staticmethod
    def set(param: ResponseOutparam, response: Ok | Err) -> None:
        """``set``: record the guest's response (or error); the first call counts."""
        if not param.done.is_set():
            param.response = response
            param.done.set()

    def send_informational(self, status: int, headers: Fields) -> None:
        """``send-informational`` (unstable in WIT): not supported.

        Raises:
            Err: ``HTTP-protocol-error`` outside 100..199, else ``internal-error``.

        """
        if not 100 <= status <= 199:
            raise Err(error_code("HTTP-protocol-error"))
        raise Err(error_code("internal-error", "informational responses are not supported"))
