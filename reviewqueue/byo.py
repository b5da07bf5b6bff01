"""Bring-your-own models: what ``@reviewqueue.model(onnx=…)`` or ``(transformer=…)`` declares, checked at import.

Two sources, served and promoted like a trained model but never trained by reviewqueue:

- ``OnnxSource``: an existing ONNX file, its graph inputs (one per feature, or one matrix fed the encoded
  features in declaration order) and the output that holds P(positive);
- ``TransformerSource``: a local ``*ForSequenceClassification`` folder (config.json, weights, tokenizer.json),
  exported once to ONNX with the text kind's exporter; ``positive_label`` names its positive class.

Only the declaration's shape is checked here (import must stay light, and an API host reading files from the
database artifact store has no copy of the source). The file itself is validated at registration
(``reviewqueue models register NAME``: ``kinds/onnx_file.py``, ``kinds/hf_classifier.py``).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from reviewqueue.errors import ConfigurationError
from reviewqueue.features import Category, Text

__all__ = ["OnnxSource", "Source", "TransformerSource", "anchored", "declare_source"]

@dataclass(frozen=True)
class OnnxSource:
    """An ONNX file; ``inputs``: feature → declared type (per-feature graph inputs), or ``matrix_input`` names the
    one [N, F] input fed the encoded features; ``output``/``positive_index``: where P(positive) is read."""

    path: Path
    inputs: tuple[str, ...]
    matrix_input: str | None
    output: str | None
    """The graph output holding the probabilities (None: the last output)."""
    positive_index: int | None
    """Its column of the positive class (None: 1 for a two-column output, else its only column)."""

    kind = "onnx_file"
    label = "an ONNX file"


@dataclass(frozen=True)
class TransformerSource:
    """A local sequence-classification transformer; ``positive_label``: the id2label name of the positive class."""

    folder: Path
    positive_label: str
    max_length: int = 256

    kind = "hf_classifier"
    label = "a transformer classifier"


Source = OnnxSource | TransformerSource


def declare_source(
    name: str, *, onnx: str | Path | None, inputs: Mapping[str, Any] | None, output: Any,
    transformer: str | Path | None, positive_label: str | None, features: Mapping[str, Any] | None,
) -> tuple[Source | None, Mapping[str, Any] | None]:
    """The declared source (None: a model reviewqueue trains) and the features the API validates.

    ``inputs``: ``{"amount": float, "country": rq.Category(...)}`` (one graph input per feature; they are also
    the features unless ``features`` is given) or ``{"float_input": ["amount", "age"]}`` (one [N, F] float32
    input fed those features, encoded as tabular models are). ``output``: the output's name, the positive
    class's column in the last output (an int), or both as ``("probabilities", 1)``.
    """
    where = f"model {name!r}"
    if onnx is not None and transformer is not None:
        raise ConfigurationError(f"{where}: declare onnx=… or transformer=…, not both", field="onnx")
    if onnx is None and transformer is None:
        for value, option in ((inputs, "inputs"), (output, "output"), (positive_label, "positive_label")):
            if value is not None:
                raise ConfigurationError(f"{where}: {option}=… belongs to a bring-your-own model (onnx=… or "
                                         "transformer=…)", field=option)
        return None, features
    if transformer is not None:
        if not isinstance(positive_label, str) or not positive_label:
            raise ConfigurationError(f"{where}: transformer=… needs positive_label=… (the config's id2label name "
                                     "of the positive class)", field="positive_label")
        declared = features if features is not None else {"text": Text()}
        texts = [k for k, v in declared.items() if isinstance(v, Text)]
        if len(texts) != 1 or len(declared) != 1:
            raise ConfigurationError(f"{where}: a transformer classifier reads one text feature, e.g. "
                                     "features={'text': rq.Text()}", field="features")
        return TransformerSource(Path(transformer), positive_label), declared
    if onnx is None:  # unreachable (one of the two is declared): says so to the type checker
        raise ConfigurationError(f"{where}: onnx=… is required", field="onnx")
    if not isinstance(inputs, Mapping) or not inputs:
        raise ConfigurationError(f"{where}: onnx=… needs inputs=… (the graph's inputs: {{'amount': float, …}}, "
                                 "or {'float_input': ['amount', …]} for one matrix input)", field="inputs")
    path_output, index = _output(where, output)
    lists = [k for k, v in inputs.items() if isinstance(v, list | tuple)]
    if lists:
        if len(inputs) != 1:
            raise ConfigurationError(f"{where}: inputs=… is either one matrix input {{'X': [feature, …]}} or one "
                                     "input per feature, not both", field="inputs")
        matrix, columns = lists[0], list(inputs[lists[0]])
        declared = features if features is not None else dict.fromkeys(columns, float)
        if list(declared) != columns:
            raise ConfigurationError(f"{where}: inputs[{matrix!r}] lists {columns}, the features are "
                                     f"{list(declared)} (same names, same order)", field="inputs")
        _no_text(where, declared)
        return OnnxSource(Path(onnx), tuple(columns), matrix, path_output, index), declared
    declared = features if features is not None else inputs
    if set(declared) != set(inputs):
        raise ConfigurationError(f"{where}: inputs {sorted(inputs)} and features {sorted(declared)} differ",
                                 field="inputs")
    _no_text(where, declared)
    return OnnxSource(Path(onnx), tuple(inputs), None, path_output, index), declared


def _no_text(where: str, declared: Mapping[str, Any]) -> None:
    for key, value in declared.items():
        if isinstance(value, Text):
            raise ConfigurationError(f"{where}: inputs[{key!r}] is text: an ONNX file takes numbers, booleans and "
                                     "categories (a text classifier: transformer=…)", field="inputs")
        if not isinstance(value, Category) and value not in (float, int, bool):
            raise ConfigurationError(f"{where}: inputs[{key!r}] must be float, int, bool or rq.Category(...), "
                                     f"got {value!r}", field="inputs")


def _output(where: str, output: Any) -> tuple[str | None, int | None]:
    if output is None:
        return None, None
    if isinstance(output, str) and output:
        return output, None
    if isinstance(output, int) and not isinstance(output, bool) and output >= 0:
        return None, output
    if (isinstance(output, tuple) and len(output) == 2 and isinstance(output[0], str)
            and isinstance(output[1], int) and not isinstance(output[1], bool) and output[1] >= 0):
        return output[0], output[1]
    raise ConfigurationError(f"{where}: output must be the output's name, the positive class's column (an int ≥ 0) "
                             f"or (name, column); got {output!r}", field="output")


def anchored(source: Source | None, module: str) -> Source | None:
    """A relative path is relative to the folder of the model module that declares it (``onnx="loan.onnx"`` in
    models/loan.py is models/loan.onnx), so a model loads the same file whatever directory a host starts in."""
    if source is None:
        return None
    path = source.path if isinstance(source, OnnxSource) else source.folder
    where = getattr(sys.modules.get(module), "__file__", None)
    if path.is_absolute() or where is None:
        return source
    resolved = (Path(where).parent / path).resolve()
    return replace(source, path=resolved) if isinstance(source, OnnxSource) else replace(source, folder=resolved)
