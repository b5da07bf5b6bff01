"""Queues: overview, claim next (one atomic statement) or one named item (a deep link), renew, release or escalate
a lease, show an item with its explanation."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError

from reviewqueue import metrics
from reviewqueue.db import audit as audit_log
from reviewqueue.db import items, leases, votes
from reviewqueue.db.items import ItemView
from reviewqueue.domain.permissions import Actor, Permission, allowed, authorize
from reviewqueue.domain.states import ItemStatus
from reviewqueue.errors import Conflict, LeaseLost, NotFound, ReviewQueueError, ValidationFailed
from reviewqueue.features import check_storable, printable
from reviewqueue.registry import ModelSpec
from reviewqueue.schemas import (
    Contribution,
    EscalationOut,
    ItemOut,
    ItemSummary,
    LeaseOut,
    QueueOut,
    ReleaseOut,
    VoteOut,
)
from reviewqueue.services import audit
from reviewqueue.services.context import AppContext
from reviewqueue.services.effects import verdict_effects
from reviewqueue.services.sla import sla_due_at

log = logging.getLogger(__name__)


def declared_queues(ctx: AppContext) -> dict[str, tuple[ModelSpec, str]]:
    """Every declared queue → (its model, 'decision' | 'learning' | 'escalation'), in registration order."""
    out: dict[str, tuple[ModelSpec, str]] = {}
    for spec in ctx.registry.models():
        out[spec.queue] = (spec, "decision")
        if spec.learning:
            out[spec.learning.queue] = (spec, "learning")
    for spec in ctx.registry.models():  # after every model's own queues: a queue keeps its first meaning
        out.setdefault(spec.escalation_queue, (spec, "escalation"))
    return out


def _overdue_count(ctx: AppContext, spec: ModelSpec, now: datetime) -> int:
    if spec.sla is None:
        return 0
    with ctx.read() as conn:
        return items.count_overdue(conn, spec.queue, spec.sla.min_priority, now - timedelta(minutes=spec.sla.minutes))


def overview(ctx: AppContext, actor: Actor) -> list[QueueOut]:
    """Depth, claimed now, oldest age and overdue count for each queue this actor may see (empty ones too)."""
    now = ctx.now()
    with ctx.read() as conn:
        rows = {r.queue: r for r in items.queue_overview(conn)}
    declared = declared_queues(ctx)
    out = []
    for queue in sorted(q for q in set(declared) | set(rows) if allowed(actor, Permission.QUEUES_READ, q)):
        row = rows.get(queue)
        spec, kind = declared.get(queue, (None, "decision"))
        oldest = row.oldest if row else None
        out.append(QueueOut(
            queue=queue, model=spec.name if spec else None, pending=row.pending if row else 0,
            claimed=row.claimed if row else 0, oldest_pending_at=oldest,
            oldest_age_seconds=(now - oldest).total_seconds() if oldest else None,
            overdue=_overdue_count(ctx, spec, now) if spec and kind == "decision" else 0, kind=kind,
            sla_minutes=spec.sla.minutes if spec and spec.sla and kind == "decision" else None,
        ))
    return out


def _sla_fields(ctx: AppContext, spec: ModelSpec, queue: str, status: str, priority: float,
                created_at: datetime) -> dict[str, Any]:
    due = sla_due_at(spec, queue, priority, created_at)
    # overdue until decided: a breach stays visible to whoever picks the item up late
    return {"sla_due_at": due, "overdue": bool(due and status != ItemStatus.DECIDED and ctx.now() > due)}


# Expired leases go back to pending at most this long after they run out, whoever claims next. Sweeping on
# every claim cost 30% of claim throughput (BENCHMARKS.md §1); the worker also sweeps every 2 s.
LEASE_SWEEP_EVERY = timedelta(seconds=1)


def _sweep_due(ctx: AppContext, now: datetime) -> bool:
    last = ctx.last_lease_sweep
    if last is not None and timedelta(0) <= now - last < LEASE_SWEEP_EVERY:
        return False
    ctx.last_lease_sweep = now  # a race between two threads costs one extra sweep, nothing else
    return True


def _reserved_for_audit(ctx: AppContext, queue: str) -> bool:
    """Whether this claim on a decision queue takes the oldest audit first: true for ``audit_claim_share`` of
    claims (RoutingPolicy), drawn at random, so audits never starve below the review items' priorities."""
    for spec in ctx.registry.models():
        if spec.queue == queue:
            share = spec.routing.audit_claim_share
            return share > 0 and spec.routing.audit_fraction > 0 and ctx.rng.random() < share
    return False


