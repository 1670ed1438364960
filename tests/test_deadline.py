"""The per-store Deadline host code waits through: nesting, sleeps, waits, cancellation."""

from __future__ import annotations

import threading
import time

import pytest

from omniwasm import Cancelled, Timeout
from omniwasm._deadline import Deadline, call_within


def test_only_the_outermost_call_starts_the_clock() -> None:
    """A nested enter keeps the outer deadline; the outermost leave clears it."""
    deadline = Deadline(10.0)
    deadline.enter()
    outer = deadline.at
    time.sleep(0.01)
    deadline.enter()
    assert deadline.at == outer
    assert deadline.leave() is False
    assert deadline.at == outer
    assert deadline.leave() is False
    assert deadline.at is None
    assert not deadline.active


def test_sleep_past_the_deadline_raises_timeout_at_it() -> None:
    """A sleep longer than the time left raises Timeout (with the limit) once it is up."""
    deadline = Deadline(0.05)
    deadline.enter()
    with pytest.raises(Timeout, match="blocked in nap") as info:
        deadline.sleep(3600, "nap")
    assert info.value.limit == 0.05
    assert deadline.expired()


def test_sleep_within_the_deadline_returns() -> None:
    """A sleep shorter than the time left just returns."""
    deadline = Deadline(10.0)
    deadline.enter()
    deadline.sleep(0.01)
    assert not deadline.expired()


def test_cancel_wakes_a_sleeper() -> None:
    """cancel() from another thread ends a sleep without a limit with Cancelled."""
    deadline = Deadline(None)
    deadline.enter()
    threading.Timer(0.05, deadline.cancel).start()
    with pytest.raises(Cancelled):
        deadline.sleep(3600)


def test_cancel_outside_a_call_does_nothing() -> None:
    """cancel() with no call running returns False and the next call is not cancelled."""
    deadline = Deadline(None)
    assert deadline.cancel() is False
    deadline.enter()
    assert not deadline.expired()


def test_wait_returns_when_ready_and_raises_at_the_deadline() -> None:
    """wait() returns once its condition holds, and raises Timeout if it never does."""
    roomy = Deadline(30.0)  # the timer thread may wait for a core under load
    roomy.enter()
    event = threading.Event()
    threading.Timer(0.01, event.set).start()
    roomy.wait(event.wait, "event")
    deadline = Deadline(0.1)
    deadline.enter()
    with pytest.raises(Timeout):
        deadline.wait(threading.Event().wait, "never")


def test_a_cut_call_ends_in_timeout() -> None:
    """When the host cut a wait short, the outermost leave reports it once."""
    deadline = Deadline(1.0)
    deadline.enter()
    deadline.cut = True
    assert deadline.leave() is True
    deadline.enter()
    assert deadline.leave() is False


def test_call_within_gives_up_at_the_deadline() -> None:
    """call_within returns fn's result, re-raises its error, and raises Timeout when it hangs."""
    roomy = Deadline(30.0)  # the quick calls' helper thread may wait for a core under load
    roomy.enter()
    assert call_within(roomy, lambda: 42, "quick") == 42
    with pytest.raises(ZeroDivisionError):
        call_within(roomy, lambda: 1 // 0, "failing")
    deadline = Deadline(0.1)
    deadline.enter()
    with pytest.raises(Timeout):
        call_within(deadline, threading.Event().wait, "hanging")
