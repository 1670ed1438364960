"""Session: state kept across calls, reset, close, threads, tools."""

from __future__ import annotations

import threading

import pytest

from omniwasm import OmniwasmError
from omniwasm.python import Session, ToolError, run, tool


def test_state_is_kept_across_calls() -> None:
    """Variables, imports and files written by one call are there in the next."""
    with Session() as s:
        assert s.run("import numpy as np\nx = np.arange(5)\nopen('f.txt', 'w').write('hi')").ok
        result = s.run("int(x.sum()), open('f.txt').read()", value=True)
        assert result.value == [10, "hi"]


def test_reset_forgets_everything() -> None:
    """After reset() the variables and the written files are gone."""
    with Session(files={"keep.txt": "initial"}) as s:
        s.run("y = 2\nopen('new.txt', 'w').write('x')")
        s.reset()
        result = s.run(
            "import os\n['y' in globals(), os.path.exists('new.txt'), open('keep.txt').read()]",
            value=True,
        )
        assert result.value == [False, False, "initial"]


def test_closed_session_refuses_calls() -> None:
    """A call after close() raises OmniwasmError; close is idempotent."""
    s = Session()
    s.run("1")
    s.close()
    s.close()
    with pytest.raises(OmniwasmError):
        s.run("1")


def test_sessions_in_threads_are_independent() -> None:
    """Eight sessions driven from eight threads each keep their own state."""
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            with Session() as s:
                s.run(f"n = {i}")
                for _ in range(5):
                    s.run("n += 1")
                assert s.run("n", value=True).value == i + 5
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_tools_are_callable_with_help() -> None:
    """A tool is called with JSON values, and help() shows its signature and docstring."""

    @tool
    def add(a: int, b: int = 1) -> int:
        """Add two numbers on the host."""
        return a + b

    result = run(
        "from host import tools\nhelp(tools.add)\ntools.add(2, b=40)", tools=[add], value=True
    )
    assert result.value == 42
    assert "add(a: int, b: int = 1) -> int" in result.stdout
    assert "Add two numbers on the host." in result.stdout


def test_tool_errors_reach_the_guest_without_host_details() -> None:
    """A ToolError's message reaches the guest; another exception shows only its type."""

    def picky(x: int) -> int:
        if x < 0:
            raise ToolError("x must be positive")
        raise KeyError("/secret/host/path")

    code = (
        "from host import tools\n"
        "out = []\n"
        "for v in (-1, 1):\n"
        "    try: tools.picky(v)\n"
        "    except tools.ToolError as e: out.append(str(e))\n"
        "out"
    )
    result = run(code, tools=[picky], value=True)
    assert result.value == ["picky: x must be positive", "picky failed (KeyError)"]
    bad_args = run("from host import tools\ntools.picky(1, 2)", tools=[picky])
    assert bad_args.error is not None and bad_args.error.type == "ToolError"


def test_spares_of_many_policies_do_not_pile_up() -> None:
    """Runs under 12 different policies leave spares for at most MAX_KINDS of them."""
    from omniwasm import Policy
    from omniwasm.python import _spares

    for i in range(12):
        assert run("1", policy=Policy(timeout=30 + i)).ok
    with _spares._SPARES.wake:
        kinds = [k for k, v in _spares._SPARES.ready.items() if v]
        used = len(_spares._SPARES.used)
    assert len(kinds) <= _spares.MAX_KINDS
    assert used <= _spares.MAX_KINDS
