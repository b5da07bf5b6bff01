"""Four-eyes: declared on the model and refused at import when wrong; the vote-counting rule (domain.four_eyes)."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

import reviewqueue as rq
from reviewqueue.domain.four_eyes import FourEyes, Tally, required_reviewers, tally
from reviewqueue.errors import ConfigurationError
from reviewqueue.registry import SPEC_ATTRIBUTE
from reviewqueue.services.effects import verdict_effects


def declare(four_eyes: Any) -> Any:
    """A model with numeric, categorical and boolean features and a context field; its spec."""
    hook = rq.action("webhook")
    decorated = rq.model(name="m", features={"amount": float, "n": int, "kind": rq.Category("a", "b"), "flag": bool},
                         context=["total"], dataset=pd.DataFrame, verdicts={"fraud": [hook], "legit": [hook]},
                         positive_verdict="fraud", negative_verdict="legit", four_eyes=four_eyes)(lambda df: None)
    return getattr(decorated, SPEC_ATTRIBUTE)


def spec_of(four_eyes: Any) -> Any:
    decorated = rq.model(name="m", features={"amount": float}, dataset=pd.DataFrame,
                         verdicts={"fraud": [rq.action("webhook")], "legit": []}, positive_verdict="fraud",
                         negative_verdict="legit", four_eyes=four_eyes)(lambda df: None)
    return getattr(decorated, SPEC_ATTRIBUTE)


@pytest.mark.parametrize(("bad", "message"), [
    ({"frod": FourEyes()}, r"'frod' is not one of its verdicts"),
    ({"fraud": FourEyes(reviewers=1)}, "reviewers must be an integer from 2 to 10"),
    ({"fraud": FourEyes(reviewers=True)}, "reviewers must be an integer"),  # type: ignore[arg-type]
    ({"fraud": FourEyes(reviewers=11)}, "from 2 to 10"),
    ({"fraud": FourEyes(above=("price", 5))}, "'price', which is neither a feature nor a context field"),
    ({"fraud": FourEyes(above=("kind", 5))}, "feature 'kind', which is not numeric"),
    ({"fraud": FourEyes(above=("flag", 5))}, "feature 'flag', which is not numeric"),
    ({"fraud": FourEyes(above=("amount", "500"))}, "amount must be a finite number"),  # type: ignore[arg-type]
    ({"fraud": FourEyes(above=("amount", float("inf")))}, "finite number"),
    ({"fraud": FourEyes(above=("amount",))}, r"above must be \(field, amount\)"),  # type: ignore[arg-type]
    ({"fraud": 2}, r"must be rq.FourEyes"),
    ([("fraud", FourEyes())], "must map verdicts"),
])
def test_the_decorator_refuses_a_bad_declaration(bad: Any, message: str) -> None:
    with pytest.raises(ConfigurationError, match=f"model 'm': four_eyes.*{message}"):
        declare(bad)


def test_a_declaration_on_a_numeric_feature_or_a_context_field_is_kept() -> None:
    declare({"fraud": FourEyes(above=("amount", 500)), "legit": FourEyes(reviewers=3, above=("n", 2))})
    declare({"fraud": FourEyes(above=("total", 500))})
    spec = spec_of({"fraud": FourEyes(reviewers=2, above=("amount", 500))})
    assert spec.four_eyes == {"fraud": FourEyes(2, ("amount", 500))}
    assert spec_of(None).four_eyes == {}


def test_required_reviewers_only_above_the_amount_and_failing_closed() -> None:
    rule = FourEyes(reviewers=2, above=("amount", 500))
    assert required_reviewers(None, {"amount": 10_000}, {}) == 1
    assert required_reviewers(rule, {"amount": 500}, {}) == 1
    assert required_reviewers(rule, {"amount": 500.01}, {}) == 2
    assert required_reviewers(rule, {}, {"amount": 900}) == 2  # a context field
    for unknown in (None, "900", True, float("nan")):
        assert required_reviewers(rule, {"amount": unknown}, {}) == 2
    assert required_reviewers(FourEyes(reviewers=3), {"amount": 1}, {}) == 3


def test_the_tally() -> None:
    assert tally([], 1, "fraud", required=1, adjudicating=False) is Tally.DECIDE
    assert tally([], 1, "fraud", required=2, adjudicating=False) is Tally.VOTE
    assert tally([(1, "fraud")], 2, "fraud", required=2, adjudicating=False) is Tally.DECIDE
    assert tally([(1, "fraud")], 2, "fraud", required=3, adjudicating=False) is Tally.VOTE
    assert tally([(1, "fraud"), (2, "fraud")], 3, "fraud", required=3, adjudicating=False) is Tally.DECIDE
    assert tally([(1, "fraud")], 2, "legit", required=1, adjudicating=False) is Tally.DISAGREE
    assert tally([(1, "fraud")], 1, "fraud", required=2, adjudicating=False) is Tally.REFUSED  # never twice
    assert tally([(1, "fraud"), (2, "legit")], 3, "legit", required=1, adjudicating=True) is Tally.FINAL
    assert tally([(1, "fraud"), (2, "legit")], 2, "legit", required=1, adjudicating=True) is Tally.REFUSED


def test_the_button_says_a_second_reviewer_is_needed() -> None:
    spec = spec_of({"fraud": FourEyes(reviewers=2, above=("amount", 500))})
    labels = {e.verdict: (e.label, e.reviewers) for e in verdict_effects(spec, {"features": {"amount": 900.0}})}
    assert labels == {"fraud": ("Fraud — needs a second reviewer", 2), "legit": ("Legit", 1)}
    below = {e.verdict: e.label for e in verdict_effects(spec, {"features": {"amount": 20.0}})}
    assert below["fraud"] == "Fraud"
    general = {e.verdict: e.label for e in verdict_effects(spec)}
    assert general["fraud"] == "Fraud — needs a second reviewer above amount 500"
    three = spec_of({"fraud": FourEyes(reviewers=3)})
    assert verdict_effects(three)[0].label == "Fraud — needs 3 agreeing reviewers"
