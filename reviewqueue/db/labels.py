"""Labels: ground truth written by decisions and outcomes, read by training and version quality."""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import func, select, update
from sqlalchemy.engine import Connection

from reviewqueue.db.tables import labels_table, predictions_table

__all__ = ["LabelWithFeatures", "ScoredLabel", "ShadowLabel", "count_labels_after", "insert_label", "labels_of_version",
           "labels_with_features", "labels_with_shadow_scores", "withdraw_labels"]


# a label counts until its decision is undone or reversed (labels follow the final decision)
_COUNTS = labels_table.c.withdrawn_at.is_(None)


class LabelWithFeatures(NamedTuple):
    """A label with the features of the prediction it labels (training data)."""

    id: int
    prediction_id: int
    value: str
    source: str
    features: dict[str, Any]
    selection_probability: float | None  # π: the probability the label was gathered (None: unknown → 1)


class ScoredLabel(NamedTuple):
    """A label with the score of the prediction it labels (precision at k)."""

    prediction_id: int
    score: float
    value: str
    source: str


def insert_label(
    conn: Connection, *, prediction_id: int, model_name: str, value: str, source: str, actor: str,
    created_at: datetime, decision_id: int | None = None, inbound_event_id: int | None = None,
    selection_probability: float | None = None,
) -> int:
    """insert_label: record one label on a prediction; returns its id."""
    return int(conn.execute(
        labels_table.insert().values(
            prediction_id=prediction_id, model_name=model_name, value=value, source=source, actor=actor,
            decision_id=decision_id, inbound_event_id=inbound_event_id, created_at=created_at,
            selection_probability=selection_probability,
        ).returning(labels_table.c.id)
    ).scalar_one())


def labels_with_features(conn: Connection, model_name: str) -> list[LabelWithFeatures]:
    """labels_with_features: every label of a model with its prediction's features and π, oldest first."""
    rows = conn.execute(
        select(labels_table.c.id, labels_table.c.prediction_id, labels_table.c.value, labels_table.c.source,
               predictions_table.c.features, labels_table.c.selection_probability)
        .join(predictions_table, predictions_table.c.id == labels_table.c.prediction_id)
        .where(labels_table.c.model_name == model_name, _COUNTS)
        .order_by(labels_table.c.created_at, labels_table.c.id)
    ).all()
    return [LabelWithFeatures._make(r) for r in rows]


def labels_of_version(conn: Connection, version_id: int) -> list[ScoredLabel]:
    """labels_of_version: the labels on predictions this version scored, with their scores, oldest label first."""
    rows = conn.execute(
        select(predictions_table.c.id, predictions_table.c.score, labels_table.c.value, labels_table.c.source)
        .join(labels_table, labels_table.c.prediction_id == predictions_table.c.id)
        .where(predictions_table.c.version_id == version_id, _COUNTS)
        .order_by(labels_table.c.created_at, labels_table.c.id)
    ).all()
    return [ScoredLabel._make(r) for r in rows]


class ShadowLabel(NamedTuple):
    """A label on a prediction the shadow also scored: both scores, the label and its π."""

    prediction_id: int
    source: str
    value: str
    score: float
    shadow_score: float
    selection_probability: float | None


def labels_with_shadow_scores(conn: Connection, model_name: str, shadow_version_id: int) -> list[ShadowLabel]:
    """labels_with_shadow_scores: labels on a model's predictions that a shadow version scored too, oldest first."""
    rows = conn.execute(
        select(predictions_table.c.id, labels_table.c.source, labels_table.c.value, predictions_table.c.score,
               predictions_table.c.shadow_score, labels_table.c.selection_probability)
        .join(labels_table, labels_table.c.prediction_id == predictions_table.c.id)
        .where(predictions_table.c.model_name == model_name,
               predictions_table.c.shadow_version_id == shadow_version_id,
               predictions_table.c.shadow_score.is_not(None), _COUNTS)
        .order_by(labels_table.c.created_at, labels_table.c.id)
    ).all()
    return [ShadowLabel._make(r) for r in rows]


def count_labels_after(conn: Connection, model_name: str, after_id: int) -> int:
    """count_labels_after: how many labels of a model have an id above after_id."""
    return int(conn.execute(
        select(func.count()).select_from(labels_table)
        .where(labels_table.c.model_name == model_name, labels_table.c.id > after_id, _COUNTS)
    ).scalar_one())


def withdraw_labels(conn: Connection, decision_id: int, at: datetime) -> int:
    """withdraw_labels: the labels a decision wrote no longer count (it was undone or reversed)."""
    return int(conn.execute(
        update(labels_table).where(labels_table.c.decision_id == decision_id, _COUNTS).values(withdrawn_at=at)
    ).rowcount)
