"""Bring-your-own model fixtures: small ONNX files written with onnx.helper or skl2onnx, a loan model declared
through the decorator over them, and a context whose registry holds it (fresh per test)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import reviewqueue as rq
from reviewqueue.db.engine import make_engine
from reviewqueue.registry import SPEC_ATTRIBUTE, ModelSpec, Registry
from reviewqueue.services.context import AppContext
from reviewqueue.settings import Settings
from tests.factories import clean

LOAN_INPUTS = {"amount": float, "age_days": int}
# every score between 0.05 and 0.97 goes to a reviewer: the tests label what the model served
REVIEW_ALL = rq.RoutingPolicy(review_low=0.0001, review_high=0.9999, audit_fraction=0.0)


def logistic_graph(path: Path, *, amount: float, age: float, bias: float, sigmoid: bool = True,
                   age_type: int = TensorProto.INT64) -> Path:
    """p = sigmoid(amount·a + age_days·b + c) from two [N, 1] inputs, output ``p`` [N, 1] (``logit`` without the
    sigmoid: not a probability)."""
    nodes = [
        helper.make_node("Cast", ["age_days"], ["age_f"], to=TensorProto.FLOAT),
        helper.make_node("Concat", ["amount", "age_f"], ["x"], axis=1),
        helper.make_node("MatMul", ["x", "w"], ["xw"]),
        helper.make_node("Add", ["xw", "b"], ["logit" if not sigmoid else "z"]),
    ]
    if sigmoid:
        nodes.append(helper.make_node("Sigmoid", ["z"], ["p"]))
    out = "p" if sigmoid else "logit"
    graph = helper.make_graph(
        nodes, "loan",
        [helper.make_tensor_value_info("amount", TensorProto.FLOAT, ["N", 1]),
         helper.make_tensor_value_info("age_days", age_type, ["N", 1])],
        [helper.make_tensor_value_info(out, TensorProto.FLOAT, ["N", 1])],
        [numpy_helper.from_array(np.array([[amount], [age]], dtype=np.float32), "w"),
         numpy_helper.from_array(np.array([bias], dtype=np.float32), "b")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def loan_spec(onnx_path: Path | str, **declared: Any) -> ModelSpec:
    """The loan model declared over ``onnx_path`` (``declared`` overrides inputs/output/features)."""
    options: dict[str, Any] = {"inputs": LOAN_INPUTS, "output": "p", **declared}

    @rq.model(name="loan", onnx=onnx_path, verdicts={"decline": [], "approve": []}, positive_verdict="decline",
              negative_verdict="approve", routing=REVIEW_ALL, **options)
    def loan(df: Any) -> None:
        """Scored by the bank's own model file; reviewqueue only serves and judges it."""

    spec: ModelSpec = getattr(loan, SPEC_ATTRIBUTE)
    return spec


@pytest.fixture
def byo_ctx(settings: Settings) -> Iterator[Callable[..., AppContext]]:
    """``byo_ctx(*specs)``: a context over the test database (tables emptied) whose registry holds ``specs``."""
    engine = make_engine(settings.database_url)
    clean(engine)

    def build(*specs: ModelSpec) -> AppContext:
        registry = Registry()
        for spec in specs:
            registry.add_model(spec)
        return AppContext(settings=settings, engine=engine, registry=registry.freeze())

    yield build
    engine.dispose()
