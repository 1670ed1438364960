"""Every limit stops its bomb, and the result names the limit."""

from __future__ import annotations

import time

from omniwasm import Policy
from omniwasm.python import Session, run


def test_timeout_stops_an_endless_loop() -> None:
    """`while True: pass` ends at the timeout with limit 'timeout', output kept."""
    result = run("print('started')\nwhile True: pass", policy=Policy(timeout=0.5))
    assert result.limit == "timeout"
    assert result.stdout == "started\n"


def test_timeout_counts_time_blocked_in_a_tool() -> None:
    """A tool that blocks past the deadline is cut off and the run times out."""

    def slow() -> int:
        time.sleep(20)
        return 1

    started = time.monotonic()
    result = run("from host import tools\ntools.slow()", tools=[slow], policy=Policy(timeout=0.5))
    assert result.limit == "timeout"
    assert time.monotonic() - started < 15


def test_fuel_stops_a_long_computation() -> None:
    """An instruction budget stops a long loop with limit 'fuel'."""
    result = run("n = 0\nwhile True: n += 1", policy=Policy(timeout=30, fuel=50_000_000))
    assert result.limit == "fuel"


def test_memory_limit_stops_an_allocation_bomb() -> None:
    """Allocating past max_memory ends with limit 'memory'."""
    result = run(
        "blocks = []\nwhile True: blocks.append(bytearray(16 << 20))",
        policy=Policy(timeout=30, max_memory=400 << 20),
    )
    assert result.limit == "memory"


def test_output_limit_truncates() -> None:
    """Printing past max_output keeps exactly the limit and names the stream."""
    result = run("while True: print('x' * 99)", policy=Policy(timeout=30, max_output=10_000))
    assert result.limit == "output"
    assert result.truncated == ("stdout",)
    assert len(result.stdout.encode()) == 10_000


def test_output_limit_holds_for_raw_writes() -> None:
    """Writes that bypass sys.stdout (os.write to fd 1) are bounded too."""
    result = run(
        "import os\nfor _ in range(1000): os.write(1, b'y' * 1000)",
        policy=Policy(timeout=30, max_output=10_000),
    )
    assert len(result.stdout.encode()) <= 10_000


def test_tool_call_limit() -> None:
    """The tool call past max_tool_calls fails in the guest and the result says so."""

    def ping() -> str:
        return "pong"

    result = run(
        "from host import tools\nfor _ in range(10): tools.ping()",
        tools=[ping],
        max_tool_calls=3,
    )
    assert result.limit == "tool_calls"
    assert result.error is not None and result.error.type == "ToolError"


def test_session_survives_a_limit() -> None:
    """A session whose call hit a limit starts a fresh interpreter for the next call."""
    with Session(policy=Policy(timeout=0.5)) as session:
        session.run("x = 1")
        assert session.run("while True: pass").limit == "timeout"
        after = session.run("'x' in globals()", value=True)
        assert after.value is False
        assert session.restarts == 1


def test_open_files_limit_stops_a_descriptor_bomb() -> None:
    """Opening files without closing them stops at max_open_files with limit 'open_files'."""
    code = (
        "import os\n"
        "files = []\n"
        "try:\n"
        "    while True: files.append(open('/usr/local/lib/python315.zip', 'rb'))\n"
        "except OSError as e:\n"
        "    print(len(files), e.errno == __import__('errno').EMFILE)\n"
        "for f in files: f.close()\n"
        "open('/usr/local/lib/python315.zip', 'rb').close()"
    )
    result = run(code, max_open_files=20)
    assert result.limit == "open_files"
    assert result.error is None, result.error
    count, emfile = result.stdout.split()
    assert (int(count), emfile) == (20, "True")


def test_open_files_are_counted_per_sandbox_and_freed_on_close() -> None:
    """Files closed again do not count: opening and closing 100 files fits a limit of 20."""
    code = "for _ in range(100):\n    open('/usr/local/lib/python315.zip', 'rb').close()"
    result = run(code, max_open_files=20)
    assert result.ok, result
