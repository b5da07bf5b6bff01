"""Identity over HTTP against the real app: reads scoped like writes, sign-in throttling and timing, sign-out
and token revocation, token expiry, disabling a principal, and the audit log of admin acts."""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx
import pytest

from reviewqueue.services import auth
from reviewqueue.services.outbox import Dispatcher
from tests.clock import FakeClock, past_undo_window
from tests.factories import uncertain


def decided_fraud_item(http, people) -> dict:
    """A fraud item decided 'fraud' by the fraud reviewer: four actions (refund, Slack, SQL, webhook)."""
    r = http(people.integration).post("/v1/models/fraud/predictions", json={"events": [uncertain(1)]})
    assert r.status_code == 200 and r.json()["predictions"][0]["route"] == "review", r.text
    item = http(people.reviewer).post("/v1/queues/fraud/claim").json()
    r = http(people.reviewer).post(f"/v1/items/{item['id']}/decision",
                                   json={"verdict": "fraud", "lease_token": item["lease_token"]})
    assert r.status_code == 200, r.text
    return r.json()


def test_a_reviewer_of_other_queues_reads_no_fraud_action_nor_its_counts(ctx, people, http):
    """A clinical reviewer lists, counts and opens actions: none of the fraud queue's (no charge id, no
    amount); the fraud reviewer and the admin see all four."""
    decided_fraud_item(http, people)
    admin, fraud, clinical = http(people.admin), http(people.reviewer), http(people.outsider)
    everything = admin.get("/v1/actions").json()
    assert len(everything) == 4 and all(a["decision_id"] for a in everything)
    assert [a["id"] for a in fraud.get("/v1/actions").json()] == [a["id"] for a in everything]
    assert fraud.get("/v1/actions/counts").json()["total"] == 4

    assert clinical.get("/v1/actions").json() == []
    assert clinical.get("/v1/actions", params={"status": "pending"}).json() == []
    assert clinical.get("/v1/actions", params={"status": "dead"}).json() == []
    assert clinical.get("/v1/actions", params={"decision_id": everything[0]["decision_id"]}).json() == []
    counts = clinical.get("/v1/actions/counts").json()
    assert (counts["total"], counts["pending"], counts["done"]) == (0, 0, 0)
    for action in everything:
        r = clinical.get(f"/v1/actions/{action['id']}")
        assert r.status_code == 404 and "ch_u1" not in r.text, r.text
    refund = next(a for a in everything if a["connector"] == "stripe_refund")
    assert admin.get(f"/v1/actions/{refund['id']}").json()["id"] == refund["id"]
    assert fraud.get(f"/v1/actions/{refund['id']}").status_code == 200


@pytest.fixture
def clock(ctx) -> FakeClock:
    ctx.clock = FakeClock()
    return ctx.clock


def sign_in(live_api: str, name: str, password: str) -> httpx.Response:
    return httpx.post(f"{live_api}/v1/sessions", json={"name": name, "password": password}, timeout=15)


def test_sign_in_is_throttled_per_name_with_retry_after_then_allowed_again(ctx, people, live_api, clock):
    """5 wrong passwords for 'reviewer' → the 6th attempt is 429 with Retry-After even with the right password;
    another name is unaffected; once the window has passed (clock moved) the right password works."""
    window = ctx.settings.sign_in_window_seconds
    for _ in range(ctx.settings.sign_in_failures_per_name):
        assert sign_in(live_api, "reviewer", "wrong").status_code == 401
    refused = sign_in(live_api, "reviewer", "reviewer-pw")
    assert refused.status_code == 429, refused.text
    assert 1 <= int(refused.headers["Retry-After"]) <= window
    assert refused.json()["error"]["type"] == "too_many_requests"
    assert sign_in(live_api, "admin", "admin-pw").status_code == 200
    clock.advance(window + 1)
    assert sign_in(live_api, "reviewer", "reviewer-pw").status_code == 200


def test_sign_in_is_throttled_per_client_address(ctx, people, live_api, clock):
    """Attempts from one address, each with a different (unknown) name, stop at the per-address limit."""
    ctx.settings = ctx.settings.model_copy(update={"sign_in_attempts_per_address": 4})
    statuses = [sign_in(live_api, f"nobody{i}", "x").status_code for i in range(4)]
    assert statuses == [401] * 4
    refused = sign_in(live_api, "admin", "admin-pw")
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    clock.advance(ctx.settings.sign_in_window_seconds + 1)
    assert sign_in(live_api, "admin", "admin-pw").status_code == 200


def test_an_unknown_name_costs_the_same_password_check_as_a_known_one(ctx, people, live_api, monkeypatch):
    """Refusals for an unknown name and for a wrong password look the same and each runs one scrypt
    verification (against a dummy hash for the unknown name), so timing does not reveal which names exist."""
    checked: list[str] = []
    real = auth.verify_password

    def counting(password: str, stored: str) -> bool:
        checked.append(stored)
        return real(password, stored)

    monkeypatch.setattr(auth, "verify_password", counting)
    unknown, wrong = sign_in(live_api, "no-such-person", "x"), sign_in(live_api, "reviewer", "x")
    assert unknown.status_code == wrong.status_code == 401
    assert unknown.json() == wrong.json()
    assert len(checked) == 2 and all(stored.startswith("scrypt$") for stored in checked)
    assert checked[0] != checked[1]  # the dummy hash, then the reviewer's own


def test_sign_out_revokes_the_session_token_at_once(ctx, people, live_api, http):
    token = sign_in(live_api, "reviewer", "reviewer-pw").json()["token"]
    me = http(token)
    assert me.get("/v1/me").status_code == 200
    assert me.delete("/v1/sessions").status_code == 204
    assert me.get("/v1/me").status_code == 401
    listed = http(people.reviewer).get("/v1/tokens").json()
    assert [t["state"] for t in listed if t["label"] == "sign-in"] == ["revoked"]
    assert all(t["revoked_at"] for t in listed if t["label"] == "sign-in")


