"""Clinical triage: patients' free-text messages ranked by risk of self-harm, reviewed by clinicians.

There are no labels on day one, so version 1 is zero-shot: the sentence encoder all-MiniLM-L6-v2 scores each
message by its similarity to the label descriptions below (several phrasings per class), calibrated to 0..1
on the small hand-written calibration set. Clinicians' verdicts then train a logistic-regression head on the
embeddings (once ≥ `min_new_labels` labels exist); it replaces zero-shot only if it is better on held-out labels.

The decision queue clears the riskiest messages first; a separate, budgeted learning queue offers reviewers
the messages the model is least sure about, where a label teaches it most.
"""

from __future__ import annotations

import pandas as pd
from sklearn.linear_model import LogisticRegression

import reviewqueue as rq

CONCERN = (
    "I want to end my life",
    "I have been thinking about killing myself",
    "I keep thinking about hurting myself",
    "I don't want to be alive anymore",
    "I have a plan to take all my pills",
    "everyone would be better off without me",
    "I cut myself again last night",
    "I feel hopeless and I want to die",
    # means and method: plan language is the strongest warning sign and reads unlike the phrasings above
    "I have been saving up my pills to take them all at once",
    "I know how I would do it and I have what I need",
)
NO_CONCERN = (
    "I need to reschedule my appointment",
    "can you refill my prescription please",
    "what time does the clinic open tomorrow",
    "my knee still hurts after the physiotherapy",
    "thank you for the advice, I am feeling better",
    "I have a question about my bill",
    "the new medication gives me a mild headache",
    "can I get a copy of my blood test results",
)
CALIBRATION = (
    ("Lately I think about suicide every day", 1),
    ("I stockpiled my tablets and I am ready to take them", 1),
    ("I don't see the point in living any more", 1),
    ("I hurt myself on purpose when things get bad", 1),
    ("Please move my appointment to Friday", 0),
    ("Is the pharmacy open on Sunday?", 0),
    ("The rash is getting better with the cream", 0),
    ("I feel a bit stressed about work but I'm coping", 0),
    ("My sleep has been poor this week", 0),
    ("Could you send me the form for my insurance", 0),
)


@rq.model(
    name="self_harm",
    description="Patients' messages ranked by risk of self-harm; clinicians confirm a concern or clear it.",
    features={"text": rq.Text(max_chars=20_000)},
    context=["patient_id", "channel"],
    history_key="patient_id",  # the clinician sees the patient's earlier messages and how they were triaged
    zero_shot=rq.ZeroShot(positive=CONCERN, negative=NO_CONCERN, calibration=CALIBRATION),
    routing=rq.RoutingPolicy(review_low=0.2, review_high=1.0, audit_fraction=0.03),
    priority=rq.ScorePriority(),
    queue="clinical",
    learning=rq.LearningQueue(queue="clinical-learning", budget_per_day=40),
    sla=rq.Sla(minutes=15, channel="#clinical-oncall", min_priority=0.5),
    positive_verdict="concern",
    negative_verdict="no concern",
    verdicts={
        "concern": [rq.action("slack_message", channel="#clinical-oncall")],
        "no concern": [],
    },
    retrain=rq.Retrain(cron="30 2 * * *", min_new_labels=40, metric="roc_auc", require_improvement=True),
)
def train(df: pd.DataFrame) -> LogisticRegression:
    """A logistic-regression head on the sentence embeddings (columns e0…e383); `label` 1 = concern."""
    return LogisticRegression(C=1.0, class_weight="balanced", max_iter=2000).fit(df.drop(columns="label"), df["label"])
