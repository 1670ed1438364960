"""The Policy: deny by default, validated, composable, serialisable."""

from __future__ import annotations

from pathlib import Path

import pytest

from omniwasm import Mount, Policy, PolicyError, parse_duration, parse_size


def test_default_policy_denies_everything() -> None:
    """A default Policy grants no args, env, dirs, stdin or network and sets no limits."""
    p = Policy()
    assert p.args == () and p.env == () and p.dirs == ()
    assert p.stdin is None and p.network is False and p.inherit_env is False
    assert p.max_memory is None and p.fuel is None and p.timeout is None
    assert p.stdout == "capture" and p.stderr == "capture"


def test_policy_is_frozen() -> None:
    """Assigning to a Policy field raises instead of mutating it."""
    p = Policy()
    with pytest.raises(AttributeError):
        p.fuel = 3  # type: ignore[misc]


def test_with_returns_a_validated_copy() -> None:
    """with_() replaces fields on a copy, parses sizes, and leaves the original untouched."""
    p = Policy(fuel=10)
    q = p.with_(max_memory="64MiB", env={"A": "1"})
    assert q.max_memory == 64 * 1024 * 1024 and q.env == (("A", "1"),) and q.fuel == 10
    assert p.max_memory is None


def test_with_rejects_unknown_fields() -> None:
    """with_() names an unknown field in a PolicyError."""
    with pytest.raises(PolicyError, match="fuell"):
        Policy().with_(fuell=1)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("64MiB", 64 << 20), ("10MB", 10_000_000), ("4096", 4096), ("1GiB", 1 << 30), (7, 7)],
)
def test_parse_size(text: str | int, expected: int) -> None:
    """Sizes accept decimal and binary units."""
    assert parse_size(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"), [("2s", 2.0), ("500ms", 0.5), ("1m", 60.0), (3, 3.0)]
)
def test_parse_duration(text: str | float, expected: float) -> None:
    """Durations accept s, ms and m units and bare seconds."""
    assert parse_duration(text) == expected


@pytest.mark.parametrize("bad", ["lots", "-1s", "0", "2 parsecs"])
def test_bad_durations_are_policy_errors(bad: str) -> None:
    """A malformed or non-positive duration is a PolicyError naming the text."""
    with pytest.raises(PolicyError):
        parse_duration(bad)


@pytest.mark.parametrize(
    "bad", [{"fuel": -1}, {"fuel": "many"}, {"max_instances": True}, {"args": "abc"}]
)
def test_bad_field_values_raise(bad: dict[str, object]) -> None:
    """Wrong kinds or negative limits are rejected when the policy is built."""
    with pytest.raises(PolicyError):
        Policy(**bad)  # type: ignore[arg-type]


def test_mount_parse_follows_wasmtime_dir_syntax() -> None:
    """--dir HOST, HOST::GUEST and HOST::GUEST:ro parse like wasmtime's flag."""
    assert Mount.parse("/a") == Mount("/a", "/a", False)
    assert Mount.parse("/a::/data") == Mount("/a", "/data", False)
    assert Mount.parse("/a::/data:ro") == Mount("/a", "/data", True)
    assert Mount.parse("/a", read_only=True).read_only


def test_round_trip_json_and_toml(tmp_path: Path) -> None:
    """Every field survives to_json/from_json and to_toml/from_toml unchanged."""
    p = Policy(
        max_memory=1 << 20,
        fuel=1000,
        timeout=1.5,
        max_table_elements=100,
        max_instances=3,
        args=["a", "b c"],
        env={"K": "v=1", "Q": 'qu"ote'},
        inherit_env=True,
        dirs=[Mount(str(tmp_path), "/data", True), "/x::/y"],
        stdin=b"\x00\xffinput",
        stdout=tmp_path / "out.txt",
        stderr="discard",
        network=True,
        allowed_hosts=["https://*.example.com"],
    )
    assert Policy.from_json(p.to_json()) == p
    assert Policy.from_toml(p.to_toml()) == p


def test_from_toml_accepts_human_units() -> None:
    """A hand-written TOML policy may use "64MiB" and "2s"."""
    p = Policy.from_toml('max_memory = "64MiB"\ntimeout = "2s"\nargs = ["x"]\n')
    assert p.max_memory == 64 << 20 and p.timeout == 2.0 and p.args == ("x",)


def test_from_dict_rejects_unknown_keys() -> None:
    """An unknown key in a policy file is an error, not silently ignored."""
    with pytest.raises(PolicyError, match="memory"):
        Policy.from_dict({"memory": 1})


def test_malformed_json_is_a_policy_error() -> None:
    """Broken JSON raises PolicyError, not json.JSONDecodeError."""
    with pytest.raises(PolicyError, match="malformed"):
        Policy.from_json("{nope")


def test_policies_are_hashable_and_comparable() -> None:
    """Equal policies are equal and hash alike, so they can key caches."""
    assert hash(Policy(env={"A": "1"})) == hash(Policy(env=[("A", "1")]))
