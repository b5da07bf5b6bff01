"""A model module for the suites that study delivery, not authority (tests/faults, tests/e2e/test_worker_faults):
the product's fraud model (models/fraud.py) with every action's authority that of ``automatic=True`` (no
limits), so an auto-flagged event fires all four actions — the refund of the event's amount (with the
product's ``amount``, ``currency`` and ``match``, which the connector checks against the charge), Slack, the
ban and the webhook.

Everything else is the product's spec, copied field by field (routing, features, context, training, and
whatever each action declares besides its authority), so fraud v1 (trained once per session,
tests/conftest.py) serves it unchanged and the suites follow models/fraud.py as it changes. The fault rig and
the e2e stack name ``MODULE`` in their processes' ``model_modules``; the rig's in-process API uses
``registry()``.

The product's model stays human-only for refunds and bans (domain.authority); that rule is tested in
tests/integration/test_action_authority.py and tests/api, not here.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import models.fraud as product
from reviewqueue.domain.authority import authority_for
from reviewqueue.registry import SPEC_ATTRIBUTE, ActionSpec, ModelSpec, Registry

MODULE = __name__


def _product_spec() -> ModelSpec:
    reg = Registry()
    reg.load_modules([product.__name__])
    return reg.model("fraud")


def _automatic(action: ActionSpec) -> ActionSpec:
    """The same action with the authority ``rq.action(..., automatic=True)`` gives it (validated the same way)."""
    return replace(action, authority=authority_for(action.connector, action.params, True, None, None))


def train(df: Any) -> Any:
    """The product's training function."""
    return product.train(df)


_FRAUD = _product_spec()
setattr(train, SPEC_ATTRIBUTE, replace(
    _FRAUD, train=train, owner=f"{MODULE}.train",
    description=f"{_FRAUD.description} (tests: every action automatic)",
    verdicts={verdict: [_automatic(a) for a in actions] for verdict, actions in _FRAUD.verdicts.items()},
))


def registry() -> Registry:
    """A frozen registry holding this module's fraud model alone."""
    reg = Registry()
    reg.load_modules([MODULE])
    return reg.freeze()
