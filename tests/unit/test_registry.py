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


def test_fresh_registries_share_nothing() -> None:
    a, b = Registry(), Registry()
    a.load_modules(["models.fraud"])
    assert [m.name for m in a.models()] == ["fraud"]
    assert b.models() == []
