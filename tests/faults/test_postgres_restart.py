"""PostgreSQL stopped and started again under load: reviewers deciding over HTTP, a worker delivering.

While the database is down the API answers 503 with a JSON error body (never a 500); the API and the worker
recover by themselves (same processes); no committed decision or action is lost, and no effect doubles.

This stops the whole local cluster (every database on 127.0.0.1:5432) for a few seconds.
"""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from reviewqueue.db.tables import Decision, OutboxAction
from reviewqueue_dev.sandbox import wait_until

pytestmark = pytest.mark.postgres_only

N_ITEMS = 16


def cluster(action: str) -> None:
    version = sorted(p.name for p in Path("/etc/postgresql").iterdir())[0]
    subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", action],
                   check=True, capture_output=True, timeout=60)


def pg_ready() -> bool:
    probe = subprocess.run(["pg_isready", "-q", "-h", "127.0.0.1", "-p", "5432"], timeout=10, check=False)
    return probe.returncode == 0


@pytest.fixture
def restartable_postgres():
    """Hands out stop/start; whatever happens in the test, PostgreSQL is running again afterwards."""
    assert shutil.which("pg_ctlcluster") and pg_ready(), "needs the local PostgreSQL cluster, running"
    try:
        yield cluster
    finally:
        if not pg_ready():
            cluster("start")
        wait_until(pg_ready, timeout=60, what="PostgreSQL to accept connections again")


class Reviewer(threading.Thread):
    """Claims and decides 'fraud' over HTTP until ``n_items`` are decided; retries a decision whose answer was
    a 503 with the same lease (a 409 already_decided then means the first try had committed; a 409 lease_lost,
    that the outage outlasted the lease and the item went back to the queue).

    A claim answered 503 may have committed (claim_next commits, then reads the item view): that item stays
    leased to this reviewer, unseen, until its lease ends; the test's short lease brings it back.
    """

    def __init__(self, api_url: str, token: str, n_items: int) -> None:
        self.n_items = n_items
        super().__init__(name="reviewer-load", daemon=True)
        self.http = httpx.Client(base_url=api_url, headers={"Authorization": f"Bearer {token}"}, timeout=10)
        self.statuses: Counter[int] = Counter()
        self.bad: list[str] = []  # responses that are neither success, 409 nor a JSON 503
        self.acknowledged: dict[int, int] = {}  # item → decision id, answered 200
        self.committed_unacknowledged: list[int] = []  # items whose retry said already_decided
        self.leases_lost = 0
        self.stop = threading.Event()
        self.deadline = time.monotonic() + 120

    def call(self, method: str, path: str, **kwargs) -> httpx.Response | None:
        try:
            r = self.http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            self.bad.append(f"{method} {path}: {exc!r}")
            return None
        self.statuses[r.status_code] += 1
        if r.status_code >= 500 and not (r.status_code == 503 and r.json().get("error", {}).get("message")):
            self.bad.append(f"{method} {path}: HTTP {r.status_code} {r.text[:200]}")
        return r

    def run(self) -> None:
        try:
            while not self.stop.is_set() and time.monotonic() < self.deadline:
                if len(self.acknowledged) + len(self.committed_unacknowledged) >= self.n_items:
                    return
                claim = self.call("POST", "/v1/queues/fraud/claim")
                if claim is None or claim.status_code in (204, 503):
                    self.stop.wait(0.1)  # down, or only leases orphaned by lost answers are left: poll
                    continue
                item = claim.json()
                self.decide(item["id"], item["lease_token"])
        finally:
            self.http.close()

    def decide(self, item_id: int, lease_token: str) -> None:
        body = {"verdict": "fraud", "lease_token": lease_token}
        retried = False
        while time.monotonic() < self.deadline:
            r = self.call("POST", f"/v1/items/{item_id}/decision", json=body)
            if r is not None and r.status_code == 200:
                self.acknowledged[item_id] = r.json()["decision_id"]
                return
            if r is not None and r.status_code == 409:
                kind = r.json()["error"]["type"]
                if retried and kind == "already_decided":
                    self.committed_unacknowledged.append(item_id)
                elif retried and kind == "lease_lost":
                    self.leases_lost += 1  # the outage outlasted the lease: the item is back in the queue
                else:
                    self.bad.append(f"decision on {item_id}: {r.text[:200]}")
                return
            retried = True
            self.stop.wait(0.05)


