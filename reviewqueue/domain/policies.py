"""Small value objects that hold the rules; each formula is in its docstring."""

from __future__ import annotations

import hashlib
import math
import random
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Route(StrEnum):
    """Where a prediction goes."""

    REVIEW = "review"  # uncertain: a human decides
    AUTO_FLAG = "auto_flag"  # confident positive: the model decides the positive verdict
    AUTO_PASS = "auto_pass"  # confident negative: the model decides the negative verdict


def stable_fraction(key: str) -> float:
    """A number in [0, 1) derived from ``key``: the same event always draws the same audit lottery."""
    digest = hashlib.sha256(key.encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


@dataclass(frozen=True)
class RoutingPolicy:
    """Route by score.

    ``review_low <= score < review_high`` → REVIEW; ``score >= review_high`` → AUTO_FLAG; else AUTO_PASS.
    An auto-decision is also sent to humans as an audit when ``stable_fraction(external_id) < audit_fraction``.
    Audits wait in the decision queue; ``audit_claim_share`` of the claims on it take the oldest pending audit
    first (when one waits), so audits are reviewed whatever their score instead of starving below the review
    items' priorities.
    """

    review_low: float = 0.15
    review_high: float = 0.9
    audit_fraction: float = 0.02
    audit_claim_share: float = 0.1

    def __post_init__(self) -> None:
        if not 0.0 <= self.review_low <= self.review_high <= 1.0:
            raise ValueError("need 0 <= review_low <= review_high <= 1")
        if not 0.0 <= self.audit_fraction <= 1.0:
            raise ValueError("audit_fraction must be within [0, 1]")
        if not 0.0 <= self.audit_claim_share <= 1.0:
            raise ValueError("audit_claim_share must be within [0, 1]")

    def route(self, score: float) -> Route:
        if score >= self.review_high:
            return Route.AUTO_FLAG
        if score >= self.review_low:
            return Route.REVIEW
        return Route.AUTO_PASS

    def audited(self, external_id: str) -> bool:
        return stable_fraction(external_id) < self.audit_fraction


@dataclass(frozen=True)
class ExpectedLoss:
    """Priority = score × features[amount_feature]: review first where a wrong call costs most.

    Ties (and equal priorities) are broken by age in the claim query: oldest first.
    """

    amount_feature: str = "amount"

    def __call__(self, score: float, features: dict[str, Any]) -> float:
        amount = float(features.get(self.amount_feature, 0.0) or 0.0)
        return round(score * amount, 6)


@dataclass(frozen=True)
class ScorePriority:
    """Priority = score: the riskiest first."""

    def __call__(self, score: float, features: dict[str, Any]) -> float:
        return round(score, 6)


MAX_RETRY_AFTER_SECONDS = 86_400.0


@dataclass(frozen=True)
class RetryPolicy:
    """Delay before attempt ``n + 1`` after ``n`` failed attempts.

    ``delay = min(max_seconds, base_seconds × 2^(n-1))`` with full jitter in ``[delay/2, delay]``;
    a provider's Retry-After wins when it is longer (it is the provider's explicit wish, so it is not
    capped by ``max_seconds``; only by a day, against nonsense values). Dead after ``max_attempts`` attempts.
    """

    base_seconds: float = 1.0
    max_seconds: float = 300.0
    max_attempts: int = 8

    def should_retry(self, attempts: int) -> bool:
        return attempts < self.max_attempts

    def delay(self, attempts: int, retry_after: float | None = None, rng: random.Random | None = None) -> float:
        exponent = max(0, attempts - 1)
        capped = min(self.max_seconds, self.base_seconds * math.pow(2, min(exponent, 32)))
        draw = (rng or random).uniform(capped / 2, capped)
        if retry_after is not None and retry_after > draw:
            return min(float(retry_after), MAX_RETRY_AFTER_SECONDS)
        return draw
