"""SQLModel table classes. No ``from __future__ import annotations`` here: SQLModel breaks with it.

Hot paths (bulk ingest, claim-next, outbox lease) use SQLAlchemy Core on these tables, see db/items.py and db/outbox.py.
List views select columns explicitly so they never read payload columns.
"""

import os
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, String, Table, UniqueConstraint, text
from sqlalchemy.schema import ForeignKey
from sqlalchemy.types import BigInteger, LargeBinary
from sqlmodel import Field, SQLModel

from reviewqueue.db.types import UTCDateTime


def utcnow() -> datetime:
    return datetime.now(UTC)


# uuid4's variant and version bits, set as uuid.UUID(version=4) sets them
_UUID4_CLEAR = ~((0xC000 << 48) | (0xF000 << 64))
_UUID4_SET = (0x8000 << 48) | (4 << 76)


def new_id() -> str:
    """A random (version 4) UUID as 32 hex digits — uuid.uuid4().hex without building a UUID object, which
    cost batch ingest ~8% of its time (one id per outbox action)."""
    return f"{int.from_bytes(os.urandom(16)) & _UUID4_CLEAR | _UUID4_SET:032x}"


def _ts(**kwargs: Any) -> Any:
    return Field(sa_column=Column(UTCDateTime(), **kwargs))


class Principal(SQLModel, table=True):
    """A person or system that calls the API: admin, data_scientist, reviewer or integration."""

    __tablename__ = "principals"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(sa_column=Column(String(120), unique=True, nullable=False))
    role: str = Field(max_length=32)
    queues: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    password_hash: str | None = Field(default=None, max_length=256)
    created_at: datetime = _ts(nullable=False, default=utcnow)
    disabled: bool = False


class ApiToken(SQLModel, table=True):
    """A bearer token, stored as its SHA-256 only. Sign-in tokens expire; integration tokens may not."""

    __tablename__ = "api_tokens"
    id: int | None = Field(default=None, primary_key=True)
    principal_id: int = Field(foreign_key="principals.id", index=True)
    token_hash: str = Field(sa_column=Column(String(64), unique=True, nullable=False))
    label: str = Field(default="", max_length=120)
    created_at: datetime = _ts(nullable=False, default=utcnow)
    expires_at: datetime | None = _ts(nullable=True)
    revoked: bool = False
    revoked_at: datetime | None = _ts(nullable=True)


class AuditEntry(SQLModel, table=True):
    """An admin act (replay, retrain, promote, rollback, shadow, user and token changes): who, what, on which
    target, when, with details. Append-only: nothing updates or deletes a row (PostgreSQL refuses it)."""

    __tablename__ = "audit_log"
    id: int | None = Field(default=None, primary_key=True)
    at: datetime = _ts(nullable=False)
    actor: str = Field(max_length=120)
    actor_id: int | None = Field(default=None)  # None for the CLI (an OS user on the database host)
    action: str = Field(max_length=64, index=True)
    target: str = Field(max_length=200)
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class ModelVersion(SQLModel, table=True):
    """One trained, evaluated artifact of a model. Exactly one champion per model serves."""

    __tablename__ = "model_versions"
    __table_args__ = (UniqueConstraint("model_name", "version"),)
    id: int | None = Field(default=None, primary_key=True)
    model_name: str = Field(max_length=120, index=True)
    version: int
    status: str = Field(max_length=16)
    artifact_path: str = Field(max_length=500)
    sha256: str = Field(max_length=64)
    input_schema: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    # `reviewqueue bench-model`: the last measured profile (providers, threads, int8, batch sizes, parity) and the
    # serving config applied from it (file, sha256, providers, threads); None = never measured / not applied
    serving_profile: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    serving_config: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    data_fingerprint: str = Field(max_length=64)
    metrics: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    lineage: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = _ts(nullable=False, default=utcnow)
    promoted_at: datetime | None = _ts(nullable=True)
    # what it was trained on, binned: per-feature and score distributions, drift's baseline (services/drift.py);
    # None for versions trained before migration 0011
    reference: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))


