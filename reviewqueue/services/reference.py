"""A version's training reference: what it was trained on, binned, stored on its row when it is trained.

Drift (services/drift.py) compares each day's traffic with it. Per input (domain/drift.py's binning):

- numeric (float, int): ``{"kind": "numeric", "input": name, "measure": "value", "edges": [...],
  "proportions": [...], "n": rows}`` — decile cut points of the training rows and each bin's share;
- categorical and boolean: ``{"kind": "category", "input": name, "categories": [...], "proportions": [...]}``
  — the declared categories (booleans "false"/"true") and "(other)" last;
- text: its length in characters, as a numeric entry named ``"<name> (length)"`` (``"measure": "length"``).

The score entry is the numeric binning of the version's own scores on data it did not train on (the base
dataset's held-out split) when there is one, else on its training rows (in-sample, said in ``"on"``).
A version that saw no rows at all (a zero-shot head without a dataset) gets ``"rows": 0`` and no entries: drift
has nothing to compare its traffic with until a retrain on labels.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from reviewqueue.domain.drift import bin_counts, category_counts, proportions, quantile_edges
from reviewqueue.features import Feature
from reviewqueue.registry import ModelSpec

if TYPE_CHECKING:
    import pandas as pd

    from reviewqueue.kinds import Fitted, ModelKind

__all__ = ["REFERENCE_SCHEMA", "feature_value", "input_entry", "numeric_entry", "training_reference"]

REFERENCE_SCHEMA = 1


def numeric_entry(values: list[float], input_name: str, measure: str = "value") -> dict[str, Any]:
    """Decile edges of ``values`` and the share of them in each bin."""
    edges = quantile_edges(values)
    return {"kind": "numeric", "input": input_name, "measure": measure, "edges": edges,
            "proportions": proportions(bin_counts(edges, values)), "n": len(values)}


def input_entry(feature: Feature, values: list[Any]) -> tuple[str, dict[str, Any]]:
    """(name, entry) of one declared input over the training rows' values (module docstring)."""
    if feature.kind == "text":
        lengths = [float(len(str(v))) for v in values]
        return f"{feature.name} (length)", numeric_entry(lengths, feature.name, "length")
    if feature.kind in ("category", "bool"):
        categories = list(feature.categories) if feature.kind == "category" else ["false", "true"]
        return feature.name, {"kind": "category", "input": feature.name, "measure": "value",
                              "categories": categories,
                              "proportions": proportions(category_counts(categories, values)), "n": len(values)}
    return feature.name, numeric_entry([float(v) for v in values], feature.name)


def feature_value(entry: dict[str, Any], features: dict[str, Any]) -> Any:
    """The value a prediction's raw features give for a reference entry (a text's length for "length")."""
    value = features.get(entry["input"])
    if entry.get("measure") == "length":
        return float(len(str(value or "")))
    return value


def training_reference(
    kind: ModelKind, spec: ModelSpec, fitted: Fitted, *, train_rows: pd.DataFrame, holdout_rows: pd.DataFrame,
    holdout_enc: pd.DataFrame, train_enc: pd.DataFrame,
) -> dict[str, Any]:
    """The reference of a freshly trained version (module docstring). ``train_rows``: the raw rows it trained
    on (base training split + production labels; the base rows for a zero-shot version)."""
    rows = train_rows if len(train_rows) else holdout_rows
    if not len(rows) and not len(train_enc):  # a zero-shot head with no dataset: nothing seen, nothing to bin
        return {"schema": REFERENCE_SCHEMA, "rows": 0, "features": {}, "score": None}
    inputs = dict(input_entry(f, rows[f.name].tolist()) for f in spec.features.features)
    scored, on = ((holdout_enc, f"the base dataset's held-out rows ({len(holdout_enc)})") if len(holdout_enc)
                  else (train_enc, f"its training rows, in-sample ({len(train_enc)})"))
    scores = [float(s) for s in kind.score(spec, fitted, scored)] if len(scored) else []
    score = {**numeric_entry(scores, "score"), "on": on}
    return {"schema": REFERENCE_SCHEMA, "rows": len(rows), "features": inputs, "score": score}
