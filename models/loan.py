"""Loan applications: a small credit model, and the README's "Register a model" walkthrough.

A logistic regression on six application fields scores the chance an applicant defaults. A clear risk is
declined by the model ("auto: decline"), a clear good risk approved ("auto: approve"), and the applications in
between wait in the ``loan`` queue for an underwriter. Each decision tells the lending system by a signed webhook.
`reviewqueue models register loan` trains version 1 on the synthetic applications below in a few seconds;
copy this file to start a model of your own.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

import reviewqueue as rq

EMPLOYMENT = ("salaried", "self_employed", "unemployed")
FEATURES = {
    "income": float,  # yearly, thousands
    "loan_amount": float,  # thousands
    "debt_to_income": float,  # 0 .. 1+
    "credit_history_years": int,
    "late_payments_12m": int,
    "employment": rq.Category(*EMPLOYMENT),
}


def synthetic_applications(n: int = 4_000, seed: int = 11) -> pd.DataFrame:
    """Deterministic synthetic applications with a `label` column (1 = defaulted), about a quarter positive."""
    rng = np.random.default_rng(seed)
    income = np.round(rng.lognormal(mean=3.9, sigma=0.45, size=n), 1)
    loan_amount = np.round(income * rng.uniform(0.1, 1.2, size=n), 1)
    debt_to_income = np.round(rng.beta(2.0, 5.0, size=n), 3)
    history = rng.integers(0, 30, size=n)
    late = rng.poisson(0.4, size=n)
    employment = rng.choice(EMPLOYMENT, size=n, p=[0.7, 0.22, 0.08])
    logit = (
        -2.6
        + 3.2 * debt_to_income
        + 1.1 * loan_amount / income
        - 0.06 * history
        + 0.75 * np.minimum(late, 6)
        + np.where(employment == "unemployed", 1.6, np.where(employment == "self_employed", 0.35, 0.0))
    )
    label = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return pd.DataFrame({
        "income": income, "loan_amount": loan_amount, "debt_to_income": debt_to_income,
        "credit_history_years": history.astype(int), "late_payments_12m": late.astype(int),
        "employment": employment, "label": label,
    })


@rq.model(
    name="loan",
    description="Loan applications: decline the likely defaults, approve the rest; underwriters decide the middle.",
    features=FEATURES,
    context=["applicant_id"],  # not a feature: carried to the webhook
    dataset=synthetic_applications,
    # score = P(default): ≥ 0.7 the model declines, < 0.15 it approves, in between an underwriter decides
    routing=rq.RoutingPolicy(review_low=0.15, review_high=0.7, audit_fraction=0.02),
    queue="loan",
    positive_verdict="decline",
    negative_verdict="approve",
    verdicts={
        # the lending system hears every decision (a person's or the model's) as a signed webhook; a reversed
        # decision sends a `decision.reversed` one
        "decline": [rq.action("webhook")],
        "approve": [rq.action("webhook")],
    },
    retrain=rq.Retrain(min_new_labels=50, metric="roc_auc", tolerance=0.01),
)
def train(df: pd.DataFrame) -> LogisticRegression:
    """Fit on encoded features; `label` is 1 for a default (the "decline" verdict)."""
    return LogisticRegression(max_iter=2_000).fit(df.drop(columns="label"), df["label"])