@dataclass(frozen=True)
class Claim:
    item_id: int
    lease_token: str
    already_held: bool
    view: ItemView | None  # the item view, read in the claim transaction


# Items a claim may quarantine (they cannot be shown) before it gives up for this request.
CLAIM_SKIPS = 20


def claim_next(ctx: AppContext, actor: Actor, queue: str) -> ItemOut | None:
    """Lease the highest-priority pending item of ``queue`` to the actor; None when the queue is empty.

    An item that cannot be shown is quarantined (``_shown``): when its data is at fault the next one is claimed
    at once, otherwise the error is answered and the next claim takes the next item. A claim whose answer fails
    for a reason that is not the item's (the database away) gives its lease back. Either way the reviewer never
    holds an item they were not shown."""
    authorize(actor, Permission.ITEMS_REVIEW, queue)
    for _ in range(CLAIM_SKIPS):
        with ctx.engine.begin() as conn:
            claim = claim_in_transaction(ctx, conn, actor.id, queue)
        if claim is None:
            metrics.CLAIMS.labels(queue, "empty").inc()
            return None
        try:
            shown = _answer(ctx, actor, claim)
        except Unshowable:
            continue  # quarantined: claim the next one
        metrics.CLAIMS.labels(queue, "item").inc()
        return shown
    raise Conflict(f"queue {queue!r}: the last {CLAIM_SKIPS} items claimed could not be shown and were "
                   "quarantined; claim again")


def _answer(ctx: AppContext, actor: Actor, claim: Claim) -> ItemOut:
    """The claimed item as the reviewer sees it; Unshowable once quarantined. A failure that is not the item's
    (the database away) gives the lease back: the reviewer never holds an item they were not shown."""
    if not claim.already_held:
        log.info("item claimed", extra={"action": "item_claimed", "item_id": claim.item_id, "actor": actor.name})
    try:
        return _shown(ctx, actor, claim.view, claim.item_id, claim.lease_token)
    except Unshowable:
        raise
    except Exception:
        with ctx.engine.begin() as conn:
            items.release_item_lease(conn, claim.item_id, actor.id, claim.lease_token, ctx.now())
        raise


def claim_item(ctx: AppContext, actor: Actor, item_id: int) -> ItemOut:
    """Lease one named item to the actor (a deep link), exactly as claim-next would take it: the same held
    lookup (the item you already hold comes back; holding another of its queue is 409), release and four-eyes
    holds, lease and quarantine. 404 for an unknown item and for one on a queue you may not read (its existence
    is not told), 403 if you may read but not review its queue, 409 when it is not pending for you (decided,
    held by someone else, or one you released or voted on a moment ago)."""
    with ctx.read() as conn:
        target = items.decision_target(conn, item_id)
    if target is None or not allowed(actor, Permission.ITEMS_READ, target.queue):
        raise NotFound(f"item {item_id} not found", field="item_id")
    authorize(actor, Permission.ITEMS_REVIEW, target.queue)
    with ctx.engine.begin() as conn:
        claim = claim_in_transaction(ctx, conn, actor.id, target.queue, item_id)
        view = items.item_view(conn, item_id) if claim is None else None
    if claim is None:
        raise Conflict(f"item {item_id} cannot be claimed: {_not_claimable(view, actor)}", field="item_id")
    try:
        return _answer(ctx, actor, claim)
    except Unshowable as exc:
        raise Conflict(f"item {item_id} cannot be shown ({exc.reason}); it was quarantined",
                       field="item_id") from None


def _not_claimable(view: ItemView | None, actor: Actor) -> str:
    """Why a named item's claim took nothing, in words for the reviewer."""
    if view is None:
        return "it no longer exists"
    if view.status == ItemStatus.DECIDED:
        return "it is already decided"
    if view.status == ItemStatus.CLAIMED:
        return ("your lease on it ran out; open it again in a moment" if view.claimed_by == actor.id
                else "another reviewer is working on it")
    if view.status == ItemStatus.PENDING:
        return "you released it or voted on it a moment ago; another reviewer decides it"
    return f"it is {view.status}"


