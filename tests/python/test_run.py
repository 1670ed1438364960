"""omniwasm.python.run: untrusted Python in a fresh sandbox, with numpy and pandas."""

from __future__ import annotations

import numpy as np
import pandas as pd

from omniwasm import Mount, Policy
from omniwasm.python import Result, run


def test_print_is_captured() -> None:
    """What the code prints comes back as text, and a clean run is ok."""
    result = run("print('hello', 1 + 1)")
    assert result.stdout == "hello 2\n"
    assert result.ok


def test_numpy_matches_the_hosts_numpy() -> None:
    """A linear-algebra and statistics computation equals the host numpy's result."""
    code = (
        "import numpy as np\n"
        "a = np.arange(1, 17, dtype=np.float64).reshape(4, 4) + np.eye(4) * 10\n"
        "b = np.linspace(0, 1, 4)\n"
        "x = np.linalg.solve(a, b)\n"
        "[x.tolist(), float(np.std(a)), (a @ a.T).sum().item()]"
    )
    result = run(code, value=True)
    assert result.ok, result.error
    a = np.arange(1, 17, dtype=np.float64).reshape(4, 4) + np.eye(4) * 10
    b = np.linspace(0, 1, 4)
    x, std, total = result.value
    assert np.allclose(x, np.linalg.solve(a, b))
    assert np.isclose(std, np.std(a))
    assert total == (a @ a.T).sum()


def test_pandas_matches_the_hosts_pandas() -> None:
    """A pandas group-by in the sandbox equals the host pandas' group-by of the same frame."""
    frame = {"k": ["a", "b", "a", "c", "b"], "v": [1.5, 2.0, 3.25, 4.0, 5.5]}
    code = (
        "import pandas as pd\n"
        f"df = pd.DataFrame({frame!r})\n"
        "df.groupby('k')['v'].agg(['sum', 'mean']).reset_index().to_dict(orient='list')"
    )
    result = run(code, value=True)
    assert result.ok, result.error
    host = pd.DataFrame(frame).groupby("k")["v"].agg(["sum", "mean"]).reset_index()
    assert result.value == host.to_dict(orient="list")


def test_last_expression_value_and_display() -> None:
    """The last expression's value is JSON data when asked, and its repr always."""
    result = run("import numpy as np\nnp.arange(4)", value=True)
    assert result.value == [0, 1, 2, 3]
    assert result.display == "array([0, 1, 2, 3])"
    assert run("1 + 2").value is None


def test_exception_is_structured_with_the_guest_traceback() -> None:
    """An exception comes back as type, message and a traceback naming the code's line."""
    result = run("x = 1\ndef f():\n    raise ValueError('bad value')\nf()")
    assert not result.ok
    assert result.error is not None
    assert (result.error.type, result.error.message) == ("ValueError", "bad value")
    assert 'File "<sandbox>", line 3, in f' in result.error.traceback
    assert "omniwasm" not in result.error.traceback


def test_sys_exit_is_an_exit_code() -> None:
    """sys.exit(3) ends the run with exit code 3 and no exception."""
    result = run("import sys\nprint('bye')\nsys.exit(3)")
    assert (result.exit_code, result.error, result.stdout) == (3, None, "bye\n")
    assert not result.ok


def test_files_are_in_a_private_tmp() -> None:
    """Files given to a run are readable by relative path from its working directory."""
    result = run(
        "import pandas as pd\npd.read_csv('data.csv')['x'].sum()",
        files={"data.csv": "x,y\n1,2\n3,4\n"},
        value=True,
    )
    assert result.value == 4, result.error


def test_no_state_leaks_between_fresh_runs(tmp_path: object) -> None:
    """Globals, modules, module attributes and files of one run are gone in the next."""
    first = run(
        "import sys, numpy\n"
        "leak = 1\n"
        "numpy.leaked = 'yes'\n"
        "sys.modules['leaky'] = sys\n"
        "import builtins; builtins.LEAK = 2\n"
        "open('/tmp/leak.txt', 'w').write('x')",
        files={"seed.txt": ""},
    )
    assert first.ok, first.error
    second = run(
        "import sys, os, numpy, builtins\n"
        "[('leak' in globals()), hasattr(numpy, 'leaked'), 'leaky' in sys.modules,"
        " hasattr(builtins, 'LEAK'), os.path.exists('/tmp/leak.txt')]",
        value=True,
    )
    assert second.value == [False, False, False, False, False], second.error


def test_grant_read_only(tmp_path: object) -> None:
    """A read-only grant is readable and refuses writes."""
    from pathlib import Path

    root = Path(str(tmp_path))
    (root / "in.txt").write_text("granted")
    policy = Policy(timeout=30, dirs=(Mount(host=str(root), guest="/data", read_only=True),))
    result = run("print(open('/data/in.txt').read())\nopen('/data/out.txt', 'w')", policy=policy)
    assert result.stdout == "granted\n"
    assert result.error is not None and result.error.type in ("PermissionError", "OSError")
    assert not (root / "out.txt").exists()


def test_result_to_dict_is_json() -> None:
    """to_dict() is plain JSON data."""
    import json

    data = run("print(1)\n2").to_dict()
    assert json.loads(json.dumps(data))["display"] == "2"
    assert isinstance(Result(), Result)


def test_fresh_runs_draw_different_random_numbers() -> None:
    """Each fresh sandbox reseeds random and numpy.random; a deterministic policy fixes them."""
    code = "import random, numpy\n[random.random(), float(numpy.random.rand())]"
    first, second = (run(code, value=True).value for _ in range(2))
    assert first != second
    fixed = Policy(timeout=30, deterministic=True, seed=7)
    assert run(code, value=True, policy=fixed).value == run(code, value=True, policy=fixed).value


def test_env_reaches_os_environ() -> None:
    """The policy's env pairs are the code's os.environ (nothing of the host's)."""
    result = run(
        "import os\nsorted(os.environ.items())",
        policy=Policy(timeout=30, env=(("GREETING", "hi"),)),
        value=True,
    )
    assert ["GREETING", "hi"] in result.value
    assert not any(k == "HOME" for k, _ in result.value)


def test_deterministic_policy_fixes_clocks_sleeps_and_random_bytes() -> None:
    """Deterministic runs see virtual clocks (sleeps move them at once) and seeded random bytes.

    The wall clock starts at 2023-11-14T22:13:20Z; os.urandom repeats for the same seed.
    """
    code = (
        "import os, time\n"
        "start = time.monotonic()\n"
        "time.sleep(100)\n"
        "[time.time(), time.monotonic() - start, os.urandom(8).hex()]"
    )
    policy = Policy(timeout=30, deterministic=True, seed=11)
    first = run(code, policy=policy, value=True)
    assert first.ok, first.error
    assert first.value[:2] == [1_700_000_100.0, 100.0]
    assert first.duration < 30
    assert run(code, policy=policy, value=True).value == first.value
    other = run(code, policy=policy.with_(seed=12), value=True).value
    assert other[2] != first.value[2]
    real = run("import time\ntime.time()", value=True).value
    assert real > 1_700_000_100
