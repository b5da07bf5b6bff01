"""How each stored version of a model does on a labelled file, before anything is promoted (issue 9 point 9).

Statistics come from ``reviewqueue.evaluation`` (weights 1/π, weighted AUC, paired bootstrap):

- per version: n, positives, AUC_w with a 95% percentile interval over ``BOOTSTRAP_REPS`` resamples of the
  rows (multinomial counts × w, fixed seed, resamples with one class only dropped);
- per route at the model's thresholds (``review_low ≤ s < review_high`` → review, ``s ≥ review_high`` →
  auto-flag, below → auto-pass): share of rows = Σ_route w / Σ w, precision = Σ_route w·y / Σ_route w,
  share of positives (recall) = Σ_route w·y / Σ w·y;
- with two or more versions: Δ = AUC_w(version) − AUC_w(champion) and its paired-bootstrap interval, each
  version against the model's current champion (scored too when it was not asked for).

Nothing is stored. ``parse_labelled`` turns CSV records (strings) into typed feature rows, labels and π.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from reviewqueue.db.versions import StoredVersion, list_versions, version_by_number
from reviewqueue.domain.policies import Route
from reviewqueue.domain.states import VersionStatus
from reviewqueue.errors import NotFound, ValidationFailed
from reviewqueue.evaluation import label_weights, paired_bootstrap, weighted_auc, weighted_auc_many
from reviewqueue.registry import ModelSpec
from reviewqueue.services import policies
from reviewqueue.services.context import AppContext

__all__ = ["Evaluation", "Labelled", "RouteShare", "VersionResult", "evaluate", "parse_labelled"]

BOOTSTRAP_REPS = 1000
SEED = 20240909
LEVEL = 0.95
SCORE_CHUNK = 1000
"""Rows scored per call, so the progress callback moves on long files."""
PROBABILITY_COLUMN = "selection_probability"

Progress = Callable[[str, float], None]


@dataclass(frozen=True)
class Labelled:
    """Typed feature rows, their labels (1 = the positive verdict) and π when the file gave it."""

    rows: list[dict[str, Any]]
    labels: list[int]
    probabilities: list[float] | None


@dataclass(frozen=True)
class RouteShare:
    """One route at the model's thresholds: its share of rows, its precision and its share of positives."""

    route: str
    share: float
    precision: float | None
    recall: float | None


@dataclass(frozen=True)
class VersionResult:
    """One version on the labelled rows; the ``difference*`` fields are against the champion (None for the
    champion itself, or when only one version was evaluated)."""

    version: int
    status: str
    n: int
    positives: int
    auc: float | None
    auc_low: float | None
    auc_high: float | None
    routes: tuple[RouteShare, ...]
    difference: float | None = None
    difference_low: float | None = None
    difference_high: float | None = None


@dataclass(frozen=True)
class Evaluation:
    """Every evaluated version (in the order asked, the champion appended when it was needed as reference)."""

    model: str
    n: int
    positives: int
    weighted: bool
    champion: int | None
    versions: tuple[VersionResult, ...]
    scores: dict[int, list[float]]
    """Each version's score per row, by version number (what the metrics were computed from)."""

    def summary(self) -> str:
        """One line in words, e.g. "v3 vs champion v2: +0.021 AUC [+0.004, +0.039] on 5,000 rows (181 positive)"."""
        rows = f"on {self.n:,} rows ({self.positives:,} positive{', weighted by 1/π' if self.weighted else ''})"
        compared = [v for v in self.versions if v.difference is not None]
        if compared:
            parts = [f"v{v.version} vs champion v{self.champion}: {v.difference:+.3f} AUC "
                     f"{_interval(v.difference_low, v.difference_high, signed=True)}" for v in compared]
            return f"{'; '.join(parts)} {rows}"
        parts = [f"v{v.version}{' (champion)' if v.version == self.champion else ''}: "
                 f"{'AUC n/a (one class only)' if v.auc is None else f'AUC {v.auc:.3f}'}"
                 f"{'' if v.auc is None else ' ' + _interval(v.auc_low, v.auc_high)}" for v in self.versions]
        return f"{'; '.join(parts)} {rows}"


def _interval(low: float | None, high: float | None, *, signed: bool = False) -> str:
    if low is None or high is None:
        return "[n/a]"
    return f"[{low:+.3f}, {high:+.3f}]" if signed else f"[{low:.3f}, {high:.3f}]"


# ---- reading a labelled file ------------------------------------------------------------------------------

