"""Authorization faults over HTTP against the real app: the wrong queue, the wrong role, somebody else's item
or lease, a lease that expired mid-review; and outbound webhooks aimed at loopback, private or metadata
addresses, refused by the webhook connector's SSRF guard in production mode."""

from __future__ import annotations

from sqlalchemy import func, select

from connectors.registry import build_connectors
from reviewqueue.db.tables import Decision, Label, OutboxAction, ReviewItem
from reviewqueue.services import outbox
from reviewqueue.settings import Settings
from tests.clock import FakeClock
from tests.factories import uncertain


def totals(ctx) -> dict[str, int]:
    with ctx.engine.connect() as conn:
        return {t.__name__: int(conn.execute(select(func.count()).select_from(t.__table__)).scalar_one())
                for t in (Decision, Label, OutboxAction)}


def item_row(ctx, item_id: int):
    with ctx.engine.connect() as conn:
        return conn.execute(select(ReviewItem.__table__).where(ReviewItem.__table__.c.id == item_id)).one()


def claimed_item(http, people) -> dict:
    r = http(people.integration).post("/v1/models/fraud/predictions", json={"events": [uncertain(1), uncertain(2)]})
    assert r.status_code == 200 and {p["route"] for p in r.json()["predictions"]} == {"review"}, r.text
    r = http(people.reviewer).post("/v1/queues/fraud/claim")
    assert r.status_code == 200, r.text
    return r.json()


def refused(response, *statuses: int) -> int:
    assert response.status_code in statuses, f"{response.request.method} {response.request.url.path}: " \
        f"HTTP {response.status_code} {response.text}"
    assert response.json()["error"]["message"], response.text
    return response.status_code


def test_reviewer_outside_the_queue_is_refused_everything_even_with_a_leaked_lease_token(ctx, people, http):
    """Injects: a reviewer of the 'clinical' queue acting on the 'fraud' queue: claim, list, read an item by id
    (IDOR), renew and decide with the holder's real lease token. Counts: status per call (403; 409 for renew),
    decisions/labels/actions (0), the holder's lease (unchanged)."""
    item = claimed_item(http, people)
    before, lease = totals(ctx), item_row(ctx, item["id"])
    outsider = http(people.outsider)
    url = f"/v1/items/{item['id']}"
    token = {"lease_token": item["lease_token"]}
    statuses = {
        "claim": refused(outsider.post("/v1/queues/fraud/claim"), 403),
        "list": refused(outsider.get("/v1/queues/fraud/items"), 403),
        "read by id": refused(outsider.get(url), 403),
        "renew": refused(outsider.post(f"{url}/renew", json=token), 403, 409),
        "decide": refused(outsider.post(f"{url}/decision", json={"verdict": "legit", **token}), 403),
    }
    assert "fraud" not in [q["queue"] for q in outsider.get("/v1/queues").json()]
    after = item_row(ctx, item["id"])
    assert (after.status, after.claimed_by, after.lease_token, after.lease_expires_at) == \
        (lease.status, lease.claimed_by, lease.lease_token, lease.lease_expires_at), "the holder's lease moved"
    assert totals(ctx) == before, f"statuses {statuses}; stored {totals(ctx)} (before {before})"


def test_integration_token_cannot_claim_read_decide_or_replay(ctx, people, http):
    """Injects: the business system's integration token used on reviewer and admin endpoints, with a real
    lease token. Counts: status per call (403 each), decisions/labels/actions (0)."""
    item = claimed_item(http, people)
    before = totals(ctx)
    system = http(people.integration)
    url = f"/v1/items/{item['id']}"
    statuses = {
        "claim": refused(system.post("/v1/queues/fraud/claim"), 403),
        "read by id": refused(system.get(url), 403),
        "decide": refused(system.post(f"{url}/decision", json={"verdict": "fraud",
                                                                 "lease_token": item["lease_token"]}), 403),
        "actions": refused(system.get("/v1/actions"), 403),
        "replay": refused(system.post("/v1/actions/anything/replay"), 403),
        "retrain": refused(system.post("/v1/models/fraud/retrain"), 403),
    }
    assert item_row(ctx, item["id"]).status == "claimed"
    assert totals(ctx) == before, f"statuses {statuses}; stored {totals(ctx)} (before {before})"


