"""The clinical story: zero-shot first, ranked by risk, a budgeted learning queue, SLA pages once,
signed event webhooks, and a trained head that replaces zero-shot only when it is better."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import pytest
from pydantic import SecretStr
from sklearn.metrics import roc_auc_score
from sqlalchemy import select
from standardwebhooks import Webhook

from reviewqueue.db.tables import InboundEvent, Label, ModelVersion, OutboxAction, Prediction, ReviewItem
from reviewqueue.domain.states import Role
from reviewqueue.errors import SignatureInvalid, ValidationFailed
from reviewqueue.services import decisions, inbound, ingest, queue, sla, training
from reviewqueue.services.auth import Actor, create_principal
from tests.clock import FakeClock

SYSTEM = Actor(id=0, name="system", role=Role.INTEGRATION, queues=())
CONCERNING = [
    "I can't do this anymore, I'm going to kill myself tonight",
    "I have been cutting myself again and I want to die",
    "I wrote goodbye letters to my family",
    "There is no point in living, I want it all to end",
    "I took too many pills on purpose last night",
    "I keep thinking everyone would be better off if I were dead",
    "I'm planning to jump off the bridge this weekend",
    "I want to hurt myself so badly right now",
    "Sometimes I wish I could just go to sleep and never wake up",
    "I've been looking up ways to end my life",
]
ORDINARY = [
    "Can I move my appointment to Thursday afternoon?",
    "Please refill my blood pressure prescription",
    "What are the opening hours of the clinic on Saturday?",
    "My knee is much better after the physio, thank you",
    "I have a question about my last invoice",
    "Is it normal to feel a bit dizzy with the new tablets?",
    "Could you send me the results of my blood test?",
    "I'd like to book a flu vaccination",
    "The cream for my rash is working well",
    "Do I need to fast before my cholesterol test?",
]


def events(texts: list[str], prefix: str) -> list[dict]:
    return [{"external_id": f"{prefix}{i}", "features": {"text": t}, "context": {"patient_id": f"p{i}"}}
            for i, t in enumerate(texts)]


def rows(ctx, table, *where):
    with ctx.engine.connect() as conn:
        return conn.execute(select(table).where(*where)).all()


def test_zero_shot_ranks_concerning_messages_above_ordinary_ones(text_ctx):
    results = ingest.ingest(text_ctx, SYSTEM, "self_harm", events(CONCERNING, "c") + events(ORDINARY, "o"))
    scores = [r.score for r in results]
    labels = [1] * len(CONCERNING) + [0] * len(ORDINARY)
    auc = roc_auc_score(labels, scores)
    assert auc >= 0.9, f"zero-shot AUC {auc:.3f} on the hand-written set"
    assert min(scores[:len(CONCERNING)]) > sorted(scores[len(CONCERNING):])[len(ORDINARY) // 2], \
        "every concerning message scores above the median ordinary one"
    assert all(r.model_version == 1 for r in results)
    # the decision queue clears the riskiest first
    clinician = Actor(create_principal(text_ctx, "nurse", Role.REVIEWER, ["clinical"]), "nurse", Role.REVIEWER,
                      ("clinical",))
    first = queue.claim_next(text_ctx, clinician, "clinical")
    assert first is not None and first.score == max(r.score for r in results if r.route == "review")
    top_words = [w.value for w in first.explanation[:5]]
    assert first.explanation and all(w.start is not None for w in first.explanation)
    assert any(w.lower().strip(".,") in first.features["text"].lower() for w in top_words)


@pytest.mark.parametrize(
    ("text", "words"),
    [("", "must not be empty"), ("   ", "must not be empty"), ("x" * 1_000_000, "too long: 1000000 characters"),
     (42, "expected a string"), (None, "expected a string"), ("a\x00b", "NUL")],
    ids=["empty", "blank", "1MB", "number", "null", "nul-char"],
)
def test_bad_texts_are_refused_and_nothing_is_stored(text_ctx, text, words):
    batch = events(ORDINARY[:3], "ok") + [{"external_id": "bad", "features": {"text": text}}]
    with pytest.raises(ValidationFailed, match=words) as caught:
        ingest.ingest(text_ctx, SYSTEM, "self_harm", batch)
    assert caught.value.field == "events[3].features.text"
    assert rows(text_ctx, Prediction) == []


def test_learning_queue_draws_by_uncertainty_within_its_daily_budget_and_records_the_probability(text_ctx):
    spec = text_ctx.registry.model("self_harm")
    assert spec.learning is not None and spec.learning.budget_per_day == 40
    audit = spec.routing.audit_fraction
    many = [f"{t} (message {i})" for i in range(3) for t in ORDINARY] * 2
    ingest.ingest(text_ctx, SYSTEM, "self_harm", events(many, "m"))
    learning = rows(text_ctx, ReviewItem, ReviewItem.queue == "clinical-learning")
    assert 0 < len(learning) <= 40
    assert {i.kind for i in learning} == {"learning"}
    predictions = {p.id: p for p in rows(text_ctx, Prediction)}
    assert {p.policy_version for p in predictions.values()} == {spec.policy_version}
    auto = [p for p in predictions.values() if p.route != "review"]
    assert all(p.selection_probability == 1.0 for p in predictions.values() if p.route == "review")
    # π = a + (1 − a)·p with p = min(1, c·u): never below the audit rate, and growing with uncertainty
    assert all(audit <= p.selection_probability <= 1.0 for p in auto)
    by_uncertainty = sorted(auto, key=lambda p: 1 - abs(2 * p.score - 1))
    assert [p.selection_probability for p in by_uncertainty] == sorted(p.selection_probability for p in auto)
    for item in learning:  # a drawn event had a real chance to be drawn, and ranks by its uncertainty
        assert predictions[item.prediction_id].selection_probability > audit
        assert item.priority == pytest.approx(1 - abs(2 * predictions[item.prediction_id].score - 1), abs=1e-5)
    # the next batch today only gets what is left of the budget
    ingest.ingest(text_ctx, SYSTEM, "self_harm", events(many, "n"))
    assert len(rows(text_ctx, ReviewItem, ReviewItem.queue == "clinical-learning")) <= 40


def test_unclaimed_high_risk_item_pages_on_call_once_and_shows_overdue(text_ctx):
    text_ctx.clock = clock = FakeClock(datetime(2026, 11, 22, 12, 0, tzinfo=UTC))
    [result] = ingest.ingest(text_ctx, SYSTEM, "self_harm", events([CONCERNING[0]], "sla"))
    assert result.route in ("review", "auto_flag") and result.item_id, result
    clock.advance(14 * 60)
    assert sla.page_overdue(text_ctx) == 0, "not overdue before 15 minutes"
    clock.advance(2 * 60)
    assert sla.page_overdue(text_ctx) == 1
    assert sla.page_overdue(text_ctx) == 0, "a page goes out once"
    [page] = rows(text_ctx, OutboxAction, OutboxAction.decision_id.is_(None))
    assert page.connector == "slack_message" and page.params["channel"] == "#clinical-oncall"
    assert page.payload["item_id"] == result.item_id and page.payload["verdict"] == "sla_breach"
    admin = Actor(create_principal(text_ctx, "boss", Role.ADMIN), "boss", Role.ADMIN, ())
    view = queue.item_view(text_ctx, admin, result.item_id)
    assert view.overdue is True and view.sla_due_at is not None
    [clinical] = [q for q in queue.overview(text_ctx, admin) if q.queue == "clinical"]
    assert clinical.overdue == 1 and clinical.kind == "decision"


def test_concern_verdict_alerts_on_call_with_a_link(text_ctx):
    [result] = ingest.ingest(text_ctx, SYSTEM, "self_harm", events([CONCERNING[2]], "v"))
    nurse = Actor(create_principal(text_ctx, "nurse", Role.REVIEWER, ["clinical"]), "nurse", Role.REVIEWER,
                  ("clinical",))
    item = queue.claim_next(text_ctx, nurse, "clinical")
    decision = decisions.decide(text_ctx, nurse, item.id, "concern", item.lease_token)
    [action] = rows(text_ctx, OutboxAction, OutboxAction.decision_id == decision.decision_id)
    assert action.connector == "slack_message" and action.params == {"channel": "#clinical-oncall"}
    assert action.payload["item_id"] == item.id
    [label] = rows(text_ctx, Label)
    assert (label.value, label.source, label.actor) == ("concern", "reviewer", "nurse")


def sign(secret: str, event_id: str, body: bytes, at: datetime | None = None) -> dict[str, str]:
    at = at or datetime.now(UTC)
    signature = Webhook(secret).sign(event_id, at, body.decode())
    return {"webhook-id": event_id, "webhook-timestamp": str(int(at.timestamp())), "webhook-signature": signature}


SECRET = "whsec_" + "c2VjcmV0LWZvci1pbmJvdW5kLWV2ZW50cy10ZXN0cw=="


def test_signed_event_webhook_is_ingested_once(text_ctx):
    text_ctx.settings.inbound_webhook_secret = SecretStr(SECRET)
    body = json.dumps({"events": events(ORDINARY[:2], "w")}).encode()
    headers = sign(SECRET, "evt-1", body)
    first = inbound.receive(text_ctx, "self_harm", "evt-1", inbound.verify(text_ctx, body, headers))
    again = inbound.receive(text_ctx, "self_harm", "evt-1", inbound.verify(text_ctx, body, headers))
    assert (first.duplicate, again.duplicate) == (False, True)
    assert len(first.predictions) == 2 and len(rows(text_ctx, Prediction)) == 2
    assert [(e.provider, e.event_id) for e in rows(text_ctx, InboundEvent)] == [("events:self_harm", "evt-1")]
    stale = datetime.fromtimestamp(time.time() - 301, UTC)
    for bad in (sign(SECRET, "evt-2", body, stale), sign(SECRET, "evt-2", body + b" "),
                {**sign(SECRET, "evt-2", body), "webhook-signature": "v1,AAAA"},
                {k: v for k, v in sign(SECRET, "evt-2", body).items() if k != "webhook-id"}):
        with pytest.raises(SignatureInvalid):
            inbound.verify(text_ctx, body, bad)
    assert len(rows(text_ctx, InboundEvent)) == 1


HARD_CONCERN = [
    "I gave away my guitar and my books this week, I won't be needing them",
    "I've written letters for my kids to read later",
    "I won't be a problem for anyone much longer",
    "I finally know how I'm going to do it",
    "I sorted out my will and said my goodbyes",
    "Soon it won't matter, I've made my decision",
]
HARD_ORDINARY = [
    "I'm so angry about the waiting times at your clinic",
    "My dog died last week and I'm very sad",
    "Work has been awful and stressful lately",
    "I cried at the hospital bill, it's outrageous",
    "I feel terrible with this flu, can I get a sick note",
    "I hate these side effects, they are horrible",
]


def test_a_trained_head_replaces_zero_shot_only_when_better_on_held_out_labels(text_ctx):
    texts, truth = [], []
    for i in range(12):
        for t in HARD_CONCERN:
            texts.append(f"{t} ({i})")
            truth.append("concern")
        for t in HARD_ORDINARY:
            texts.append(f"{t} ({i})")
            truth.append("no concern")
    results = ingest.ingest(text_ctx, SYSTEM, "self_harm", events(texts, "h"))
    now = text_ctx.now()
    with text_ctx.engine.begin() as conn:
        conn.execute(Label.__table__.insert(), [
            {"prediction_id": r.prediction_id, "model_name": "self_harm", "value": v, "source": "reviewer",
             "actor": "nurse", "created_at": now} for r, v in zip(results, truth, strict=True)])
    spec = text_ctx.registry.model("self_harm")
    run = training.train_version(text_ctx, spec, trigger="labels")
    assert run.error is None, run.error
    zero, trained = run.champion_metrics["roc_auc"], run.candidate_metrics["roc_auc"]
    assert run.champion_metrics["n"] == run.candidate_metrics["n"] >= 10, "both judged on the same held-out labels"
    assert trained > zero, f"held-out AUC: trained head {trained:.3f} vs zero-shot {zero:.3f}"
    assert run.promoted and run.version == 2
    print("\n" + run.decision)
    n = len(texts)
    assert run.decision.startswith("promoted: +") and f"on {n} fresh labels" in run.decision, run.decision
    assert run.champion_metrics["n"] == n, "zero-shot trained on no label: every label is fresh to it, none wasted"
    versions = {v.version: v for v in rows(text_ctx, ModelVersion, ModelVersion.model_name == "self_harm")}
    assert versions[2].lineage["head"] == "LogisticRegression" and versions[1].lineage["head"] == "zero-shot"
    [fresh] = ingest.ingest(text_ctx, SYSTEM, "self_harm", events(["I gave away my things, goodbye"], "z"))
    assert fresh.model_version == 2
    # a second run on the same labels has no label the new champion did not train on: kept, and said so
    again = training.train_version(text_ctx, spec, trigger="manual")
    assert not again.promoted and again.status == "rejected"
    assert again.decision == "kept v2: not enough evidence (0 positive fresh labels, need 10)", again.decision