def counts(ctx) -> dict[str, int]:
    with ctx.engine.connect() as conn:
        return {"decisions": int(conn.execute(select(func.count()).select_from(Decision.__table__)).scalar_one()),
                "actions": int(conn.execute(select(func.count()).select_from(OutboxAction.__table__)).scalar_one())}


def test_postgres_restart_under_load_answers_503_then_recovers_and_loses_nothing(rig, people, restartable_postgres):
    """Injects: a fast shutdown of PostgreSQL while a reviewer decides over HTTP and a worker delivers, about
    3 s of downtime, then a start. Counts: HTTP statuses seen (no 500; 503s with JSON bodies while down),
    decisions and actions committed before the stop vs after recovery, acknowledged decisions found in the
    database, actions per decision (4), effects at the peers (refunds, verified webhooks, bans: once each)."""
    rig.ctx.settings.lease_seconds = 10  # a claim whose answer was lost comes back within the test
    events = rig.ingest_for_review(people.integration, N_ITEMS, offset=1000)
    worker = rig.start_worker("worker", outbox_visibility_seconds=3, worker_concurrency=2, outbox_batch_size=4)
    wait_until(lambda: "worker started" in worker.log_tail(5), timeout=60, what="the worker to start")
    load = Reviewer(rig.api_url, people.reviewer, N_ITEMS)
    load.start()
    wait_until(lambda: len(load.acknowledged) >= 4, timeout=60, what="4 decisions before the fault")
    before = counts(rig.ctx)

    restartable_postgres("stop")
    down_answers = {}
    with httpx.Client(base_url=rig.api_url, headers={"Authorization": f"Bearer {people.admin}"}, timeout=10) as api:
        for method, path, body in (("GET", "/healthz", None), ("GET", "/v1/queues", None),
                                   ("POST", "/v1/queues/fraud/claim", None), ("GET", "/v1/actions/counts", None),
                                   ("POST", "/v1/models/fraud/predictions", {"events": [events[0]]})):
            r = api.request(method, path, json=body)
            down_answers[path] = r.status_code
            assert r.status_code == 503, f"{method} {path} while PostgreSQL is down: {r.status_code} {r.text}"
            assert r.json()["error"]["type"] and r.json()["error"]["message"], r.text
        wait_until(lambda: load.statuses[503] >= 3, timeout=20, what="the load to meet the outage")
        restartable_postgres("start")
        wait_until(lambda: api.get("/healthz").status_code == 200, timeout=60, what="the API to recover by itself")

    load.join(120)
    assert not load.is_alive(), "the reviewer load did not finish"
    rig.wait_settled(4 * N_ITEMS, timeout=90)
    after = counts(rig.ctx)
    assert worker.alive, f"the worker died during the outage:\n{worker.log_tail()}"
    assert "database unavailable" in worker.log_tail(400), "the worker met the outage (and lived)"
    assert not load.bad, f"answers other than 2xx/409/JSON-503: {load.bad[:5]}; statuses {dict(load.statuses)}"
    assert load.statuses[500] == 0, dict(load.statuses)

    with rig.ctx.engine.connect() as conn:
        decisions = {r.item_id: r.id for r in conn.execute(select(Decision.__table__))}
        per_decision = Counter(conn.execute(select(OutboxAction.__table__.c.decision_id)).scalars())
    lost = {i: d for i, d in load.acknowledged.items() if decisions.get(i) != d}
    assert not lost, f"acknowledged decisions missing after the restart: {lost}"
    assert set(decisions) == set(load.acknowledged) | set(load.committed_unacknowledged)
    assert len(decisions) == N_ITEMS and set(per_decision.values()) == {4}, per_decision
    assert after["decisions"] >= before["decisions"] and after["actions"] >= before["actions"]
    effects = rig.assert_flagged_effects_once(events, note="after a PostgreSQL restart: ")
    assert after == {"decisions": N_ITEMS, "actions": 4 * N_ITEMS}, (
        f"before the stop {before}, after recovery {after}; statuses {dict(load.statuses)}; "
        f"leases outlived by the outage {load.leases_lost}; "
        f"while down {down_answers}; effects {effects}")
