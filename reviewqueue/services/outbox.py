"""The outbox: lease due actions, deliver them through connectors, drive each to done or dead.

Every action ends done, or dead with its attempts and last error; an admin can replay a dead one.
At any time: all actions = pending + in_flight + done + dead.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from connectors.base import ActionContext, Connector
from reviewqueue.db import queries
from reviewqueue.db.tables import OutboxAction
from reviewqueue.domain.policies import RetryPolicy
from reviewqueue.domain.states import ActionStatus, Role
from reviewqueue.errors import (
    Conflict,
    ConnectorNotConfigured,
    NotFound,
    PermanentDeliveryError,
    RetryableDeliveryError,
    ValidationFailed,
)
from reviewqueue.services.auth import Actor
from reviewqueue.services.context import AppContext

log = logging.getLogger(__name__)
outbox = OutboxAction.__table__  # type: ignore[attr-defined]
LIST_COLUMNS = (outbox.c.id, outbox.c.decision_id, outbox.c.connector, outbox.c.status, outbox.c.attempts,
                outbox.c.last_error, outbox.c.next_attempt_at, outbox.c.created_at, outbox.c.done_at)


def retry_policy(ctx: AppContext) -> RetryPolicy:
    s = ctx.settings
    return RetryPolicy(s.retry_base_seconds, s.retry_max_seconds, s.outbox_max_attempts)


class Dispatcher:
    """Leases a batch, delivers it with a small thread pool, records each outcome while still holding the lease."""

    def __init__(self, ctx: AppContext, connectors: Mapping[str, Connector], worker_id: str) -> None:
        self.ctx = ctx
        self.connectors = dict(connectors)
        self.worker_id = worker_id
        self.policy = retry_policy(ctx)
        self._pool = ThreadPoolExecutor(max_workers=ctx.settings.worker_concurrency,
                                        thread_name_prefix="rq-deliver")
        self._rng = random.Random()
        self._delivering = threading.Event()

    def run_once(self) -> int:
        """One pass: reclaim actions of vanished workers, lease a batch, deliver it. Returns actions handled."""
        now = self.ctx.now()
        s = self.ctx.settings
        with self.ctx.engine.begin() as conn:
            reclaimed = queries.reclaim_stale_actions(conn, now)
        if reclaimed:
            log.warning("reclaimed in-flight actions", extra={"action": "outbox_reclaimed", "count": reclaimed})
        with self.ctx.engine.begin() as conn:
            batch = queries.lease_outbox_batch(conn, self.worker_id, now, s.outbox_batch_size,
                                               s.outbox_visibility_seconds)
        if not batch:
            return 0
        heartbeat = threading.Thread(target=self._keep_leases, args=([row.id for row in batch],),
                                     name="rq-outbox-heartbeat", daemon=True)
        self._delivering.clear()
        heartbeat.start()
        try:
            list(self._pool.map(self._deliver_and_record, batch))
        finally:
            self._delivering.set()
            heartbeat.join()
        return len(batch)

    def _keep_leases(self, action_ids: list[str]) -> None:
        """Extend this batch's leases every visibility/3 while it is being delivered, so a slow provider
        never lets another worker take (and deliver again) an action this worker is still working on."""
        visibility = self.ctx.settings.outbox_visibility_seconds
        while not self._delivering.wait(max(0.5, visibility / 3)):
            try:
                with self.ctx.engine.begin() as conn:
                    queries.extend_action_leases(conn, self.worker_id, action_ids, self.ctx.now(), visibility)
            except Exception:  # the next beat retries; the lease is still valid for 2/3 of its length
                log.warning("could not extend action leases", extra={"action": "outbox_heartbeat_failed"})

    def _deliver_and_record(self, row: Any) -> None:
        action = ActionContext(
            action_id=row.id, connector=row.connector, params=row.params, payload=row.payload,
            attempt=row.attempts, outcome_unknown=row.outcome_unknown,
        )
        values = self._attempt(action)
        with self.ctx.engine.begin() as conn:
            if not queries.finish_action(conn, row.id, self.worker_id, values):
                log.warning("lost the lease before recording", extra={"action": "outbox_lease_lost",
                                                                      "action_id": row.id})

    def _attempt(self, action: ActionContext) -> dict[str, Any]:
        connector = self.connectors.get(action.connector)
        try:
            if connector is None:
                raise ConnectorNotConfigured(f"connector {action.connector!r} is not configured in this worker")
            outcome = connector.deliver(action)
        except RetryableDeliveryError as exc:
            now = self.ctx.now()  # back off from when the attempt failed, not from when it started
            if self.policy.should_retry(action.attempt):
                delay = self.policy.delay(action.attempt, exc.retry_after, self._rng)
                log.info("action will retry", extra={"action": "outbox_retry", "action_id": action.action_id,
                                                     "attempt": action.attempt, "delay": delay})
                return {"status": ActionStatus.PENDING, "last_error": _error(exc), "leased_by": None,
                        "lease_expires_at": None, "next_attempt_at": now + timedelta(seconds=delay),
                        # a failed call may still have reached the provider: look before acting again
                        "outcome_unknown": True}
            return self._dead(exc)
        except PermanentDeliveryError as exc:
            return self._dead(exc)
        except Exception as exc:  # a connector bug must not wedge the action: count it as retryable
            log.exception("connector raised unexpectedly", extra={"action": "outbox_connector_bug",
                                                                  "action_id": action.action_id})
            now = self.ctx.now()
            if self.policy.should_retry(action.attempt):
                delay = self.policy.delay(action.attempt, None, self._rng)
                return {"status": ActionStatus.PENDING, "last_error": _error(exc), "leased_by": None,
                        "lease_expires_at": None, "next_attempt_at": now + timedelta(seconds=delay),
                        "outcome_unknown": True}
            return self._dead(exc)
        log.info("action delivered", extra={"action": "outbox_done", "action_id": action.action_id,
                                            "connector": action.connector})
        return {"status": ActionStatus.DONE, "outcome": outcome, "done_at": self.ctx.now(), "leased_by": None,
                "lease_expires_at": None, "last_error": None}

    def _dead(self, exc: Exception) -> dict[str, Any]:
        log.error("action dead-lettered", extra={"action": "outbox_dead", "error": _error(exc)})
        return {"status": ActionStatus.DEAD, "last_error": _error(exc), "leased_by": None, "lease_expires_at": None}

    def close(self) -> None:
        self._pool.shutdown(wait=True)


def _error(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"[:2000]


def counts(ctx: AppContext) -> dict[str, int]:
    with ctx.engine.connect() as conn:
        rows = conn.execute(select(outbox.c.status, func.count()).group_by(outbox.c.status)).all()
    result = {status.value: 0 for status in ActionStatus}
    result.update({status: int(n) for status, n in rows})
    result["total"] = sum(result[s.value] for s in ActionStatus)
    return result


def list_actions(
    ctx: AppContext, actor: Actor, status: str | None, decision_id: int | None, after: str | None, limit: int
) -> list[dict[str, Any]]:
    """Keyset-paged by id; never reads the payload column."""
    actor.require(Role.ADMIN, Role.DATA_SCIENTIST, Role.REVIEWER)
    if status is not None and status not in {s.value for s in ActionStatus}:
        raise ValidationFailed(f"status: one of {[s.value for s in ActionStatus]}", field="status")
    query = select(*LIST_COLUMNS).order_by(outbox.c.id).limit(limit)
    if status:
        query = query.where(outbox.c.status == status)
    if decision_id is not None:
        query = query.where(outbox.c.decision_id == decision_id)
    if after:
        query = query.where(outbox.c.id > after)
    with ctx.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(query).all()]


def get_action(ctx: AppContext, actor: Actor, action_id: str) -> dict[str, Any]:
    actor.require(Role.ADMIN, Role.DATA_SCIENTIST, Role.REVIEWER)
    with ctx.engine.connect() as conn:
        row = conn.execute(select(*LIST_COLUMNS, outbox.c.outcome, outbox.c.params)
                           .where(outbox.c.id == action_id)).first()
    if row is None:
        raise NotFound(f"action {action_id} not found", field="action_id")
    return dict(row._mapping)


def replay(ctx: AppContext, actor: Actor, action_id: str) -> dict[str, Any]:
    """Send a dead action round again: pending now, attempts reset. Effects stay once-only (same action id)."""
    actor.require(Role.ADMIN)
    now = ctx.now()
    with ctx.engine.begin() as conn:
        updated = conn.execute(
            outbox.update().where(outbox.c.id == action_id, outbox.c.status == ActionStatus.DEAD)
            .values(status=ActionStatus.PENDING, attempts=0, next_attempt_at=now, leased_by=None,
                    lease_expires_at=None)
        ).rowcount
        if not updated:
            exists = conn.execute(select(outbox.c.status).where(outbox.c.id == action_id)).first()
            if exists is None:
                raise NotFound(f"action {action_id} not found", field="action_id")
            raise Conflict(f"action {action_id} is {exists.status}, only dead actions can be replayed")
    log.info("action replayed", extra={"action": "outbox_replayed", "action_id": action_id, "actor": actor.name})
    return get_action(ctx, actor, action_id)
