"""Operations reads and routing-policy versions: the what-if's traffic and labels, reviewer statistics, queue
health over time, and the stored routing policies ingest resolves (through services.policies' cache)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Integer, and_, cast, func, insert, select, update
from sqlalchemy.engine import Connection

from reviewqueue.db.tables import decisions_table as decisions
from reviewqueue.db.tables import items_table as items
from reviewqueue.db.tables import labels_table as labels
from reviewqueue.db.tables import predictions_table as predictions
from reviewqueue.db.tables import routing_policies_table as policies
from reviewqueue.db.tables import votes_table as votes
from reviewqueue.domain.states import DecisionSource, ItemStatus

__all__ = [
    "ItemSpan", "LabelledScore", "PolicyRow", "ReviewerDecision", "ReviewerVote", "activate_policy",
    "active_policy", "deactivate_policies", "insert_policy", "item_spans", "labelled_scores", "list_policies",
    "next_policy_number", "reviewer_decisions", "reviewer_votes", "score_histogram",
]


# --- routing-policy versions ---------------------------------------------------------------------------------

class PolicyRow(NamedTuple):
    model_name: str
    version: int
    review_low: float
    review_high: float
    audit_fraction: float
    policy_version: str
    actor: str
    reason: str
    evidence: dict[str, Any]
    active: bool
    created_at: datetime


_POLICY_COLUMNS = (policies.c.model_name, policies.c.version, policies.c.review_low, policies.c.review_high,
                   policies.c.audit_fraction, policies.c.policy_version, policies.c.actor, policies.c.reason,
                   policies.c.evidence, policies.c.active, policies.c.created_at)


def active_policy(conn: Connection, model_name: str) -> PolicyRow | None:
    """active_policy: the stored routing policy that routes a model now (ux_routing_policies_active), or None."""
    row = conn.execute(select(*_POLICY_COLUMNS).where(policies.c.model_name == model_name,
                                                      policies.c.active.is_(True))).first()
    return PolicyRow._make(row) if row else None


def list_policies(conn: Connection, model_name: str) -> list[PolicyRow]:
    """list_policies: every stored routing policy of a model, newest first."""
    rows = conn.execute(select(*_POLICY_COLUMNS).where(policies.c.model_name == model_name)
                        .order_by(policies.c.version.desc()))
    return [PolicyRow._make(r) for r in rows]


def next_policy_number(conn: Connection, model_name: str) -> int:
    """next_policy_number: one more than the model's highest stored policy version (1 for the first)."""
    return int(conn.execute(select(func.coalesce(func.max(policies.c.version), 0) + 1)
                            .where(policies.c.model_name == model_name)).scalar_one())


def deactivate_policies(conn: Connection, model_name: str) -> int:
    """deactivate_policies: no stored policy of the model routes any more (the decorator's does, unless one is
    activated in the same transaction); returns how many were active (0 or 1)."""
    return int(conn.execute(update(policies).where(policies.c.model_name == model_name,
                                                   policies.c.active.is_(True)).values(active=False)).rowcount)


def activate_policy(conn: Connection, model_name: str, version: int) -> bool:
    """activate_policy: make one stored version the model's active policy (deactivate the others first)."""
    return bool(conn.execute(update(policies).where(policies.c.model_name == model_name,
                                                    policies.c.version == version).values(active=True)).rowcount)


def insert_policy(conn: Connection, *, model_name: str, version: int, review_low: float, review_high: float,
                  audit_fraction: float, policy_version: str, actor: str, reason: str, evidence: dict[str, Any],
                  active: bool, created_at: datetime) -> None:
    """insert_policy: store a numbered routing policy (unique per model and number)."""
    conn.execute(insert(policies).values(
        model_name=model_name, version=version, review_low=review_low, review_high=review_high,
        audit_fraction=audit_fraction, policy_version=policy_version, actor=actor, reason=reason, evidence=evidence,
        active=active, created_at=created_at))


# --- the what-if's traffic and labels ------------------------------------------------------------------------

def score_histogram(conn: Connection, model_name: str, version_id: int, since: datetime,
                    bins: int) -> tuple[dict[int, int], datetime | None]:
    """score_histogram: a version's predictions of a model since ``since`` counted per score bin
    (``floor(score × bins)``), and the oldest one's time (ix_predictions_created)."""
    scaled = predictions.c.score * bins
    # floor on both: PostgreSQL's CAST of a float rounds, SQLite's truncates (scores are ≥ 0, so truncating floors)
    bucket = func.floor(scaled) if conn.dialect.name == "postgresql" else scaled
    where = and_(predictions.c.model_name == model_name, predictions.c.created_at >= since,
                 predictions.c.version_id == version_id)
    counted = select(cast(bucket, Integer).label("bin"), func.count().label("n")).where(where).group_by("bin")
    counts = {int(b): int(n) for b, n in conn.execute(counted)}
    oldest = conn.execute(select(func.min(predictions.c.created_at)).where(where)).scalar_one()
    return counts, oldest


