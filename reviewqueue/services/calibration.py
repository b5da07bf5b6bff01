"""Calibration of a version (the champion unless asked): its labelled predictions' scores against their labels.

One label per prediction (domain.labels precedence: a chargeback outranks a reviewer), positive = the model's
positive verdict, labels of other verdicts left out; each weighted by 1/π (evaluation.label_weights, as the
promotion gate does) so that a band labelled in full does not outweigh the audited tails. The figures and
their intervals are domain.calibration's.
"""

from __future__ import annotations

from reviewqueue.db import monitoring as queries
from reviewqueue.db import versions as version_queries
from reviewqueue.domain.calibration import calibrate
from reviewqueue.domain.labels import best_label_per_prediction
from reviewqueue.errors import NotFound
from reviewqueue.schemas import CalibrationBin, CalibrationReport
from reviewqueue.services.context import AppContext

__all__ = ["calibration_report"]


def calibration_report(ctx: AppContext, model_name: str, version: int | None = None) -> CalibrationReport:
    from reviewqueue.evaluation import label_weights  # numpy: loaded where it is used, not on import

    spec = ctx.registry.model(model_name)
    with ctx.read() as conn:
        if version is None:
            champion = version_queries.find_champion(conn, model_name)
            version_id, number = (champion.id, champion.version) if champion else (None, None)
        else:
            found = version_queries.find_version(conn, model_name, version)
            if found is None:
                raise NotFound(f"model {model_name!r} has no version {version}", field="version")
            version_id, number = found.id, version
        rows = queries.labelled_scores(conn, version_id) if version_id is not None else []
    best = [r for r in best_label_per_prediction(rows).values()
            if r.value in (spec.positive_verdict, spec.negative_verdict)]
    pi = [1.0 if r.selection_probability is None else float(r.selection_probability) for r in best]
    weighted = any(p < 1.0 for p in pi)
    weights = label_weights(pi).tolist() if weighted else None
    result = calibrate([float(r.score) for r in best], [int(r.value == spec.positive_verdict) for r in best],
                       weights)
    if number is None:
        note = f"{model_name} has no champion yet."
    elif not best:
        note = f"No labelled predictions of v{number} yet: decide items or send outcomes to see its calibration."
    else:
        note = (f"v{number}'s {result.n} labelled predictions ({result.positives} {spec.positive_verdict})"
                + (", each weighted by 1/π (labels gathered by sampling count for the traffic they stand for)."
                   if weighted else "."))
    return CalibrationReport(
        model=model_name, version=number, n=result.n, positives=result.positives, brier=result.brier,
        ece=result.ece, weighted=weighted, note=note,
        bins=[CalibrationBin(low=b.low, high=b.high, n=b.n, mean_score=b.mean_score, observed=b.observed,
                             observed_low=b.observed_low, observed_high=b.observed_high, effective_n=b.effective_n)
              for b in result.bins],
    )
