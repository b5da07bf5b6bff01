"""Bring-your-own ONNX files: validated at registration, stored as they are, served like any version.

Registration (``initial``) loads the declared file with onnxruntime, checks the declared inputs against the
graph's (names, element types, rank), runs a probe batch (the first rows of the model's dataset, else one
made-up row per feature pattern) and checks the declared output gives one probability in [0, 1] per row. Any
mismatch is a ``ConfigurationError`` naming the declaration field at fault (``onnx``, ``inputs``, ``output``),
raised before a run or a version exists. The file's bytes become the version's ``model.onnx`` unchanged.

reviewqueue never fits such a model (``fit`` refuses): a changed file registered again is the candidate, judged
by the same gate as a retrain, on every production label (it trained on none of them: ``max_label_id`` 0).
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pandas as pd

from reviewqueue.byo import OnnxSource
from reviewqueue.errors import ConfigurationError, EventNotScorable
from reviewqueue.kinds.base import Artifact, Fitted
from reviewqueue.registry import ModelSpec
from reviewqueue.serving.sessions import load_session

__all__ = ["ONNX_FILE", "OnnxFileKind", "OnnxFileScorer", "OnnxGraph", "not_retrainable"]

PROBE_ROWS = 64
# what each declared feature kind may be fed as: onnxruntime element types
_ELEMENTS = {"float": ("tensor(float)", "tensor(double)"), "int": ("tensor(int64)", "tensor(int32)"),
             "bool": ("tensor(bool)",), "category": ("tensor(string)",)}
_NUMPY = {"tensor(float)": np.float32, "tensor(double)": np.float64, "tensor(int64)": np.int64,
          "tensor(int32)": np.int32, "tensor(bool)": np.bool_, "tensor(string)": np.object_}
_PROBABILITY_TYPES = ("tensor(float)", "tensor(double)", "tensor(float16)")


def not_retrainable(spec: ModelSpec) -> str:
    source = spec.source.label if spec.source is not None else "a bring-your-own model"
    return (f"model {spec.name!r} is {source}: reviewqueue cannot retrain it from labels. Replace the file it "
            f"declares and run `reviewqueue models register {spec.name}`: the new version is judged against the "
            "champion on fresh labels by the promotion gate")


def _source(spec: ModelSpec) -> OnnxSource:
    if not isinstance(spec.source, OnnxSource):
        raise ConfigurationError(f"model {spec.name!r} declares no onnx=… file")
    return spec.source


class OnnxGraph:
    """A declared ONNX file loaded for scoring: how rows are fed to its inputs and where P(positive) is read."""

    def __init__(self, spec: ModelSpec, session: ort.InferenceSession, data: bytes | None = None) -> None:
        self.spec, self.source, self.session, self.data = spec, _source(spec), session, data
        self.inputs = {i.name: i for i in session.get_inputs()}
        self.outputs = [o.name for o in session.get_outputs()]
        self.column: int | None = None  # the output's column P(positive) was last read from

    def score(self, rows: Sequence[dict[str, Any]]) -> np.ndarray:
        if not rows:
            return np.empty((0,), dtype=np.float32)
        name = self.source.output or self.outputs[-1]
        (values,) = self.session.run([name], self._feeds(rows))
        return self._positive(values)

    def _feeds(self, rows: Sequence[dict[str, Any]]) -> dict[str, np.ndarray]:
        if self.source.matrix_input is not None:
            graph = self.inputs[self.source.matrix_input]
            return {graph.name: self.spec.features.encode(rows).astype(_NUMPY[graph.type])}
        feeds = {}
        for feature in self.spec.features.features:
            graph = self.inputs[feature.name]
            values = [row[feature.name] for row in rows]
            try:
                column: np.ndarray = np.array(values, dtype=_NUMPY[graph.type])
            except OverflowError as exc:  # an int the validator allows (int64) beyond the graph's int32
                raise _out_of_range(feature.name, graph.type, values) from exc
            feeds[feature.name] = column.reshape(-1, 1) if len(graph.shape) == 2 else column
        return feeds

    def _positive(self, values: Any) -> np.ndarray:
        name = self.source.output or self.outputs[-1]
        array = np.asarray(values)
        if array.dtype == object:
            raise ConfigurationError(f"model {self.spec.name!r}: output {name!r} is not a tensor (a ZipMap of "
                                     "dictionaries?); export with zipmap off or declare the probabilities tensor",
                                     field="output")
        if array.ndim == 1 or (array.ndim == 2 and array.shape[1] == 1):
            column = self.source.positive_index or 0
            if column != 0:
                raise ConfigurationError(f"model {self.spec.name!r}: output {name!r} has one column; "
                                         f"column {column} does not exist", field="output")
            self.column = 0
            return array.reshape(-1).astype(np.float32)
        if array.ndim != 2:
            raise ConfigurationError(f"model {self.spec.name!r}: output {name!r} has shape {array.shape}; expected "
                                     "[N], [N, 1] or [N, classes]", field="output")
        width = array.shape[1]
        column = self.source.positive_index if self.source.positive_index is not None else (1 if width == 2 else -1)
        if not 0 <= column < width:
            declared = f"column {self.source.positive_index} does not exist; " \
                if self.source.positive_index is not None else ""
            raise ConfigurationError(f"model {self.spec.name!r}: output {name!r} has {width} columns ({declared}"
                                     f"declare the positive class's column, e.g. output=({name!r}, 1))",
                                     field="output")
        self.column = column
        return array[:, column].astype(np.float32)

    def declaration(self) -> dict[str, Any]:
        """What, beside the file, decides this model's scores: its inputs, and the output and column P(positive)
        is read from (resolved: ``output="p"`` and ``output=("p", 0)`` on a one-column output are the same)."""
        source = self.source
        return {"inputs": {source.matrix_input: list(source.inputs)} if source.matrix_input else list(source.inputs),
                "output": source.output or self.outputs[-1], "positive_index": self.column}


def _out_of_range(name: str, element: str, values: Sequence[Any]) -> EventNotScorable:
    limits = np.iinfo(_NUMPY[element])
    row = next(i for i, v in enumerate(values) if not limits.min <= v <= limits.max)
    return EventNotScorable(f"{values[row]} is outside the range of this model's graph input {name!r} "
                            f"({element}: {limits.min} … {limits.max})", row=row, field=f"features.{name}")


def check_graph(spec: ModelSpec, graph: OnnxGraph) -> None:
    """The declared inputs and output against the graph's: a clear error naming the declaration at fault."""
    source, where = graph.source, f"model {spec.name!r}: {graph.source.path}"
    have = ", ".join(f"{i.name} {i.type}{list(i.shape)}" for i in graph.inputs.values())
    declared = [source.matrix_input] if source.matrix_input is not None else list(source.inputs)
    missing = [n for n in declared if n not in graph.inputs]
    extra = [n for n in graph.inputs if n not in declared]
    if missing or extra:
        raise ConfigurationError(f"{where}: inputs {declared} do not match the graph's inputs ({have})"
                                 + (f"; not in the graph: {missing}" if missing else "")
                                 + (f"; not declared: {extra}" if extra else ""), field="inputs")
    if source.matrix_input is not None:
        matrix = graph.inputs[source.matrix_input]
        width = matrix.shape[1] if len(matrix.shape) == 2 else None
        if matrix.type not in _ELEMENTS["float"] or len(matrix.shape) != 2 or (
                isinstance(width, int) and width != len(source.inputs)):
            raise ConfigurationError(f"{where}: inputs[{source.matrix_input!r}] feeds {len(source.inputs)} "
                                     f"features as a float matrix [N, {len(source.inputs)}]; the graph wants "
                                     f"{matrix.type}{list(matrix.shape)}", field="inputs")
    else:
        for feature in spec.features.features:
            entry = graph.inputs[feature.name]
            dims = list(entry.shape)
            rank_ok = len(dims) == 1 or (len(dims) == 2 and (dims[1] in (1, None) or isinstance(dims[1], str)))
            if entry.type not in _ELEMENTS[feature.kind] or not rank_ok:
                raise ConfigurationError(f"{where}: inputs[{feature.name!r}] is declared {feature.kind} (fed as "
                                         f"{' or '.join(_ELEMENTS[feature.kind])} [N] or [N, 1]); the graph's "
                                         f"input is {entry.type}{list(entry.shape)}", field="inputs")
    if source.output is not None and source.output not in graph.outputs:
        raise ConfigurationError(f"{where}: output {source.output!r} is not one of the graph's outputs "
                                 f"{graph.outputs}", field="output")
    output = next(o for o in graph.session.get_outputs() if o.name == (source.output or graph.outputs[-1]))
    if output.type.startswith("tensor(") and output.type not in _PROBABILITY_TYPES:
        # an integer or boolean tensor is a class label (0/1), which would pass the [0, 1] probe as a "score"
        raise ConfigurationError(f"{where}: output {output.name!r} is {output.type}, a class label, not a "
                                 f"probability; declare the graph's float probabilities output (outputs: "
                                 f"{_described(graph.session.get_outputs())})", field="output")


