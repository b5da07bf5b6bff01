"""The one interface a kind of model (tabular, text) implements, and the values training and serving share.

Training asks ``kind_for(spec)`` to encode, fit, score and export (``ModelKind``); serving asks
``kind_for(spec).load_scorer(...)`` for a ``Scorer``. Neither side knows which kind it holds, and this module
imports neither side.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from reviewqueue.errors import ConfigurationError, ReviewQueueError
from reviewqueue.registry import ModelSpec

if TYPE_CHECKING:  # numpy and pandas load only where a model is trained or scored
    import numpy as np
    import pandas as pd

    from reviewqueue.serving.providers import OrtRuntime

__all__ = ["HOLDOUT_FRACTION", "Artifact", "Fitted", "LabelledData", "ModelKind", "Progress", "Scorer",
           "base_split", "fit_estimator", "no_progress"]

HOLDOUT_FRACTION = 0.2
"""Share of the base dataset held out (stratified, random_state=0): what version 1 is judged on. Production
labels are never held out: candidates are judged on them out-of-fold (services.training)."""

Progress = Callable[[str, float], None]
"""Told each step's name and the fraction done (0–1): the CLI draws a bar, the API ignores it."""


def no_progress(step: str, fraction: float) -> None:
    return None


@dataclass
class LabelledData:
    """The production labels training uses, one per prediction (oldest first), all of them.

    ``frame``: the feature columns, ``label`` (1 = positive verdict), ``pi`` (the probability the label was
    gathered; 1 when unknown) and ``first_label_id`` (the prediction's oldest label: a version trained with
    labels up to id c has seen this prediction iff first_label_id ≤ c).
    """

    frame: pd.DataFrame
    label_ids: list[int]
    max_label_id: int

    @property
    def train(self) -> pd.DataFrame:
        """Every label trains the refit artefact (kept for callers of the old train/holdout split)."""
        return self.frame

    @property
    def holdout(self) -> pd.DataFrame:
        """Empty: no label is set aside any more; candidates are judged out-of-fold."""
        return self.frame.iloc[0:0]


@dataclass
class Fitted:
    """A trained model in memory (what ``ModelKind.score`` scores with) and how its fit went."""

    model: Any
    warnings: list[str] = field(default_factory=list)
    converged: bool = True
    trained_on_labels: bool = True  # False for a zero-shot head: every production label is fresh to it


@dataclass
class Artifact:
    """A fitted model exported for serving: its files ("model.onnx" is the served one) and what is recorded."""

    files: dict[str, bytes]
    input_schema: dict[str, Any]
    fingerprint: str
    lineage: dict[str, Any]


def base_split(spec: ModelSpec) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The model's base dataset split into train and holdout (fixed: random_state=0, stratified); empty if none."""
    import pandas as pd
    from sklearn.model_selection import train_test_split

    if spec.dataset is None:
        empty = pd.DataFrame(columns=[*spec.features.names, "label"])
        return empty, empty.copy()
    base = spec.dataset()
    missing = [c for c in [*spec.features.names, "label"] if c not in base.columns]
    if missing:
        raise ReviewQueueError(f"model {spec.name!r}: dataset lacks columns {missing}")
    _check_splittable(spec, base["label"])
    train, holdout = train_test_split(base, test_size=HOLDOUT_FRACTION, random_state=0, stratify=base["label"])
    return train, holdout


def _check_splittable(spec: ModelSpec, labels: pd.Series) -> None:
    """A stratified split needs every label at least twice and each side at least one row per label: say so
    naming the dataset, rather than sklearn's ValueError from inside train_test_split."""
    import math

    counts = labels.value_counts()
    classes, rows = len(counts), len(labels)
    held_out = math.ceil(rows * HOLDOUT_FRACTION)
    if classes >= 2 and counts.min() >= 2 and held_out >= classes and rows - held_out >= classes:
        return
    needed = next(n for n in range(2 * classes, 10_000) if math.ceil(n * HOLDOUT_FRACTION) >= classes)
    seen = ", ".join(f"{n} × {label!r}" for label, n in counts.items()) or "none"
    raise ConfigurationError(
        f"model {spec.name!r}: dataset has {rows} rows (labels: {seen}); its held-out split ({HOLDOUT_FRACTION:.0%}) "
        f"needs both labels on each side: give it at least {max(needed, 2 * max(classes, 2))} rows with at least "
        "2 of each label", field="dataset")


