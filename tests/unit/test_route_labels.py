"""Each route reads as what it means for its model: "auto: decline", not the stored "auto_flag" (domain.route_labels).
Stored values never change; the labels come from the verdicts an automatic decision records, or the model's own
``route_labels=``, checked at import."""

from __future__ import annotations

from typing import Any

import pytest

import reviewqueue as rq
from reviewqueue.domain.route_labels import route_labels
from reviewqueue.errors import ConfigurationError
from reviewqueue.registry import SPEC_ATTRIBUTE, ModelSpec


def loan_model(**extra: Any) -> ModelSpec:
    @rq.model(name="loan_labels", features={"income": float}, dataset=lambda: None,  # type: ignore[arg-type,return-value]
              positive_verdict="decline", negative_verdict="approve",
              verdicts={"decline": [], "approve": []}, **extra)
    def train(df: Any) -> Any:
        return None

    spec: ModelSpec = getattr(train, SPEC_ATTRIBUTE)
    return spec


def test_routes_are_named_after_the_verdict_an_automatic_decision_records() -> None:
    assert route_labels("fraud", "fraud", "legit") == {
        "review": "review", "auto_flag": "auto: fraud", "auto_pass": "auto: legit"}
    spec = loan_model()
    assert [spec.route_label(r) for r in ("review", "auto_flag", "auto_pass")] == [
        "review", "auto: decline", "auto: approve"]
    assert spec.route_label("something_else") == "something_else"  # a value from a future version: shown as stored


def test_a_model_may_name_its_routes() -> None:
    spec = loan_model(route_labels={"auto_flag": "auto-declined", "review": "underwriter"})
    assert spec.route_labels == {"review": "underwriter", "auto_flag": "auto-declined", "auto_pass": "auto: approve"}
    assert spec.route_label("auto_pass") == "auto: approve"


@pytest.mark.parametrize(("declared", "says"), [
    ({"declined": "x"}, "'declined' is not a route; the routes are review, auto_flag, auto_pass"),
    ({"auto_flag": ""}, "route_labels['auto_flag'] must be 1-40 printable characters"),
    ({"auto_flag": " padded"}, "without surrounding spaces"),
    ({"auto_flag": "x" * 41}, "must be 1-40 printable characters"),
    ({"auto_flag": "two\nlines"}, "printable"),
    ({"auto_flag": "review"}, "two routes would show the same label"),
    (["auto_flag"], "must be a mapping"),
])
def test_a_bad_route_label_fails_at_import(declared: Any, says: str) -> None:
    with pytest.raises(ConfigurationError, match="model 'loan_labels': route_labels") as refused:
        loan_model(route_labels=declared)
    assert says in refused.value.message
