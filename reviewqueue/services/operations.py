"""Operations figures for the Monitor page: threshold what-if, reviewer statistics, queue health over time.

Read-only; each is one read connection, named queries (db/operations.py) and a pure rule (domain/whatif.py,
domain/operations.py). Windows are bounded so a page load reads a bounded history.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from typing import Any

from reviewqueue.db import operations as ops
from reviewqueue.db.versions import champion as champion_of
from reviewqueue.domain import operations as rules
from reviewqueue.domain.permissions import Actor, Permission, allowed, authorize
from reviewqueue.domain.whatif import Proportion, check_thresholds, wilson
from reviewqueue.errors import ValidationFailed
from reviewqueue.schemas import (
    ProportionOut,
    QueueHealthOut,
    QueuePointOut,
    ReviewersOut,
    ReviewerStatsOut,
    WhatIfOut,
)
from reviewqueue.services import policies, whatif
from reviewqueue.services.context import AppContext
from reviewqueue.services.queue import declared_queues

__all__ = ["MAX_HEALTH_DAYS", "MAX_REVIEWER_DAYS", "queue_health", "reviewer_stats", "what_if"]

MAX_REVIEWER_DAYS = 90
MAX_HEALTH_DAYS = 31
STEPS = {"hour": timedelta(hours=1), "day": timedelta(days=1)}


def _days(days: Any, most: int) -> int:
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= most:
        raise ValidationFailed(f"days: a whole number of days from 1 to {most}", field="days")
    return days


def what_if(ctx: AppContext, actor: Actor, model_name: str, review_low: Any, review_high: Any,
            days: Any = 7) -> WhatIfOut:
    """What candidate thresholds would have done to the champion's last ``days`` days (domain.whatif), next to
    the policy routing now; the audit share is the current policy's."""
    authorize(actor, Permission.VERSIONS_READ)
    spec = ctx.registry.model(model_name)
    problem = check_thresholds(review_low, review_high)
    if problem:
        raise ValidationFailed(problem, field=problem.partition(":")[0])
    days = _days(days, whatif.MAX_DAYS)
    with ctx.read() as conn:
        current = policies.policies(ctx, actor, spec.name).active
        champion = champion_of(conn, spec.name)
        f = whatif.figures(conn, spec, champion, float(review_low), float(review_high), current.audit_fraction,
                           days, ctx.now())
    r = f.result
    return WhatIfOut(
        model=spec.name, champion_version=champion.version, days=days, observed_days=f.observed_days,
        predictions=f.predictions, labelled=f.labelled, review_low=r.review_low, review_high=r.review_high,
        audit_fraction=current.audit_fraction, auto_flag_per_day=r.volumes.auto_flag,
        review_per_day=r.volumes.review, auto_pass_per_day=r.volumes.auto_pass, audits_per_day=r.volumes.audits,
        human_per_day=r.volumes.human, recall=whatif.proportion_out(r.recall),
        precision=whatif.proportion_out(r.precision), missed=whatif.proportion_out(r.missed), curve=f.curve,
        current=current)


def _share(hits: int, n: int) -> ProportionOut:
    """An unweighted share with its Wilson 95% interval (every decision counts once)."""
    if n == 0:
        return whatif.proportion_out(Proportion(None, None, None, 0, 0.0))
    low, high = wilson(hits, n)
    return ProportionOut(value=hits / n, low=low, high=high, n=n, n_effective=float(n))


