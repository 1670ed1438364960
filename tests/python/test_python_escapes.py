"""Escapes are refused: host files, network, processes, native code."""

from __future__ import annotations

import pytest

from omniwasm.python import run


@pytest.mark.parametrize(
    ("code", "errors"),
    [
        ("open('/etc/passwd').read()", ("FileNotFoundError", "PermissionError", "OSError")),
        ("import os; os.listdir('/')", ("FileNotFoundError", "PermissionError", "OSError")),
        (
            "open('/usr/local/lib/../../../etc/hostname').read()",
            ("FileNotFoundError", "PermissionError", "OSError"),
        ),
        ("open('/usr/local/lib/python315.zip', 'ab')", ("PermissionError", "OSError")),
        (
            "import socket; s = socket.socket(); s.connect(('127.0.0.1', 80))",
            (
                "OSError",
                "PermissionError",
                "AttributeError",
                "ModuleNotFoundError",
                "NotImplementedError",
            ),
        ),
        (
            "import subprocess; subprocess.run(['ls'])",
            (
                "OSError",
                "RuntimeError",
                "ModuleNotFoundError",
                "PermissionError",
                "NotImplementedError",
            ),
        ),
        ("import os; os.system('ls')", ("AttributeError", "OSError")),
        ("import ctypes; ctypes.CDLL(None)", ("ModuleNotFoundError", "ImportError", "OSError")),
    ],
)
def test_escape_is_refused(code: str, errors: tuple[str, ...]) -> None:
    """Each attempt to reach the host ends in a Python exception inside the sandbox."""
    result = run(code)
    assert result.error is not None, result
    assert result.error.type in errors, result.error
    assert result.limit is None
