"""A model module for the suites that study delivery, not authority (tests/faults, tests/e2e/test_worker_faults):
the product's fraud model (models/fraud.py) with every action declared ``automatic=True``, so an auto-flagged
event fires all four actions — the refund of the event's amount (with the product's ``amount``, ``currency``
and ``match``, which the connector checks against the charge), Slack, the ban and the webhook.

Its routing, features, context and training are the product's, read from models.fraud, so fraud v1 (trained
once per session, tests/conftest.py) serves it unchanged. The fault rig and the e2e stack name ``MODULE`` in
their processes' ``model_modules``; the rig's in-process API uses ``registry()``.

The model of the product stays human-only for refunds and bans (domain.authority); that rule is tested in
tests/integration/test_action_authority.py and tests/api, not here.
"""

from __future__ import annotations

from typing import Any

import models.fraud as product
import reviewqueue as rq
from reviewqueue.registry import ActionSpec, ModelSpec, Registry

MODULE = __name__


def _product_spec() -> ModelSpec:
    reg = Registry()
    reg.load_modules([product.__name__])
    return reg.model("fraud")


def _automatic(actions: list[ActionSpec]) -> list[ActionSpec]:
    """The same actions with the same parameters, each one an automatic decision may fire (no limits)."""
    return [rq.action(a.connector, automatic=True, **a.params) for a in actions]


_FRAUD = _product_spec()


@rq.model(
    name=_FRAUD.name,
    description=f"{_FRAUD.description} (tests: every action automatic)",
    features=product.FEATURES,
    context=_FRAUD.context_fields,
    correlation_field=_FRAUD.correlation_field,
    dataset=_FRAUD.dataset,
    routing=_FRAUD.routing,
    priority=_FRAUD.priority,
    queue=_FRAUD.queue,
    positive_verdict=_FRAUD.positive_verdict,
    negative_verdict=_FRAUD.negative_verdict,
    verdicts={verdict: _automatic(actions) for verdict, actions in _FRAUD.verdicts.items()},
    retrain=_FRAUD.retrain,
    learning=_FRAUD.learning,
    sla=_FRAUD.sla,
)
def train(df: Any) -> Any:
    """The product's training function."""
    return product.train(df)


def registry() -> Registry:
    """A frozen registry holding this module's fraud model alone."""
    reg = Registry()
    reg.load_modules([MODULE])
    return reg.freeze()