def fit_estimator(spec: ModelSpec, frame: pd.DataFrame) -> Fitted:
    """``spec.train`` on float64 features, with sklearn's ConvergenceWarning caught and reported.

    A fit is not converged when a ConvergenceWarning was raised, or when the estimator reports ``n_iter_``
    at its ``max_iter``.
    """
    import warnings

    import numpy as np
    from sklearn.exceptions import ConvergenceWarning

    features = frame.drop(columns="label").astype(np.float64)
    data = features.assign(label=frame["label"].to_numpy().astype(int))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        estimator = spec.train(data)
    said = [" ".join(str(w.message).split()) for w in caught if issubclass(w.category, ConvergenceWarning)]
    messages = list(dict.fromkeys(m.split(" Increase the number")[0][:300] for m in said))
    converged = not messages
    max_iter, n_iter = getattr(estimator, "max_iter", None), getattr(estimator, "n_iter_", None)
    if isinstance(max_iter, int) and n_iter is not None and int(np.max(np.asarray(n_iter))) >= max_iter:
        converged = False
        messages.append(f"{type(estimator).__name__} stopped at max_iter={max_iter}")
    return Fitted(estimator, [f"ConvergenceWarning: {m}" if not m.startswith(type(estimator).__name__) else m
                              for m in messages], converged)


class Scorer(Protocol):
    """A loaded model version: P(positive) for validated feature rows, and why one row scored as it did."""

    def score(self, rows: Sequence[dict[str, Any]]) -> np.ndarray: ...

    def explain(self, row: dict[str, Any], input_schema: dict[str, Any]) -> list[dict[str, Any]]: ...


class ModelKind(Protocol):
    """How one kind of model is trained (in folds and once more on everything), exported and loaded back.

    Training (services.training) encodes each set of rows once (``encode``), fits and scores as often as the
    evaluation needs (``fit`` / ``score``: out-of-fold), exports the final fit (``export``), and scores the
    stored champion on the same rows (``score_version``). Serving asks ``load_scorer``.
    """

    name: str

    def encode(self, spec: ModelSpec, frames: Sequence[pd.DataFrame], *, artifact_dir: Path) -> list[pd.DataFrame]:
        """Raw rows (feature columns + ``label``) → the frames ``spec.train`` receives (float64 + ``label``).

        ``artifact_dir`` is the model store's root (a kind may keep shared files there, e.g. the text encoder).
        """
        ...

    def initial(self, spec: ModelSpec, *, artifact_dir: Path) -> Fitted | None:
        """A first version that needs no labels (a zero-shot head), or None to train on data."""
        ...

    def fit(self, spec: ModelSpec, frame: pd.DataFrame) -> Fitted:
        """Fit ``spec.train`` on an encoded frame (float64; convergence reported)."""
        ...

    def score(self, spec: ModelSpec, fitted: Fitted, frame: pd.DataFrame) -> np.ndarray:
        """P(positive) of a fitted model on an encoded frame."""
        ...

    def export(self, spec: ModelSpec, fitted: Fitted, frame: pd.DataFrame, *, artifact_dir: Path) -> Artifact:
        """The served files of a fitted model (``frame``: what it was trained on, for references/fingerprint)."""
        ...

    def score_version(self, spec: ModelSpec, artifact_path: str, rows: pd.DataFrame,
                      runtime: OrtRuntime | None = None) -> np.ndarray:
        """A stored version's ONNX scores on raw rows (feature columns), on ``runtime``'s providers and threads
        (serving's: training passes ``ctx.scorers.runtime``; None = auto)."""
        ...

    def load_scorer(self, spec: ModelSpec, artifact_path: Path, sha256: str, providers: Sequence[str],
                    threads: int) -> Scorer:
        """Load a stored version for scoring, refusing it if its file's sha256 differs from the recorded one.

        ``threads``: ONNX Runtime intra-op threads (0 = auto, see serving.sessions.ort_threads).
        """
        ...