class DriftAlert(SQLModel, table=True):
    """A drift alert sent: at most one per model, input (or "score") and day, whatever reruns the check."""

    __tablename__ = "drift_alerts"
    __table_args__ = (UniqueConstraint("model_name", "feature", "day"),)
    id: int | None = Field(default=None, primary_key=True)
    model_name: str = Field(max_length=120)
    version: int
    feature: str = Field(max_length=200)
    day: date
    psi: float
    psi_low: float
    psi_high: float
    n: int
    sent_at: datetime = _ts(nullable=False, default=utcnow)


class Prediction(SQLModel, table=True):
    """A scored event. Idempotent on (model_name, external_id); records the version that scored it."""

    __tablename__ = "predictions"
    __table_args__ = (
        UniqueConstraint("model_name", "external_id"),
        Index("ix_predictions_correlation", "model_name", "correlation_key"),
        # the learning draw's estimate of a day's traffic: a model's predictions of the last 24 hours
        Index("ix_predictions_created", "model_name", "created_at"),
        # the triage page's "same customer" list: a model's predictions of one subject, newest first
        Index("ix_predictions_subject", "model_name", "subject", "id"),
    )
    id: int | None = Field(default=None, primary_key=True)
    model_name: str = Field(max_length=120)
    external_id: str = Field(max_length=200)
    version_id: int = Field(foreign_key="model_versions.id")
    score: float
    route: str = Field(max_length=16)
    audited: bool = False
    features: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    context: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    correlation_key: str | None = Field(default=None, max_length=200)
    # the value of the model's declared history key (e.g. the customer's user_id), for the related history
    subject: str | None = Field(default=None, max_length=200)
    # which routing policy (thresholds, audit rate, learning budget) routed it, and the probability with which
    # that policy sent it to a human: 1 in the review band, the audit rate, the learning draw's probability,
    # 0 when nobody was meant to see it (DESIGN invariant 9)
    policy_version: str = Field(default="", max_length=64)
    selection_probability: float = 0.0
    # the shadow challenger's score of the same event, if one ran (it never routes; compared as labels arrive)
    shadow_version_id: int | None = Field(default=None, foreign_key="model_versions.id")
    shadow_score: float | None = None
    created_at: datetime = _ts(nullable=False, default=utcnow)


class ReviewItem(SQLModel, table=True):
    """A prediction waiting for (or holding, or done with) a human. At most one holder at a time."""

    __tablename__ = "review_items"
    __table_args__ = (
        # claim-next: the pending items of one queue, best first
        Index(
            "ix_items_claim", "queue", text("priority DESC"), "created_at",
            postgresql_where=text("status = 'pending'"), sqlite_where=text("status = 'pending'"),
        ),
        # lease sweeper: a separate scan, never an OR in the hot predicate
        Index(
            "ix_items_lease", "lease_expires_at",
            postgresql_where=text("status = 'claimed'"), sqlite_where=text("status = 'claimed'"),
        ),
        Index("ix_items_queue_status", "queue", "status"),
        # "do you already hold one?" before every claim: only claimed rows, found by their holder
        Index(
            "ix_items_holder", "claimed_by", "id",
            postgresql_where=text("status = 'claimed'"), sqlite_where=text("status = 'claimed'"),
        ),
        # reserved claims for audits and learning items: the oldest pending item of one kind, without walking
        # the priority order past every review item
        Index(
            "ix_items_claim_kind", "queue", "kind", "created_at",
            postgresql_where=text("status = 'pending'"), sqlite_where=text("status = 'pending'"),
        ),
        # queue overview: counts and oldest pending per queue from the index alone, open items only
        Index(
            "ix_items_open", "queue", "status", "created_at",
            postgresql_where=text("status IN ('pending', 'claimed')"),
            sqlite_where=text("status IN ('pending', 'claimed')"),
        ),
    )
    id: int | None = Field(default=None, primary_key=True)
    prediction_id: int = Field(foreign_key="predictions.id", unique=True)
    queue: str = Field(max_length=120)
    kind: str = Field(default="review", max_length=16)  # review | audit
    priority: float
    status: str = Field(default="pending", max_length=16)
    claimed_by: int | None = Field(default=None, foreign_key="principals.id")
    lease_token: str | None = Field(default=None, max_length=64)
    lease_expires_at: datetime | None = _ts(nullable=True)
    created_at: datetime = _ts(nullable=False, default=utcnow)
    decided_at: datetime | None = _ts(nullable=True)
    paged_at: datetime | None = _ts(nullable=True)  # when the SLA page went out (at most once)
    # when the current (or last) claim began: a reviewer's time to decision is decided_at − claimed_at
    claimed_at: datetime | None = _ts(nullable=True)


