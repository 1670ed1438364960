"""HTTP/1.1 request-head limits for ``omniwasm serve`` under uvicorn: size, count and time.

uvicorn's httptools protocol keeps whatever a client sends before the end of its headers (a
16 MiB header field, 100,000 fields) and waits for the end forever: 20 connections each holding
16 MiB of unfinished headers took a server from 79 to 446 MiB, and a blank line or an HTTP/0.9
request line (``GET /``) got no answer at all. :class:`LimitedHttpToolsProtocol` is that
protocol with three limits (:class:`HeaderLimits`):

- a header section (request line and fields) over ``max_header_bytes``, or more than
  ``max_headers`` fields: 431 and the connection closes, as soon as the limit is passed (so a
  connection never holds more than the limit plus one read of unparsed bytes);
- a request whose headers are not complete ``header_timeout`` seconds after the connection
  opened or its previous response ended: 408 and close (a connection that sent nothing is
  closed without an answer). Silent keep-alive connections still close after uvicorn's own
  ``timeout_keep_alive`` (5 s);
- a request line that is not ``METHOD TARGET HTTP/1.x`` (a blank line, HTTP/0.9's ``GET /``,
  ``HTTP/2.0`` without the preface): 400 and close, as soon as the line ends. Like h11 (and so
  Hypercorn), a blank line where a request line should start is refused, not skipped.

A refused request pipelined behind others (in the same read) is answered after their
responses, in order; only its line is not checked early (llhttp parses it: an HTTP/0.9 or
HTTP/9.9 line is refused when its head ends, a lone blank line waits for the header timeout).

Refusals are logged at INFO on ``omniwasm.gateway`` (a 400 also as uvicorn's own warning,
``Invalid HTTP request received.``). The limits are process-wide
(:func:`configure`): uvicorn builds protocols itself, in worker processes too, where
:func:`~omniwasm.gateway.serve.app_from_env` configures them from the serve settings.
"""

from __future__ import annotations

import http
import logging
import re
from dataclasses import dataclass
from typing import Any

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from .._asgi import DEFAULT_HEADER_TIMEOUT, DEFAULT_MAX_HEADER_BYTES, DEFAULT_MAX_HEADERS

__all__ = [
    "HeaderLimits",
    "LimitedHttpToolsProtocol",
    "configure",
    "current",
]

logger = logging.getLogger("omniwasm.gateway")

LINGER = 1.0
"""Seconds a refused connection keeps reading (and dropping) what the client still sends after
the answer, so that the client reads the answer instead of a reset (a "lingering close")."""

_REQUEST_LINE = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+ [^\x00-\x20\x7f]+ HTTP/1\.[01]\r?\n")


@dataclass(frozen=True)
class HeaderLimits:
    """The limits on a request's head (see the module docstring).

    Args:
        max_header_bytes: the largest header section (request line and fields).
        max_headers: the most header fields.
        header_timeout: seconds to receive a request's headers.

    """

    max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES
    max_headers: int = DEFAULT_MAX_HEADERS
    header_timeout: float = DEFAULT_HEADER_TIMEOUT


_limits = HeaderLimits()


def configure(limits: HeaderLimits) -> None:
    """Set the limits for the protocols this process creates from now on."""
    global _limits  # noqa: PLW0603 - uvicorn creates protocols itself; they read this
    _limits = limits


def current() -> HeaderLimits:
    """The limits new connections get."""
    return _limits


