"""Who may do what: the one authorization table.

Every route asks ``authorize(actor, Permission.X)``; a use case whose resource is a queue asks again with the
queue once it has loaded it (``authorize(actor, Permission.ITEMS_REVIEW, queue)``). Nothing else checks a role.
``/v1/me`` reports what this table grants, so the UI shows only the pages and queues a person may use.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from reviewqueue.domain.states import Role
from reviewqueue.errors import Forbidden

__all__ = ["GRANTS", "PAGES", "Actor", "Permission", "allowed", "authorize", "pages_for", "queue_scope", "queues_for"]


class Permission(StrEnum):
    EVENTS_INGEST = "events.ingest"  # send events to be scored
    OUTCOMES_WRITE = "outcomes.write"  # report what really happened to scored events (delayed labels)
    QUEUES_READ = "queues.read"  # queue depths (reviewers: their own queues only)
    ITEMS_READ = "items.read"  # an item and a queue's item list (queue-scoped for reviewers)
    ITEMS_REVIEW = "items.review"  # claim, renew and decide (queue-scoped for reviewers)
    ACTIONS_READ = "actions.read"  # the outbox: actions, counts, dead letters
    ACTIONS_REPLAY = "actions.replay"  # send a dead action again
    MODELS_READ = "models.read"  # registered models and their input schema
    VERSIONS_READ = "versions.read"  # versions, training runs, per-version quality
    MODELS_RETRAIN = "models.retrain"  # train a candidate now
    MODELS_PROMOTE = "models.promote"  # make a version the champion, or roll back (recorded with who and why)
    VERSIONS_SCORE = "versions.score"  # score rows with any version, storing nothing
    ITEMS_QUARANTINE = "items.quarantine"  # every queue's items by status: those quarantined as unshowable
    USERS_MANAGE = "users.manage"  # everybody's tokens (list, issue, revoke), disable and enable principals
    AUDIT_READ = "audit.read"  # the audit log of admin acts
    DECISIONS_UNDO = "decisions.undo"  # undo or reverse a decision: your own (queue-scoped), an admin anyone's
    POLICIES_APPLY = "policies.apply"  # apply, re-activate or roll back a model's routing thresholds (recorded)
    REVIEWERS_READ = "reviewers.read"  # per-reviewer throughput, time to decision, agreement and overturn rates


_EVERYTHING = frozenset(Permission)
GRANTS: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: _EVERYTHING,
    Role.DATA_SCIENTIST: frozenset({
        Permission.EVENTS_INGEST, Permission.OUTCOMES_WRITE, Permission.QUEUES_READ, Permission.ITEMS_READ,
        Permission.ACTIONS_READ, Permission.MODELS_READ, Permission.VERSIONS_READ, Permission.MODELS_RETRAIN,
        Permission.MODELS_PROMOTE, Permission.VERSIONS_SCORE,
    }),
    Role.REVIEWER: frozenset({
        Permission.QUEUES_READ, Permission.ITEMS_READ, Permission.ITEMS_REVIEW, Permission.ACTIONS_READ,
        Permission.DECISIONS_UNDO,
    }),
    # a business system: sends events and their outcomes, reads the schema it must send and the queue depths
    Role.INTEGRATION: frozenset({Permission.EVENTS_INGEST, Permission.OUTCOMES_WRITE, Permission.MODELS_READ,
                                 Permission.QUEUES_READ}),
}
# For a reviewer these hold only on the queues they were given; other roles that hold them hold them everywhere.
# Reads follow the same rule as writes: a reviewer reads only the actions of decisions on their own queues.
QUEUE_SCOPED = frozenset({Permission.QUEUES_READ, Permission.ITEMS_READ, Permission.ITEMS_REVIEW,
                          Permission.ACTIONS_READ, Permission.DECISIONS_UNDO})
# UI page → the permission that opens it (the UI adds its development-only sandbox page itself).
PAGES: dict[str, Permission] = {
    "queues": Permission.QUEUES_READ,
    "triage": Permission.ITEMS_REVIEW,
    "actions": Permission.ACTIONS_READ,
    "models": Permission.VERSIONS_READ,
    "monitor": Permission.VERSIONS_READ,  # drift, calibration, thresholds, reviewers, queue health
    "audit": Permission.AUDIT_READ,
}


@dataclass(frozen=True)
class Actor:
    """The authenticated caller of a use case."""

    id: int
    name: str
    role: Role
    queues: tuple[str, ...]


def allowed(actor: Actor, permission: Permission, queue: str | None = None) -> bool:
    """Whether ``actor`` holds ``permission`` (on ``queue``, for the queue-scoped ones, when one is given)."""
    if permission not in GRANTS.get(actor.role, frozenset()):
        return False
    if queue is not None and permission in QUEUE_SCOPED and actor.role == Role.REVIEWER:
        return queue in actor.queues
    return True


def authorize(actor: Actor, permission: Permission, queue: str | None = None) -> None:
    """Raise Forbidden (403) naming what was refused unless ``allowed``."""
    if allowed(actor, permission, queue):
        return
    if queue is not None and permission in GRANTS.get(actor.role, frozenset()):
        raise Forbidden(f"{permission.value}: not allowed on queue {queue!r}", field="queue")
    raise Forbidden(f"{permission.value}: role {actor.role.value!r} may not do this")


def queues_for(actor: Actor, permission: Permission, declared: Iterable[str]) -> list[str]:
    """The declared queues on which ``actor`` holds ``permission``, in declared order (a reviewer's own queues
    that no model declares are kept at the end: their items may still exist)."""
    names = list(dict.fromkeys(declared))
    if actor.role == Role.REVIEWER and permission in GRANTS[Role.REVIEWER]:
        return [q for q in names if q in actor.queues] + [q for q in actor.queues if q not in names]
    return names if permission in GRANTS.get(actor.role, frozenset()) else []


def queue_scope(actor: Actor, permission: Permission) -> tuple[str, ...] | None:
    """The queues ``permission`` is limited to for ``actor``: None when it holds on every queue, else the
    queues it holds on (empty when not at all). List and count reads filter by this; ``allowed`` checks one."""
    if permission not in GRANTS.get(actor.role, frozenset()):
        return ()
    if permission in QUEUE_SCOPED and actor.role == Role.REVIEWER:
        return actor.queues
    return None


def pages_for(actor: Actor) -> list[str]:
    """The UI pages this actor may open, in menu order."""
    return [page for page, needed in PAGES.items() if allowed(actor, needed)]
