"""The states an item and an outbox action move through, and who produced a label."""

from __future__ import annotations

from enum import StrEnum


class ItemStatus(StrEnum):
    PENDING = "pending"  # waiting in its queue
    CLAIMED = "claimed"  # leased to one reviewer until lease_expires_at
    DECIDED = "decided"  # closed by a decision
    QUARANTINED = "quarantined"  # its view cannot be built or sent (e.g. a value stored before input validation):
    # out of the claim path, listed for admins (GET /v1/items?status=quarantined)


class ActionStatus(StrEnum):
    """pending → in_flight → done | (pending again, later) | dead; or refused from the start (an automatic
    decision may not fire it: domain.authority; the reason is its last_error), or cancelled while pending (its decision
    was undone: domain.undo). Counted: all = sum of these six."""

    PENDING = "pending"
    IN_FLIGHT = "in_flight"
    DONE = "done"
    DEAD = "dead"
    REFUSED = "refused"  # never fired, never replayed; its item went to a human, whose decision fires it
    CANCELLED = "cancelled"  # never fired: its decision was undone (or overturned) before the worker took it


class LabelSource(StrEnum):
    REVIEWER = "reviewer"  # a human verdict on an uncertain prediction
    AUDIT = "audit"  # a human verdict on a sampled auto-decision
    CHARGEBACK = "chargeback"  # delayed ground truth from the payment provider
    OUTCOME = "outcome"  # delayed ground truth from any system (POST /v1/models/{name}/outcomes)


class DecisionSource(StrEnum):
    REVIEWER = "reviewer"
    MODEL = "model"


class Role(StrEnum):
    ADMIN = "admin"
    DATA_SCIENTIST = "data_scientist"
    REVIEWER = "reviewer"
    INTEGRATION = "integration"


class VersionStatus(StrEnum):
    CHAMPION = "champion"
    RETIRED = "retired"  # was champion, replaced
    REJECTED = "rejected"  # evaluated worse than the champion
    SHADOW = "shadow"  # scores live traffic beside the champion, routes nothing (at most one per model)


class RunStatus(StrEnum):
    RUNNING = "running"
    PROMOTED = "promoted"
    REJECTED = "rejected"
    FAILED = "failed"
    RECORDED = "recorded"  # a change by hand that trains nothing (a shadow started or stopped)
