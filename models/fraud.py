"""Card-fraud model: transactions scored by gradient-boosted trees; uncertain ones go to the fraud ops queue.

`reviewqueue models register fraud` trains version 1 on the synthetic transactions below, which mimic the
shape of real card data (a few % fraud, driven by amount, country mismatch, new accounts, card-not-present,
night hours and velocity), so the whole loop runs with no customer data.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.ensemble import GradientBoostingClassifier

import reviewqueue as rq

MERCHANT_CATEGORIES = ("grocery", "electronics", "travel", "fuel", "restaurants", "digital_goods", "jewelry")
RISKY_CATEGORIES = {"electronics": 0.8, "digital_goods": 1.0, "jewelry": 1.2, "travel": 0.4}
FEATURES = {
    "amount": float,
    "merchant_category": rq.Category(*MERCHANT_CATEGORIES),
    "country_mismatch": bool,
    "account_age_days": int,
    "card_present": bool,
    "hour": int,
    "velocity_1h": int,
}


def synthetic_transactions(n: int = 20_000, seed: int = 7) -> pd.DataFrame:
    """Deterministic synthetic card transactions with a `label` column (1 = fraud), about 3-4% positives."""
    rng = np.random.default_rng(seed)
    amount = np.round(rng.lognormal(mean=3.6, sigma=1.1, size=n), 2)
    category = rng.choice(MERCHANT_CATEGORIES, size=n, p=[0.3, 0.1, 0.08, 0.17, 0.2, 0.1, 0.05])
    country_mismatch = rng.random(n) < 0.07
    account_age_days = rng.integers(0, 3650, size=n)
    card_present = rng.random(n) < 0.55
    hour = rng.integers(0, 24, size=n)
    velocity = rng.poisson(1.2, size=n)
    logit = (
        -6.2
        + 0.55 * np.log1p(amount) / np.log(10) * 2
        + 1.9 * country_mismatch
        + 1.4 * (account_age_days < 30)
        - 1.3 * card_present
        + 0.9 * ((hour <= 4) | (hour >= 23))
        + 0.45 * np.minimum(velocity, 8)
        + np.array([RISKY_CATEGORIES.get(c, 0.0) for c in category])
    )
    probability = 1 / (1 + np.exp(-logit))
    label = (rng.random(n) < probability).astype(int)
    return pd.DataFrame({
        "amount": amount, "merchant_category": category, "country_mismatch": country_mismatch,
        "account_age_days": account_age_days.astype(int), "card_present": card_present,
        "hour": hour.astype(int), "velocity_1h": velocity.astype(int), "label": label,
    })


BAN_USER = (
    "UPDATE users SET banned = 1, banned_reason = :reason, banned_by = :actor WHERE id = :user_id"
)
UNBAN_USER = "UPDATE users SET banned = 0, banned_reason = NULL, banned_by = NULL WHERE id = :user_id"


@rq.model(
    name="fraud",
    description="Card-not-present fraud on card transactions; reviewers confirm fraud or clear it.",
    features=FEATURES,
    context=["charge_id", "user_id", "currency"],
    correlation_field="charge_id",
    history_key="user_id",  # triage lists the same customer's other transactions and how they were decided
    dataset=synthetic_transactions,
    routing=rq.RoutingPolicy(review_low=0.15, review_high=0.9, audit_fraction=0.02),
    priority=rq.ExpectedLoss(amount_feature="amount"),
    queue="fraud",
    positive_verdict="fraud",
    negative_verdict="legit",
    # A reviewer's "fraud" (refund, ban) waits 30 s: a mistaken key press is undone (U) before anything fires.
    # "legit" has nothing irreversible to hold back.
    undo_seconds={"fraud": 30, "legit": 0},
    verdicts={
        # Money and accounts wait for a person: a confident model alerts (Slack, webhook) and queues the item;
        # the reviewer's "fraud" refunds the event's amount (never more; only a charge of the same user and
        # currency) and bans the user. An event's sender chooses its features and context, so an automatic
        # refund would be theirs to aim (SECURITY.md, "Who may cause an irreversible action").
        # A reversed decision (or an overturned automatic one) unbans the user and posts a follow-up; nothing
        # takes a refund back, so the refund is declared irreversible and the decision button says so.
        "fraud": [
            rq.action("stripe_refund", automatic=False, charge="context.charge_id", amount="features.amount",
                      currency="context.currency", match={"metadata.user_id": "user_id"}, irreversible=True),
            rq.action("slack_message", channel="#fraud-alerts"),
            rq.action("sql", automatic=False, statement=BAN_USER,
                      bind={"user_id": "context.user_id", "reason": "verdict", "actor": "actor"},
                      compensate=rq.action("sql", statement=UNBAN_USER, bind={"user_id": "context.user_id"})),
            rq.action("webhook"),
        ],
        "legit": [rq.action("webhook")],
    },
    retrain=rq.Retrain(cron="0 3 * * *", min_new_labels=50, metric="roc_auc", tolerance=0.01),
)
def train(df: pd.DataFrame) -> GradientBoostingClassifier:
    """Fit on encoded features; `label` is 1 for fraud."""
    X = df.drop(columns="label")
    return GradientBoostingClassifier(n_estimators=120, max_depth=3, learning_rate=0.1, random_state=0).fit(
        X, df["label"]
    )