class LabelledScore(NamedTuple):
    prediction_id: int
    score: float
    value: str
    source: str
    selection_probability: float | None  # the label's π, else its prediction's


def labelled_scores(conn: Connection, model_name: str, version_id: int, since: datetime) -> list[LabelledScore]:
    """labelled_scores: the standing labels on a version's predictions since ``since``, with the score and π,
    oldest first (domain.labels picks one per prediction)."""
    rows = conn.execute(
        select(labels.c.prediction_id, predictions.c.score, labels.c.value, labels.c.source,
               func.coalesce(labels.c.selection_probability, predictions.c.selection_probability))
        .join(predictions, predictions.c.id == labels.c.prediction_id)
        .where(predictions.c.model_name == model_name, predictions.c.version_id == version_id,
               predictions.c.created_at >= since, labels.c.withdrawn_at.is_(None))
        .order_by(labels.c.created_at, labels.c.id))
    return [LabelledScore._make(r) for r in rows]


# --- reviewer statistics -------------------------------------------------------------------------------------

class ReviewerDecision(NamedTuple):
    actor: str
    decided_at: datetime
    claimed_at: datetime | None  # the item's last claim (after the decision if it was reopened and claimed again)
    kind: str | None  # review | audit | learning (None: not through an item)
    verdict: str
    automatic_verdict: str | None  # the model's own decision on the same prediction (an audit's original)
    undone_at: datetime | None
    undone_by: str | None
    reversed_at: datetime | None


def reviewer_decisions(conn: Connection, model_name: str, since: datetime, until: datetime) -> list[ReviewerDecision]:
    """reviewer_decisions: people's decisions on a model's predictions made in [since, until], with their item's
    claim time and kind, the model's own verdict on the same prediction, and whether they were undone or reversed."""
    automatic = decisions.alias("automatic")
    rows = conn.execute(
        select(decisions.c.actor, decisions.c.created_at, items.c.claimed_at, items.c.kind, decisions.c.verdict,
               automatic.c.verdict, decisions.c.undone_at, decisions.c.undone_by, decisions.c.reversed_at)
        .join(predictions, predictions.c.id == decisions.c.prediction_id)
        .outerjoin(items, items.c.id == decisions.c.item_id)
        .outerjoin(automatic, and_(automatic.c.prediction_id == decisions.c.prediction_id,
                                   automatic.c.source == DecisionSource.MODEL.value))
        .where(predictions.c.model_name == model_name, decisions.c.source == DecisionSource.REVIEWER.value,
               decisions.c.created_at >= since, decisions.c.created_at <= until)
        .order_by(decisions.c.id))
    return [ReviewerDecision._make(r) for r in rows]


class ReviewerVote(NamedTuple):
    actor: str
    verdict: str
    decided_verdict: str | None  # the verdict of the decision that closed the round (None: still open)


def reviewer_votes(conn: Connection, model_name: str, since: datetime, until: datetime) -> list[ReviewerVote]:
    """reviewer_votes: four-eyes votes cast on a model's items in [since, until], with the round's final verdict."""
    rows = conn.execute(
        select(votes.c.actor, votes.c.verdict, decisions.c.verdict)
        .join(items, items.c.id == votes.c.item_id)
        .join(predictions, predictions.c.id == items.c.prediction_id)
        .outerjoin(decisions, decisions.c.id == votes.c.decision_id)
        .where(predictions.c.model_name == model_name, votes.c.created_at >= since, votes.c.created_at <= until)
        .order_by(votes.c.id))
    return [ReviewerVote._make(r) for r in rows]


# --- queue health --------------------------------------------------------------------------------------------

class ItemSpan(NamedTuple):
    queue: str
    created_at: datetime
    decided_at: datetime | None


def item_spans(conn: Connection, queues: Sequence[str], since: datetime, until: datetime) -> list[ItemSpan]:
    """item_spans: when each item of the given queues was created and decided, for the items open at some time in
    [since, until) (created before ``until``, not decided before ``since``); quarantined items are out of the
    claim path and left out."""
    rows = conn.execute(
        select(items.c.queue, items.c.created_at, items.c.decided_at)
        .where(items.c.queue.in_(list(queues)), items.c.created_at < until,
               items.c.status != ItemStatus.QUARANTINED.value,
               (items.c.decided_at.is_(None)) | (items.c.decided_at >= since))
        .order_by(items.c.created_at))
    return [ItemSpan._make(r) for r in rows]
