"""Hypothesis round trips of every Policy field through TOML and JSON."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from omniwasm import Mount, Policy

_COUNT = st.none() | st.integers(min_value=0, max_value=2**63 - 1)
_NAME = st.text(min_size=1).filter(lambda k: "=" not in k)

FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "max_memory": _COUNT,
    "fuel": _COUNT,
    "timeout": st.none()
    | st.floats(min_value=0, exclude_min=True, allow_nan=False, allow_infinity=False),
    "max_table_elements": _COUNT,
    "max_instances": _COUNT,
    "max_output": _COUNT,
    "args": st.lists(st.text(), max_size=4),
    "env": st.lists(st.tuples(_NAME, st.text()), max_size=4),
    "inherit_env": st.booleans(),
    "dirs": st.lists(
        st.builds(Mount, host=st.text(min_size=1), guest=st.text(), read_only=st.booleans()),
        max_size=3,
    ),
    "stdin": st.none() | st.binary() | st.just("inherit") | st.builds(Path, st.text()),
    "stdout": st.sampled_from(["capture", "inherit", "discard"]) | st.builds(Path, st.text()),
    "stderr": st.sampled_from(["capture", "inherit", "discard"]) | st.builds(Path, st.text()),
    "network": st.booleans(),
    "allowed_hosts": st.lists(st.text(), max_size=3),
    "deterministic": st.booleans(),
    "seed": st.integers(min_value=0, max_value=2**64 - 1),
    "models": st.dictionaries(_NAME, st.text(min_size=1), max_size=3),
    "max_model_size": st.integers(min_value=0, max_value=2**63 - 1),
    "max_inference_time": st.none()
    | st.floats(min_value=0, exclude_min=True, allow_nan=False, allow_infinity=False),
    "nn_threads": st.integers(min_value=1, max_value=2**16),
}

policies = st.fixed_dictionaries(FIELDS).map(lambda kw: Policy(**kw))


def test_every_policy_field_has_a_strategy() -> None:
    """The round trips below generate every field the Policy has (a new field needs one)."""
    assert set(FIELDS) == {f.name for f in dataclasses.fields(Policy)}


@settings(max_examples=200, deadline=None)
@given(policies)
def test_toml_round_trip(policy: Policy) -> None:
    """from_toml(to_toml(p)) == p for any policy (control characters included)."""
    assert Policy.from_toml(policy.to_toml()) == policy


@settings(max_examples=200, deadline=None)
@given(policies)
def test_json_round_trip(policy: Policy) -> None:
    """from_json(to_json(p)) == p for any policy."""
    assert Policy.from_json(policy.to_json()) == policy


def test_toml_round_trip_of_a_delete_character() -> None:
    """An env value holding U+007F (which TOML must escape) survives to_toml/from_toml."""
    policy = Policy(env={"A": "x\x7fy", "B": "\x00\x1b\u2028"})
    assert Policy.from_toml(policy.to_toml()) == policy


def test_a_repeated_env_key_keeps_its_last_value() -> None:
    """env pairs with one key twice mean the later value, as in a process environment."""
    assert Policy(env=["A=1", "B=2", "A=3"]).env == (("A", "3"), ("B", "2"))
