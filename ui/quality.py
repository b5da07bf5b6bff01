"""Rows for the Models page's quality section (pure, no Streamlit): per version, the labels it was trained on,
its held-out precision / recall / AUC, and precision at k of the predictions it scored that now carry a label
(of its k highest-scored labelled predictions, the share whose label is the positive verdict)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from reviewqueue.schemas import VersionOut, VersionQuality

__all__ = ["latest_versions", "precision_at_k_rows", "quality_rows"]

HOLDOUT = (("precision", "precision"), ("recall", "recall"), ("AUC", "roc_auc"))


def _number(value: Any) -> float | None:
    return round(float(value), 4) if isinstance(value, int | float) and not isinstance(value, bool) else None


def latest_versions(versions: Iterable[VersionOut], n: int = 6) -> list[VersionOut]:
    """The n newest versions, oldest of them first: each costs one /quality call and one line on the chart."""
    return sorted(versions, key=lambda v: v.version)[-n:] if n > 0 else []


def quality_rows(versions: Sequence[VersionOut], qualities: Mapping[int, VersionQuality]) -> list[dict[str, Any]]:
    """One row per version with a quality report, newest first. A version trained without held-out labels
    (zero-shot v1) has no held-out metrics: None, shown as an empty cell."""
    rows = []
    for v in sorted(versions, key=lambda v: v.version, reverse=True):
        q = qualities.get(v.version)
        if q is None:
            continue
        n = q.holdout.get("n")
        row: dict[str, Any] = {
            "version": f"v{v.version}", "labels used": q.labels_used,
            "held-out n": int(n) if isinstance(n, int | float) and not isinstance(n, bool) else None,
        }
        row.update({title: _number(q.holdout.get(key)) for title, key in HOLDOUT})
        row["labelled now"] = max((p.labelled for p in q.precision_at_k), default=0)
        rows.append(row)
    return rows


def precision_at_k_rows(qualities: Mapping[int, VersionQuality]) -> list[dict[str, Any]]:
    """Line-chart rows: one line per version (ascending), k on the x axis."""
    return [
        {"version": f"v{number}", "order": number, "k": p.k, "precision": round(p.precision, 4),
         "labelled": p.labelled}
        for number, q in sorted(qualities.items())
        for p in sorted(q.precision_at_k, key=lambda p: p.k)
    ]
