"""Kinds of model: tabular (sklearn → skl2onnx) and text (ONNX sentence encoder + fused head).

``kind_for(spec)`` is the only place a spec's kind is looked at; training and serving go through it.
"""

from __future__ import annotations

from reviewqueue.kinds.base import (
    HOLDOUT_FRACTION,
    Artifact,
    Fitted,
    LabelledData,
    ModelKind,
    Progress,
    Scorer,
    no_progress,
)
from reviewqueue.kinds.tabular import TABULAR
from reviewqueue.kinds.text import TEXT
from reviewqueue.registry import ModelSpec

__all__ = ["HOLDOUT_FRACTION", "Artifact", "Fitted", "LabelledData", "ModelKind", "Progress", "Scorer", "kind_for",
           "no_progress"]

_KINDS: dict[str, ModelKind] = {TABULAR.name: TABULAR, TEXT.name: TEXT}


def kind_for(spec: ModelSpec) -> ModelKind:
    """The kind that trains and serves this model ('text' when it declares a text feature, else 'tabular')."""
    return _KINDS[spec.kind]
