"""Escapes are refused: host files, network, processes, native code."""

from __future__ import annotations

from pathlib import Path

import pytest

from omniwasm import Mount, Policy
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


def test_symlink_in_a_grant_does_not_lead_outside(tmp_path: Path) -> None:
    """A symlink inside a granted directory that points outside it cannot be followed."""
    secret = tmp_path / "secret.txt"
    secret.write_text("host secret")
    granted = tmp_path / "granted"
    granted.mkdir()
    (granted / "link").symlink_to(secret)
    (granted / "dirlink").symlink_to(tmp_path)
    policy = Policy(timeout=30, dirs=(Mount(host=str(granted), guest="/data"),))
    for path in ("/data/link", "/data/dirlink/secret.txt"):
        result = run(f"print(open({path!r}).read())", policy=policy)
        assert result.error is not None, result
        assert result.error.type in ("PermissionError", "OSError", "FileNotFoundError")
        assert "host secret" not in result.stdout
