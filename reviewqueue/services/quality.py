"""Per-version quality a data scientist looks at: labels used, held-out metrics, and precision at k —
of the predictions this version scored that now carry a label, how many of its top k were positive."""

from __future__ import annotations

from reviewqueue.db.labels import labels_of_version
from reviewqueue.db.versions import find_version
from reviewqueue.domain.labels import best_label_per_prediction
from reviewqueue.errors import NotFound
from reviewqueue.schemas import PrecisionAtK, VersionQuality
from reviewqueue.services.context import AppContext

__all__ = ["K_VALUES", "version_quality"]

K_VALUES = (5, 10, 20, 50, 100, 200, 500)


def version_quality(ctx: AppContext, model_name: str, version: int) -> VersionQuality:
    spec = ctx.registry.model(model_name)
    with ctx.read() as conn:
        row = find_version(conn, model_name, version)
        if row is None:
            raise NotFound(f"model {model_name!r} has no version {version}", field="version")
        labelled = labels_of_version(conn, row.id)
    best = best_label_per_prediction(labelled)  # chargeback over reviewer, newest among equals
    ranked = sorted(best.values(), key=lambda r: r.score, reverse=True)
    curve = []
    for k in [k for k in K_VALUES if k <= len(ranked)] or ([len(ranked)] if ranked else []):
        top = ranked[:k]
        curve.append(PrecisionAtK(k=k, precision=sum(r.value == spec.positive_verdict for r in top) / k,
                                  labelled=len(top)))
    return VersionQuality(version=version, labels_used=int((row.lineage or {}).get("n_labels", 0)),
                   holdout=row.metrics or {}, precision_at_k=curve)
