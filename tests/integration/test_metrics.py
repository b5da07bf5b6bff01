"""Prometheus metrics, scraped over HTTP from the real API (GET /metrics) and the worker's port: the counters move
by exactly what the test did, and the outbox gauges are the database's counts."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
from collections import Counter

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select

from reviewqueue import metrics
from reviewqueue.api.serve import multiprocess_metrics_dir
from reviewqueue.db.tables import OutboxAction
from reviewqueue.errors import PermanentDeliveryError, RetryableDeliveryError
from reviewqueue.services import decisions, ingest, queue
from reviewqueue.services.auth import authenticate
from reviewqueue.testing import RecordingConnector
from reviewqueue.worker import Worker
from reviewqueue_dev.sandbox import wait_until
from tests.clock import past_undo_window
from tests.factories import make_settings, transaction, uncertain

TOKEN = "scrape-me-please"
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture
def settings(database_url, tmp_path):
    return make_settings(database_url, tmp_path, metrics_token=TOKEN)


def parse(body: str) -> Samples:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(body) for s in family.samples}


def scrape(url: str, token: str | None = TOKEN) -> Samples:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    r = httpx.get(url, headers=headers, timeout=10)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    return parse(r.text)


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def delta(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


def db_counts(ctx) -> dict[str, int]:
    with ctx.engine.connect() as conn:
        return dict(conn.execute(select(OutboxAction.status, func.count()).group_by(OutboxAction.status)).all())


def test_api_metrics_count_what_the_requests_did(ctx, people, live_api, as_):
    url = f"{live_api}/metrics"
    spec = ctx.registry.model("fraud")
    verdict_of = {"auto_flag": spec.positive_verdict, "auto_pass": spec.negative_verdict}
    before = scrape(url)

    events = [transaction(i, risky=(i % 3 == 0)) for i in range(30)] + [uncertain(i) for i in range(3)]
    integration, reviewer = as_("integration"), as_("reviewer")
    answer = integration.post("/v1/models/fraud/predictions", json={"events": events})
    assert answer.status_code == 200, answer.text
    routes = Counter(p["route"] for p in answer.json()["predictions"])
    again = integration.post("/v1/models/fraud/predictions", json={"events": events[:5]})  # duplicates: not counted
    assert again.status_code == 200 and all(p["duplicate"] for p in again.json()["predictions"])

    decided: Counter[str] = Counter()
    claimed = 0
    for n in range(100):
        c = reviewer.post("/v1/queues/fraud/claim")
        if c.status_code == 204:
            break
        assert c.status_code == 200, c.text
        claimed += 1
        item = c.json()
        verdict = spec.negative_verdict if n % 2 else spec.positive_verdict
        d = reviewer.post(f"/v1/items/{item['id']}/decision", json={"verdict": verdict,
                                                                   "lease_token": item["lease_token"]})
        assert d.status_code == 200, d.text
        if d.json()["decision_id"] is not None:
            decided[verdict] += 1
    assert claimed >= 3 and sum(decided.values()) >= 1

    after = scrape(url)
    for route, n in routes.items():
        assert delta(before, after, "reviewqueue_predictions_total", model="fraud", route=route) == n
    for route, verdict in verdict_of.items():
        assert delta(before, after, "reviewqueue_decisions_total", model="fraud", verdict=verdict,
                     source="automatic") == routes[route]
    for verdict in (spec.positive_verdict, spec.negative_verdict):
        assert delta(before, after, "reviewqueue_decisions_total", model="fraud", verdict=verdict,
                     source="human") == decided[verdict]
    assert delta(before, after, "reviewqueue_claims_total", queue="fraud", outcome="item") == claimed
    assert delta(before, after, "reviewqueue_claims_total", queue="fraud", outcome="empty") == 1

    # latency by route template, never by raw path; the two ingests and the claims counted as answered
    timed = "reviewqueue_http_request_duration_seconds_count"
    assert delta(before, after, timed, route="/v1/models/{model}/predictions", method="POST", status="2xx") == 2
    assert delta(before, after, timed, route="/v1/queues/{queue_name}/claim", method="POST",
                 status="2xx") == claimed + 1
    assert delta(before, after, timed, route="/metrics", method="GET", status="2xx") == 1  # the first scrape
    assert not any("/v1/items/" in dict(labels).get("route", "") and "{" not in dict(labels)["route"]
                   for _, labels in after)

    counts = db_counts(ctx)
    assert sum(counts.values()) > 0
    for status in ("pending", "in_flight", "dead", "refused"):
        assert value(after, "reviewqueue_outbox_actions", status=status) == counts.get(status, 0), status


def test_metrics_need_the_metrics_token(ctx, people, live_api):
    url = f"{live_api}/metrics"
    assert httpx.get(url).status_code == 401
    assert httpx.get(url, headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert httpx.get(url, headers={"Authorization": f"Bearer {people.admin}"}).status_code == 401
    assert httpx.get(url, headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200


def test_metrics_are_off_without_a_token(ctx, people):
    from fastapi.testclient import TestClient

    from reviewqueue.api import create_app

    ctx.settings = ctx.settings.model_copy(update={"metrics_token": None})
    client = TestClient(create_app(ctx))
    assert client.get("/metrics", headers={"Authorization": f"Bearer {people.admin}"}).status_code == 404
    assert "/metrics" not in client.get("/openapi.json").json()["paths"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_worker_metrics_count_deliveries(ctx, people):
    port = free_port()
    ctx.settings = ctx.settings.model_copy(update={"worker_metrics_port": port})
    fakes = {name: RecordingConnector(name) for name in ("stripe_refund", "slack_message", "sql", "webhook")}
    fakes["webhook"].fail_next(1, RetryableDeliveryError("503 from receiver"))
    fakes["slack_message"].fail_next(1, PermanentDeliveryError("channel_not_found"))
    worker = Worker(ctx, fakes, scheduler=False)
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}/metrics"
    try:
        before = wait_until(lambda: _try_scrape(url), timeout=10, what="the worker's metrics endpoint")
        ingest.ingest(ctx, authenticate(ctx, people.integration), "fraud", [uncertain(0)])
        reviewer = authenticate(ctx, people.reviewer)
        item = queue.claim_next(ctx, reviewer, "fraud")
        assert item is not None
        action_ids = decisions.decide(ctx, reviewer, item.id, "fraud", item.lease_token).action_ids
        assert len(action_ids) == 4
        clock = past_undo_window(ctx)  # the actions are due; each poll moves the clock on for the retry

        def ended() -> bool:
            clock.advance(0.25)
            return db_counts(ctx) == {"done": 3, "dead": 1}

        wait_until(ended, timeout=20, what="every action ended")
        after = scrape(url, token=None)
    finally:
        worker.stop()
        thread.join(10)

    deliveries = "reviewqueue_outbox_deliveries_total"
    for connector in ("stripe_refund", "sql", "webhook"):
        assert delta(before, after, deliveries, connector=connector, outcome="delivered") == 1
        assert delta(before, after, "reviewqueue_outbox_delivery_latency_seconds_count", connector=connector) == 1
    assert delta(before, after, deliveries, connector="webhook", outcome="failed") == 1
    assert delta(before, after, deliveries, connector="slack_message", outcome="dead") == 1
    assert delta(before, after, deliveries, connector="slack_message", outcome="delivered") == 0
    assert delta(before, after, "reviewqueue_outbox_lease_batch_size_sum") == 5  # 4 actions + the webhook's retry
    assert not thread.is_alive()
    with pytest.raises(httpx.TransportError):  # the worker closed its metrics server on the way out
        httpx.get(url, timeout=2)


def _try_scrape(url: str) -> Samples | None:
    try:
        return scrape(url, token=None)
    except httpx.TransportError:
        return None


CHILD = """
from reviewqueue import metrics
metrics.CLAIMS.labels("mp", "item").inc({n})
"""


def test_several_api_processes_are_summed_in_multiprocess_mode(tmp_path, monkeypatch):
    """api/serve.py points PROMETHEUS_MULTIPROC_DIR at a fresh folder before spawning workers; whichever worker
    is scraped answers the sum over all of them."""
    monkeypatch.setenv(metrics.MULTIPROC_ENV, "")  # unset for the code under test, restored afterwards
    folder = multiprocess_metrics_dir()
    assert folder is not None
    try:
        env = dict(os.environ)
        assert env[metrics.MULTIPROC_ENV] == folder
        assert multiprocess_metrics_dir() is None, "a folder already set is kept"
        for n in (2, 3):
            subprocess.run([sys.executable, "-c", CHILD.format(n=n)], env=env, check=True, timeout=60)
        samples = parse(metrics.render().decode())
        assert value(samples, "reviewqueue_claims_total", queue="mp", outcome="item") == 5
    finally:
        shutil.rmtree(folder, ignore_errors=True)
