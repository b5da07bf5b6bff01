"""Per-version quality a data scientist looks at: labels used, held-out metrics, and precision at k —
of the predictions this version scored that now carry a label, how many of its top k were positive."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from reviewqueue.db.tables import Label, ModelVersion, Prediction
from reviewqueue.domain.states import LABEL_PRECEDENCE, LabelSource
from reviewqueue.errors import NotFound
from reviewqueue.services.context import AppContext

labels = Label.__table__  # type: ignore[attr-defined]
predictions = Prediction.__table__  # type: ignore[attr-defined]
versions = ModelVersion.__table__  # type: ignore[attr-defined]
K_VALUES = (5, 10, 20, 50, 100, 200, 500)


def version_quality(ctx: AppContext, model_name: str, version: int) -> dict[str, Any]:
    spec = ctx.registry.model(model_name)
    with ctx.engine.connect() as conn:
        row = conn.execute(select(versions.c.id, versions.c.metrics, versions.c.lineage)
                           .where(versions.c.model_name == model_name, versions.c.version == version)).first()
        if row is None:
            raise NotFound(f"model {model_name!r} has no version {version}", field="version")
        labelled = conn.execute(
            select(predictions.c.id, predictions.c.score, labels.c.value, labels.c.source)
            .join(labels, labels.c.prediction_id == predictions.c.id)
            .where(predictions.c.version_id == row.id).order_by(labels.c.created_at, labels.c.id)
        ).all()
    best: dict[int, Any] = {}
    for item in labelled:  # one label per prediction: chargeback over reviewer, newest among equals
        current = best.get(item.id)
        if current is None or LABEL_PRECEDENCE.get(LabelSource(item.source), 1) >= \
                LABEL_PRECEDENCE.get(LabelSource(current.source), 1):
            best[item.id] = item
    ranked = sorted(best.values(), key=lambda r: r.score, reverse=True)
    curve = []
    for k in [k for k in K_VALUES if k <= len(ranked)] or ([len(ranked)] if ranked else []):
        top = ranked[:k]
        curve.append({"k": k, "precision": sum(r.value == spec.positive_verdict for r in top) / k,
                      "labelled": len(top)})
    return {"version": version, "labels_used": int((row.lineage or {}).get("n_labels", 0)),
            "holdout": row.metrics or {}, "precision_at_k": curve}
