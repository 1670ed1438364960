"""``wasi:http/types`` 0.3 (``omniwasm.wasi.p3``): requests, responses, bodies as streams.

The guest is the componentize-py 0.25 ``wasi:http/service`` in ``tests/fixtures/python/p3http``
(built and cached by source hash), called through the Python API: the host makes a
:class:`~omniwasm.wasi.p3.Request`, ``handle`` gives back the guest's
:class:`~omniwasm.wasi.p3.Response`, whose body and trailers the host reads from the guest's
stream and future. Every call is bounded by :func:`bounded_call` and the policy's timeout.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest

import omniwasm
from fixtures.bounded import bounded_call
from omniwasm import Err, Ok, Variant
from omniwasm.wasi import WasiContext, instantiate, p3
from omniwasm.wasi.http import BodyFeed

HANDLE = "wasi:http/handler@0.3.0#handle"
bounded = partial(bounded_call, limit=120.0)


@pytest.fixture(scope="module")
def service(py_guest: Callable[[str], Path]) -> Iterator[omniwasm.Instance]:
    """One instance of the guest on the virtual host (every test sends it requests)."""
    runtime = omniwasm.Runtime(components="omniwasm")
    context = WasiContext(omniwasm.Policy(timeout=60))
    inst = bounded(lambda: instantiate(runtime, py_guest("p3http"), context, imports=p3.linker()))
    yield inst
    inst.close()


def _send(inst: omniwasm.Instance, request: p3.Request) -> tuple[int, list[Any], bytes, Any]:
    """``handle`` the request; status, headers, the whole body and the trailers result."""

    def run() -> tuple[int, list[Any], bytes, Any]:
        answer = inst.call(HANDLE, request)
        response = answer.value if isinstance(answer, Ok) else answer
        assert isinstance(response, p3.Response)
        contents, trailers = response.body.contents, response.body.trailers
        parts = []
        while (part := contents.read_sync()) is not None:
            parts.append(part)
        got = trailers.get_sync()
        response.sent.done()
        return response.get_status_code(), response.get_headers().copy_all(), b"".join(parts), got

    result: tuple[int, list[Any], bytes, Any] = bounded(run)
    return result


def test_hello_status_headers_and_body(service: omniwasm.Instance) -> None:
    """The guest's status, headers and streamed body reach the host."""
    status, headers, body, trailers = _send(service, p3.Request("GET", "/hello"))
    assert (status, body) == (200, b"hello from a WASI 0.3 service\n")
    assert headers == [("content-type", b"text/plain"), ("x-hello", b"p3")]
    assert trailers == Ok(None)


def test_a_status_the_guest_sets(service: omniwasm.Instance) -> None:
    """set-status-code on the guest's response is the status the host reads."""
    assert _send(service, p3.Request("GET", "/status/418"))[0] == 418


def test_request_headers_reach_the_guest(service: omniwasm.Instance) -> None:
    """The guest reads the request's headers with get-headers/copy-all."""
    request = p3.Request("GET", "/headers", headers=[("x-a", b"1"), ("accept", b"*/*")])
    assert _send(service, request)[2] == b"accept: */*\nx-a: 1\n"


def test_echo_hands_the_request_stream_back(service: omniwasm.Instance) -> None:
    """consume-body's stream given to response.new comes back to the host byte for byte."""
    data = bytes(range(256)) * 1000
    request = p3.Request("POST", "/echo", headers=[("content-type", b"x/y")], body=data)
    status, headers, body, trailers = _send(service, request)
    assert (status, headers, body, trailers) == (200, [("content-type", b"x/y")], data, Ok(None))


def test_a_body_fed_by_another_thread_streams_through_the_guest(
    service: omniwasm.Instance,
) -> None:
    """A BodyFeed filled while the guest reads is copied chunk by chunk into its stream."""
    feed = BodyFeed()
    chunks = [b"abc", b"def" * 10000, b"xyz"]

    def produce() -> None:
        for chunk in chunks:
            feed.put(chunk)
        feed.end()

    threading.Thread(target=produce, daemon=True).start()
    status, _, body, trailers = _send(service, p3.Request("POST", "/upper", body=feed))
    assert (status, body) == (200, b"".join(chunks).upper())
    assert isinstance(trailers, Ok) and trailers.value.copy_all() == [("x-total", b"30006")]


def test_a_failed_body_fails_the_trailers(service: omniwasm.Instance) -> None:
    """A request body that ends with an error-code gives the guest an Err trailers future."""
    feed = BodyFeed()
    feed.put(b"partial")
    feed.end(Variant("connection-terminated"))
    _, _, body, trailers = _send(service, p3.Request("POST", "/echo", body=feed))
    assert (body, trailers) == (b"partial", Err(Variant("connection-terminated")))


def test_fields_copy_all_and_get_and_delete() -> None:
    """0.3 fields: copy-all lists every pair; get-and-delete returns and removes a name."""
    fields = p3.Fields.from_list([("a", b"1"), ("b", b"2"), ("A", b"3")])
    assert fields.get_and_delete("a") == [b"1", b"3"]
    assert fields.copy_all() == [("b", b"2")]


def test_headers_of_a_request_are_immutable() -> None:
    """get-headers hands out immutable fields: set fails with header-error.immutable."""
    headers = p3.Request("GET", "/", headers=[("x", b"1")]).get_headers()
    with pytest.raises(Err) as caught:
        headers.set("x", [b"2"])
    assert caught.value.value == Variant("immutable")


def test_request_setters_validate_as_0_2() -> None:
    """set-method refuses a method that is not an HTTP token; a valid one is kept."""
    request = p3.Request()
    with pytest.raises(Err):
        request.set_method(Variant("other", "BAD METHOD"))
    request.set_method(Variant("other", "PURGE"))
    assert request.get_method() == Variant("other", "PURGE")
