"""ui.model_story and the Models page's charts: each decision explained with the gate's rule and figures (a
promotion with a lower point estimate says it was within the tolerance), the champion's figure with its source,
and axes that do not exaggerate."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from reviewqueue.schemas import PromotionGate, RunOut, VersionOut
from ui import charts
from ui import model_story as story

NOW = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
NON_INFERIOR = PromotionGate(metric="roc_auc", require_improvement=False, tolerance=0.01, confidence=0.9,
                             min_eval_per_class=10, sanity_floor=0.55)
BETTER = NON_INFERIOR.model_copy(update={"require_improvement": True, "tolerance": 0.0})


def _run(run_id: int, status: str, candidate: dict[str, Any], champion: dict[str, Any], **kw: Any) -> RunOut:
    values: dict[str, Any] = {
        "id": run_id, "trigger": "manual", "status": status, "n_labels": 300, "candidate_version_id": 3,
        "champion_version_id": 2, "candidate_metrics": candidate, "champion_metrics": champion, "error": None,
        "started_at": NOW, "finished_at": NOW, "duration_seconds": 4.0, "decision": "", "stage": "done",
        "progress": 1.0}
    return RunOut.model_validate({**values, **kw})


def _version(vid: int, version: int, status: str, auc: float, run: int, n: int) -> VersionOut:
    return VersionOut(id=vid, version=version, status=status, sha256="ab" * 32, metrics={"roc_auc": auc, "n": n},
                      data_fingerprint="x", created_at=NOW, promoted_at=None,
                      lineage={"evaluated_on": "fresh labels", "n_eval": n, "training_run_id": run})


COMPARED = {"roc_auc": 0.7979, "difference": -0.0016, "difference_low": -0.0080, "difference_high": 0.0040,
            "n": 212, "positives": 40, "weighted": True}


def test_a_promotion_with_a_lower_point_estimate_says_it_was_within_the_tolerance() -> None:
    run = _run(7, "promoted", COMPARED, {"roc_auc": 0.7995},
               decision="promoted: -0.002 AUC [-0.008, +0.004] on 212 fresh labels (40 positive), weighted: "
                        "not worse than −0.01 with 90% confidence")
    said = story.explain_run(run, NON_INFERIOR, {3: 3, 2: 2})
    assert "On the same 212 labels (40 positive, weighted by 1/π), v3 scored AUC 0.7979 and v2 0.7995" in said
    assert "Δ = −0.0016, 80% interval [−0.0080, +0.0040]" in said
    assert "the lower end −0.0080 is above −0.0100 (not worse than −0.01 with 90% confidence)" in said
    assert "v3 was promoted although its point estimate is lower: within the tolerance (non-inferiority)" in said


def test_a_kept_champion_says_which_bound_was_missed() -> None:
    run = _run(8, "rejected", {**COMPARED, "difference": 0.002, "difference_low": -0.001}, {"roc_auc": 0.79})
    said = story.explain_run(run, BETTER, {3: 3, 2: 2})
    assert "the lower end −0.0010 is not above +0.0000 (better with 90% confidence), so v2 was kept" in said
    assert "only when it is better" in story.gate_text(BETTER)
    assert "not worse by more than 0.01" in story.gate_text(NON_INFERIOR)


def test_not_enough_evidence_and_failures_say_so_in_words() -> None:
    kept = _run(9, "rejected", {}, {}, decision="kept v2: not enough evidence (3 positive fresh labels, need 10)")
    assert story.explain_run(kept, BETTER, {}).endswith("Decision: kept v2: not enough evidence (3 positive "
                                                       "fresh labels, need 10).")
    failed = _run(10, "failed", {}, {}, error="boom", decision="")
    assert story.explain_run(failed, BETTER, {}) == "Run 10 failed: boom. The champion kept serving."


def test_the_champion_has_one_figure_with_its_source() -> None:
    versions = [_version(3, 3, "rejected", 0.7979, 7, 212), _version(2, 2, "champion", 0.8400, 4, 90)]
    runs = [_run(7, "rejected", COMPARED, {"roc_auc": 0.7995})]
    assert story.champion_headline(versions, runs) == ("0.7995", "v2 on run 7's 212 labels (40 positive, "
                                                                 "weighted by 1/π)")
    # no comparison has scored it yet: its own figure, said to be from when it was trained
    assert story.champion_headline(versions, []) == ("0.8400", "v2 when trained, 90 fresh labels (run 4)")
    rows = story.run_rows(runs, {3: 3, 2: 2})
    assert rows[0]["champion AUC (same labels)"] == 0.7995 and rows[0]["Δ [interval]"] == (
        "−0.0016 [−0.0080, +0.0040]")
    assert (rows[0]["duration"], rows[0]["warnings"]) == ("4.0 s", "")
    assert story.version_rows(versions)[1]["measured on"] == "90 fresh labels (run 4)"


def test_axes_do_not_exaggerate() -> None:
    spec = charts.metric_by_version([{"version": 1, "roc_auc": 0.7995, "status": "retired"},
                                     {"version": 2, "roc_auc": 0.7991, "status": "champion"}]).to_dict()
    assert spec["encoding"]["y"]["scale"]["domain"] == [0, 1]
    deltas = story.delta_rows([_run(7, "promoted", COMPARED, {"roc_auc": 0.7995})])
    layered = charts.run_deltas(deltas, -0.01).to_dict()
    domains = {tuple(layer["encoding"]["y"]["scale"]["domain"]) for layer in layered["layer"]}
    assert domains == {(-0.1, 0.1)}, "a Δ of a few thousandths on an axis of at least ±0.1"
    gate_line = [layer for layer in layered["layer"] if layer["encoding"]["y"]["field"] == "bar"]
    assert gate_line and gate_line[0]["data"]["values"] == [{"bar": -0.01}]
