"""Model kinds: kind_for picks one; ScorerCache loads scorers through it and drops a model's old versions."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import reviewqueue as rq
from reviewqueue.errors import ConfigurationError
from reviewqueue.kinds import kind_for
from reviewqueue.kinds.tabular import TabularScorer, export_onnx
from reviewqueue.registry import SPEC_ATTRIBUTE, ModelSpec
from reviewqueue.serving.scorers import ScorerCache
from reviewqueue.serving.sessions import ort_threads, session_options, sha256_file


def _spec(name: str, features: dict[str, object]) -> ModelSpec:
    def train(df: pd.DataFrame) -> LogisticRegression:
        return LogisticRegression().fit(df.drop(columns="label"), df["label"])

    decorate = rq.model(
        name=name, features=features, verdicts={"yes": [], "no": []}, positive_verdict="yes", negative_verdict="no",
        dataset=lambda: pd.DataFrame({**{f: [0.0, 1.0] for f in features}, "label": [0, 1]}),
        zero_shot=(rq.ZeroShot(positive=("bad",), negative=("fine",), calibration=(("bad", 1), ("fine", 0)))
                   if name.startswith("text") else None),
    )
    spec: ModelSpec = getattr(decorate(train), SPEC_ATTRIBUTE)
    return spec


def _version(tmp_path: Path, number: int, flip: bool = False) -> tuple[str, str]:
    """A tiny tabular artifact on disk: (path, sha256)."""
    x = np.array([[0.0, 0.0], [1.0, 1.0], [0.2, 0.1], [0.9, 0.8]])
    y = np.array([1, 0, 1, 0] if flip else [0, 1, 0, 1])
    folder = tmp_path / str(number)
    folder.mkdir()
    path = folder / "model.onnx"
    path.write_bytes(export_onnx(LogisticRegression().fit(x, y), 2))
    return str(path), sha256_file(path)


def test_kind_for_follows_the_declared_features() -> None:
    assert kind_for(_spec("tabular_m", {"a": float, "b": float})).name == "tabular"
    assert kind_for(_spec("text_m", {"message": rq.Text()})).name == "text"


def test_a_new_champion_evicts_the_models_older_sessions(tmp_path: Path) -> None:
    spec, other = _spec("m", {"a": float, "b": float}), _spec("n", {"a": float, "b": float})
    cache = ScorerCache(threads=1)
    v1, v2, n1 = _version(tmp_path, 1), _version(tmp_path, 2, flip=True), _version(tmp_path, 3)
    first = cache.get(spec, 1, *v1)
    cache.get(other, 3, *n1)
    assert isinstance(first, TabularScorer)
    low, high = first.score([{"a": 0.0, "b": 0.0}, {"a": 1.0, "b": 1.0}])
    assert low < 0.5 < high
    assert cache.get(spec, 1, *v1) is first, "loaded once per version"

    cache.get(spec, 2, *v2)  # model m's champion changed (promotion): version 1's session goes
    assert 1 not in cache.sessions and 2 in cache.sessions
    assert 3 in cache.sessions, "another model's sessions stay"

    again = cache.get(spec, 1, *v1)  # explaining an item version 1 scored: loaded again, lazily
    assert again is not first and 2 in cache.sessions
    cache.get(spec, 2, *v2)
    assert 1 in cache.sessions, "asking for the current champion again evicts nothing"


def test_a_tampered_artifact_is_refused_by_either_kind(tmp_path: Path) -> None:
    path, _ = _version(tmp_path, 1)
    (Path(path).parent / "tokenizer.json").write_text("{}")  # a text version is a folder: model + tokenizer
    for spec in (_spec("tabular_t", {"a": float, "b": float}), _spec("text_t", {"message": rq.Text()})):
        with pytest.raises(ConfigurationError, match="sha256"):
            kind_for(spec).load_scorer(spec, Path(path), "0" * 64, ["CPUExecutionProvider"], 1)


def test_ort_threads_come_from_settings_or_half_the_cores() -> None:
    assert ort_threads(3) == 3
    assert ort_threads(0) == max(1, (os.cpu_count() or 2) // 2)
    assert session_options(2).intra_op_num_threads == 2 and session_options(2).inter_op_num_threads == 1
    assert ScorerCache(threads=2).threads == 2 and ScorerCache().threads == 0