def _described(outputs: Sequence[Any]) -> str:
    return ", ".join(f"{o.name} {o.type}" for o in outputs)


def probe_rows(spec: ModelSpec) -> list[dict[str, Any]]:
    """Rows to try the graph on: the dataset's first rows when there is one, else a small made-up batch."""
    if spec.dataset is not None:
        frame = spec.dataset()
        return [spec.features.validate(r) for r in frame[spec.features.names].head(PROBE_ROWS).to_dict("records")]
    made_up: list[dict[str, Any]] = []
    for i in range(8):
        row: dict[str, Any] = {}
        for f in spec.features.features:
            row[f.name] = ({"float": float(10 ** (i % 4) * (i - 3)), "int": i * 7, "bool": bool(i % 2)}.get(f.kind)
                           if f.kind != "category" else f.categories[i % len(f.categories)])
        made_up.append(row)
    return made_up


def validate(spec: ModelSpec) -> OnnxGraph:
    """Load the declared file and prove it can serve: inputs match, a probe batch gives probabilities in [0, 1]."""
    source = _source(spec)
    path = source.path
    if not path.is_file():
        raise ConfigurationError(f"model {spec.name!r}: onnx file {path} does not exist", field="onnx")
    data = path.read_bytes()
    try:
        session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph/… types
        raise ConfigurationError(f"model {spec.name!r}: {path} is not a loadable ONNX model: "
                                 f"{str(exc).splitlines()[0][:300]}", field="onnx") from exc
    graph = OnnxGraph(spec, session, data)
    check_graph(spec, graph)
    rows = probe_rows(spec)
    try:
        scores = graph.score(rows)
    except ConfigurationError:
        raise
    except Exception as exc:
        raise ConfigurationError(f"model {spec.name!r}: {path} fails on a probe batch of {len(rows)} rows: "
                                 f"{str(exc).splitlines()[0][:300]}", field="inputs") from exc
    name = source.output or graph.outputs[-1]
    if scores.shape != (len(rows),) or not np.all(np.isfinite(scores)) or scores.min() < 0 or scores.max() > 1:
        low, high = (float(np.nanmin(scores)), float(np.nanmax(scores))) if scores.size else (0.0, 0.0)
        raise ConfigurationError(
            f"model {spec.name!r}: output {name!r} is not a probability: on a probe batch of {len(rows)} rows it "
            f"gave {scores.size} values in [{low:.3g}, {high:.3g}], expected one value in [0, 1] per row; "
            "declare the output that holds probabilities (e.g. output='probabilities') or end the graph with a "
            "sigmoid/softmax", field="output")
    return graph


