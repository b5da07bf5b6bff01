"""The outbox: lease due actions, deliver them through connectors, drive each to done or dead.

Every action ends done, or dead with its attempts and last error; an admin can replay a dead one.
At any time: all actions = pending + in_flight + done + dead.
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Mapping
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import OperationalError, SQLAlchemyError

from connectors.base import ActionContext, Connector
from reviewqueue import metrics
from reviewqueue.db import outbox
from reviewqueue.db.outbox import ActionFilter, ActionScope, LeasedAction
from reviewqueue.domain.permissions import Actor, Permission, authorize, queue_scope
from reviewqueue.domain.policies import RetryPolicy
from reviewqueue.domain.states import ActionStatus
from reviewqueue.errors import (
    Conflict,
    ConnectorNotConfigured,
    NotFound,
    PermanentDeliveryError,
    RetryableDeliveryError,
    ValidationFailed,
)
from reviewqueue.logs import error_fields
from reviewqueue.schemas import ActionCounts, ActionOut, ReplayOut
from reviewqueue.services import audit
from reviewqueue.services.context import AppContext

log = logging.getLogger(__name__)


def retry_policy(ctx: AppContext) -> RetryPolicy:
    s = ctx.settings
    return RetryPolicy(s.retry_base_seconds, s.retry_max_seconds, s.outbox_max_attempts)


RECLAIM_EVERY = timedelta(seconds=1)


class Dispatcher:
    """Leases a batch, delivers it with a small thread pool, records the outcomes while still holding the lease.

    Outcomes are recorded in groups, one transaction each (BENCHMARKS.md §5: a transaction per action spent
    most of the delivery threads' time committing). A group is flushed once it holds ``flush_max_outcomes``
    or its oldest outcome has waited ``flush_after_seconds``, and at the end of the batch, so a slow provider
    never holds back the recording of fast ones. The window this opens between a provider's effect and its
    commit is covered like any crash: the lease expires, the action is reclaimed as outcome-unknown, and the
    connector looks for its effect before acting again.
    """

    flush_max_outcomes = 50
    flush_after_seconds = 0.025
    flush_retry_seconds = 0.5  # after a failed flush (the database blinked), before the next try
    final_flush_attempts = 3  # at the end of a batch; then the error propagates and the leases run out

    def __init__(self, ctx: AppContext, connectors: Mapping[str, Connector], worker_id: str) -> None:
        self.ctx = ctx
        self.connectors = dict(connectors)
        self.worker_id = worker_id
        self.policy = retry_policy(ctx)
        self._pool = ThreadPoolExecutor(max_workers=ctx.settings.worker_concurrency,
                                        thread_name_prefix="rq-deliver")
        self._rng = random.Random()
        self._last_reclaim: datetime | None = None

    def run_once(self) -> int:
        """One pass: reclaim actions of vanished workers, lease a batch, deliver it. Returns actions handled."""
        now = self.ctx.now()
        s = self.ctx.settings
        reclaimed = 0
        with self.ctx.engine.begin() as conn:  # one transaction: the reclaim costs no extra BEGIN/COMMIT
            if self._reclaim_due(now):
                reclaimed = outbox.reclaim_stale_actions(conn, now)
            batch = outbox.lease_outbox_batch(conn, self.worker_id, now, s.outbox_batch_size,
                                               s.outbox_visibility_seconds)
        if reclaimed:
            log.warning("reclaimed in-flight actions", extra={"action": "outbox_reclaimed", "count": reclaimed})
        if batch:
            metrics.LEASE_BATCH.observe(len(batch))
            self._deliver_batch(batch)
        return len(batch)

    def _reclaim_due(self, now: datetime) -> bool:
        """At most once a second: leases run for outbox_visibility_seconds (≥ 1 s), so a reclaim per pass
        (~7% of a busy dispatcher's time) found nothing almost every time."""
        last = self._last_reclaim
        if last is not None and timedelta(0) <= now - last < RECLAIM_EVERY:
            return False
        self._last_reclaim = now
        return True

    def _deliver_batch(self, batch: list[LeasedAction]) -> None:
        """Deliver on the pool; this thread collects outcomes as they complete, flushes groups and keeps the
        leases alive, so all of this worker's writes to the batch's rows are sequential (no lock-order races)."""
        recorder = _Recorder(self, [row.id for row in batch])
        waiting = {self._pool.submit(self._deliver, row) for row in batch}
        while waiting:
            done, waiting = wait(waiting, timeout=recorder.seconds_to_next_duty(), return_when=FIRST_COMPLETED)
            for future in done:
                recorder.add(*future.result())
                recorder.do_duties()  # a group never grows past flush_max_outcomes
            recorder.do_duties()  # woken by a deadline: a group's window or a heartbeat
        recorder.finish()

    def _deliver(self, row: LeasedAction) -> tuple[str, dict[str, Any]]:
        action = ActionContext(
            action_id=row.id, connector=row.connector, params=row.params, payload=row.payload,
            attempt=row.attempts, outcome_unknown=row.outcome_unknown,
        )
        outcome = self._attempt(action)
        status = outcome["status"]
        label = {ActionStatus.DONE: "delivered", ActionStatus.DEAD: "dead"}.get(status, "failed")
        metrics.DELIVERIES.labels(row.connector, label).inc()
        if status == ActionStatus.DONE:
            metrics.DELIVERY_SECONDS.labels(row.connector).observe(
                max(0.0, (outcome["done_at"] - row.created_at).total_seconds()))
        return row.id, outcome

    def _attempt(self, action: ActionContext) -> dict[str, Any]:
        """Deliver once; the outcome in one of the shapes ``outbox.record_outcomes`` writes."""
        connector = self.connectors.get(action.connector)
        try:
            if connector is None:
                raise ConnectorNotConfigured(f"connector {action.connector!r} is not configured in this worker")
            outcome = connector.deliver(action)
        except RetryableDeliveryError as exc:
            return self._retry_or_dead(action, exc, exc.retry_after)
        except PermanentDeliveryError as exc:
            return self._dead(action, exc)
        except Exception as exc:  # a connector bug must not wedge the action: count it as retryable
            log.exception("connector raised unexpectedly", extra={"action": "outbox_connector_bug",
                                                                  "action_id": action.action_id})
            return self._retry_or_dead(action, exc, None)
        log.info("action delivered", extra={"action": "outbox_done", "action_id": action.action_id,
                                            "connector": action.connector})
        return {"status": ActionStatus.DONE, "outcome": outcome, "done_at": self.ctx.now()}

    def _retry_or_dead(self, action: ActionContext, exc: Exception, retry_after: float | None) -> dict[str, Any]:
        now = self.ctx.now()  # back off from when the attempt failed, not from when it started
        if not self.policy.should_retry(action.attempt):
            return self._dead(action, exc)
        delay = self.policy.delay(action.attempt, retry_after, self._rng)
        log.info("action will retry", extra={"action": "outbox_retry", "action_id": action.action_id,
                                             "attempt": action.attempt, "delay": delay})
        # recorded outcome-unknown: a failed call may still have reached the provider
        return {"status": ActionStatus.PENDING, "last_error": _error(exc),
                "next_attempt_at": now + timedelta(seconds=delay)}

    def _dead(self, action: ActionContext, exc: Exception) -> dict[str, Any]:
        log.error("action dead-lettered", extra={
            "action": "outbox_dead", "action_id": action.action_id, "item_id": action.payload.get("item_id"),
            "connector": action.connector, "attempt": action.attempt, "error_class": type(exc).__name__,
            "error": _error(exc)})
        return {"status": ActionStatus.DEAD, "last_error": _error(exc)}

    def close(self) -> None:
        self._pool.shutdown(wait=True)


class _Recorder:
    """One batch's bookkeeping on the dispatching thread: outcomes not yet recorded, when the next group is
    due, and the lease heartbeat for the actions whose outcome is not committed yet."""

    def __init__(self, dispatcher: Dispatcher, action_ids: list[str]) -> None:
        self.d = dispatcher
        self.unrecorded = set(action_ids)  # still ours to keep alive: no outcome committed yet
        self.group: dict[str, dict[str, Any]] = {}
        self.group_due = math.inf  # monotonic time the current group must be flushed by
        self.visibility = dispatcher.ctx.settings.outbox_visibility_seconds
        self.beat_every = max(0.5, self.visibility / 3)
        self.next_beat = time.monotonic() + self.beat_every

    def add(self, action_id: str, outcome: dict[str, Any]) -> None:
        if not self.group:
            self.group_due = time.monotonic() + self.d.flush_after_seconds
        self.group[action_id] = outcome
        if len(self.group) >= self.d.flush_max_outcomes:
            self.group_due = time.monotonic()

    def seconds_to_next_duty(self) -> float:
        return max(0.0, min(self.group_due, self.next_beat) - time.monotonic())

    def do_duties(self) -> None:
        now = time.monotonic()
        if now >= self.group_due:
            try:
                self.flush()
            except SQLAlchemyError as exc:  # kept: retried at the next due time, while the heartbeat holds the leases
                self._log_failed_flush(exc)
                self.group_due = time.monotonic() + self.d.flush_retry_seconds
        if now >= self.next_beat:
            self.beat()

    def finish(self) -> None:
        """Record what is left; retry a failed flush a few times before giving up (the leases then expire and
        the actions are reclaimed as outcome-unknown)."""
        for attempt in range(1, self.d.final_flush_attempts + 1):
            try:
                self.flush()
                return
            except SQLAlchemyError as exc:
                if attempt == self.d.final_flush_attempts:
                    raise
                self._log_failed_flush(exc)
                time.sleep(self.d.flush_retry_seconds)
                self.beat()

    def _log_failed_flush(self, exc: SQLAlchemyError) -> None:
        # an outage is expected and said in one line; anything else keeps its traceback
        outage = isinstance(exc, OperationalError)
        reason = "database unavailable" if outage else type(exc).__name__
        log.warning(f"could not record outcomes ({reason}), will retry", exc_info=not outage,
                    extra={"action": "outbox_record_failed", "count": len(self.group), **error_fields(exc)})

    def flush(self) -> None:
        """Record the group in one transaction; on an error it stays whole for the next try."""
        if not self.group:
            return
        d = self.d
        with d.ctx.engine.begin() as conn:
            # looked up at call time: the fault tests kill the worker inside this transaction
            recorded = outbox.record_outcomes(conn, d.worker_id, self.group)
        for action_id in self.group.keys() - recorded:
            log.warning("lost the lease before recording", extra={"action": "outbox_lease_lost",
                                                                  "action_id": action_id})
        self.unrecorded -= self.group.keys()
        self.group = {}
        self.group_due = math.inf

    def beat(self) -> None:
        """Extend the leases of actions without a committed outcome, so a slow provider never lets another
        worker take (and deliver again) an action this worker is still working on."""
        self.next_beat = time.monotonic() + self.beat_every
        if not self.unrecorded:
            return
        try:
            with self.d.ctx.engine.begin() as conn:
                outbox.extend_action_leases(conn, self.d.worker_id, sorted(self.unrecorded), self.d.ctx.now(),
                                             self.visibility)
        except SQLAlchemyError:  # the next beat retries; the lease is still valid for 2/3 of its length
            log.warning("could not extend action leases", extra={"action": "outbox_heartbeat_failed"})


def _error(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"[:2000]


# Above this many rows (the planner's estimate) "done" is estimated, not counted: an exact count reads one index
# entry per action ever delivered (209 ms at 1M actions, BENCHMARKS.md §7) for a tile nobody acts on.
EXACT_DONE_UP_TO = 100_000
_OPEN_STATUSES = [ActionStatus.PENDING.value, ActionStatus.IN_FLIGHT.value, ActionStatus.DEAD.value,
                  ActionStatus.REFUSED.value, ActionStatus.CANCELLED.value]


def _scope(ctx: AppContext, actor: Actor) -> ActionScope | None:
    """What ``actor`` may read of the outbox: everything (None), or the actions of their queues' decisions."""
    queues = queue_scope(actor, Permission.ACTIONS_READ)
    if queues is None:
        return None
    return ActionScope(queues, tuple(spec.name for spec in ctx.registry.models() if spec.queue in queues))


def counts(ctx: AppContext, actor: Actor | None = None) -> ActionCounts:
    """Actions per status (a reviewer's: of their queues' decisions only). Pending, in flight and dead are exact
    (they are what operators act on); done is exact on small tables and estimated from PostgreSQL's statistics
    on large ones (``done_estimated``), except for a scoped reader, whose counts are all exact. Without an
    actor (the worker, benchmarks): everything."""
    scope = None
    if actor is not None:
        authorize(actor, Permission.ACTIONS_READ)
        scope = _scope(ctx, actor)
    with ctx.read() as conn:
        result = outbox.count_by_status(conn, _OPEN_STATUSES, scope)
        estimated = outbox.estimated_rows(conn) if scope is None else None
        done_estimated = estimated is not None and estimated > EXACT_DONE_UP_TO
        if estimated is not None and done_estimated:
            result[ActionStatus.DONE.value] = max(0, estimated - sum(result.values()))
        else:
            result[ActionStatus.DONE.value] = outbox.count_by_status(conn, [ActionStatus.DONE.value], scope)[
                ActionStatus.DONE.value]
    return ActionCounts(pending=result[ActionStatus.PENDING.value], in_flight=result[ActionStatus.IN_FLIGHT.value],
                        done=result[ActionStatus.DONE.value], dead=result[ActionStatus.DEAD.value],
                        refused=result[ActionStatus.REFUSED.value], cancelled=result[ActionStatus.CANCELLED.value],
                        total=sum(result.values()),
                        done_estimated=done_estimated)


def list_actions(
    ctx: AppContext, actor: Actor, status: str | None, decision_id: int | None,
    before: tuple[datetime, str] | None, limit: int, *, connector: str | None = None, model: str | None = None,
    error: str | None = None,
) -> list[ActionOut]:
    """Newest first, keyset-paged on (created_at, id): ``before`` is the last row of the previous page; never
    reads the payload column. A reviewer sees only the actions of decisions on the queues they review
    (``queue_scope``)."""
    authorize(actor, Permission.ACTIONS_READ)
    where = ActionFilter(status, decision_id, connector, model, error)
    with ctx.read() as conn:
        return outbox.list_actions(conn, where, before, limit, _scope(ctx, actor))


def get_action(ctx: AppContext, actor: Actor, action_id: str) -> ActionOut:
    authorize(actor, Permission.ACTIONS_READ)
    with ctx.read() as conn:
        row = outbox.get_action(conn, action_id, _scope(ctx, actor))
    if row is None:
        raise NotFound(f"action {action_id} not found", field="action_id")
    return row


def replay(ctx: AppContext, actor: Actor, action_id: str) -> ActionOut:
    """Send a dead action round again: pending now, attempts reset. Effects stay once-only (same action id)."""
    authorize(actor, Permission.ACTIONS_REPLAY)
    with ctx.engine.begin() as conn:
        replayed = outbox.replay_dead_action(conn, action_id, ctx.now())
        if replayed is None:
            status = outbox.status_of(conn, action_id)
            if status is None:
                raise NotFound(f"action {action_id} not found", field="action_id")
            raise Conflict(f"action {action_id} is {status}, only dead actions can be replayed")
        audit.record(ctx, conn, actor, "action.replay", f"action:{action_id}",
                     {"connector": replayed.connector, "decision_id": replayed.decision_id})
    log.info("action replayed", extra={"action": "outbox_replayed", "action_id": action_id, "actor": actor.name})
    return replayed


MAX_BULK_REPLAY = 10_000
"""At most this many dead actions are replayed by one request: one transaction, one audit entry; more is a
sign the filter is too broad (or the provider is still down): narrow it, or replay again once these are done."""


def replay_matching(ctx: AppContext, actor: Actor, connector: str | None, model: str | None, error: str | None,
                    *, dry_run: bool = False, expected: int | None = None) -> ReplayOut:
    """Send every dead action matching the filter round again (each as ``replay`` does one: pending now,
    attempts reset, the same action id so each effect still happens once). ``dry_run`` only counts; ``expected``
    is the count the caller confirmed, refused (Conflict) when another number matches now. One audit entry
    names the filter and the count."""
    authorize(actor, Permission.ACTIONS_REPLAY)
    if model is not None:
        ctx.registry.model(model)  # an unknown model: NotFound naming it, rather than "0 match"
    where = ActionFilter(ActionStatus.DEAD.value, None, connector, model, error)
    described = {key: value for key, value in (("connector", connector), ("model", model), ("error", error))
                 if value is not None}
    with ctx.engine.begin() as conn:
        matched = outbox.count_matching(conn, where)
        if dry_run:
            return ReplayOut(matched=matched, replayed=0, dry_run=True)
        if expected is not None and matched != expected:
            raise Conflict(f"{matched} dead actions match now, not the {expected} confirmed; check again",
                           field="expected")
        if matched > MAX_BULK_REPLAY:
            raise ValidationFailed(f"{matched} dead actions match; at most {MAX_BULK_REPLAY} are replayed at once: "
                                   "narrow the filter", field="connector")
        ids = outbox.replay_dead_actions(conn, where, ctx.now())
        audit.record(ctx, conn, actor, "action.replay_matching", "actions:dead",
                     {"filter": described, "count": len(ids), "action_ids": ids[:100]})
    log.info("dead actions replayed", extra={"action": "outbox_replayed_matching", "count": len(ids),
                                             "actor": actor.name, **{f"filter_{k}": v for k, v in described.items()}})
    return ReplayOut(matched=matched, replayed=len(ids), dry_run=False, action_ids=ids)