def claim_in_transaction(ctx: AppContext, conn: Connection, principal_id: int, queue: str,
                         item_id: int | None = None) -> Claim | None:
    """The statements of one claim, in the caller's transaction (bench/claim.py times exactly these).
    ``item_id``: claim that item only (a deep link), under the same sweep, held lookup, holds and lease."""
    now = ctx.now()
    if _sweep_due(ctx, now):
        items.release_expired_item_leases(conn, now)
    held, skipped = items.held_and_skipped(conn, queue, principal_id, now)
    if held is not None:
        # The reviewer already holds one (a reload, a second tab, or a reply lost to a network error after
        # the claim committed): give it back rather than leasing a second item that nobody sees.
        if item_id is not None and held.id != item_id:
            raise Conflict(f"you hold item {held.id} of queue {queue!r}: decide or release it before taking "
                           f"item {item_id}", field="item_id")
        return Claim(held.id, held.lease_token, True, items.item_view(conn, held.id))
    token = secrets.token_hex(16)
    if item_id is not None:
        wanted = items.claim_this_item(conn, item_id, queue, principal_id, token, now, ctx.settings.lease_seconds,
                                       skipped)
        return Claim(wanted.id, token, False, items.item_view(conn, wanted.id)) if wanted else None
    claimed = None
    if _reserved_for_audit(ctx, queue):
        claimed = items.claim_oldest_of_kind(conn, queue, "audit", principal_id, token, now,
                                             ctx.settings.lease_seconds, skipped)
    if claimed is None:
        claimed = items.claim_next_item(conn, [queue], principal_id, token, now, ctx.settings.lease_seconds, skipped)
    if claimed is None:
        return None
    # same connection and transaction: no second checkout per claim
    return Claim(claimed.id, token, False, items.item_view(conn, claimed.id))


def renew(ctx: AppContext, actor: Actor, item_id: int, lease_token: str) -> LeaseOut:
    """Extend the actor's live lease on an item; LeaseLost (409) if it expired or moved (only the holder's
    own lease token renews, so no queue check is needed)."""
    with ctx.engine.begin() as conn:
        expires = items.renew_item_lease(conn, item_id, actor.id, lease_token, ctx.now(), ctx.settings.lease_seconds)
    if expires is None:
        raise LeaseLost()
    return LeaseOut(item_id=item_id, lease_expires_at=expires)


def _reviewed_target(conn: Connection, actor: Actor, item_id: int) -> items.DecisionTarget:
    """The item a release or an escalation is about: 404 if unknown, 403 if not on a queue the actor reviews."""
    target = items.decision_target(conn, item_id)
    if target is None:
        raise NotFound(f"item {item_id} not found", field="item_id")
    authorize(actor, Permission.ITEMS_REVIEW, target.queue)
    return target


def release(ctx: AppContext, actor: Actor, item_id: int, lease_token: str) -> ReleaseOut:
    """Give a held item back to its queue undecided: pending again at once for everybody else, while this
    reviewer's claims skip it for ``release_hold_seconds`` (a lease row per reviewer and item, consulted in the
    claim's held lookup). Recorded in the audit log. 404 unknown item, 403 not your queue, 409 not your lease."""
    now = ctx.now()
    until = now + timedelta(seconds=ctx.settings.release_hold_seconds)
    with ctx.engine.begin() as conn:
        target = _reviewed_target(conn, actor, item_id)
        if not items.release_item_lease(conn, item_id, actor.id, lease_token, now):
            raise LeaseLost(f"item {item_id}: you do not hold it (your lease expired or it is someone else's)")
        leases.delete_expired_release_holds(conn, actor.id, now)
        if until > now:
            leases.hold_released_item(conn, actor.id, item_id, until)
        audit.record(ctx, conn, actor, "item.released", f"item:{item_id}",
                     {"queue": target.queue, "skipped_for_releaser_until": until.isoformat()})
    log.info("item released", extra={"action": "item_released", "item_id": item_id, "actor": actor.name})
    return ReleaseOut(item_id=item_id, queue=target.queue, status=ItemStatus.PENDING.value,
                      skipped_for_you_until=until)