class _Refused(Exception):
    """Raised from a parser callback to stop parsing: the request is refused."""


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with :class:`HeaderLimits` (pass it as ``http=``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.limits = _limits
        self._line: bytearray | None = bytearray()  # a request line not yet checked
        self._in_head = True  # waiting for (the rest of) a request's headers
        self._raw = 0  # bytes received while in the head (an upper bound)
        self._size = 0  # bytes of the current head the parser reported
        self._fields = 0
        self._ended_in_feed = False
        self._refusal: tuple[int, str] | None = None
        self._deferred: tuple[int, str] | None = None  # to answer once the responses before it end
        self._timer: Any = None

    # -- connection ------------------------------------------------------------------------

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()  # (a lingering close's timer too)
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refusal is not None or self.transport.is_closing():
            return
        self._unset_keepalive_if_required()
        if self._line is not None and not self._check_line(data):
            return
        self._ended_in_feed = False
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        except httptools.HttpParserError as exc:
            status, reason = self._refusal or (400, f"invalid request ({exc})")
            self._refusal = None
            self._refuse(status, reason)
            return
        if self._in_head and not self._ended_in_feed:  # (else part of it was the last body)
            self._raw += len(data)
            if self._raw > self.limits.max_header_bytes:
                self._refuse(431, f"over {self.limits.max_header_bytes} bytes of headers")

    def on_response_complete(self) -> None:
        last = not self.pipeline  # no request parsed before the refused one still waits
        super().on_response_complete()
        if self.transport.is_closing():
            return
        if self._deferred is not None and last:
            if self.timeout_keep_alive_task is not None:
                self.timeout_keep_alive_task.cancel()
                self.timeout_keep_alive_task = None
            status, reason = self._deferred
            self._deferred = None
            self._answer(status, reason)
        elif not self.pipeline:
            self._arm()  # the next request's headers must arrive in time

    # -- parser callbacks ------------------------------------------------------------------

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._size = 0
        self._fields = 0
        if self._ended_in_feed:  # pipelined: began mid-read, after the previous message
            self._line = None  # (its line is not checked here; llhttp still parses it)

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._fields += 1
        if self._fields > self.limits.max_headers:
            self._stop(431, f"more than {self.limits.max_headers} header fields")
        self._count(len(name) + len(value) + 4)
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._disarm()
        version = self.parser.get_http_version()
        if version not in ("1.0", "1.1"):
            self._stop(400, f"HTTP/{version} request")
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._in_head = True
        self._raw = 0
        self._line = bytearray()
        self._ended_in_feed = True

    # -- limits ----------------------------------------------------------------------------

    def _count(self, n: int) -> None:
        self._size += n
        if self._size > self.limits.max_header_bytes:
            self._stop(431, f"over {self.limits.max_header_bytes} bytes of headers")

    def _stop(self, status: int, reason: str) -> None:
        self._refusal = (status, reason)
        raise _Refused(reason)

    def _check_line(self, data: bytes) -> bool:
        """Gather the request line; refuse it (False) when it ends malformed or grows too long."""
        line = self._line
        assert line is not None
        end = data.find(b"\n")
        if end < 0:
            line += data
            if len(line) > self.limits.max_header_bytes:
                self._refuse(431, f"a request line over {self.limits.max_header_bytes} bytes")
                return False
            return True
        line += data[: end + 1]
        self._line = None
        if _REQUEST_LINE.fullmatch(line) is None:
            self._refuse(400, f"malformed request line {bytes(line[:80])!r}")
            return False
        return True

    def _arm(self) -> None:
        self._disarm()
        self._in_head = True
        self._timer = self.loop.call_later(self.limits.header_timeout, self._timed_out)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _timed_out(self) -> None:
        self._timer = None
        if self.transport.is_closing() or not self._in_head:
            return
        if self._raw or self._size or self._line:  # part of a request came: say why
            self._refuse(408, f"headers not complete within {self.limits.header_timeout:g} s")
        else:
            self.transport.close()

    def _refuse(self, status: int, reason: str) -> None:
        """Answer ``status`` with ``connection: close`` and close the connection.

        Reading goes on for up to :data:`LINGER` seconds, dropping what arrives: closing with
        unread data would reset the connection, and the client might lose the answer.
        """
        self._disarm()
        self._refusal = (status, reason)  # any later data is ignored
        client = "%s:%d" % self.client if self.client else "?"  # noqa: UP031
        if status == 400:
            self.logger.warning("Invalid HTTP request received.")  # as uvicorn words it
        logger.info("client %s: %d (%s)", client, status, reason)
        if self.pipeline or (self.cycle is not None and not self.cycle.response_complete):
            # a pipelined request: the requests before it get their answers first
            self._deferred = (status, reason)
            return
        self._answer(status, reason)

    def _answer(self, status: int, reason: str) -> None:
        """Write the refusal with ``connection: close`` and close (lingering)."""
        phrase = http.HTTPStatus(status).phrase
        body = f"{phrase}\n".encode()
        head = [f"HTTP/1.1 {status} {phrase}\r\n".encode()]
        for name, value in self.server_state.default_headers:
            head.append(name + b": " + value + b"\r\n")
        head.append(b"content-type: text/plain; charset=utf-8\r\n")
        head.append(b"content-length: %d\r\nconnection: close\r\n\r\n" % len(body))
        self.transport.write(b"".join(head) + body)
        if self.transport.can_write_eof():  # a lingering close: see LINGER
            self.transport.write_eof()
            self._timer = self.loop.call_later(LINGER, self.transport.close)
        else:
            self.transport.close()
