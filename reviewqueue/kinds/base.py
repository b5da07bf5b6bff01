"""The one interface a kind of model (tabular, text) implements, and the values training and serving share.

Training asks ``kind_for(spec).fit(...)`` for a ``Candidate``; serving asks ``kind_for(spec).load_scorer(...)`` for a
``Scorer``. Neither side knows which kind it holds, and this module imports neither side.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from reviewqueue.db.versions import Champion
from reviewqueue.registry import ModelSpec

if TYPE_CHECKING:  # numpy and pandas load only where a model is trained or scored
    import numpy as np
    import pandas as pd

__all__ = ["HOLDOUT_FRACTION", "Candidate", "LabelledData", "ModelKind", "Progress", "Scorer", "no_progress"]

HOLDOUT_FRACTION = 0.2
"""Share of the base dataset and of the labelled predictions (by id hash) held out for evaluation."""

Progress = Callable[[str, float], None]
"""Told each step's name and the fraction done (0–1): the CLI draws a bar, the API ignores it."""


def no_progress(step: str, fraction: float) -> None:
    return None


@dataclass
class LabelledData:
    """The labels training uses, one per prediction, split into train and holdout rows by id hash."""

    train: pd.DataFrame
    holdout: pd.DataFrame
    label_ids: list[int]
    max_label_id: int


@dataclass
class Candidate:
    """A trained model before it is stored: its files, and its and the champion's scores on one holdout."""

    files: dict[str, bytes]  # written into the version folder; "model.onnx" is the served artifact
    y_true: np.ndarray
    candidate_scores: np.ndarray
    champion_scores: np.ndarray | None
    input_schema: dict[str, Any]
    fingerprint: str
    lineage: dict[str, Any]


class Scorer(Protocol):
    """A loaded model version: P(positive) for validated feature rows, and why one row scored as it did."""

    def score(self, rows: Sequence[dict[str, Any]]) -> np.ndarray: ...

    def explain(self, row: dict[str, Any], input_schema: dict[str, Any]) -> list[dict[str, Any]]: ...


class ModelKind(Protocol):
    """How one kind of model is trained into ONNX files and loaded back for scoring."""

    name: str

    def fit(self, spec: ModelSpec, labelled: LabelledData, champion: Champion | None, progress: Progress, *,
            artifact_dir: Path) -> Candidate:
        """Train a candidate on base data + labels and score it and the champion on the same holdout.

        ``artifact_dir`` is the model store's root (a kind may keep shared files there, e.g. the text encoder).
        """
        ...

    def load_scorer(self, spec: ModelSpec, artifact_path: Path, sha256: str, providers: Sequence[str],
                    threads: int) -> Scorer:
        """Load a stored version for scoring, refusing it if its file's sha256 differs from the recorded one.

        ``threads``: ONNX Runtime intra-op threads (0 = auto, see serving.sessions.ort_threads).
        """
        ...
