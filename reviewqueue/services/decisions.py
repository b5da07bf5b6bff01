"""A reviewer's decision: audit row + label + item closed + one outbox row per action, in ONE commit.

Its actions wait out the verdict's undo window (``next_attempt_at = decided_at + window``, services.undo); on a
prediction the model decided (an audit), agreeing fires nothing twice and overturning compensates first.

A four-eyes verdict (domain.four_eyes) decides only once enough different reviewers agree: until then each verdict
is a vote (who, what, note, when: db.votes) that fires nothing and writes no label; the item goes back to its
queue and its voters' claims skip it (a ``hold:<reviewer>:<item>`` lease, as a release makes) until the round is
decided. A disagreement moves it to the model's escalation queue, noted, where a senior decides once."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy.engine import Connection

from reviewqueue import metrics
from reviewqueue.db import decisions, items, labels, leases, outbox, votes
from reviewqueue.db.votes import VoteRow
from reviewqueue.domain.four_eyes import Tally, tally
from reviewqueue.domain.permissions import Actor, Permission, authorize
from reviewqueue.domain.states import DecisionSource, ItemStatus, LabelSource
from reviewqueue.domain.undo import undo_until
from reviewqueue.errors import AlreadyDecided, Conflict, LeaseLost, NotFound, ValidationFailed
from reviewqueue.features import check_storable
from reviewqueue.registry import ModelSpec
from reviewqueue.schemas import DecisionOut, VoteOut
from reviewqueue.services import audit
from reviewqueue.services.context import AppContext
from reviewqueue.services.payloads import action_payload, outbox_rows
from reviewqueue.services.queue import ESCALATED  # the escalation's audit action: the item view reads its note
from reviewqueue.services.undo import against_automatic

log = logging.getLogger(__name__)

# A voter's claims skip the item until its round is decided (the hold is dropped then); this only bounds a hold
# whose item is never decided.
VOTER_HOLD = timedelta(days=30)
VOTED = "item.voted"


def vote_out(row: VoteRow) -> VoteOut:
    return VoteOut(by=row.actor, verdict=row.verdict, note=row.note, at=row.created_at, decision_id=row.decision_id)


def decide(
    ctx: AppContext, actor: Actor, item_id: int, verdict: str, lease_token: str, note: str = ""
) -> DecisionOut:
    if not isinstance(note, str) or len(note) > 2000:
        raise ValidationFailed("note: at most 2000 characters", field="note")
    check_storable(note, "note")
    now = ctx.now()
    with ctx.engine.begin() as conn:
        target = items.decision_target(conn, item_id)
        if target is None:
            raise NotFound(f"item {item_id} not found", field="item_id")
        authorize(actor, Permission.ITEMS_REVIEW, target.queue)
        spec = ctx.registry.model(target.model_name)
        if verdict not in spec.verdicts:
            raise ValidationFailed(f"verdict: {verdict!r} is not one of {list(spec.verdicts)}", field="verdict")
        if target.status == ItemStatus.DECIDED:
            raise AlreadyDecided(f"item {item_id} was already decided")
        round_votes = votes.open_votes(conn, item_id)
        outcome = tally([(v.principal_id, v.verdict) for v in round_votes], actor.id, verdict,
                        spec.reviewers_required(verdict, target.features, target.context),
                        adjudicating=target.queue == spec.escalation_queue)
        if outcome is Tally.REFUSED:
            raise Conflict(f"item {item_id}: you already voted on it; a different reviewer decides it",
                           field="item_id")
        if outcome in (Tally.VOTE, Tally.DISAGREE):
            return _vote(ctx, conn, actor, spec, target, item_id, verdict, lease_token, note, now, outcome,
                         round_votes)
        if not items.close_item_with_lease(conn, item_id, actor.id, lease_token, now):
            raise LeaseLost(f"item {item_id}: your lease expired or the item is held by someone else")
        window = spec.undo_window(verdict)
        not_before = undo_until(now, window)
        decision_id = decisions.insert_decision(
            conn, prediction_id=target.prediction_id, item_id=item_id, verdict=verdict,
            source=DecisionSource.REVIEWER, actor=actor.name, note=note, created_at=now, undo_until=not_before,
        )
        source = LabelSource.AUDIT if target.kind == "audit" else LabelSource.REVIEWER
        label_id = labels.insert_label(
            conn, prediction_id=target.prediction_id, model_name=spec.name, value=verdict, source=source,
            actor=actor.name, decision_id=decision_id, created_at=now,
            # the chance this verdict was asked for at all; evaluation weights the label by its inverse
            selection_probability=target.selection_probability,
        )
        prediction = {"id": target.prediction_id, "external_id": target.external_id, "score": target.score,
                      "features": target.features, "context": target.context}
        payload = action_payload(spec=spec, prediction=prediction, verdict=verdict, source=source.value,
                                 actor=actor.name, item_id=item_id, decision_id=decision_id)
        skip, compensations = against_automatic(conn, spec, target.prediction_id, verdict, decision_id,
                                                 actor.name, now, not_before)
        actions = compensations + outbox_rows(spec, verdict, decision_id, payload, now, not_before=not_before,
                                              skip=skip)
        outbox.insert_actions(conn, actions)
        voters = votes.close_open_votes(conn, item_id, decision_id)
        leases.delete_item_holds(conn, voters, item_id)
    metrics.DECISIONS.labels(spec.name, verdict, "human").inc()
    log.info("item decided", extra={"action": "item_decided", "item_id": item_id, "verdict": verdict,
                                    "actor": actor.name, "actions": len(actions)})
    return DecisionOut(decision_id=decision_id, label_id=label_id, item_id=item_id, verdict=verdict,
                       action_ids=[a["id"] for a in actions], undo_until=not_before if window > 0 else None,
                       votes=[vote_out(v._replace(decision_id=decision_id)) for v in round_votes])


def _vote(ctx: AppContext, conn: Connection, actor: Actor, spec: ModelSpec, target: items.DecisionTarget,
          item_id: int, verdict: str, lease_token: str, note: str, now: datetime, outcome: Tally,
          round_votes: list[VoteRow]) -> DecisionOut:
    """Record a four-eyes vote from the live lease: the item back to its queue (agreeing so far) or on to the
    escalation queue (a disagreement, noted there for the senior); the voter's claims skip it from now on."""
    disagree = outcome is Tally.DISAGREE
    to_queue = spec.escalation_queue if disagree else target.queue
    moved = (items.move_item_with_lease(conn, item_id, actor.id, lease_token, now, to_queue) if disagree
             else items.release_item_lease(conn, item_id, actor.id, lease_token, now))
    if not moved:
        raise LeaseLost(f"item {item_id}: your lease expired or the item is held by someone else")
    vote_id = votes.insert_vote(conn, item_id=item_id, principal_id=actor.id, actor=actor.name, verdict=verdict,
                                note=note, created_at=now)
    leases.hold_released_item(conn, actor.id, item_id, now + VOTER_HOLD)
    mine = VoteRow(vote_id, actor.id, actor.name, verdict, note, now, None)
    cast = [*round_votes, mine]
    audit.record(ctx, conn, actor, VOTED, f"item:{item_id}", {"verdict": verdict, "queue": to_queue,
                                                             "outcome": outcome.value})
    if disagree:
        said = "; ".join(f"{v.actor} voted {v.verdict}" for v in cast)
        audit.record(ctx, conn, actor, ESCALATED, f"item:{item_id}",
                     {"from_queue": target.queue, "queue": to_queue, "note": f"four-eyes disagreement: {said}"})
    log.info("four-eyes vote", extra={"action": "item_voted", "item_id": item_id, "verdict": verdict,
                                      "actor": actor.name})
    return DecisionOut(decision_id=None, label_id=None, item_id=item_id, verdict=verdict, action_ids=[],
                       outcome=outcome.value, votes=[vote_out(v) for v in cast], queue=to_queue)
