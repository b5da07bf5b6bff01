"""Monitoring: a version's training reference, the traffic it scored by day, its labelled scores, drift alerts."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, NamedTuple

from sqlalchemy import func, select, update
from sqlalchemy.engine import Connection

from reviewqueue.db.tables import drift_alerts_table as alerts
from reviewqueue.db.tables import labels_table as labels
from reviewqueue.db.tables import predictions_table as predictions
from reviewqueue.db.tables import versions_table as versions

__all__ = ["LabelledScore", "ScoredRow", "SentAlert", "alert_sent", "count_traffic", "insert_alert",
           "labelled_scores", "recent_alerts", "store_reference", "traffic", "version_reference"]


class ScoredRow(NamedTuple):
    """One prediction of a day's traffic: its raw features and its score."""

    features: dict[str, Any]
    score: float


class LabelledScore(NamedTuple):
    """A label on a prediction a version scored: the score, the label, its π (oldest label first)."""

    prediction_id: int
    score: float
    value: str
    source: str
    selection_probability: float | None


class SentAlert(NamedTuple):
    """A drift alert that was sent."""

    model_name: str
    version: int
    feature: str
    day: date
    psi: float
    psi_low: float
    psi_high: float
    n: int
    sent_at: datetime


def store_reference(conn: Connection, version_id: int, reference: dict[str, Any]) -> None:
    """store_reference: record what a version was trained on (binned distributions) on its row."""
    conn.execute(update(versions).where(versions.c.id == version_id).values(reference=reference))


def version_reference(conn: Connection, version_id: int) -> dict[str, Any] | None:
    """version_reference: a version's training reference, None when it was trained before there were any."""
    value = conn.execute(select(versions.c.reference).where(versions.c.id == version_id)).scalar_one_or_none()
    return value if isinstance(value, dict) else None


def traffic(conn: Connection, version_id: int, start: datetime, end: datetime, limit: int) -> list[ScoredRow]:
    """traffic: the first ``limit`` predictions a version scored in [start, end), with features and score."""
    rows = conn.execute(
        select(predictions.c.features, predictions.c.score)
        .where(predictions.c.version_id == version_id, predictions.c.created_at >= start,
               predictions.c.created_at < end)
        .order_by(predictions.c.id).limit(limit)
    ).all()
    return [ScoredRow._make(r) for r in rows]


def count_traffic(conn: Connection, version_id: int, start: datetime, end: datetime) -> int:
    """count_traffic: how many predictions a version scored in [start, end)."""
    return int(conn.execute(
        select(func.count()).select_from(predictions)
        .where(predictions.c.version_id == version_id, predictions.c.created_at >= start,
               predictions.c.created_at < end)
    ).scalar_one())


def labelled_scores(conn: Connection, version_id: int) -> list[LabelledScore]:
    """labelled_scores: the standing labels on predictions a version scored, with score and π, oldest first."""
    rows = conn.execute(
        select(predictions.c.id, predictions.c.score, labels.c.value, labels.c.source,
               labels.c.selection_probability)
        .join(labels, labels.c.prediction_id == predictions.c.id)
        # a label counts until its decision is undone or reversed (as in db/labels.py)
        .where(predictions.c.version_id == version_id, labels.c.withdrawn_at.is_(None))
        .order_by(labels.c.created_at, labels.c.id)
    ).all()
    return [LabelledScore._make(r) for r in rows]


def alert_sent(conn: Connection, model_name: str, feature: str, day: date) -> bool:
    """alert_sent: whether this model's input (or score) already alerted for this day."""
    return conn.execute(
        select(alerts.c.id).where(alerts.c.model_name == model_name, alerts.c.feature == feature,
                                  alerts.c.day == day)
    ).first() is not None


def insert_alert(conn: Connection, alert: SentAlert) -> None:
    """insert_alert: remember an alert; a second one for the same model, input and day raises IntegrityError."""
    conn.execute(alerts.insert().values(**alert._asdict()))


def recent_alerts(conn: Connection, model_name: str, since: date) -> list[SentAlert]:
    """recent_alerts: a model's alerts for days from ``since``, newest day first."""
    rows = conn.execute(
        select(alerts.c.model_name, alerts.c.version, alerts.c.feature, alerts.c.day, alerts.c.psi,
               alerts.c.psi_low, alerts.c.psi_high, alerts.c.n, alerts.c.sent_at)
        .where(alerts.c.model_name == model_name, alerts.c.day >= since)
        .order_by(alerts.c.day.desc(), alerts.c.feature)
    ).all()
    return [SentAlert._make(r) for r in rows]