class OnnxFileScorer:
    def __init__(self, graph: OnnxGraph) -> None:
        self.graph = graph

    def score(self, rows: Sequence[dict[str, Any]]) -> np.ndarray:
        return self.graph.score(rows)

    def explain(self, row: dict[str, Any], input_schema: dict[str, Any]) -> list[dict[str, Any]]:
        return []  # an opaque file: no training reference to swap features to


class OnnxFileKind:
    name = "onnx_file"

    def encode(self, spec: ModelSpec, frames: Sequence[pd.DataFrame], *, artifact_dir: Path) -> list[pd.DataFrame]:
        """Raw rows: the graph is fed the declared features as served."""
        return [frame.reset_index(drop=True) for frame in frames]

    def source_identity(self, spec: ModelSpec) -> tuple[str, dict[str, Any]]:
        graph = validate(spec)  # loads the file and runs the probe: once per registration's check
        return hashlib.sha256(graph.data or b"").hexdigest(), graph.declaration()

    def as_recorded(self, spec: ModelSpec, input_schema: Mapping[str, Any]) -> ModelSpec:
        """The spec a stored version scores with: its file read at the output and column its version recorded,
        whatever the decorator says now (a changed declaration is a new version: ``models register``)."""
        source = _source(spec)
        if "output" not in input_schema:
            return spec
        recorded = dataclasses.replace(source, output=input_schema["output"],
                                       positive_index=input_schema.get("positive_index"))
        return spec if recorded == source else dataclasses.replace(spec, source=recorded)

    def initial(self, spec: ModelSpec, *, artifact_dir: Path) -> Fitted | None:
        return Fitted(validate(spec), trained_on_labels=False)

    def fit(self, spec: ModelSpec, frame: pd.DataFrame) -> Fitted:
        raise ConfigurationError(not_retrainable(spec), field="model")

    def score(self, spec: ModelSpec, fitted: Fitted, frame: pd.DataFrame) -> np.ndarray:
        rows = frame[spec.features.names].to_dict("records")
        return np.asarray(fitted.model.score(rows), dtype=np.float64)

    def export(self, spec: ModelSpec, fitted: Fitted, frame: pd.DataFrame, *, artifact_dir: Path) -> Artifact:
        graph: OnnxGraph = fitted.model
        data = graph.data or b""
        sha = hashlib.sha256(data).hexdigest()
        source = graph.source
        return Artifact(
            files={"model.onnx": data},
            input_schema={"features": spec.features.to_json(), "input": "onnx file", **graph.declaration()},
            fingerprint=sha,
            lineage={"source": str(source.path), "source_sha256": sha, "declaration": graph.declaration(),
                     "byo": self.name, "max_label_id": 0},
        )

    def score_version(self, spec: ModelSpec, artifact_path: str, rows: pd.DataFrame,
                      runtime: Any = None) -> np.ndarray:
        if rows.empty:
            return np.empty((0,), dtype=np.float64)
        session = ort.InferenceSession(artifact_path, providers=["CPUExecutionProvider"])
        return np.asarray(OnnxGraph(spec, session).score(rows[spec.features.names].to_dict("records")),
                          dtype=np.float64)

    def load_scorer(self, spec: ModelSpec, artifact_path: Path, sha256: str, providers: Sequence[str],
                    threads: int) -> OnnxFileScorer:
        return OnnxFileScorer(OnnxGraph(spec, load_session(artifact_path, sha256, providers, threads)))


ONNX_FILE = OnnxFileKind()