def test_tokens_listed_issued_with_expiry_and_revoked(ctx, people, http, clock):
    """Your own tokens only (admins: all); new ones expire by default; no_expiry and others' tokens are admin
    acts; a revoked or expired token stops working; someone else's token id is not found for a reviewer."""
    reviewer, admin = http(people.reviewer), http(people.admin)
    assert {t["principal"] for t in reviewer.get("/v1/tokens").json()} == {"reviewer"}
    assert {t["principal"] for t in admin.get("/v1/tokens").json()} >= {"reviewer", "outsider", "admin"}
    assert reviewer.get("/v1/tokens", params={"principal": "admin"}).status_code == 403

    issued = reviewer.post("/v1/tokens", json={"label": "laptop"}).json()
    expires = datetime.fromisoformat(issued["info"]["expires_at"])
    assert abs(expires - (clock() + timedelta(days=ctx.settings.token_days))) < timedelta(seconds=5)
    assert reviewer.post("/v1/tokens", json={"no_expiry": True}).status_code == 403
    assert reviewer.post("/v1/tokens", json={"principal": "admin"}).status_code == 403
    forever = admin.post("/v1/tokens", json={"principal": "integration", "no_expiry": True, "label": "erp"}).json()
    assert forever["info"]["expires_at"] is None and forever["info"]["principal"] == "integration"

    short = reviewer.post("/v1/tokens", json={"label": "1h", "expires_in_hours": 1}).json()
    assert http(short["token"]).get("/v1/me").status_code == 200
    clock.advance(3601)
    assert http(short["token"]).get("/v1/me").status_code == 401
    assert {t["id"]: t["state"] for t in reviewer.get("/v1/tokens").json()}[short["info"]["id"]] == "expired"

    laptop = http(issued["token"])
    admins_token = admin.get("/v1/tokens", params={"principal": "admin"}).json()[0]
    assert reviewer.delete(f"/v1/tokens/{admins_token['id']}").status_code == 404
    assert http(people.admin).get("/v1/me").status_code == 200
    revoked = reviewer.delete(f"/v1/tokens/{issued['info']['id']}")
    assert revoked.status_code == 200 and revoked.json()["state"] == "revoked"
    assert laptop.get("/v1/me").status_code == 401
    assert reviewer.delete(f"/v1/tokens/{issued['info']['id']}").status_code == 409


def test_disabling_a_principal_invalidates_their_tokens_at_once(ctx, people, http, live_api):
    admin, reviewer = http(people.admin), http(people.reviewer)
    assert reviewer.get("/v1/me").status_code == 200
    assert reviewer.post("/v1/principals/admin/disable").status_code == 403
    r = admin.post("/v1/principals/reviewer/disable")
    assert r.status_code == 200 and r.json()["disabled"] and r.json()["tokens_revoked"] == 1, r.text
    assert reviewer.get("/v1/me").status_code == 401
    assert sign_in(live_api, "reviewer", "reviewer-pw").status_code == 401
    assert admin.post("/v1/principals/admin/disable").status_code == 409  # not yourself
    assert admin.post("/v1/principals/nobody/disable").status_code == 404
    assert admin.post("/v1/principals/reviewer/enable").json()["disabled"] is False
    assert reviewer.get("/v1/me").status_code == 401  # revoked tokens stay revoked
    assert sign_in(live_api, "reviewer", "reviewer-pw").status_code == 200


def test_admin_acts_are_in_the_audit_log_newest_first_for_admins_only(ctx, people, http):
    admin = http(people.admin)
    decided_fraud_item(http, people)
    past_undo_window(ctx)
    Dispatcher(ctx, {}, "w-test").run_once()  # no connector configured: every action dead-letters
    dead = admin.get("/v1/actions", params={"status": "dead"}).json()
    assert len(dead) == 4
    assert admin.post(f"/v1/actions/{dead[0]['id']}/replay").status_code == 200
    admin.post("/v1/principals/outsider/disable")
    admin.post("/v1/principals/outsider/enable")
    issued = admin.post("/v1/tokens", json={"principal": "integration", "label": "erp"}).json()
    admin.delete(f"/v1/tokens/{issued['info']['id']}")
    r = admin.post("/v1/models/fraud/rollback", json={"reason": "nothing to roll back to"})
    assert r.status_code == 409  # refused acts are not recorded

    entries = admin.get("/v1/audit").json()
    assert [(e["action"], e["target"], e["actor"]) for e in entries] == [
        ("token.revoke", "principal:integration", "admin"), ("token.issue", "principal:integration", "admin"),
        ("user.enable", "principal:outsider", "admin"), ("user.disable", "principal:outsider", "admin"),
        ("action.replay", f"action:{dead[0]['id']}", "admin")]
    assert entries[0]["detail"]["token_id"] == issued["info"]["id"] and entries[0]["actor_id"] == people.ids["admin"]
    page = admin.get("/v1/audit", params={"limit": 2, "before_id": entries[1]["id"]}).json()
    assert [e["id"] for e in page] == [e["id"] for e in entries[2:4]]
    assert [e["action"] for e in admin.get("/v1/audit", params={"action": "user.enable"}).json()] == ["user.enable"]
    for who in (people.reviewer, people.data_scientist, people.integration):
        assert http(who).get("/v1/audit").status_code == 403
    assert "audit" in admin.get("/v1/me").json()["pages"]
    assert "audit" not in http(people.data_scientist).get("/v1/me").json()["pages"]
