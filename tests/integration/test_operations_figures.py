"""Operations figures against hand-built histories on the real database: reviewer statistics (throughput, claim →
decision time, audit agreement, overturns), queue depth and age over time, and the what-if over HTTP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

import reviewqueue as rq
from reviewqueue.client import Client
from reviewqueue.db.tables import ReviewItem
from reviewqueue.domain.states import Role
from reviewqueue.errors import Forbidden, ValidationFailed
from reviewqueue.services import decisions, ingest, operations, queue, undo
from reviewqueue.services.auth import Actor, authenticate
from tests.clock import FakeClock
from tests.factories import transaction, uncertain

SYSTEM = Actor(id=0, name="system", role=Role.INTEGRATION, queues=())
T0 = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)


@pytest.fixture
def clock(ctx) -> FakeClock:
    ctx.clock = FakeClock(T0)
    return ctx.clock


def claim_and_decide(ctx, clock: FakeClock, who: Actor, verdict: str, after_seconds: float) -> int:
    item = queue.claim_next(ctx, who, "fraud")
    assert item is not None
    clock.advance(after_seconds)
    result = decisions.decide(ctx, who, item.id, verdict, item.lease_token)
    assert result.decision_id is not None
    return result.decision_id


def test_reviewer_statistics_from_a_hand_built_day(ctx, people, clock):
    reviewer, reviewer2 = authenticate(ctx, people.reviewer), authenticate(ctx, people.reviewer2)
    admin = authenticate(ctx, people.admin)
    ingest.ingest(ctx, SYSTEM, "fraud", [uncertain(i) for i in range(3)])
    first = claim_and_decide(ctx, clock, reviewer, "legit", 30)
    claim_and_decide(ctx, clock, reviewer, "legit", 120)
    claim_and_decide(ctx, clock, reviewer2, "legit", 10)
    undo.reverse(ctx, admin, first, "the customer called: it was fraud")  # an overturn of reviewer's decision
    claim_and_decide(ctx, clock, reviewer2, "fraud", 20)  # the reopened item, decided again
    # an audit of an automatic "legit": reviewer keeps the model's verdict
    spec = ctx.registry.model("fraud")
    external_id = next(f"aud{i}" for i in range(100_000) if spec.routing.audited(f"aud{i}"))
    [audited] = ingest.ingest(ctx, SYSTEM, "fraud", [{**transaction(0), "external_id": external_id}])
    assert audited.route == "auto_pass" and audited.audited
    claim_and_decide(ctx, clock, reviewer, "legit", 40)

    with pytest.raises(Forbidden):  # figures about people: admins only
        operations.reviewer_stats(ctx, reviewer, "fraud", 7)
    stats = {r.reviewer: r for r in operations.reviewer_stats(ctx, admin, "fraud", 1).reviewers}
    assert set(stats) == {"reviewer", "reviewer2"}
    mine, theirs = stats["reviewer"], stats["reviewer2"]
    assert (mine.decisions, mine.decisions_per_day, mine.votes) == (3, 3.0, 0)
    # claim → decision: 120 s and the audit's 40 s; the reversed decision's item was claimed again since, so its
    # claim time is gone and it is left out of n (the documented limit: only an item's last claim is kept)
    assert mine.time_to_decision_n == 2 and mine.median_seconds == 80.0
    assert mine.p90_seconds == pytest.approx(40 + 0.9 * 80)
    assert (mine.audit_agreement.value, mine.audit_agreement.n) == (1.0, 1)
    assert (mine.overturned.value, mine.overturned.n) == (pytest.approx(1 / 3), 3)
    assert mine.overturned.low < 1 / 3 < mine.overturned.high
    assert (theirs.decisions, theirs.overturned.value, theirs.audit_agreement.n) == (2, 0.0, 0)
    assert sorted([theirs.median_seconds, theirs.p90_seconds]) == [15.0, pytest.approx(19.0)]  # 10 s and 20 s


def test_queue_depth_and_oldest_age_per_hour_from_item_timestamps(ctx, people, clock):
    reviewer, admin = authenticate(ctx, people.reviewer), authenticate(ctx, people.admin)
    ingest.ingest(ctx, SYSTEM, "fraud", [uncertain(i) for i in range(3)])  # three items at 10:00
    claim_and_decide(ctx, clock, reviewer, "legit", 30)  # one closed at 10:00:30
    clock.current = T0 + timedelta(minutes=90)
    claim_and_decide(ctx, clock, reviewer, "legit", 0)  # one closed at 11:30
    clock.current = T0 + timedelta(hours=3)  # now 13:00, one still open

    health = operations.queue_health(ctx, admin, "fraud", 1, "hour")
    assert health.queues[0] == "fraud" and health.step == "hour"
    fraud = {p.at: (p.open, p.oldest_age_seconds) for p in health.points if p.queue == "fraud"}
    assert len(fraud) == 24 and max(fraud) == T0 + timedelta(hours=3)
    assert fraud[T0 - timedelta(hours=1)] == (0, None)
    assert fraud[T0] == (3, 0.0)
    assert fraud[T0 + timedelta(hours=1)] == (2, 3600.0)
    assert fraud[T0 + timedelta(hours=2)] == (1, 7200.0)
    assert fraud[T0 + timedelta(hours=3)] == (1, 10800.0)
    # a reviewer reads only their own queues; bad windows name the field
    assert set(operations.queue_health(ctx, authenticate(ctx, people.outsider), "fraud", 1, "hour").queues) == set()
    with pytest.raises(ValidationFailed) as bad:
        operations.queue_health(ctx, admin, "fraud", 1, "minute")
    assert bad.value.field == "step"
    with pytest.raises(ValidationFailed) as bad:
        operations.queue_health(ctx, admin, "fraud", 400, "day")
    assert bad.value.field == "days"


def test_what_if_over_http_counts_recent_champion_traffic_and_names_bad_fields(ctx, as_):
    ingest.ingest(ctx, SYSTEM, "fraud", [uncertain(i) for i in range(4)] + [transaction(i) for i in range(6)])
    answer = as_("data_scientist").get("/v1/models/fraud/what-if",
                                       params={"review_low": 0.15, "review_high": 0.9, "days": 7})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["predictions"], body["labelled"], body["champion_version"]) == (10, 0, 1)
    # ten predictions within an hour are read as one hour's traffic: × 24 a day
    assert body["review_per_day"] == pytest.approx(4 * 24) and body["auto_pass_per_day"] == pytest.approx(6 * 24)
    assert body["recall"]["value"] is None and body["recall"]["n"] == 0  # no labels yet: no figure, n = 0
    assert len(body["curve"]) == 101 and body["curve"][0]["at_or_above_per_day"] == pytest.approx(240)
    assert body["current"]["source"] == "decorator"
    for params, field in (({"review_low": 0.95, "review_high": 0.9}, "review_low"),
                          ({"review_low": 0.1, "review_high": 2}, "review_high"),
                          ({"review_low": 0.1, "review_high": 0.9, "days": 0}, "days"),
                          ({"review_high": 0.9}, "review_low")):
        bad = as_("admin").get("/v1/models/fraud/what-if", params=params)
        assert bad.status_code == 422 and bad.json()["error"]["field"] == field, bad.text
    assert as_("reviewer").get("/v1/models/fraud/what-if",
                               params={"review_low": 0.1, "review_high": 0.9}).status_code == 403
    assert as_("admin").get("/v1/models/nope/what-if",
                            params={"review_low": 0.1, "review_high": 0.9}).status_code == 404


def test_what_if_weights_each_label_by_the_chance_it_was_gathered(ctx, people, live_api):
    """Two reviewed events (π = 1) and two auto-passed ones whose outcomes are seen a quarter of the time
    (π = 0.25: each stands for four): the missed positive counts four times over."""
    ingest.ingest(ctx, SYSTEM, "fraud", [uncertain(0), uncertain(1), transaction(0), transaction(1)])
    with Client(live_api, token=people.integration) as client:
        client.outcomes("fraud", [
            {"event_id": "o0", "external_id": "tx-u0", "label": "fraud"},
            {"event_id": "o1", "external_id": "tx-u1", "label": "legit"},
            {"event_id": "o2", "external_id": "tx-0", "label": "fraud", "observed_probability": 0.25},
            {"event_id": "o3", "external_id": "tx-1", "label": "legit", "observed_probability": 0.25}])
    scientist = authenticate(ctx, people.data_scientist)
    now = operations.what_if(ctx, scientist, "fraud", 0.15, 0.9, 7)
    assert now.labelled == 4
    assert (now.recall.value, now.recall.n) == (pytest.approx(1 / 5), 2)  # 1 caught of 1 + 4 weighted positives
    assert (now.missed.value, now.missed.n) == (pytest.approx(0.5), 2)
    assert now.precision.value is None and now.precision.n == 0  # nothing auto-flagged: no figure
    everything = operations.what_if(ctx, scientist, "fraud", 0.0, 0.9, 7)
    assert everything.recall.value == pytest.approx(1.0) and everything.auto_pass_per_day == 0.0


def test_every_kind_of_claim_records_when_it_began(ctx, people, clock):
    """Claim-next and a deep link's claim of one named item both stamp claimed_at (the start of a reviewer's
    time to decision)."""
    reviewer = authenticate(ctx, people.reviewer)
    first, second = ingest.ingest(ctx, SYSTEM, "fraud", [uncertain(0), uncertain(1)])
    clock.advance(5)
    next_one = queue.claim_next(ctx, reviewer, "fraud")
    assert next_one is not None
    decisions.decide(ctx, reviewer, next_one.id, "legit", next_one.lease_token)
    clock.advance(5)
    other = second.item_id if next_one.id == first.item_id else first.item_id
    assert other is not None
    queue.claim_item(ctx, reviewer, other)
    with ctx.engine.connect() as conn:
        stamped = dict(conn.execute(select(ReviewItem.id, ReviewItem.claimed_at)).all())
    assert stamped == {next_one.id: T0 + timedelta(seconds=5), other: T0 + timedelta(seconds=10)}


def test_four_eyes_votes_count_apart_and_agree_with_the_rounds_verdict(ctx, people, clock, monkeypatch):
    rule = rq.FourEyes(reviewers=2, above=("amount", 100))
    monkeypatch.setitem(ctx.registry.model("fraud").four_eyes, "fraud", rule)
    reviewer, reviewer2 = authenticate(ctx, people.reviewer), authenticate(ctx, people.reviewer2)
    ingest.ingest(ctx, SYSTEM, "fraud", [uncertain(0, amount=500.0)])
    first = queue.claim_next(ctx, reviewer, "fraud")
    assert first is not None
    assert decisions.decide(ctx, reviewer, first.id, "fraud", first.lease_token).decision_id is None  # a vote
    second = queue.claim_next(ctx, reviewer2, "fraud")
    assert second is not None and second.id == first.id
    clock.advance(15)
    assert decisions.decide(ctx, reviewer2, second.id, "fraud", second.lease_token).decision_id is not None

    stats = {r.reviewer: r for r in operations.reviewer_stats(ctx, authenticate(ctx, people.admin), "fraud", 1)
             .reviewers}
    voter, decider = stats["reviewer"], stats["reviewer2"]
    assert (voter.decisions, voter.votes, voter.vote_agreement.value, voter.vote_agreement.n) == (0, 1, 1.0, 1)
    assert (decider.decisions, decider.votes, decider.median_seconds) == (1, 0, 15.0)
