"""The ``wasi:http/types`` resources in Python, without the network.

Fields, outgoing and incoming requests, request options, the response outparam, the allowed-host
patterns, the coverage of every WIT function, and the outgoing body's backpressure. The requests
that do go out are in ``test_http_outgoing.py``.
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable
from typing import Any

import pytest

from omniwasm import Err, Ok, Variant
from omniwasm.wasi import http


def test_fields_are_a_case_insensitive_ordered_multimap() -> None:
    """get/has ignore case, values keep their order, set replaces, delete removes all."""
    f = http.Fields.from_list([("Accept", b"a"), ("X-Id", b"1"), ("accept", b"b")])
    assert f.get("ACCEPT") == [b"a", b"b"]
    assert f.has("x-id") and not f.has("x-other")
    f.set("x-id", [b"2", b"3"])
    f.delete("ACCEPT")
    f.append("Accept", b"c")
    assert f.entries() == [("x-id", b"2"), ("x-id", b"3"), ("Accept", b"c")]
    assert f.get("bad name") == []
    f.delete("missing")  # nothing to do, no error


@pytest.mark.parametrize(
    ("op", "error"),
    [
        (lambda f: f.append("bad name", b"v"), "invalid-syntax"),
        (lambda f: f.append("x", b"line\nbreak"), "invalid-syntax"),
        (lambda f: f.set("x", [b"ok", b"\x00"]), "invalid-syntax"),
        (lambda f: f.append("Connection", b"close"), "forbidden"),
        (lambda f: f.set("Host", [b"evil.example"]), "forbidden"),
        (lambda f: http.Fields.from_list([("a", b"1"), ("b c", b"2")]), "invalid-syntax"),
    ],
)
def test_fields_refuse_bad_and_forbidden_fields(op: Callable[[Any], Any], error: str) -> None:
    """Malformed names or values are invalid-syntax; hop-by-hop headers and host are forbidden."""
    with pytest.raises(Err) as exc:
        op(http.Fields())
    assert exc.value.value == Variant(error)


def test_request_headers_become_immutable_and_shared() -> None:
    """A request's headers() view refuses changes and shows the request's own fields."""
    req = http.OutgoingRequest(http.Fields.from_list([("x-a", b"1"), ("X-A", b"2")]))
    view = req.headers()
    assert view.get("x-a") == [b"1", b"2"]
    for change in (lambda: view.set("x-a", []), lambda: view.delete("x-a")):
        with pytest.raises(Err) as exc:
            change()
        assert exc.value.value == Variant("immutable")


def test_outgoing_request_defaults_and_setters() -> None:
    """A new request is a GET with nothing set; setters refuse malformed values."""
    req = http.OutgoingRequest(http.Fields())
    assert (req.method(), req.scheme(), req.authority(), req.path_with_query()) == (
        Variant("get"),
        None,
        None,
        None,
    )
    req.set_method(Variant("other", "PURGE"))
    req.set_scheme(Variant("HTTPS"))
    req.set_authority("[::1]:8443")
    req.set_path_with_query("/a?b=1")
    assert req.method() == Variant("other", "PURGE")
    assert (req.scheme(), req.authority(), req.path_with_query()) == (
        Variant("HTTPS"),
        "[::1]:8443",
        "/a?b=1",
    )
    bad = [
        lambda: req.set_method(Variant("other", "BAD METHOD")),
        lambda: req.set_scheme(Variant("other", "1x")),
        lambda: req.set_authority("bad host"),
        lambda: req.set_authority("h:99999"),
        lambda: req.set_path_with_query("abc"),
        lambda: req.set_path_with_query("/a b"),
    ]
    for setter in bad:
        with pytest.raises(Err):
            setter()
    req.body()
    with pytest.raises(Err):
        req.body()


def test_request_options_round_trip() -> None:
    """Request options store each timeout (nanoseconds) and start unset."""
    opts = http.RequestOptions()
    assert (opts.connect_timeout(), opts.first_byte_timeout(), opts.between_bytes_timeout()) == (
        None,
        None,
        None,
    )
    opts.set_connect_timeout(1)
    opts.set_first_byte_timeout(2)
    opts.set_between_bytes_timeout(3)
    assert (opts.connect_timeout(), opts.first_byte_timeout(), opts.between_bytes_timeout()) == (
        1,
        2,
        3,
    )


def test_outgoing_response_and_outparam_store_the_answer() -> None:
    """An outgoing response carries status, headers and body; the outparam keeps the first set."""
    resp = http.OutgoingResponse(http.Fields.from_list([("content-type", b"text/plain")]))
    assert resp.status_code() == 200
    resp.set_status_code(201)
    with pytest.raises(Err):
        resp.set_status_code(42)
    body = resp.body()
    body.write().write(b"made")
    http.OutgoingBody.finish(body, http.Fields.from_list([("x-trailer", b"t")]))
    assert b"".join(body.feed.chunks()) == b"made"
    assert body.feed.trailers is not None and body.feed.trailers.get("x-trailer") == [b"t"]
    param = http.ResponseOutparam()
    http.ResponseOutparam.set(param, Ok(resp))
    http.ResponseOutparam.set(param, Err(Variant("internal-error", None)))
    assert param.done.is_set() and param.response == Ok(resp)


def test_incoming_request_built_by_the_embedder() -> None:
    """An incoming request gives the guest its method, target, immutable headers and body once."""
    req = http.IncomingRequest(
        "PATCH", "/x?y=1", "https", "example.com", [("x-a", b"1")], body=b"payload"
    )
    assert (req.method(), req.path_with_query(), req.scheme(), req.authority()) == (
        Variant("patch"),
        "/x?y=1",
        Variant("HTTPS"),
        "example.com",
    )
    with pytest.raises(Err):
        req.headers().append("x-b", b"2")
    stream = req.consume().stream()
    assert stream.read(100) == b"payload"
    with pytest.raises(Err):
        req.consume()


# Every function of wasi:http/types and outgoing-handler 0.2.x: (interface, WIT name, params).
WIT_FUNCTIONS = [
    ("types", "[constructor]fields", 0),
    ("types", "[static]fields.from-list", 1),
    *(("types", f"[method]fields.{m}", n) for m, n in (
        ("get", 2), ("has", 2), ("set", 3), ("delete", 2), ("append", 3), ("entries", 1),
        ("clone", 1),
    )),
    *(("types", f"[method]incoming-request.{m}", 1) for m in (
        "method", "path-with-query", "scheme", "authority", "headers", "consume",
    )),
    ("types", "[constructor]outgoing-request", 1),
    *(("types", f"[method]outgoing-request.{m}", 1) for m in (
        "body", "method", "path-with-query", "scheme", "authority", "headers",
    )),
    *(("types", f"[method]outgoing-request.set-{m}", 2) for m in (
        "method", "path-with-query", "scheme", "authority",
    )),
    ("types", "[constructor]request-options", 0),
    *(("types", f"[method]request-options.{m}-timeout", 1) for m in (
        "connect", "first-byte", "between-bytes",
    )),
    *(("types", f"[method]request-options.set-{m}-timeout", 2) for m in (
        "connect", "first-byte", "between-bytes",
    )),
    ("types", "[static]response-outparam.set", 2),
    ("types", "[method]response-outparam.send-informational", 3),
    *(("types", f"[method]incoming-response.{m}", 1) for m in ("status", "headers", "consume")),
    ("types", "[method]incoming-body.stream", 1),
    ("types", "[static]incoming-body.finish", 1),
    ("types", "[method]future-trailers.subscribe", 1),
    ("types", "[method]future-trailers.get", 1),
    ("types", "[constructor]outgoing-response", 1),
    *(("types", f"[method]outgoing-response.{m}", 1) for m in ("status-code", "headers", "body")),
    ("types", "[method]outgoing-response.set-status-code", 2),
    ("types", "[method]outgoing-body.write", 1),
    ("types", "[static]outgoing-body.finish", 2),
    ("types", "[method]future-incoming-response.subscribe", 1),
    ("types", "[method]future-incoming-response.get", 1),
    ("types", "http-error-code", 1),
    ("outgoing-handler", "handle", 2),
]  # fmt: skip


@pytest.mark.parametrize(("interface", "name", "params"), WIT_FUNCTIONS)
def test_every_wit_function_is_defined(interface: str, name: str, params: int) -> None:
    """Each wasi:http 0.2.x function maps to a Python member taking its WIT parameters."""
    members = http.HTTP_INTERFACES[f"wasi:http/{interface}"]
    kind, _, rest = name.partition("]")
    resource, _, member = rest.partition(".")
    target = members[name.replace("-", "_")] if not kind.startswith("[") else None
    if kind.startswith("["):
        cls = members[resource.replace("-", "_")]
        target = cls if kind == "[constructor" else getattr(cls, member.replace("-", "_"))
    inspect.signature(target).bind(*([None] * params))


def test_outgoing_body_holds_a_fast_writer_back_to_its_limit() -> None:
    """Once a reader starts, writes wait for it: never more than the limit (+1 write) buffered."""
    body = http.OutgoingBody(http.Fields())
    feed = body.feed
    feed.limit = 64 << 10
    out = body.write()
    chunk = bytes(range(256)) * 16  # 4 KiB, the most one blocking write takes
    peak = 0

    def writer() -> None:
        nonlocal peak
        for _ in range(64):  # 256 KiB: four times the limit
            out.blocking_write_and_flush(chunk)
            peak = max(peak, feed._buffered)
        out.close()
        http.OutgoingBody.finish(body, None)

    thread = threading.Thread(target=writer)
    thread.start()
    while feed.room() > 0 and thread.is_alive():  # nobody reads: the writer fills the feed
        thread.join(0.01)
    assert thread.is_alive()  # ... and then waits
    assert out.check_write() == 0
    assert not out.subscribe().ready()
    received = b"".join(feed.chunks())  # reading lets it finish
    thread.join(10)
    assert received == chunk * 64
    assert peak <= feed.limit + len(chunk)


def test_outgoing_body_without_a_reader_is_not_bounded() -> None:
    """Before its reader starts (no limit yet), a body takes any amount without waiting."""
    body = http.OutgoingBody(http.Fields())
    out = body.write()
    for _ in range(512):  # 2 MiB, more than OUTGOING_BUFFER
        out.blocking_write_and_flush(b"x" * 4096)
    assert out.check_write() > 0
    http.OutgoingBody.finish(body, None)
    assert len(b"".join(body.feed.chunks())) == 2 << 20


def test_take_upto_joins_the_chunks_there_are_up_to_the_length() -> None:
    """``take_upto`` returns the buffered chunks as one piece, cut at the length.

    The rest stays; with nothing buffered it returns b"" until the feed ends, then raises
    ``closed``.
    """
    feed = http.BodyFeed(limit=1 << 20)
    assert feed.take_upto(100) == b""
    for part in (b"abc", b"defg", b"hi"):
        feed.put(part)
    assert feed.take_upto(5) == b"abcde"
    assert feed.room() == (1 << 20) - 4  # what was taken is room again
    assert feed.take_upto(0) == b""
    assert feed.take_upto(100) == b"fghi"
    assert feed.take_upto(100) == b""  # not ended: nothing yet
    feed.put(b"j")
    feed.end()
    assert feed.take_upto(100) == b"j"
    with pytest.raises(Err) as exc:
        feed.take_upto(100)
    assert exc.value.value == Variant("closed")


def test_take_upto_reports_a_failed_body_once() -> None:
    """A failed body: ``take_upto`` gives what was buffered, the error once, then ``closed``."""
    feed = http.BodyFeed()
    feed.put(b"partial")
    feed.end(http.error_code("internal-error"))
    assert feed.take_upto(1 << 20) == b"partial"
    with pytest.raises(Err) as exc:
        feed.take_upto(1 << 20)
    assert exc.value.value.case == "last-operation-failed"
    with pytest.raises(Err) as exc:
        feed.take_upto(1 << 20)
    assert exc.value.value == Variant("closed")