class Decision(SQLModel, table=True):
    """Append-only audit of every verdict, human or model."""

    __tablename__ = "decisions"
    # Only people's decisions enter these two (migration 0015): the model's own, most of them, have no item and
    # are never listed by actor. "My decisions": one reviewer's verdicts, newest first.
    __table_args__ = (
        Index("ix_decisions_actor", "actor", "id",
              postgresql_where=text("source = 'reviewer'"), sqlite_where=text("source = 'reviewer'")),
        Index("ix_decisions_item_id", "item_id",
              postgresql_where=text("item_id IS NOT NULL"), sqlite_where=text("item_id IS NOT NULL")),
    )
    id: int | None = Field(default=None, primary_key=True)
    prediction_id: int = Field(foreign_key="predictions.id", index=True)
    item_id: int | None = Field(default=None, foreign_key="review_items.id")
    verdict: str = Field(max_length=64)
    source: str = Field(max_length=16)  # reviewer | model
    actor: str = Field(max_length=120)
    note: str = Field(default="", max_length=2000)
    created_at: datetime = _ts(nullable=False, default=utcnow)
    # a person's decision: its actions wait until undo_until; it may be undone before, reversed after
    undo_until: datetime | None = _ts(nullable=True)
    undone_at: datetime | None = _ts(nullable=True)
    undone_by: str | None = Field(default=None, max_length=120)
    reversed_at: datetime | None = _ts(nullable=True)
    reversed_by: str | None = Field(default=None, max_length=120)
    reverse_reason: str | None = Field(default=None, max_length=2000)


class Vote(SQLModel, table=True):
    """A reviewer's verdict on a four-eyes item that did not decide it alone (domain.four_eyes): open until the
    round's decision (``decision_id``); one open vote per reviewer and item."""

    __tablename__ = "votes"
    __table_args__ = (
        Index("ux_votes_open", "item_id", "principal_id", unique=True,
              postgresql_where=text("decision_id IS NULL"), sqlite_where=text("decision_id IS NULL")),
    )
    id: int | None = Field(default=None, primary_key=True)
    item_id: int = Field(foreign_key="review_items.id", index=True)
    principal_id: int
    actor: str = Field(max_length=120)
    verdict: str = Field(max_length=64)
    note: str = Field(default="", max_length=2000)
    created_at: datetime = _ts(nullable=False, default=utcnow)
    decision_id: int | None = Field(default=None, foreign_key="decisions.id")


class Label(SQLModel, table=True):
    """Ground truth for training: who or what produced it, and when."""

    __tablename__ = "labels"
    id: int | None = Field(default=None, primary_key=True)
    prediction_id: int = Field(foreign_key="predictions.id", index=True)
    model_name: str = Field(max_length=120, index=True)
    value: str = Field(max_length=64)
    source: str = Field(max_length=16)  # reviewer | audit | chargeback
    actor: str = Field(max_length=120)
    decision_id: int | None = Field(default=None, foreign_key="decisions.id")
    inbound_event_id: int | None = Field(default=None, foreign_key="inbound_events.id")
    # the probability that this label was gathered at all: the prediction's selection probability for a human
    # verdict, the probability the outcome was observed for an outcome (1 for a dispute); weights are 1/p
    selection_probability: float | None = None
    created_at: datetime = _ts(nullable=False, default=utcnow)
    # when its decision was undone or reversed: a withdrawn label no longer counts (training, quality)
    withdrawn_at: datetime | None = _ts(nullable=True)


