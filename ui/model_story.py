"""The Models page's words and rows: each retrain's decision explained with the gate that made it, and every AUC
shown with where it comes from (which labels, which run), so the champion never appears at two unexplained
scores. Plain functions of the API's schemas (no Streamlit), tested in tests/ui/test_model_story.py.

Where the figures come from:
- a run's comparison (``candidate_metrics`` / ``champion_metrics``): both versions scored on the SAME labels —
  the labels the champion did not train on ("fresh labels"), weighted by 1/π, or the base dataset's held-out rows
  for a first version; Δ = candidate − champion with its bootstrap interval;
- a version's own metrics (``VersionOut.metrics``): measured by the run that trained it, on that run's labels.
The same champion therefore has one figure per set of labels; the page says which set each figure is on.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from reviewqueue.schemas import PromotionGate, RunOut, VersionOut
from ui.format import duration

__all__ = ["champion_headline", "delta_rows", "explain_run", "gate_text", "interval_level", "run_rows",
           "version_rows"]

DASH = "—"


def _number(metrics: Mapping[str, Any], name: str) -> float | None:
    value = metrics.get(name)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _auc(value: float | None) -> str:
    return DASH if value is None else f"{value:.4f}"


def _signed(value: float) -> str:
    return f"{value:+.4f}".replace("-", "−")


def interval_level(confidence: float) -> float:
    """The central interval a run stores is the (2·confidence − 1) one: its lower end is the one-sided bound."""
    return 2 * confidence - 1


def gate_text(gate: PromotionGate) -> str:
    """The rule in one sentence."""
    sure = f"{gate.confidence:.0%} confidence, one-sided"
    if gate.require_improvement:
        rule = f"promotes a candidate only when it is better: the lower end of Δ's interval is above 0 ({sure})"
        if gate.tolerance:  # declared, yet unused by this rule: say so rather than let it mislead
            rule += f"; its tolerance {gate.tolerance:g} applies only with require_improvement=False"
    else:
        rule = (f"promotes a candidate that is not worse by more than {gate.tolerance:g}: the lower end of Δ's "
                f"interval is above −{gate.tolerance:g} (non-inferiority, {sure})")
    return (f"The gate compares weighted ROC AUC on the labels the champion did not train on and {rule}; it keeps "
            f"the champion when either class has fewer than {gate.min_eval_per_class} such labels, and never "
            f"promotes a candidate at or below AUC {gate.sanity_floor:.2f}.")


def _labels(metrics: Mapping[str, Any], weighted: bool) -> str:
    n, positives = metrics.get("n"), metrics.get("positives")
    if n is None:
        return "labels"
    return f"{int(n):,} labels ({int(positives or 0):,} positive{', weighted by 1/π' if weighted else ''})"


def _version_name(version_id: int | None, version_number: Mapping[int, int], otherwise: str) -> str:
    return f"v{version_number[version_id]}" if version_id is not None and version_id in version_number else otherwise


def explain_run(run: RunOut, gate: PromotionGate | None, version_number: Mapping[int, int]) -> str:
    """Why a run ended as it did, with the figures and the rule: e.g. why a candidate with a lower point estimate
    was promoted (its interval's lower end cleared −tolerance)."""
    candidate = _version_name(run.candidate_version_id, version_number, "the candidate")
    champion = _version_name(run.champion_version_id, version_number, "the champion")
    if run.status == "failed":
        return f"Run {run.id} failed: {run.error or 'no error recorded'}. The champion kept serving."
    if run.status == "running":
        return f"Run {run.id} is running ({run.stage or 'starting'})."
    said = f"Decision: {run.decision}." if run.decision else ""
    c = run.candidate_metrics
    difference, low, high = _number(c, "difference"), _number(c, "difference_low"), _number(c, "difference_high")
    if difference is None or low is None or high is None or gate is None:
        return " ".join(part for part in (f"Run {run.id} ({run.status}).", said) if part)
    ours, theirs = _number(c, "roc_auc"), _number(run.champion_metrics, "roc_auc")
    level = interval_level(gate.confidence)
    figures = (f"On the same {_labels(c, bool(c.get('weighted')))}, {candidate} scored AUC {_auc(ours)} and "
               f"{champion} {_auc(theirs)}: Δ = {_signed(difference)}, {level:.0%} interval "
               f"[{_signed(low)}, {_signed(high)}].")
    bar = 0.0 if gate.require_improvement else -gate.tolerance
    cleared = low > bar
    rule = ("better with " if gate.require_improvement else f"not worse than −{gate.tolerance:g} with ") + (
        f"{gate.confidence:.0%} confidence")
    verdict = f"the lower end {_signed(low)} is {'above' if cleared else 'not above'} {_signed(bar)} ({rule})"
    if cleared and difference < 0:
        outcome = (f"so {candidate} was promoted although its point estimate is lower: within the tolerance "
                   f"(non-inferiority), not an improvement.")
    elif cleared:
        outcome = f"so {candidate} was promoted."
    else:
        outcome = f"so {champion} was kept."
    if run.status != ("promoted" if cleared else "rejected"):  # e.g. another run replaced the champion meanwhile
        outcome = f"yet the run ended {run.status}."
    return f"Run {run.id}: {figures} The gate's test: {verdict}, {outcome} {said}".strip()


def champion_headline(versions: Iterable[VersionOut], runs: Iterable[RunOut]) -> tuple[str, str]:
    """(the champion's AUC, where it comes from): the newest finished comparison that scored the current
    champion — as candidate or as champion — on the same labels as its rival; else its own training figure."""
    champion = next((v for v in versions if v.status == "champion"), None)
    if champion is None:
        return DASH, "no champion"
    for run in runs:  # newest first
        if run.status not in ("promoted", "rejected"):
            continue
        side = ("champion_metrics" if run.champion_version_id == champion.id
                else "candidate_metrics" if run.candidate_version_id == champion.id else None)
        value = _number(getattr(run, side), "roc_auc") if side else None
        if side and value is not None:
            return _auc(value), f"v{champion.version} on run {run.id}'s {_labels(run.candidate_metrics, True)}"
    value = _number(champion.metrics, "roc_auc")
    return _auc(value), f"v{champion.version} when trained, {_measured_on(champion)}"


def _measured_on(v: VersionOut) -> str:
    lineage = v.lineage
    where = str(lineage.get("evaluated_on") or "its evaluation rows")
    n = lineage.get("n_eval", v.metrics.get("n"))
    run = lineage.get("training_run_id")
    return f"{f'{int(n):,} ' if n is not None else ''}{where}{f' (run {run})' if run is not None else ''}"


def version_rows(versions: Iterable[VersionOut]) -> list[dict[str, Any]]:
    """Versions with their AUC when trained, and the labels and run it was measured on."""
    return [
        {"version": v.version, "status": v.status, "AUC when trained": _number(v.metrics, "roc_auc"),
         "measured on": _measured_on(v), "precision": _number(v.metrics, "precision"),
         "recall": _number(v.metrics, "recall"), "created": v.created_at.strftime("%Y-%m-%d %H:%M UTC"),
         "sha256": v.sha256[:12]}
        for v in versions
    ]


def run_rows(runs: Iterable[RunOut], version_number: Mapping[int, int]) -> list[dict[str, Any]]:
    """Runs with both AUCs on the same labels, Δ and its interval, and the labels compared."""
    def label(version_id: int | None) -> str:
        return DASH if version_id is None else f"v{version_number.get(version_id, version_id)}"

    rows = []
    for r in runs:
        c = r.candidate_metrics
        low, high = _number(c, "difference_low"), _number(c, "difference_high")
        difference = _number(c, "difference")
        rows.append({
            "run": r.id, "trigger": r.trigger, "status": r.status, "candidate": label(r.candidate_version_id),
            "champion": label(r.champion_version_id), "compared on": _labels(c, bool(c.get("weighted")))
            if c.get("n") is not None else DASH,
            "candidate AUC": _number(c, "roc_auc"), "champion AUC (same labels)": _number(r.champion_metrics,
                                                                                          "roc_auc"),
            "Δ [interval]": DASH if difference is None or low is None or high is None
            else f"{_signed(difference)} [{_signed(low)}, {_signed(high)}]",
            "decision": r.decision or r.error or DASH, "warnings": "; ".join(r.warnings),
            "started": r.started_at.strftime("%Y-%m-%d %H:%M UTC"), "duration": duration(r.duration_seconds),
        })
    return rows


def delta_rows(runs: Iterable[RunOut]) -> list[dict[str, Any]]:
    """One point per compared run (oldest first): Δ AUC with its interval, for the delta chart."""
    points = []
    for r in runs:
        c = r.candidate_metrics
        values = [_number(c, key) for key in ("difference", "difference_low", "difference_high")]
        if None in values:
            continue
        difference, low, high = values
        points.append({"run": r.id, "delta": difference, "low": low, "high": high, "status": r.status,
                       "n": c.get("n")})
    return sorted(points, key=lambda p: p["run"])
