"""wasi:io on the virtual host, method by method: streams, budgets, splice, pollables.

The guests exercise the common paths (write, blocking-write-and-flush, read); these tests call
the host classes the linker registers directly, so every WIT method of input-stream,
output-stream and pollable is covered with its exact result or error.
"""

from __future__ import annotations

import time

import pytest

from omniwasm import Err, Variant
from omniwasm.wasi._clocks import Clock
from omniwasm.wasi._io import (
    WRITE_BUDGET,
    BufferSink,
    InputStream,
    LineLogger,
    OutputStream,
    ReadyPollable,
    poll,
)


def _closed(exc: pytest.ExceptionInfo[Err]) -> bool:
    return isinstance(exc.value.value, Variant) and exc.value.value.case == "closed"


def test_input_stream_reads_then_reports_closed() -> None:
    """read returns up to len bytes, then stream-error.closed at the end."""
    stream = InputStream(b"abcdef")
    assert stream.read(4) == b"abcd"
    assert stream.blocking_read(10) == b"ef"
    with pytest.raises(Err) as info:
        stream.read(1)
    assert _closed(info)


def test_input_stream_zero_length_read() -> None:
    """A zero-length read returns nothing while data remains and closed after the end."""
    stream = InputStream(b"x")
    assert stream.read(0) == b""
    assert stream.read(5) == b"x"
    with pytest.raises(Err):
        stream.read(0)


def test_input_stream_skip_counts_bytes() -> None:
    """skip and blocking-skip return how many bytes they passed over."""
    stream = InputStream(b"0123456789")
    assert stream.skip(3) == 3
    assert stream.blocking_skip(100) == 7
    with pytest.raises(Err):
        stream.skip(1)


def test_input_stream_from_chunks_skips_empty_ones() -> None:
    """An iterator source yields its chunks in order; empty chunks are not the end."""
    stream = InputStream(iter([b"ab", b"", b"cd"]))
    assert stream.blocking_read(10) == b"ab"
    assert stream.blocking_read(10) == b"cd"
    with pytest.raises(Err):
        stream.blocking_read(10)


def test_input_stream_subscribe_is_ready() -> None:
    """subscribe gives a pollable that is ready (data or the end is always available)."""
    assert InputStream(b"").subscribe().ready()


def test_output_stream_check_write_budget_and_overflow() -> None:
    """check-write permits WRITE_BUDGET bytes; writing more than permitted fails the call."""
    sink = BufferSink()
    stream = OutputStream(sink)
    assert stream.check_write() == WRITE_BUDGET
    stream.write(b"a" * WRITE_BUDGET)
    with pytest.raises(ValueError, match="exceeds check-write"):
        stream.write(b"a" * (WRITE_BUDGET + 1))
    assert len(sink.getvalue()) == WRITE_BUDGET


def test_output_stream_write_zeroes_and_blocking_variants() -> None:
    """write-zeroes, blocking-write-and-flush and blocking-write-zeroes-and-flush all write."""
    sink = BufferSink()
    stream = OutputStream(sink)
    stream.write_zeroes(3)
    stream.blocking_write_and_flush(b"x")
    stream.blocking_write_zeroes_and_flush(2)
    stream.flush()
    stream.blocking_flush()
    assert sink.getvalue() == b"\0\0\0x\0\0"


def test_splice_moves_bytes_between_streams() -> None:
    """splice moves up to len bytes from an input stream and returns how many it moved."""
    sink = BufferSink()
    out = OutputStream(sink)
    src = InputStream(b"hello world")
    assert out.splice(src, 5) == 5
    assert out.blocking_splice(src, 100) == 6
    assert out.splice(src, 0) == 0
    with pytest.raises(Err) as info:
        out.splice(src, 1)
    assert _closed(info)
    assert sink.getvalue() == b"hello world"


def test_dropped_output_stream_is_closed() -> None:
    """After the guest drops a stream, writing to it reports closed."""
    stream = OutputStream(BufferSink())
    stream.close()
    with pytest.raises(Err) as info:
        stream.write(b"x")
    assert _closed(info)
    with pytest.raises(Err):
        stream.check_write()


def test_sink_failure_is_last_operation_failed() -> None:
    """An OSError from the sink becomes last-operation-failed carrying an error resource."""

    def broken(data: bytes) -> None:
        raise OSError(5, "Input/output error")

    with pytest.raises(Err) as info:
        OutputStream(broken).write(b"x")
    value = info.value.value
    assert isinstance(value, Variant)
    assert value.case == "last-operation-failed"
    assert "Input/output error" in value.value.to_debug_string()


def test_line_logger_splits_lines(caplog: pytest.LogCaptureFixture) -> None:
    """LineLogger logs complete lines and the rest on flush."""
    import logging

    log = logging.getLogger("test.lines")
    with caplog.at_level(logging.INFO, logger="test.lines"):
        stream = OutputStream(LineLogger(log))
        stream.write(b"one\ntw")
        stream.write(b"o\nthree")
        stream.flush()
    assert [r.getMessage() for r in caplog.records] == ["one", "two", "three"]


def test_poll_returns_ready_indices() -> None:
    """poll returns the indices of the ready pollables without waiting."""
    clock = Clock()
    later = clock.subscribe_duration(10**10)
    assert poll([later, ReadyPollable(), later]) == [1]


def test_poll_really_waits_for_a_time_pollable() -> None:
    """A duration pollable becomes ready only after the time has passed; block waits for it."""
    clock = Clock()
    pollable = clock.subscribe_duration(30_000_000)  # 30 ms
    assert not pollable.ready()
    started = time.monotonic()
    pollable.block()
    assert time.monotonic() - started >= 0.029
    assert pollable.ready()


def test_poll_on_the_deterministic_clock_advances_it() -> None:
    """On the virtual clock, waiting moves time to the earliest deadline instead of sleeping."""
    clock = Clock(deterministic=True)
    first = clock.subscribe_instant(5_000_000_000)
    second = clock.subscribe_duration(9_000_000_000)
    started = time.monotonic()
    assert poll([second, first]) == [1]
    assert clock.now() == 5_000_000_000
    assert time.monotonic() - started < 0.5


def test_poll_of_nothing_is_an_error() -> None:
    """poll with an empty list fails (the WIT says it traps)."""
    with pytest.raises(ValueError, match="empty"):
        poll([])


def test_filesystem_error_code_of_a_file_stream_failure() -> None:
    """A file stream's failure carries the filesystem error-code; other errors carry none."""
    from omniwasm.wasi import MemoryFs
    from omniwasm.wasi._io import IoError
    from omniwasm.wasi.fs._binding import FILESYSTEM_INTERFACES, Descriptor, _FileOutput

    code_of = FILESYSTEM_INTERFACES["wasi:filesystem/types"]["filesystem_error_code"]
    root = Descriptor(MemoryFs({"a.txt": b"abc"}).root())
    read_only = root.open_at(set(), "a.txt", set(), {"read"})
    with pytest.raises(Err) as info:  # a stream writing a file opened for reading only
        _FileOutput(read_only.node, 0).write(b"x")
    value = info.value.value
    assert isinstance(value, Variant)
    assert value.case == "last-operation-failed"
    assert code_of(value.value) == "bad-descriptor"
    assert code_of(IoError("not a filesystem error")) is None
