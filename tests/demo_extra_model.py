"""A model module a user adds to the `reviewqueue run` demo (tests/e2e/test_run_once.py passes it with
``--models``): the product's fraud features, data and training under another name, no actions."""

from __future__ import annotations

from typing import Any

import models.fraud as product
import reviewqueue as rq


@rq.model(
    name="fraud_extra",
    description="An extra demo model: the fraud model's features and data under another name.",
    features=product.FEATURES,
    dataset=lambda: product.synthetic_transactions(n=4_000),
    routing=rq.RoutingPolicy(review_low=0.15, review_high=0.9),
    queue="fraud-extra",
    positive_verdict="fraud",
    negative_verdict="legit",
    verdicts={"fraud": [], "legit": []},
)
def train(df: Any) -> Any:
    return product.train(df)
