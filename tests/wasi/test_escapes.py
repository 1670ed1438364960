"""Escapes from the preopens are refused (or stay confined) the same way under both WASI hosts.

One table, ``ESCAPES``: every case of the ``escapes`` guest (``tests/fixtures/wasi/escapes.c``,
zig + the jco command adapter) and the one line it must print. The guest runs once per host,
native (wasmtime's WASI, ``Runtime.run``) and virtual (``omniwasm.wasi.run``), over a fresh
tree: two writable preopens (``/data``, ``/data2``), a read-only one (``/ro``), a secret file
beside them and host-made symlinks pointing out (see the guest's header comment). Every row is
checked under each host, so a difference between the hosts fails the row that differs.

The expected lines are what wasmtime 50's WASI answers: ``..`` out of a preopen, symlinks
leading out (host-made or guest-made) and ``readlink`` of an absolute host-made link give
``EPERM``; an absolute path outside every preopen gives ``ENOENT``; a path with a NUL byte
gives ``EINVAL``; a path of 4096 bytes or more gives ``ENAMETOOLONG`` (Linux's ``PATH_MAX``);
every write into the read-only preopen gives ``EPERM``. Links and renames inside a preopen,
or between the two writable ones, work.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from omniwasm import Mount, Policy, Runtime, wasi

ESCAPES: dict[str, str] = {
    # `..` out of the preopen; a directory opened below it is a root of its own
    "dotdot_read": "error EPERM",
    "dotdot_deep": "error EPERM",
    "dotdot_inside": "ok = inside",
    "dotdot_to_other_preopen": "error EPERM",
    "dotdot_stat": "error EPERM",
    "dotdot_create": "error EPERM",
    "dotdot_mkdir": "error EPERM",
    "dotdot_unlink": "error EPERM",
    "dotdot_truncate": "error EPERM",
    "dotdot_utimes": "error EPERM",
    "dotdot_opendir": "error EPERM",
    "subdir_dotdot": "error EPERM",
    "subdir_dotdot_out": "error EPERM",
    # absolute paths: only the preopens' own prefixes resolve
    "absolute_outside": "error ENOENT",
    "absolute_root": "error ENOENT",
    "absolute_create": "error ENOENT",
    "absolute_inside": "ok = inside",
    # symlinks the host made (absolute: to the secret, to the tree's root; relative: ../)
    "hostlink_read": "error EPERM",
    "hostlink_readlink": "error EPERM",
    "hostlink_stat": "error EPERM",
    "hostlink_lstat": "ok = link",
    "hostlink_write": "error EPERM",
    "hostlink_truncate": "error EPERM",
    "dirlink_read": "error EPERM",
    "dirlink_readlink": "error EPERM",
    "dirlink_create": "error EPERM",
    "dirlink_mkdir": "error EPERM",
    "relup_read": "error EPERM",
    "relup_readlink": "ok = ../secret.txt",
    # symlinks the guest makes
    "make_abslink": "error EPERM",
    "abslink_read": "error ENOENT",
    "make_uplink": "ok",
    "uplink_read": "error EPERM",
    "uplink_readlink": "ok = ../secret.txt",
    "make_crosslink": "ok",
    "crosslink_read": "error EPERM",
    "make_innerlink": "ok",
    "innerlink_read": "ok = inside",
    "make_loop": "ok",
    "loop_read": "error ELOOP",
    # hard links
    "link_inside": "ok",
    "link_inside_read": "ok = inside",
    "link_from_outside": "error EPERM",
    "link_to_outside": "error EPERM",
    "link_hostlink": "ok",
    "link_hostlink_read": "error EPERM",
    "link_from_read_only": "error EPERM",
    "link_into_read_only": "error EPERM",
    "link_across_preopens": "ok",
    # renames
    "rename_out": "error EPERM",
    "rename_in_from_outside": "error EPERM",
    "rename_across_preopens": "ok",
    "rename_across_read": "ok = moving",
    "rename_into_read_only": "error EPERM",
    "rename_from_read_only": "error EPERM",
    "rename_over_hostlink": "error EPERM",
    "rename_preopen_root": "error EBUSY",
    # NUL bytes inside a path (raw WASI p1 calls: the path is pointer + length)
    "nul_open": "error EINVAL",
    "nul_mkdir": "error EINVAL",
    "nul_stat": "error EINVAL",
    "nul_symlink_target": "error EINVAL",
    # long paths: PATH_MAX is 4096 bytes; the 70 KB path has 35,000 components
    "path_4095_bytes": "error ENOENT",
    "path_4096_bytes": "error ENAMETOOLONG",
    "long_path_read": "error ENAMETOOLONG",
    "long_path_create": "error ENAMETOOLONG",
    "long_path_mkdir": "error ENAMETOOLONG",
    "long_symlink_target": "error ENAMETOOLONG",
    "long_name_create": "error ENAMETOOLONG",
    # the read-only preopen
    "ro_read": "ok = read only",
    "ro_create": "error EPERM",
    "ro_write": "error EPERM",
    "ro_append": "error EPERM",
    "ro_truncate": "error EPERM",
    "ro_mkdir": "error EPERM",
    "ro_unlink": "error EPERM",
    "ro_symlink": "error EPERM",
    "ro_utimes": "error EPERM",
    "ro_read_after": "ok = read only",
}

HOSTS = ["native", "virtual"]


@dataclass(frozen=True)
class Run:
    """One host's run of the guest: its tree, what it printed, and the tree before the run."""

    root: Path
    stdout: str
    results: dict[str, str]
    before: dict[str, str]