def test_another_reviewers_item_and_lease_are_out_of_reach(ctx, people, http):
    """Injects: reviewer2 (same queue) reading reviewer's claimed item by id, then renewing and deciding with
    reviewer's real lease token; a data scientist deciding. Counts: the lease token in reviewer2's view
    (hidden), statuses (409 lease_lost, 403), decisions (only the holder's: 1)."""
    item = claimed_item(http, people)
    other = http(people.reviewer2)
    url = f"/v1/items/{item['id']}"
    token = {"lease_token": item["lease_token"]}
    seen = other.get(url)
    assert seen.status_code == 200 and seen.json()["lease_token"] is None and not seen.json()["claimed_by_me"], \
        "another reviewer must not learn the holder's lease token"
    r = other.post(f"{url}/decision", json={"verdict": "legit", **token})
    assert refused(r, 409) and r.json()["error"]["type"] == "lease_lost", r.text
    refused(other.post(f"{url}/renew", json=token), 409)
    refused(http(people.data_scientist).post(f"{url}/decision", json={"verdict": "legit", **token}), 403)
    mine = other.post("/v1/queues/fraud/claim").json()
    assert mine["id"] != item["id"], "one holder at a time"
    assert totals(ctx)["Decision"] == 0
    ok = http(people.reviewer).post(f"{url}/decision", json={"verdict": "legit", **token})
    assert ok.status_code == 200, ok.text
    with ctx.engine.connect() as conn:
        actors = conn.execute(select(Decision.__table__.c.actor)).scalars().all()
    assert actors == ["reviewer"], actors


def test_a_lease_that_expires_mid_review_goes_back_and_the_late_decision_is_409(ctx, people, http):
    """Injects: the clock moved past the lease while reviewer reads the item. Counts: the item claimed again
    by reviewer2 (same id), statuses of the late renew and decision (409 lease_lost), decisions (1: reviewer2's)."""
    ctx.clock = clock = FakeClock()
    item = claimed_item(http, people)
    clock.advance(ctx.settings.lease_seconds + 1)
    second = http(people.reviewer2).post("/v1/queues/fraud/claim").json()
    assert second["id"] == item["id"], "the expired item is the best pending one again"
    late = http(people.reviewer)
    url = f"/v1/items/{item['id']}"
    for path, body in (("renew", {}), ("decision", {"verdict": "fraud"})):
        r = late.post(f"{url}/{path}", json={**body, "lease_token": item["lease_token"]})
        assert refused(r, 409) and r.json()["error"]["type"] == "lease_lost", r.text
    ok = http(people.reviewer2).post(f"{url}/decision", json={"verdict": "legit", "lease_token": second["lease_token"]})
    assert ok.status_code == 200, ok.text
    with ctx.engine.connect() as conn:
        rows = conn.execute(select(Decision.__table__.c.actor, Decision.__table__.c.verdict)).all()
    assert [tuple(r) for r in rows] == [("reviewer2", "legit")], rows


def ssrf_urls(port: int) -> list[str]:
    return [
        f"http://127.0.0.1:{port}/webhooks/shop",  # the live sink: a refusal must not reach it
        f"http://localhost:{port}/webhooks/shop",
        f"http://[::1]:{port}/webhooks/shop",
        f"http://[::ffff:127.0.0.1]:{port}/webhooks/shop",
        f"http://127.1:{port}/webhooks/shop",
        f"http://2130706433:{port}/webhooks/shop",  # 127.0.0.1 as one decimal number
        f"http://0x7f000001:{port}/webhooks/shop",
        f"http://0177.0.0.1:{port}/webhooks/shop",
        f"http://0.0.0.0:{port}/webhooks/shop",
        "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
        "http://[fd00:ec2::254]/latest/meta-data/",
        "http://10.0.0.5/hook",
        "https://172.16.3.4/hook",
        "http://192.168.1.10/hook",
        "http://100.64.0.1/hook",
    ]


def run_dispatcher_once(ctx, settings: Settings, allow: set[str] | None = None) -> None:
    connectors = build_connectors(settings, allow_private_hosts=allow)
    dispatcher = outbox.Dispatcher(ctx, connectors, "ssrf-test")
    try:
        dispatcher.run_once()
    finally:
        dispatcher.close()
        for connector in connectors.values():
            connector.close()


