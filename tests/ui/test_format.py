"""ui.format: the pure helpers behind the pages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from streamlit.elements.lib.shortcut_utils import normalize_shortcut

from reviewqueue.schemas import ActionCounts, ActionOut, Contribution, QueueOut, VersionOut
from ui import format as fmt

NOW = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(("seconds", "text"), [
    (None, "—"), (-5, "0 s"), (0, "0 s"), (59.9, "59 s"), (60, "1 min"), (3599, "59 min"), (3600, "1 h"),
    (3660, "1 h 1 min"), (86_400, "1 d"), (90_000, "1 d 1 h"), (10 * 86_400 + 59, "10 d"),
])
def test_human_age(seconds: float | None, text: str) -> None:
    assert fmt.human_age(seconds) == text


@given(st.floats(min_value=0, max_value=1e9, allow_nan=False))
def test_human_age_uses_at_most_two_units(seconds: float) -> None:
    words = fmt.human_age(seconds).split()
    assert 2 <= len(words) <= 4 and words[1] in {"s", "min", "h", "d"}
    assert all(w.isdigit() for w in words[::2])


def test_naive_datetimes_are_utc() -> None:
    naive = datetime(2025, 3, 1, 11, 0, 0)
    assert fmt.age_seconds(naive, NOW) == 3600
    assert fmt.age_seconds(NOW.astimezone(timezone(timedelta(hours=2))), NOW) == 0
    assert fmt.when(naive) == "2025-03-01 11:00 UTC"
    assert fmt.when(None) == "—"


def test_lease_text() -> None:
    held = fmt.lease_text(NOW + timedelta(minutes=4, seconds=30), NOW)
    assert held == "Lease held until 12:04:30 UTC (4 min left)"
    assert fmt.lease_text(NOW - timedelta(seconds=1), NOW) == "Lease expired at 11:59:59 UTC"
    assert fmt.lease_text(None, NOW) == "No lease held"


def test_numbers() -> None:
    assert fmt.percent(0.5134) == "51.3%"
    assert fmt.points(0.2104) == "+21.0 pts" and fmt.points(-0.031) == "-3.1 pts"
    assert fmt.money(950, "usd") == "$950.00" and fmt.money(1234.5, "EUR") == "€1,234.50"
    assert fmt.money(10, "chf") == "10.00 CHF" and fmt.money(10, None) == "10.00"
    assert fmt.metric(0.97123) == "0.9712" and fmt.metric(None) == "—" and fmt.metric(True) == "—"
    assert fmt.headline_amount({"amount": 950.0}, {"currency": "usd"}) == "$950.00"
    assert fmt.headline_amount({"amount": True}, {}) is None and fmt.headline_amount({}, {}) is None
    assert fmt.duration(2.04) == "2.0 s" and fmt.duration(125) == "2 min" and fmt.duration(None) == "—"


def test_display_value_keeps_one_string_per_cell() -> None:
    assert [fmt.display_value(v) for v in (True, False, None, 950.0, 25.5, 3, "x", {"b": 1, "a": [2]})] == [
        "yes", "no", "—", "950", "25.5", "3", "x", '{"a": [2], "b": 1}']
    assert fmt.kv_rows({"hour": 22, "card_present": True}) == [
        {"feature": "hour", "value": "22"}, {"feature": "card_present", "value": "yes"}]


@pytest.mark.parametrize(("verdicts", "keys"), [
    (["fraud", "legit"], {"fraud": "f", "legit": "l"}),
    # one letter shared, or unusable: every verdict gets its position (never a mix of letters and digits)
    (["fraud", "friendly_fraud", "legit"], {"fraud": "1", "friendly_fraud": "2", "legit": "3"}),
    # C and R are Streamlit's own keys
    (["confirm", "reject", "escalate"], {"confirm": "1", "reject": "2", "escalate": "3"}),
    (["concern", "no concern"], {"concern": "1", "no concern": "2"}),
    (["Approve", "2fa", "Ärger"], {"Approve": "1", "2fa": "2", "Ärger": "3"}),
    (["approve", "deny", "hold"], {"approve": "a", "deny": "d", "hold": "h"}),
    # S and E are triage's release and escalate keys
    (["approve", "deny", "escalate"], {"approve": "1", "deny": "2", "escalate": "3"}),
    (["spam", "ham"], {"spam": "1", "ham": "2"}),
])
def test_verdict_shortcuts(verdicts: list[str], keys: dict[str, str]) -> None:
    assert fmt.verdict_shortcuts(verdicts) == keys


@given(st.lists(st.text(min_size=1, max_size=12), min_size=1, max_size=15, unique=True))
def test_verdict_shortcuts_are_unique_and_valid(verdicts: list[str]) -> None:
    keys = fmt.verdict_shortcuts(verdicts)
    assert list(keys) == verdicts
    given_keys = [k for k in keys.values() if k is not None]
    assert len(given_keys) == len(set(given_keys))
    digits = [k for k in given_keys if k.isdigit()]
    assert not digits or len(digits) == len(given_keys)  # one scheme per row of buttons
    for verdict, key in keys.items():
        assert key is None or (key in "123456789" and len(key) == 1) or key == verdict[0].lower()
        assert key not in {"c", "r", "s", "e"}
        if key is not None:
            assert normalize_shortcut(key) == key  # st.button accepts it
    assert all(keys[v] is not None for v in verdicts[:9])


def test_verdict_labels_and_messages() -> None:
    assert fmt.verdict_label("fraud", "f") == "Fraud  [F]"
    assert fmt.verdict_label("needs_info", "2") == "Needs info  [2]"
    assert fmt.verdict_label("x", None) == "X"
    assert fmt.verdict_help("fraud", "f") == "Decide fraud (press F)" and fmt.verdict_help("x", None) == "Decide x"
    assert fmt.decided_message("fraud", 4) == "Decided fraud: 4 actions queued"
    assert fmt.decided_message("legit", 1) == "Decided legit: 1 action queued"
    assert fmt.decided_message("legit", 0) == "Decided legit: no actions queued"


EXPLANATION = [
    Contribution(feature="hour", value=22, contribution=-0.031),
    Contribution(feature="country_mismatch", value=True, contribution=0.2104),
    Contribution(feature="amount", value=950.0, contribution=0.08),
    Contribution(feature="velocity_1h", value=2, contribution=0.0001),
]


def test_top_reasons() -> None:
    assert fmt.top_reasons(EXPLANATION) == (
        "Top reasons: country_mismatch = yes (+21.0 pts), amount = 950 (+8.0 pts), hour = 22 (-3.1 pts)")
    assert fmt.top_reasons(EXPLANATION, n=1) == "Top reasons: country_mismatch = yes (+21.0 pts)"
    assert fmt.top_reasons(EXPLANATION[3:]) == "Top reasons: no single feature moves the score much."
    assert fmt.top_reasons([]) == "Top reasons: no single feature moves the score much."


def test_explanation_rows_heaviest_first_with_direction() -> None:
    rows = fmt.explanation_rows(EXPLANATION)
    assert [(r["feature"], r["effect"], r["order"]) for r in rows] == [
        ("country_mismatch = yes", "raises score", 0), ("amount = 950", "raises score", 1),
        ("hour = 22", "lowers score", 2), ("velocity_1h = 2", "raises score", 3)]


def test_pages_are_the_granted_ones_plus_the_sandbox() -> None:
    assert fmt.pages_for(["queues", "triage", "actions"]) == ("queues", "triage", "actions")
    assert fmt.pages_for(["queues", "actions", "models"], sandbox=True) == ("queues", "actions", "models", "sandbox")
    assert fmt.pages_for([]) == ("queues",)


def test_queue_and_count_rows() -> None:
    queue = QueueOut(queue="fraud", model="fraud", pending=3, claimed=1, oldest_pending_at=NOW,
                     oldest_age_seconds=5)
    assert fmt.queue_depth_rows([queue]) == [{"queue": "fraud", "state": "pending", "items": 3},
                                             {"queue": "fraud", "state": "claimed", "items": 1}]
    counts = ActionCounts(pending=1, in_flight=2, done=3, dead=4, total=10)
    assert [r["actions"] for r in fmt.count_rows(counts)] == [1, 2, 3, 4]


def _action(i: int, **kw: object) -> ActionOut:
    values: dict[str, object] = {
        "id": f"act{i:08d}", "decision_id": 1, "connector": "webhook", "status": "dead", "attempts": 8,
        "last_error": "boom", "next_attempt_at": NOW, "created_at": NOW, "done_at": None}
    values.update(kw)
    return ActionOut.model_validate(values)


def test_action_rows_name_what_each_action_was_about() -> None:
    about = fmt.action_rows([_action(1, item_id=12, model="fraud", external_id="tx-81", verdict="fraud"),
                             _action(2, model="fraud", external_id="tx-82", verdict="fraud"),
                             _action(3, decision_id=None)])
    assert [r["about"] for r in about] == ["fraud tx-81 · item 12 · verdict fraud",
                                           "fraud tx-82 · automatic · verdict fraud", "—"]
    row = fmt.action_rows([_action(1, last_error=None)])[0]
    assert row["last error"] == "" and row["done"] == "—" and row["created"] == "2025-03-01 12:00 UTC"
    assert fmt.short_id("act00000004") == "00000004" and fmt.short_id("abc") == "abc"


def _version(vid: int, version: int, auc: float | None, status: str = "retired") -> VersionOut:
    metrics = {"precision": 0.5, "recall": 0.25} | ({"roc_auc": auc} if auc is not None else {})
    return VersionOut(id=vid, version=version, status=status, sha256="ab" * 32, metrics=metrics,
                      data_fingerprint="x", lineage={}, created_at=NOW, promoted_at=None)


def test_metric_points_and_retrain_fraction() -> None:
    versions = [_version(12, 3, 0.91, "champion"), _version(11, 2, None), _version(10, 1, 0.9)]
    assert [p["version"] for p in fmt.metric_points(versions)] == [1, 3]
    assert fmt.retrain_fraction(25, 50) == 0.5 and fmt.retrain_fraction(80, 50) == 1.0
    assert fmt.retrain_fraction(3, 0) == 1.0


def test_sandbox_rows() -> None:
    slack = fmt.slack_rows([{"channel": "#fraud-alerts", "text": "fraud on ch_1", "ts": "1740830400.000001"},
                            {"channel": "#x", "text": None, "ts": "junk"}])
    assert slack == [{"channel": "#fraud-alerts", "text": "fraud on ch_1", "sent": "2025-03-01 12:00 UTC"},
                     {"channel": "#x", "text": "", "sent": "junk"}]
    hooks = fmt.webhook_rows([
        {"name": "default", "webhook_id": "msg_1", "timestamp": "1740830400",
         "payload": {"external_id": "tx-1", "verdict": "fraud", "actor": "reviewer"}},
        {"name": "default", "webhook_id": "msg_2", "timestamp": None, "payload": "junk"},
    ])
    assert hooks[0] == {"endpoint": "default", "external id": "tx-1", "verdict": "fraud",
                        "decided by": "reviewer", "received": "2025-03-01 12:00 UTC", "webhook id": "msg_1"}
    assert hooks[1]["verdict"] == "—" and hooks[1]["received"] == "—"


def test_sla_status() -> None:
    made = NOW - timedelta(minutes=20)
    assert fmt.sla_status(None, False, made, NOW) is None
    assert fmt.sla_status(made + timedelta(minutes=15), False, made, NOW) == (
        True, "OVERDUE (SLA 15 min: was due 11:55 UTC, 5 min ago)")  # claimed: the API says False, the clock not
    assert fmt.sla_status(NOW + timedelta(minutes=4), False, NOW - timedelta(minutes=11), NOW) == (
        False, "SLA 15 min: due 12:04 UTC (in 4 min)")
    assert fmt.sla_status(NOW + timedelta(minutes=4), True, NOW - timedelta(minutes=11), NOW)[0] is True


def test_queue_kind_and_overdue_delta() -> None:
    assert fmt.queue_kind_text("decision") == "ranked by risk"
    assert fmt.queue_kind_text("learning") == "ranked by uncertainty — learning budget"
    assert fmt.queue_kind_text("other") == "other"
    assert fmt.overdue_delta(0) is None and fmt.overdue_delta(3) == "3 past SLA"