def reviewer_stats(ctx: AppContext, actor: Actor, model_name: str, days: Any = 7) -> ReviewersOut:
    """Per reviewer over the last ``days`` days of a model's decisions (admin: figures about people):

    - throughput: decisions / days (four-eyes votes counted apart: they decide nothing alone);
    - time to decision: decided_at − the item's claimed_at, median and 90th percentile (linear interpolation),
      over decisions whose item's last claim began before them (a reopened item claimed again has lost it);
    - audit agreement: of their audits (a person's verdict on an automatic decision), the share keeping the
      model's verdict; vote agreement: of their closed four-eyes votes, the share matching the round's verdict;
    - overturned: of their decisions, the share later reversed (by anyone) or undone by someone else; undoing
      one's own decision inside the undo window is a correction, counted apart (self_undone).
    Shares come with n and a Wilson 95% interval."""
    authorize(actor, Permission.REVIEWERS_READ)
    spec = ctx.registry.model(model_name)
    days = _days(days, MAX_REVIEWER_DAYS)
    until = ctx.now()
    since = until - timedelta(days=days)
    with ctx.read() as conn:
        made = ops.reviewer_decisions(conn, spec.name, since, until)
        cast = ops.reviewer_votes(conn, spec.name, since, until)
    by_person: dict[str, list[ops.ReviewerDecision]] = defaultdict(list)
    for d in made:
        by_person[d.actor].append(d)
    votes_by: dict[str, list[ops.ReviewerVote]] = defaultdict(list)
    for v in cast:
        votes_by[v.actor].append(v)
    out = [_reviewer(name, by_person.get(name, []), votes_by.get(name, []), days)
           for name in sorted(set(by_person) | set(votes_by))]
    return ReviewersOut(model=spec.name, since=since, until=until, days=float(days), reviewers=out)


def _reviewer(name: str, made: list[ops.ReviewerDecision], cast: list[ops.ReviewerVote],
              days: int) -> ReviewerStatsOut:
    durations = [(d.decided_at - d.claimed_at).total_seconds() for d in made
                 if d.claimed_at is not None and d.claimed_at <= d.decided_at]
    audits = [d for d in made if d.kind == "audit" and d.automatic_verdict is not None]
    closed = [v for v in cast if v.decided_verdict is not None]
    overturned = [d for d in made if d.reversed_at is not None or (d.undone_at is not None and d.undone_by != name)]
    return ReviewerStatsOut(
        reviewer=name, decisions=len(made), decisions_per_day=len(made) / days, votes=len(cast),
        time_to_decision_n=len(durations), median_seconds=rules.percentile(durations, 0.5),
        p90_seconds=rules.percentile(durations, 0.9),
        audit_agreement=_share(sum(d.verdict == d.automatic_verdict for d in audits), len(audits)),
        vote_agreement=_share(sum(v.verdict == v.decided_verdict for v in closed), len(closed)),
        overturned=_share(len(overturned), len(made)),
        self_undone=sum(1 for d in made if d.undone_at is not None and d.undone_by == name))


def queue_health(ctx: AppContext, actor: Actor, model_name: str, days: Any = 2, step: Any = "hour") -> QueueHealthOut:
    """Open items and the oldest one's age, per queue of the model (decision, learning, escalation) that the actor
    may read, at each ``step`` over the last ``days`` days, rebuilt from item timestamps (domain.operations)."""
    authorize(actor, Permission.QUEUES_READ)
    spec = ctx.registry.model(model_name)
    days = _days(days, MAX_HEALTH_DAYS)
    if step not in STEPS:
        raise ValidationFailed(f"step: one of {sorted(STEPS)}", field="step")
    queues = [q for q, (owner, _) in declared_queues(ctx).items()
              if owner.name == spec.name and allowed(actor, Permission.QUEUES_READ, q)]
    now = ctx.now()
    grid = STEPS[step]
    start = now - timedelta(days=days)
    # read at whole hours / days (UTC), then now: points line up across queues and page loads
    first = start.replace(minute=0, second=0, microsecond=0) + grid if step == "hour" else \
        start.replace(hour=0, minute=0, second=0, microsecond=0) + grid
    at = rules.edges(first, now, grid)
    if not at or at[-1] != now:
        at.append(now)
    with ctx.read() as conn:
        spans = ops.item_spans(conn, queues, start, now) if queues else []
    per_queue: dict[str, list[tuple[Any, Any]]] = {q: [] for q in queues}
    for s in spans:
        per_queue[s.queue].append((s.created_at, s.decided_at))
    points = [QueuePointOut(queue=q, at=t, open=n, oldest_age_seconds=age)
              for q in queues for t, n, age in rules.queue_series(per_queue[q], at)]
    return QueueHealthOut(since=start, until=now, step=step, queues=queues, points=points)
