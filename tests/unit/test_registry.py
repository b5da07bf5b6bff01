"""The decorator is sugar over Registry.add_model; registries are objects, filled from modules, then frozen."""

from __future__ import annotations

import sys
import types

import pandas as pd
import pytest

import reviewqueue as rq
from reviewqueue.errors import AlreadyRegistered, ConfigurationError, NotFound, RegistryFrozen
from reviewqueue.registry import SPEC_ATTRIBUTE, Registry

MODULE_SOURCE = """
import pandas as pd
import reviewqueue as rq

@rq.model(name=MODEL_NAME, features={"x": float}, dataset=lambda: pd.DataFrame({"x": [0.0], "label": [0]}),
          verdicts={"yes": [rq.action("webhook")], "no": []}, positive_verdict="yes", negative_verdict="no")
def train(df):
    return None
"""


def _module(name: str, model_name: str = "m") -> types.ModuleType:
    """A real module, as a data scientist would write it, importable by name."""
    module = types.ModuleType(name)
    module.__dict__["MODEL_NAME"] = model_name
    exec(compile(MODULE_SOURCE, f"<{name}>", "exec"), module.__dict__)
    sys.modules[name] = module
    return module


def test_load_modules_registers_decorated_models_and_freezes() -> None:
    _module("tests_fake_models_a")
    registry = Registry()
    registry.load_modules(["tests_fake_models_a"])
    spec = registry.model("m")
    assert spec.queue == "m" and spec.features.names == ["x"]
    assert spec.actions_for("yes")[0].connector == "webhook"
    registry.freeze()
    with pytest.raises(RegistryFrozen):
        registry.add_model(spec)


def test_registering_a_name_twice_names_the_first_owner() -> None:
    first = getattr(_module("tests_fake_models_b", "dup").train, SPEC_ATTRIBUTE)
    second = getattr(_module("tests_fake_models_c", "dup").train, SPEC_ATTRIBUTE)
    registry = Registry()
    registry.add_model(first)
    with pytest.raises(AlreadyRegistered, match="tests_fake_models_b.train"):
        registry.add_model(second)


def test_unknown_model_is_not_found_naming_the_field() -> None:
    with pytest.raises(NotFound) as caught:
        Registry().model("nope")
    assert caught.value.field == "model"


def test_decorator_checks_verdicts_and_correlation_field() -> None:
    with pytest.raises(ConfigurationError, match="verdict 'maybe'"):
        rq.model(name="x", features={"a": float}, dataset=pd.DataFrame, verdicts={"yes": []},
                 positive_verdict="yes", negative_verdict="maybe")(lambda df: None)
    with pytest.raises(ConfigurationError, match="correlation_field"):
        rq.model(name="x", features={"a": float}, dataset=pd.DataFrame, verdicts={"y": [], "n": []},
                 positive_verdict="y", negative_verdict="n", correlation_field="charge")(lambda df: None)


@pytest.mark.parametrize("confidence", [0.5, 1.0, 0.3, 95])
def test_decorator_refuses_a_gate_confidence_outside_half_to_one(confidence: float) -> None:
    with pytest.raises(ConfigurationError, match=r"model 'x': Retrain.confidence must be between 0.5 and 1"):
        rq.model(name="x", features={"a": float}, dataset=pd.DataFrame, verdicts={"y": [], "n": []},
                 positive_verdict="y", negative_verdict="n",
                 retrain=rq.Retrain(confidence=confidence))(lambda df: None)


def test_fresh_registries_share_nothing() -> None:
    a, b = Registry(), Registry()
    a.load_modules(["models.fraud"])
    assert [m.name for m in a.models()] == ["fraud"]
    assert b.models() == []


def _text_model(zero_shot: rq.ZeroShot, features: dict | None = None) -> None:
    rq.model(name="triage", features=features or {"message": rq.Text()}, verdicts={"urgent": [], "routine": []},
             positive_verdict="urgent", negative_verdict="routine", zero_shot=zero_shot)(lambda df: None)


def test_the_decorator_refuses_an_unusable_zero_shot_in_the_models_own_verdicts() -> None:
    with pytest.raises(ConfigurationError, match=r"model 'triage': ZeroShot\(calibration=…\) needs examples of "
                                                 r"both verdicts: \(text, 1\) for 'urgent' and \(text, 0\) for "
                                                 r"'routine'; have 0 'urgent' and 0 'routine'") as refused:
        _text_model(rq.ZeroShot(positive=("help now",), negative=("thanks",), calibration=()))
    assert "concern" not in str(refused.value)
    with pytest.raises(ConfigurationError, match="have 1 'urgent' and 0 'routine'"):
        _text_model(rq.ZeroShot(positive=("help now",), negative=("thanks",), calibration=(("help!", 1),)))
    with pytest.raises(ConfigurationError, match=r"ZeroShot\(negative=…\) needs at least one non-empty phrase "
                                                 r"for 'routine'"):
        _text_model(rq.ZeroShot(positive=("help now",), negative=(), calibration=(("a", 1), ("b", 0))))
    with pytest.raises(ConfigurationError, match=r"each example is \(text, 1 = 'urgent' \| 0 = 'routine'\)"):
        _text_model(rq.ZeroShot(positive=("x",), negative=("y",), calibration=(("a", 1), ("b", 2))))
    with pytest.raises(ConfigurationError, match="needs a text feature"):
        rq.model(name="triage", features={"a": float}, dataset=pd.DataFrame, verdicts={"u": [], "r": []},
                 positive_verdict="u", negative_verdict="r",
                 zero_shot=rq.ZeroShot(positive=("x",), negative=("y",), calibration=(("a", 1), ("b", 0))))(
            lambda df: None)
    _text_model(rq.ZeroShot(positive=("x",), negative=("y",), calibration=(("a", 1), ("b", 0))))  # accepted


def test_retrain_defaults_to_better_with_confidence() -> None:
    retrain = rq.Retrain()
    assert retrain.require_improvement and retrain.min_eval_per_class == 10
    with pytest.raises(ConfigurationError, match="min_eval_per_class"):
        rq.model(name="x", features={"a": float}, dataset=pd.DataFrame, verdicts={"y": [], "n": []},
                 positive_verdict="y", negative_verdict="n", retrain=rq.Retrain(min_eval_per_class=0))(
            lambda df: None)