_TRUE = {"true", "1", "yes", "t", "y"}
_FALSE = {"false", "0", "no", "f", "n"}


def _coerce(kind: str, value: Any) -> Any:
    """A CSV string as the feature kind wants it; left as it was when it does not parse (``validate`` then
    names the row and the feature)."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    try:
        if kind == "float":
            return float(text)
        if kind == "int":
            number = float(text)
            return int(number) if number.is_integer() else number
    except ValueError:
        return value
    if kind == "bool":
        lowered = text.lower()
        return True if lowered in _TRUE else False if lowered in _FALSE else value
    return value


def _label(spec: ModelSpec, value: Any, where: str) -> int:
    text = str(value).strip() if value is not None else ""
    if text in (spec.positive_verdict, "1", "1.0"):
        return 1
    if text in (spec.negative_verdict, "0", "0.0"):
        return 0
    raise ValidationFailed(f"{where}: unknown label {text!r} (expected {spec.positive_verdict!r} or "
                           f"{spec.negative_verdict!r}, or 1 or 0)", field=where)


def _probability(value: Any, where: str) -> float:
    try:
        pi = float(str(value).strip())
    except ValueError:
        pi = math.nan
    if not (math.isfinite(pi) and 0.0 < pi <= 1.0):
        raise ValidationFailed(f"{where}: expected a probability in (0, 1], got {value!r}", field=where)
    return pi


def parse_labelled(spec: ModelSpec, columns: Sequence[str], records: Sequence[Mapping[str, Any]],
                   label_column: str = "label") -> Labelled:
    """CSV records → validated feature rows, labels and π (column ``selection_probability``, optional); other
    columns are ignored. ValidationFailed names the missing column, or the row (numbered from 1, the first
    line after the header) and the column at fault."""
    present = set(columns)
    for name in [*spec.features.names, label_column]:
        if name not in present:
            raise ValidationFailed(f"missing column {name!r} (the file has: {', '.join(columns) or 'none'})",
                                   field=name)
    if not records:
        raise ValidationFailed("the file has a header but no rows", field="rows")
    weighted = PROBABILITY_COLUMN in present
    kinds = {f.name: f.kind for f in spec.features.features}
    rows: list[dict[str, Any]] = []
    labels: list[int] = []
    probabilities: list[float] = []
    for n, record in enumerate(records, start=1):
        where = f"row {n}"
        row = {name: _coerce(kind, record.get(name)) for name, kind in kinds.items()}
        rows.append(spec.features.validate(row, where=where))
        labels.append(_label(spec, record.get(label_column), f"{where}.{label_column}"))
        if weighted:
            probabilities.append(_probability(record.get(PROBABILITY_COLUMN), f"{where}.{PROBABILITY_COLUMN}"))
    return Labelled(rows, labels, probabilities if weighted else None)


# ---- evaluating -------------------------------------------------------------------------------------------


def _targets(ctx: AppContext, model_name: str,
             versions: Sequence[int] | None) -> tuple[list[StoredVersion], int | None]:
    with ctx.read() as conn:
        listed = list_versions(conn, model_name)
        if not listed:
            raise NotFound(f"model {model_name!r} has no stored versions; run `reviewqueue models register "
                           f"{model_name}`", field="model")
        champion = next((v.version for v in listed if v.status == VersionStatus.CHAMPION), None)
        numbers = list(dict.fromkeys(versions)) if versions else sorted(v.version for v in listed)
        if len(numbers) >= 2 and champion is not None and champion not in numbers:
            numbers.append(champion)  # the reference every other version is compared with
        found: list[StoredVersion] = []
        for number in numbers:
            stored = version_by_number(conn, model_name, number)
            if stored is None:
                known = ", ".join(str(v.version) for v in sorted(listed, key=lambda v: v.version))
                raise NotFound(f"model {model_name!r} has no version {number} (it has {known})", field="version")
            found.append(stored)
    return found, champion


def _auc_interval(y: np.ndarray, scores: np.ndarray, weights: np.ndarray, chunk: int) -> tuple[float | None,
                                                                                              float | None]:
    rng = np.random.default_rng(SEED)
    n = len(y)
    values: list[np.ndarray] = []
    for start in range(0, BOOTSTRAP_REPS, chunk):
        counts = rng.multinomial(n, np.full(n, 1.0 / n), size=min(chunk, BOOTSTRAP_REPS - start))
        values.append(weighted_auc_many(y, scores, counts * weights))
    auc = np.concatenate(values)
    auc = auc[~np.isnan(auc)]
    if not auc.size:
        return None, None
    tail = (1 - LEVEL) / 2 * 100
    low, high = np.percentile(auc, [tail, 100 - tail])
    return float(low), float(high)


def _routes(spec: ModelSpec, y: np.ndarray, scores: np.ndarray, weights: np.ndarray) -> tuple[RouteShare, ...]:
    routing = spec.routing
    where = {
        Route.AUTO_FLAG: scores >= routing.review_high,
        Route.REVIEW: (scores >= routing.review_low) & (scores < routing.review_high),
        Route.AUTO_PASS: scores < routing.review_low,
    }
    total, positive = float(weights.sum()), float((weights * y).sum())
    shares = []
    for route, mask in where.items():
        in_route = float(weights[mask].sum())
        hits = float((weights[mask] * y[mask]).sum())
        shares.append(RouteShare(route.value, in_route / total if total else 0.0,
                                 hits / in_route if in_route else None, hits / positive if positive else None))
    return tuple(shares)


def evaluate(ctx: AppContext, model_name: str, rows: Sequence[Mapping[str, Any]], labels: Sequence[int],
             probabilities: Sequence[float] | None = None, versions: Sequence[int] | None = None,
             progress: Progress | None = None) -> Evaluation:
    """Score the labelled rows with each version (default: every stored version) and measure each: AUC_w with
    its interval, the routes at the thresholds routing now (an applied policy version, else the decorator's)
    and, with two or more versions, Δ AUC_w against the champion (module docstring). Rows are validated first
    (ValidationFailed naming ``row n``)."""
    spec = ctx.registry.model(model_name)
    if not rows:
        raise ValidationFailed("no rows to evaluate", field="rows")
    if len(labels) != len(rows) or (probabilities is not None and len(probabilities) != len(rows)):
        raise ValidationFailed("rows, labels and selection probabilities differ in length", field="labels")
    clean = [spec.features.validate(row, where=f"row {n}") for n, row in enumerate(rows, start=1)]
    bad = next((n for n, label in enumerate(labels, start=1) if label not in (0, 1)), None)
    if bad is not None:
        raise ValidationFailed(f"row {bad}: label must be 1 or 0", field=f"row {bad}.label")
    targets, champion = _targets(ctx, model_name, versions)
    with ctx.read() as conn:  # routes at the thresholds routing live traffic now: an applied policy version
        routed = policies.routed(ctx, conn, spec)[0]
    report = progress or (lambda step, fraction: None)
    y = np.asarray(labels, dtype=int)
    weights = label_weights(probabilities) if probabilities is not None else np.ones(len(y))
    total = len(clean) * len(targets)
    scores: dict[int, np.ndarray] = {}
    for i, target in enumerate(targets):
        scorer = ctx.scorers.get(spec, target.id, target.artifact_path, target.sha256,
                                 config=target.serving_config or {}, input_schema=target.input_schema)
        parts = []
        for start in range(0, len(clean), SCORE_CHUNK):
            report(f"scoring v{target.version}", (i * len(clean) + start) / total)
            parts.append(np.asarray(scorer.score(clean[start:start + SCORE_CHUNK]), dtype=np.float64).reshape(-1))
        scores[target.version] = np.concatenate(parts)
    report("bootstrap", 1.0)
    chunk = max(1, min(250, 20_000_000 // len(y)))  # resamples held at once: bounded memory on long files
    compare = len(targets) >= 2 and champion in scores
    results = []
    for target in targets:
        s = scores[target.version]
        low, high = _auc_interval(y, s, weights, chunk)
        difference = None
        if compare and champion is not None and target.version != champion:
            difference = paired_bootstrap(y, s, scores[champion], weights, reps=BOOTSTRAP_REPS, seed=SEED,
                                          level=LEVEL, chunk=chunk)
        results.append(VersionResult(
            version=target.version, status=target.status, n=len(y), positives=int(y.sum()),
            auc=weighted_auc(y, s, weights), auc_low=low, auc_high=high, routes=_routes(routed, y, s, weights),
            difference=difference.difference if difference else None,
            difference_low=difference.low if difference else None,
            difference_high=difference.high if difference else None,
        ))
    report("done", 1.0)
    return Evaluation(model=model_name, n=len(y), positives=int(y.sum()), weighted=probabilities is not None,
                      champion=champion, versions=tuple(results),
                      scores={v: [float(x) for x in s] for v, s in scores.items()})