def test_webhooks_to_loopback_private_and_metadata_addresses_are_refused_in_production(rig, people, http):
    """Injects: 15 outbound webhook URLs aiming at loopback (incl. decimal, hex, octal and IPv6-mapped
    spellings), private, CGNAT, ULA and cloud-metadata addresses, each through the outbox with production
    connectors. Counts: end state per action (dead after 1 attempt, 'non-public' in last_error), requests at
    the sink (0); then, replayed by an admin with 127.0.0.1 on the allow-list: deliveries (exactly 1)."""
    port = int(rig.sink.url.rsplit(":", 1)[1])
    secret = rig.sink.webhook_secret
    urls = ssrf_urls(port)
    outcomes: dict[str, tuple[str, int, str]] = {}
    action_of: dict[str, str] = {}
    for i, url in enumerate(urls):
        [event] = rig.ingest_legit(people.integration, 1, offset=800 + i)
        [action] = [a for a in rig.actions() if a.payload["external_id"] == event["external_id"]]
        action_of[url] = action.id
        prod = Settings(environment="prod", database_url=rig.ctx.settings.database_url, webhook_url=url,
                        webhook_secret=secret)
        run_dispatcher_once(rig.ctx, prod)
        [after] = [a for a in rig.actions() if a.id == action.id]
        outcomes[url] = (after.status, after.attempts, after.last_error or "")
    wrong = {u: o for u, o in outcomes.items() if o[:2] != ("dead", 1) or "non-public" not in o[2]}
    assert not wrong, f"{len(wrong)} of {len(urls)} URLs were not refused by the SSRF guard: {wrong}"
    assert rig.sink.webhook_attempts == [], "a refused webhook reached the loopback sink"

    # the test-only allow-list: an admin replays the 127.0.0.1 one, which now gets through exactly once;
    # the allow-listed *address* does not exempt a *name* that resolves to it ('localhost' stays refused)
    admin = http(people.admin)
    for url, want in ((urls[0], "done"), (urls[1], "dead")):
        assert admin.post(f"/v1/actions/{action_of[url]}/replay").status_code == 200
        prod = Settings(environment="prod", database_url=rig.ctx.settings.database_url, webhook_url=url,
                        webhook_secret=secret)
        run_dispatcher_once(rig.ctx, prod, allow={"127.0.0.1"})
        [after] = [a for a in rig.actions() if a.id == action_of[url]]
        assert after.status == want, f"{url} with allow-list {{'127.0.0.1'}}: {after.status} {after.last_error}"
    assert [h["webhook_id"] for h in rig.sink.webhooks] == [action_of[urls[0]]]
    assert len(rig.sink.webhook_attempts) == 1, rig.sink.webhook_attempts


def test_metadata_address_is_refused_even_outside_production(rig, people):
    """Injects: a webhook aimed at 169.254.169.254 with test-mode connectors (whose default allow-list is
    loopback only). Counts: end state (dead, 1 attempt)."""
    [event] = rig.ingest_legit(people.integration, 1, offset=900)
    settings = Settings(**{**rig.base, "webhook_url": "http://169.254.169.254/latest/meta-data/"})
    run_dispatcher_once(rig.ctx, settings)
    [action] = rig.actions()
    assert (action.status, action.attempts) == ("dead", 1) and "non-public" in action.last_error, action.last_error


def test_read_endpoints_answer_only_the_roles_the_table_grants(ctx, people, http):
    """Injects: every role's token on every model read endpoint. Counts: the status per role and endpoint —
    an integration token reads the model list (the schema it must send) but no versions, runs or quality;
    a reviewer reads none of them; /v1/me tells each what its UI may show."""
    endpoints = ["/v1/models", "/v1/models/fraud/versions", "/v1/models/fraud/runs",
                 "/v1/models/fraud/versions/1/quality"]
    expected = {
        "admin": [200, 200, 200, 200], "data_scientist": [200, 200, 200, 200],
        "integration": [200, 403, 403, 403], "reviewer": [403, 403, 403, 403],
    }
    seen = {who: [http(getattr(people, who)).get(url).status_code for url in endpoints] for who in expected}
    assert seen == expected
    pages = {who: http(getattr(people, who)).get("/v1/me").json()["pages"] for who in expected}
    assert pages == {"admin": ["queues", "triage", "actions", "models", "monitor", "audit"],
                     "data_scientist": ["queues", "actions", "models", "monitor"], "integration": ["queues"],
                     "reviewer": ["queues", "triage", "actions"]}
    review = {who: http(getattr(people, who)).get("/v1/me").json()["review_queues"] for who in expected}
    assert review == {"admin": ["fraud", "fraud-senior"], "data_scientist": [], "integration": [],
                      "reviewer": ["fraud"]}
    body = http(people.reviewer).get("/v1/models/fraud/versions").json()["error"]
    assert body == {"type": "forbidden", "message": "versions.read: role 'reviewer' may not do this", "field": None}