ESCALATED = "item.escalated"  # the audit action that carries an escalation's note and who escalated


def escalate(ctx: AppContext, actor: Actor, item_id: int, lease_token: str, note: str) -> EscalationOut:
    """Move a held item to its model's escalation queue, pending, same priority, with the reviewer's note;
    only principals granted that queue can claim it there. The note and who escalated live in the audit log
    (``item.escalated``), which the item view reads for items in an escalation queue. 404 unknown item,
    403 not your queue, 409 not your lease or already escalated, 422 no note."""
    note = note.strip() if isinstance(note, str) else ""
    if not note:
        raise ValidationFailed("note: say why you escalate it (required)", field="note")
    if len(note) > 2000:
        raise ValidationFailed("note: at most 2000 characters", field="note")
    check_storable(note, "note")
    now = ctx.now()
    with ctx.engine.begin() as conn:
        target = _reviewed_target(conn, actor, item_id)
        to_queue = ctx.registry.model(target.model_name).escalation_queue
        if target.queue == to_queue:
            raise Conflict(f"item {item_id} is already in escalation queue {to_queue!r}: decide it", field="item_id")
        if not items.move_item_with_lease(conn, item_id, actor.id, lease_token, now, to_queue):
            raise LeaseLost(f"item {item_id}: you do not hold it (your lease expired or it is someone else's)")
        audit.record(ctx, conn, actor, ESCALATED, f"item:{item_id}",
                     {"from_queue": target.queue, "queue": to_queue, "note": note})
    log.info("item escalated", extra={"action": "item_escalated", "item_id": item_id, "actor": actor.name})
    return EscalationOut(item_id=item_id, from_queue=target.queue, queue=to_queue, note=note, by=actor.name, at=now)


def _escalation(ctx: AppContext, spec: ModelSpec, view: ItemView) -> EscalationOut | None:
    """Who escalated an item in its model's escalation queue, and why (read only for such items)."""
    if view.queue != spec.escalation_queue:
        return None
    with ctx.read() as conn:
        entry = audit_log.latest_entry(conn, ESCALATED, f"item:{view.id}")
    if entry is None:
        return None
    return EscalationOut(item_id=view.id, from_queue=str(entry.detail.get("from_queue", "")), queue=view.queue,
                         note=str(entry.detail.get("note", "")), by=entry.actor, at=entry.at)


def _votes(ctx: AppContext, spec: ModelSpec, view: ItemView) -> list[VoteOut]:
    """The item's four-eyes votes, who voted what (read only for models that declare four-eyes)."""
    if not spec.four_eyes:
        return []
    with ctx.read() as conn:
        rows = votes.item_votes(conn, view.id)
    return [VoteOut(by=r.actor, verdict=r.verdict, note=r.note, at=r.created_at, decision_id=r.decision_id)
            for r in rows]


def release_expired(ctx: AppContext) -> int:
    with ctx.engine.begin() as conn:
        return items.release_expired_item_leases(conn, ctx.now())


def item_view(ctx: AppContext, actor: Actor, item_id: int, lease_token: str | None = None) -> ItemOut:
    """Everything the triage page shows: the event, score, version, explanation, verdicts and the lease."""
    with ctx.read() as conn:
        view = items.item_view(conn, item_id)
    try:
        return _shown(ctx, actor, view, item_id, lease_token)
    except Unshowable as exc:
        raise Conflict(f"item {item_id} cannot be shown ({exc.reason}); it is out of the claim path, "
                       "listed for admins under status 'quarantined'", field="item_id") from None


