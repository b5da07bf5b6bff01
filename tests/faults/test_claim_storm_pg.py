"""50 reviewers claiming from 10,000 items at once on PostgreSQL, some walking away mid-review.

Each claimer runs the one claim statement (``item_queries.claim_next_item``, FOR UPDATE SKIP LOCKED) on its own
connection until the queue is drained; a sweeper runs ``release_expired_item_leases`` as the worker's job
does. Every 25th item's first holder walks away and its lease is made to run out mid-review: the sweeper gives
the item back, someone else claims it and decides it (close-from-lease). Afterwards each walked-away holder
tries its late decision (20 over HTTP): all refused. Other items stay held: the claims are what is counted.

The claimers' connections skip pre-ping and commit with ``synchronous_commit = off`` (durability on a crash
is not under test; visibility and locking are unchanged) and run each claim statement in autocommit (it
is a single statement), so 10,000+ claims fit the suite's time budget.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import create_engine, event, func, insert, select, update

from reviewqueue.db import items as item_queries
from reviewqueue.db.tables import ModelVersion, Prediction, ReviewItem
from reviewqueue.domain.states import Role
from reviewqueue.services import auth

pytestmark = pytest.mark.postgres_only

N_ITEMS, N_CLAIMERS, WALK_AWAY_EVERY = 10_000, 50, 25
N_WALKED = N_ITEMS // WALK_AWAY_EVERY
items = ReviewItem.__table__  # type: ignore[attr-defined]


def seed(ctx, n: int) -> None:
    now = datetime.now(UTC) - timedelta(minutes=5)
    with ctx.engine.begin() as conn:
        version_id = conn.execute(select(ModelVersion.__table__.c.id)).scalar_one()
        ids = conn.execute(insert(Prediction.__table__).returning(Prediction.__table__.c.id,
                                                                   sort_by_parameter_order=True), [
            {"model_name": "fraud", "external_id": f"storm-{i}", "version_id": version_id, "score": 0.5,
             "route": "review", "audited": False, "features": {}, "context": {}, "created_at": now}
            for i in range(n)
        ]).scalars().all()
        conn.execute(insert(items), [
            {"prediction_id": pid, "queue": "fraud", "kind": "review", "priority": float(i % 97),
             "status": "pending", "created_at": now + timedelta(microseconds=i)} for i, pid in enumerate(ids)
        ])


def claimer_engine(url: str):
    """One statement per claim: autocommit saves BEGIN/COMMIT round trips (the claim is one statement)."""
    engine = create_engine(url, pool_size=N_CLAIMERS + 1, max_overflow=0, isolation_level="AUTOCOMMIT")

    @event.listens_for(engine, "connect")
    def _fast_commit(dbapi_conn, _record) -> None:
        with dbapi_conn.cursor() as cur:
            cur.execute("SET synchronous_commit = off")
        dbapi_conn.commit()

    return engine


def test_fifty_claimers_on_ten_thousand_items_no_double_claim_none_lost(ctx, live_api):
    """Injects: 50 concurrent claimers on 10,000 items; 400 holders (every 25th item's first) walk away and
    their leases expire mid-review. Counts: claims per item (1, or 2 when walked away from: never a second
    holder of a live lease), items never claimed (0), walked-away items decided by their second holder
    (exactly once each), late decisions accepted (0; 20 of them over HTTP, each 409)."""
    seed(ctx, N_ITEMS)
    claimers = []
    for i in range(N_CLAIMERS):
        pid = auth.create_principal(ctx, f"storm{i}", Role.REVIEWER, ["fraud"])
        claimers.append((pid, auth.issue_token(ctx, pid, label="storm")))
    engine = claimer_engine(ctx.settings.database_url)
    lock = threading.Lock()
    claims: list[tuple[int, int]] = []  # (item, claimer)
    closes: Counter[int] = Counter()
    walked: dict[int, tuple[int, str, str]] = {}  # item → (principal, api token, lease token) of who walked
    errors: list[BaseException] = []
    finished = threading.Event()
    start = threading.Barrier(N_CLAIMERS + 1)
    deadline = time.monotonic() + 120

    def claimer(principal: int, api_token: str) -> None:
        start.wait()
        try:
            while not finished.is_set() and time.monotonic() < deadline:
                token = secrets.token_hex(8)
                with engine.connect() as conn:
                    row = item_queries.claim_next_item(conn, ["fraud"], principal, token, datetime.now(UTC), 300)
                if row is None:
                    finished.wait(0.05)  # dry until walked-away leases are swept back: poll, under a deadline
                    continue
                with lock:
                    claims.append((row.id, principal))
                    second_holder = row.id in walked
                    walk = row.id % WALK_AWAY_EVERY == 0 and not second_holder
                    if walk:
                        walked[row.id] = (principal, api_token, token)
                if walk:  # mid-review, this lease runs out (its expiry moves into the past)
                    with engine.begin() as conn:
                        conn.execute(update(items).where(items.c.id == row.id, items.c.lease_token == token)
                                     .values(lease_expires_at=datetime.now(UTC) - timedelta(seconds=1)))
                elif second_holder:
                    with engine.begin() as conn:
                        closed = item_queries.close_item_with_lease(conn, row.id, principal, token, datetime.now(UTC))
                    with lock:
                        closes[row.id] += int(closed)
                with lock:
                    if len(claims) >= N_ITEMS + N_WALKED and sum(closes.values()) >= N_WALKED:
                        finished.set()
        except BaseException as exc:  # surfaced below
            errors.append(exc)
            finished.set()

    def sweeper() -> None:
        start.wait()
        while not finished.wait(0.1) and time.monotonic() < deadline:
            with engine.begin() as conn:
                item_queries.release_expired_item_leases(conn, datetime.now(UTC))

    threads = [threading.Thread(target=claimer, args=c, name=f"claimer-{i}") for i, c in enumerate(claimers)]
    threads.append(threading.Thread(target=sweeper, name="sweeper"))
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(150)
    elapsed = time.monotonic() - started
    assert not errors, f"{len(errors)} claimer errors, first: {errors[0]!r}"

    per_item = Counter(item for item, _ in claims)
    wrong = {i: n for i, n in per_item.items() if n != (2 if i in walked else 1)}
    with engine.connect() as conn:
        left = dict(conn.execute(select(items.c.status, func.count()).group_by(items.c.status)).all())
    summary = (f"{N_CLAIMERS} claimers, {len(claims)} claims in {elapsed:.1f}s over {len(per_item)} items; "
               f"{len(walked)} walked away; statuses now {left}")
    assert not wrong, f"{len(wrong)} items claimed more often than their leases allowed: {list(wrong.items())[:5]}; " \
        + summary
    assert len(per_item) == N_ITEMS, f"{N_ITEMS - len(per_item)} items never claimed (lost); " + summary
    assert len(walked) == N_WALKED and set(closes) == set(walked) and set(closes.values()) == {1}, \
        f"walked-away items decided once each by their second holder: {len(closes)} of {len(walked)}; " + summary
    assert left == {"claimed": N_ITEMS - N_WALKED, "decided": N_WALKED}, summary

    # the walked-away holders come back: 20 over HTTP (409), the rest at the statement (refused)
    late = list(walked.items())
    for item_id, (_, api_token, lease_token) in late[:20]:
        r = httpx.post(f"{live_api}/v1/items/{item_id}/decision", timeout=10,
                       json={"verdict": "legit", "lease_token": lease_token},
                       headers={"Authorization": f"Bearer {api_token}"})
        assert r.status_code == 409, f"late decision on item {item_id}: HTTP {r.status_code} {r.text}"
    with engine.begin() as conn:
        accepted = [item_queries.close_item_with_lease(conn, i, p, tok, datetime.now(UTC))
                    for i, (p, _, tok) in late[20:]]
    assert not any(accepted), f"{sum(accepted)} late decisions from expired leases were accepted"
    engine.dispose()