def _tree(root: Path) -> dict[str, str]:
    """Every path under ``root`` with its text or link target (directories as ``<dir>``)."""
    out: dict[str, str] = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_symlink():
            out[rel] = f"-> {path.readlink()}"
        elif path.is_dir():
            out[rel] = "<dir>"
        else:
            out[rel] = path.read_text()
    return out


def _layout(root: Path) -> Policy:
    """Make the guest's tree under ``root``; the policy that mounts it and passes its arguments."""
    box, box2, ro = root / "box", root / "box2", root / "ro"
    for d in (box, box2, ro):
        d.mkdir(parents=True)
    secret = root / "secret.txt"
    secret.write_text("SECRET\n")
    (box / "in.txt").write_text("inside\n")
    (box / "sub").mkdir()
    (box / "hostlink").symlink_to(secret)
    (box / "dirlink").symlink_to(root)
    (box / "relup").symlink_to("../secret.txt")
    (box2 / "f.txt").write_text("two\n")
    (ro / "in.txt").write_text("read only\n")
    return Policy(
        dirs=[
            Mount(str(box), "/data"),
            Mount(str(box2), "/data2"),
            Mount(str(ro), "/ro", read_only=True),
        ],
        args=["/data", "/data2", "/ro", str(secret)],
    )


@pytest.fixture(scope="module")
def runs(
    tmp_path_factory: pytest.TempPathFactory, wasi_guest: Callable[[str], Path]
) -> dict[str, Run]:
    """The guest's run under each host, each over its own fresh tree."""
    guest = wasi_guest("escapes")
    out: dict[str, Run] = {}
    with pytest.MonkeyPatch.context() as mp:  # module scope: isolate the compile cache here
        mp.setenv("OMNIWASM_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
        for host in HOSTS:
            root = tmp_path_factory.mktemp(f"escapes-{host}")
            shutil.rmtree(root)
            policy = _layout(root)
            before = _tree(root)
            if host == "native":
                result = Runtime().run(guest, policy)
            else:
                result = wasi.run(Runtime(), guest, policy)
            assert result.exit_code == 0, result.stderr
            stdout = result.stdout.decode()
            results = dict(line.split(": ", 1) for line in stdout.splitlines())
            out[host] = Run(root, stdout, results, before)
    return out


@pytest.mark.parametrize("host", HOSTS)
@pytest.mark.parametrize("case", ESCAPES)
def test_escape_case(runs: dict[str, Run], case: str, host: str) -> None:
    """Each escape case prints the table's line under each host: refused, or confined."""
    assert runs[host].results.get(case) == ESCAPES[case]


@pytest.mark.parametrize("host", HOSTS)
def test_the_guest_ran_exactly_the_table(runs: dict[str, Run], host: str) -> None:
    """The guest printed one line per case of the table, in the table's order."""
    assert list(runs[host].results) == list(ESCAPES)


@pytest.mark.parametrize("host", HOSTS)
def test_no_host_path_or_secret_reaches_the_guest(runs: dict[str, Run], host: str) -> None:
    """Nothing the guest printed holds the host tree's path or the secret's content."""
    run = runs[host]
    assert str(run.root) not in run.stdout
    assert "/tmp" not in run.stdout
    assert "SECRET" not in run.stdout


@pytest.mark.parametrize("host", HOSTS)
def test_nothing_outside_the_writable_preopens_changed(runs: dict[str, Run], host: str) -> None:
    """The secret, the read-only preopen and the tree's root are as they were before the run."""
    run = runs[host]

    def outside(tree: dict[str, str]) -> dict[str, str]:
        return {k: v for k, v in tree.items() if not k.startswith(("box/", "box2/"))}

    assert outside(_tree(run.root)) == outside(run.before)


def test_both_hosts_leave_the_same_tree(runs: dict[str, Run]) -> None:
    """Inside the writable preopens both hosts made the same files, links and directories."""
    native, virtual = (
        {k: v.replace(str(runs[h].root), "ROOT") for k, v in _tree(runs[h].root).items()}
        for h in HOSTS
    )
    assert virtual == native