class Unshowable(Exception):
    """The item's view cannot be built or sent; it was quarantined."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


def _shown(ctx: AppContext, actor: Actor, view: ItemView | None, item_id: int, lease_token: str | None) -> ItemOut:
    """ItemOut for the item, or Unshowable once an item that cannot be shown is quarantined: its stored event
    holds what input validation refuses today (a lone surrogate, NUL, NaN, an integer beyond int64: a row from
    before that check), or its view fails to build or to serialise as the response will. Any other failure to
    build it (its version's artifact cannot be loaded) quarantines it too and is raised as it is; domain and
    database errors quarantine nothing."""
    if view is None:
        raise NotFound(f"item {item_id} not found", field="item_id")
    authorize(actor, Permission.ITEMS_READ, view.queue)
    try:
        check_storable({"external_id": view.external_id, "features": view.features, "context": view.context},
                       "item")
        out = _item_out(ctx, actor, view, item_id, lease_token)
        out.model_dump_json()  # the response's own encoding: whatever the check above did not foresee
        return out
    except (ValidationFailed, ValueError, TypeError, UnicodeError, OverflowError) as exc:  # its data
        reason, unexpected = (exc.message if isinstance(exc, ValidationFailed) else
                              printable(f"{type(exc).__name__}: {exc}")), None
    except (ReviewQueueError, SQLAlchemyError):
        raise  # not this item's fault (unknown model, forbidden, the database away): nothing is quarantined
    except Exception as exc:  # e.g. the version's artifact cannot be loaded to explain it
        reason, unexpected = printable(f"{type(exc).__name__}: {exc}"), exc
    with ctx.engine.begin() as conn:
        moved = items.quarantine_item(conn, item_id)
    log.error("item cannot be shown; quarantined" if moved else "item cannot be shown",
              extra={"action": "item_quarantined", "item_id": item_id, "reason": reason[:300]})
    if unexpected is not None:
        raise unexpected  # answered as the error it is; the next claim takes the next item, not this one
    raise Unshowable(reason[:300])


def list_by_status(ctx: AppContext, actor: Actor, status: str, before_id: int | None,
                   limit: int) -> list[ItemSummary]:
    """Every queue's items with ``status``, newest first, keyset-paged: the quarantine, for admins."""
    authorize(actor, Permission.ITEMS_QUARANTINE)
    with ctx.read() as conn:
        return items.list_items(conn, None, status, before_id, limit)


def _item_out(ctx: AppContext, actor: Actor, view: ItemView | None, item_id: int,
              lease_token: str | None) -> ItemOut:
    """The one place an item view becomes ItemOut; the lease is shown only to its holder."""
    if view is None:
        raise NotFound(f"item {item_id} not found", field="item_id")
    authorize(actor, Permission.ITEMS_READ, view.queue)
    holder_view = view.status == ItemStatus.CLAIMED and view.claimed_by == actor.id
    spec = ctx.registry.model(view.model_name)
    return ItemOut(
        id=view.id, queue=view.queue, kind=view.kind, status=view.status, priority=view.priority,
        created_at=view.created_at, prediction_id=view.prediction_id, external_id=view.external_id,
        model=view.model_name, model_version=view.version, score=view.score, route=view.route,
        route_label=spec.route_label(view.route),
        features=view.features, context=view.context, verdicts=list(spec.verdicts),
        explanation=[Contribution(**c) for c in explain(ctx, spec, view)],
        verdict_effects=verdict_effects(spec, {"features": view.features, "context": view.context}),
        lease_token=lease_token if holder_view else None,
        lease_expires_at=view.lease_expires_at if holder_view else None,
        claimed_by_me=holder_view, escalation=_escalation(ctx, spec, view), votes=_votes(ctx, spec, view),
        **_sla_fields(ctx, spec, view.queue, view.status, view.priority, view.created_at),
    )


def explain(ctx: AppContext, spec: ModelSpec, view: ItemView) -> list[dict[str, Any]]:
    """Why the model scored this item as it did, computed only for the item shown (see serving.scorers)."""
    scorer = ctx.scorers.get(spec, view.version_id, view.artifact_path, view.sha256, input_schema=view.input_schema)
    return scorer.explain(view.features, view.input_schema or {})


def list_items(
    ctx: AppContext, actor: Actor, queue: str, status: str | None, before_id: int | None, limit: int
) -> list[ItemSummary]:
    """A queue's items, newest first, keyset-paged (ids below ``before_id``); reads no payload columns."""
    authorize(actor, Permission.ITEMS_READ, queue)
    declared = declared_queues(ctx)
    with ctx.read() as conn:
        rows = items.list_items(conn, queue, status, before_id, limit)
    spec = declared[queue][0] if queue in declared else None
    if spec is None:
        return rows
    return [r.model_copy(update=_sla_fields(ctx, spec, r.queue, r.status, r.priority, r.created_at)) for r in rows]