class OutboxAction(SQLModel, table=True):
    """One side effect to deliver. Written in the decision's transaction; the worker drives it to an end state."""

    __tablename__ = "outbox_actions"
    __table_args__ = (
        Index(
            "ix_outbox_due", "next_attempt_at",
            postgresql_where=text("status = 'pending'"), sqlite_where=text("status = 'pending'"),
        ),
        Index(
            "ix_outbox_inflight", "lease_expires_at",
            postgresql_where=text("status = 'in_flight'"), sqlite_where=text("status = 'in_flight'"),
        ),
        # (status, created_at, id): a dead-letter page reads its 50 index entries newest first (keyset on
        # created_at, id) instead of sorting every dead row; counts per status use the first column
        Index("ix_outbox_status", "status", "created_at", "id"),
        # "Recent actions" over every status, newest first (migration 0014)
        Index("ix_outbox_created", "created_at", "id"),
        # "is this delivered action already compensated?" (reversals and overturns): compensations only
        Index(
            "ix_outbox_compensates", "compensates",
            postgresql_where=text("compensates IS NOT NULL"), sqlite_where=text("compensates IS NOT NULL"),
        ),
    )
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    # None for actions no decision fired, such as an SLA page about an item nobody claimed
    decision_id: int | None = Field(default=None, foreign_key="decisions.id", index=True)
    connector: str = Field(max_length=64)
    params: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    payload: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    status: str = Field(default="pending", max_length=16)
    attempts: int = 0
    outcome_unknown: bool = False
    next_attempt_at: datetime = _ts(nullable=False, default=utcnow)
    lease_expires_at: datetime | None = _ts(nullable=True)
    leased_by: str | None = Field(default=None, max_length=64)
    last_error: str | None = Field(default=None, max_length=2000)
    outcome: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    created_at: datetime = _ts(nullable=False, default=utcnow)
    done_at: datetime | None = _ts(nullable=True)
    # a compensation: the id of the delivered action whose effect it undoes (its decision was reversed)
    compensates: str | None = Field(default=None, max_length=32)


class InboundEvent(SQLModel, table=True):
    """A verified inbound webhook event, stored once by the provider's event id before any 2xx."""

    __tablename__ = "inbound_events"
    __table_args__ = (UniqueConstraint("provider", "event_id"),)
    id: int | None = Field(default=None, primary_key=True)
    provider: str = Field(max_length=32)
    event_id: str = Field(max_length=200)
    type: str = Field(max_length=120)
    payload: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    outcome: str = Field(default="", max_length=200)
    received_at: datetime = _ts(nullable=False, default=utcnow)


class TrainingRun(SQLModel, table=True):
    """One retraining attempt: exactly which labels it used, both models' metrics, and what came of it."""

    __tablename__ = "training_runs"
    id: int | None = Field(default=None, primary_key=True)
    model_name: str = Field(max_length=120, index=True)
    trigger: str = Field(max_length=32)  # register | cron | labels | manual
    status: str = Field(max_length=16)
    label_ids: list[int] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    n_labels: int = 0
    max_label_id: int = 0
    champion_version_id: int | None = Field(default=None, foreign_key="model_versions.id")
    candidate_version_id: int | None = Field(default=None, foreign_key="model_versions.id")
    champion_metrics: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    candidate_metrics: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    error: str | None = Field(default=None, max_length=4000)
    # the promotion decision in words, with its figures ("promoted: +0.031 AUC [+0.012, +0.050] on 212 …")
    decision: str = Field(default="", max_length=2000)
    warnings: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    started_at: datetime = _ts(nullable=False, default=utcnow)
    finished_at: datetime | None = _ts(nullable=True)
    duration_seconds: float | None = None
    # while it runs: the stage it is in and the fraction done (0..1), polled by the Models page (migration 0014)
    stage: str = Field(default="", sa_column=Column(String(64), nullable=False, server_default=""))
    progress: float | None = None


