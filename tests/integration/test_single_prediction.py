"""The single-prediction path near the runtime (issue 12 point 5) keeps every invariant of ingest: one prediction
per external id under concurrent duplicate posts, one commit per request, the version recorded, a promotion made
through another engine (another process's view: its own pool and caches) obeyed by the very next request, and
revocation within its documented bound (at once when written by this process, TOKEN_CACHE_SECONDS otherwise)."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import event, func, select, update

from reviewqueue.db.engine import make_engine
from reviewqueue.db.tables import ApiToken, Decision, ModelVersion, OutboxAction, Prediction, ReviewItem
from reviewqueue.domain.states import Role
from reviewqueue.domain.ttl_cache import TtlCache
from reviewqueue.errors import Unauthorized
from reviewqueue.services import auth, identity, ingest, versions
from reviewqueue.services.auth import Actor
from reviewqueue.services.context import TOKEN_CACHE_SECONDS, AppContext
from tests.factories import install_version, transaction, uncertain

SYSTEM = Actor(id=0, name="system", role=Role.INTEGRATION, queues=())
ADMIN = Actor(id=0, name="root", role=Role.ADMIN, queues=())


def count(ctx: AppContext, table, **where) -> int:
    t = table.__table__
    with ctx.engine.connect() as conn:
        query = select(func.count()).select_from(t)
        for column, value in where.items():
            query = query.where(t.c[column] == value)
        return int(conn.execute(query).scalar_one())


def commits_during(ctx: AppContext, fn) -> int:
    """How many transactions ``fn`` committed on ctx's engine: COMMITs, and each write statement the driver ran
    in autocommit that wrote rows (on PostgreSQL a single event's whole write is one such statement,
    db.single_write; a duplicate's writes nothing and answers by the exact path, one transaction)."""
    seen: list[int] = []

    def on_commit(_conn) -> None:
        seen.append(1)

    def on_execute(conn, cursor, statement, *_args) -> None:
        autocommit = conn.dialect.name == "postgresql" and conn.connection.driver_connection.autocommit
        if autocommit and statement.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE", "WITH")) \
                and cursor.rowcount > 0:
            seen.append(1)

    event.listen(ctx.engine, "commit", on_commit)
    event.listen(ctx.engine, "after_cursor_execute", on_execute)
    try:
        fn()
    finally:
        event.remove(ctx.engine, "commit", on_commit)
        event.remove(ctx.engine, "after_cursor_execute", on_execute)
    return len(seen)


@pytest.mark.parametrize("make", [transaction, uncertain], ids=["auto-decided", "review item"])
def test_threads_posting_the_same_event_get_one_prediction(ctx, make):
    threads, start = 8, threading.Barrier(8)
    answers: list = [None] * threads
    errors: list[BaseException] = []

    def post(i: int) -> None:
        start.wait()
        try:
            answers[i] = ingest.ingest(ctx, SYSTEM, "fraud", [make(7)])[0]
        except BaseException as exc:  # surfaced below with the others
            errors.append(exc)

    workers = [threading.Thread(target=post, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert errors == []
    assert len({a.prediction_id for a in answers}) == 1
    assert sorted(a.duplicate for a in answers) == [False] + [True] * (threads - 1)
    assert len({(a.score, a.route, a.item_id, a.model_version) for a in answers}) == 1
    assert count(ctx, Prediction) == 1
    if make is uncertain:
        assert (count(ctx, ReviewItem), count(ctx, Decision)) == (1, 0)
    else:  # one automatic decision and its one webhook action, not eight
        assert (count(ctx, Decision), count(ctx, OutboxAction)) == (1, 1)


def test_one_commit_per_request_fresh_or_duplicate_and_the_version_recorded(ctx):
    first: list = []
    assert commits_during(ctx, lambda: first.extend(ingest.ingest(ctx, SYSTEM, "fraud", [transaction(1)]))) == 1
    again: list = []
    assert commits_during(ctx, lambda: again.extend(ingest.ingest(ctx, SYSTEM, "fraud", [transaction(1)]))) == 1
    assert (again[0].duplicate, again[0].prediction_id, again[0].model_version) == (True, first[0].prediction_id, 1)
    with ctx.engine.connect() as conn:
        recorded = conn.execute(select(ModelVersion.version).join(Prediction, Prediction.version_id == ModelVersion.id)
                                ).scalars().all()
    assert recorded == [1]


def test_a_promotion_through_another_engine_serves_the_next_request(ctx, trained_fraud):
    install_version(ctx, {**trained_fraud, "version": 2, "status": "rejected", "promoted_at": None})
    assert ingest.ingest(ctx, SYSTEM, "fraud", [transaction(1)])[0].model_version == 1  # v1 now cached here
    other = AppContext(settings=ctx.settings, engine=make_engine(ctx.settings.database_url), registry=ctx.registry)
    try:
        versions.promote(other, ADMIN, "fraud", 2, reason="another process promotes")
        after = ingest.ingest(ctx, SYSTEM, "fraud", [transaction(2)])[0]
        assert (after.model_version, after.duplicate) == (2, False)
        with ctx.engine.connect() as conn:
            stored = conn.execute(select(ModelVersion.version)
                                  .join(Prediction, Prediction.version_id == ModelVersion.id)
                                  .where(Prediction.external_id == "tx-2")).scalar_one()
        assert stored == 2
        # and back: a rollback elsewhere is obeyed just the same
        versions.rollback(other, ADMIN, "fraud", reason="and back")
        assert ingest.ingest(ctx, SYSTEM, "fraud", [transaction(3)])[0].model_version == 1
    finally:
        other.engine.dispose()


@pytest.fixture
def token_and_clock(ctx):
    """An integration token, and ctx's token cache on a clock the test moves."""
    principal = auth.create_principal(ctx, "shop", Role.INTEGRATION)
    now = [0.0]
    ctx.token_holders = TtlCache(TOKEN_CACHE_SECONDS, clock=lambda: now[0])
    return auth.issue_token(ctx, principal, label="test"), now


def test_a_revocation_by_this_process_is_obeyed_at_once(ctx, token_and_clock):
    token, _ = token_and_clock
    assert auth.authenticate(ctx, token).name == "shop"  # cached from here on
    auth.revoke_token(ctx, token)
    with pytest.raises(Unauthorized):
        auth.authenticate(ctx, token)


def test_disabling_the_principal_here_is_obeyed_at_once(ctx, token_and_clock):
    token, _ = token_and_clock
    assert auth.authenticate(ctx, token).name == "shop"
    identity.set_disabled(ctx, ADMIN, "shop", True)
    with pytest.raises(Unauthorized):
        auth.authenticate(ctx, token)


def test_a_revocation_by_another_process_is_obeyed_within_the_cache_bound(ctx, token_and_clock):
    token, now = token_and_clock
    assert auth.authenticate(ctx, token).name == "shop"
    other = make_engine(ctx.settings.database_url)  # another process: its write does not reach this cache
    try:
        with other.begin() as conn:
            conn.execute(update(ApiToken.__table__).values(revoked=True))  # type: ignore[attr-defined]
    finally:
        other.dispose()
    now[0] += TOKEN_CACHE_SECONDS - 0.5
    assert auth.authenticate(ctx, token).name == "shop"  # still inside the documented bound
    now[0] += 0.5
    with pytest.raises(Unauthorized):
        auth.authenticate(ctx, token)


def test_expiry_is_checked_on_every_request_even_when_cached(ctx):
    principal = auth.create_principal(ctx, "shop", Role.INTEGRATION)
    token = auth.issue_token(ctx, principal, label="test", ttl_hours=1)
    start = ctx.now()
    assert auth.authenticate(ctx, token).name == "shop"
    ctx.clock = lambda: start + timedelta(hours=1, seconds=1)
    with pytest.raises(Unauthorized):
        auth.authenticate(ctx, token)
