"""The wasi:nn fields of a Policy: models, max_model_size, max_inference_time, nn_threads."""

from __future__ import annotations

from pathlib import Path

import pytest

from omniwasm import Policy, PolicyError


def test_nn_fields_deny_by_default() -> None:
    """A default policy grants no model, refuses guest models and leaves inference untimed."""
    p = Policy()
    assert p.models == ()
    assert p.max_model_size == 0
    assert p.max_inference_time is None
    assert p.nn_threads == 1


def test_models_accept_a_mapping_pairs_or_name_path_strings() -> None:
    """The three spellings of ``models`` freeze to the same pairs, sorted by name."""
    want = (("sentiment", "models/s.onnx"), ("vision", "/abs/v.onnx"))
    assert (
        Policy(models={"sentiment": "models/s.onnx", "vision": Path("/abs/v.onnx")}).models == want
    )
    assert Policy(models=[("sentiment", "models/s.onnx"), ("vision", "/abs/v.onnx")]).models == want
    assert Policy(models=["vision=/abs/v.onnx", "sentiment=models/s.onnx"]).models == want


@pytest.mark.parametrize(
    "bad",
    [
        {"models": "a=b.onnx"},
        {"models": ["nopath"]},
        {"models": {"": "m.onnx"}},
        {"models": {"m": ""}},
        {"models": ["m=a.onnx", "m=b.onnx"]},
        {"max_model_size": -1},
        {"max_model_size": "big"},
        {"max_inference_time": 0},
        {"max_inference_time": "soon"},
        {"nn_threads": 0},
        {"nn_threads": True},
    ],
)
def test_bad_nn_values_are_policy_errors(bad: dict[str, object]) -> None:
    """Each malformed wasi:nn value is refused with a PolicyError."""
    with pytest.raises(PolicyError):
        Policy(**bad)  # type: ignore[arg-type]


def test_nn_fields_take_human_units() -> None:
    """Sizes and durations may be written as text, as the other limits are."""
    p = Policy(max_model_size="10MiB", max_inference_time="250ms")  # type: ignore[arg-type]
    assert p.max_model_size == 10 * 1024**2
    assert p.max_inference_time == pytest.approx(0.25)


def test_nn_fields_round_trip_through_json_and_toml() -> None:
    """to_json/from_json and to_toml/from_toml give back an equal, hashable policy."""
    p = Policy(
        models={"sentiment": "models/sentiment.onnx", "odd name": 'a "quoted" path.onnx'},
        max_model_size=1 << 20,
        max_inference_time=1.5,
        nn_threads=2,
    )
    assert Policy.from_json(p.to_json()) == p
    assert Policy.from_toml(p.to_toml()) == p
    assert p.to_dict()["models"] == {
        "sentiment": "models/sentiment.onnx",
        "odd name": 'a "quoted" path.onnx',
    }
    assert hash(Policy.from_toml(p.to_toml())) == hash(p)


def test_hand_written_toml_models_table() -> None:
    """A ``[models]`` table in a policy file names the models."""
    p = Policy.from_toml(
        'max_inference_time = "2s"\nnn_threads = 4\n[models]\nsentiment = "m/s.onnx"\n'
    )
    assert p.models == (("sentiment", "m/s.onnx"),)
    assert p.max_inference_time == 2.0
    assert p.nn_threads == 4