class RoutingPolicyVersion(SQLModel, table=True):
    """A model's routing thresholds applied by an admin (from the what-if), numbered per model; at most one is
    active, and it routes instead of the decorator's policy (none active: the decorator's routes)."""

    __tablename__ = "routing_policies"
    __table_args__ = (
        UniqueConstraint("model_name", "version"),
        Index("ux_routing_policies_active", "model_name", unique=True,
              postgresql_where=text("active"), sqlite_where=text("active")),
    )
    id: int | None = Field(default=None, primary_key=True)
    model_name: str = Field(max_length=120)
    version: int
    review_low: float
    review_high: float
    audit_fraction: float
    # what predictions routed by it record (``v<version>:<fingerprint>``; the decorator's is the bare fingerprint)
    policy_version: str = Field(max_length=64)
    actor: str = Field(max_length=120)
    reason: str = Field(max_length=2000)
    # the what-if figures it was applied on (volumes, recall, precision, n), as the admin saw them
    evidence: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    active: bool = False
    created_at: datetime = _ts(nullable=False, default=utcnow)


class StoredArtifact(SQLModel, table=True):
    """A file in the database artifact store (REVIEWQUEUE_ARTIFACT_STORE=database): written once under its key
    (``<model>/<version>/<file>``), its bytes in ``artifact_chunks``; ``sha256`` is checked on every fetch."""

    __tablename__ = "artifacts"
    key: str = Field(primary_key=True, max_length=400)
    sha256: str = Field(max_length=64)
    size: int = Field(sa_column=Column(BigInteger, nullable=False))
    chunks: int
    created_at: datetime = _ts(nullable=False, default=utcnow)


class ArtifactChunk(SQLModel, table=True):
    """One piece (at most artifacts.store.CHUNK_BYTES, 8 MiB) of a stored artifact, in order of ``seq``: a 90 MB
    text encoder is a dozen rows, none near PostgreSQL's 1 GB bytea limit or the driver's memory."""

    __tablename__ = "artifact_chunks"
    key: str = Field(sa_column=Column(String(400), ForeignKey("artifacts.key"), primary_key=True))
    seq: int = Field(primary_key=True)
    content: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class Lease(SQLModel, table=True):
    """A named lease for leader election: the scheduler runs jobs only while it holds 'scheduler'."""

    __tablename__ = "leases"
    name: str = Field(primary_key=True, max_length=64)
    holder: str = Field(max_length=64)
    expires_at: datetime = _ts(nullable=False)


# Core Table objects for the named statements in db/*.py: declared once, here. Named *_table so they never
# shadow a module of the same aggregate (db.outbox, db.versions, …). Nothing outside db/ uses them.
principals_table: Table = Principal.__table__  # type: ignore[attr-defined]
tokens_table: Table = ApiToken.__table__  # type: ignore[attr-defined]
versions_table: Table = ModelVersion.__table__  # type: ignore[attr-defined]
drift_alerts_table: Table = DriftAlert.__table__  # type: ignore[attr-defined]
predictions_table: Table = Prediction.__table__  # type: ignore[attr-defined]
items_table: Table = ReviewItem.__table__  # type: ignore[attr-defined]
decisions_table: Table = Decision.__table__  # type: ignore[attr-defined]
labels_table: Table = Label.__table__  # type: ignore[attr-defined]
outbox_table: Table = OutboxAction.__table__  # type: ignore[attr-defined]
events_table: Table = InboundEvent.__table__  # type: ignore[attr-defined]
runs_table: Table = TrainingRun.__table__  # type: ignore[attr-defined]
leases_table: Table = Lease.__table__  # type: ignore[attr-defined]
audit_table: Table = AuditEntry.__table__  # type: ignore[attr-defined]
votes_table: Table = Vote.__table__  # type: ignore[attr-defined]
routing_policies_table: Table = RoutingPolicyVersion.__table__  # type: ignore[attr-defined]
artifacts_table: Table = StoredArtifact.__table__  # type: ignore[attr-defined]
artifact_chunks_table: Table = ArtifactChunk.__table__  # type: ignore[attr-defined]
