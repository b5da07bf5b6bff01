"""Kinds of model: tabular (sklearn → skl2onnx), text (ONNX sentence encoder + fused head), and the
bring-your-own ones: an ONNX file (onnx_file) and a local transformer classifier (hf_classifier).

``kind_for(spec)`` is the only place a spec's kind is looked at; training and serving go through it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

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
from reviewqueue.kinds.hf_classifier import HF_CLASSIFIER
from reviewqueue.kinds.onnx_file import ONNX_FILE, not_retrainable
from reviewqueue.kinds.tabular import TABULAR
from reviewqueue.kinds.text import TEXT
from reviewqueue.registry import ModelSpec

__all__ = ["HOLDOUT_FRACTION", "Artifact", "Fitted", "LabelledData", "ModelKind", "Progress", "Scorer", "as_recorded",
           "kind_for", "no_progress", "not_retrainable", "retrainable", "source_identity"]


class BringYourOwn(Protocol):
    """What a bring-your-own kind adds: its declared file or folder checked (once), its fingerprint, and the rest
    of its declaration that decides scores (recorded in the version's lineage as ``declaration``)."""

    def source_identity(self, spec: ModelSpec) -> tuple[str, dict[str, Any]]: ...


_KINDS: dict[str, ModelKind] = {TABULAR.name: TABULAR, TEXT.name: TEXT, ONNX_FILE.name: ONNX_FILE,
                                HF_CLASSIFIER.name: HF_CLASSIFIER}
# a bring-your-own model's owner supplies each version's file; reviewqueue never fits it on labels
_BRING_YOUR_OWN: dict[str, BringYourOwn] = {ONNX_FILE.name: ONNX_FILE, HF_CLASSIFIER.name: HF_CLASSIFIER}


def kind_for(spec: ModelSpec) -> ModelKind:
    """The kind that trains and serves this model ('text' when it declares a text feature, else 'tabular'; a
    declared onnx=… file or transformer=… folder: 'onnx_file', 'hf_classifier')."""
    return _KINDS[spec.kind]


def retrainable(spec: ModelSpec) -> bool:
    """Whether reviewqueue fits new versions of this model on labels (False: a bring-your-own model, whose new
    versions are new files registered by its owner, each still judged by the promotion gate)."""
    return spec.kind not in _BRING_YOUR_OWN


def source_identity(spec: ModelSpec) -> tuple[str, dict[str, Any]]:
    """Check a bring-your-own model's declared file or folder (a ConfigurationError naming the field at fault)
    and return its fingerprint and its declaration beside the file (output and column, positive label …):
    registering a fingerprint and declaration a version already records adds nothing; the same file declared
    otherwise scores differently, so it is another version."""
    return _BRING_YOUR_OWN[spec.kind].source_identity(spec)


def as_recorded(spec: ModelSpec, input_schema: Mapping[str, Any] | None) -> ModelSpec:
    """The spec a stored version is scored with. A brought-in ONNX file is read where its version recorded,
    whatever the decorator says now; every other kind fuses what it needs into the version's own files."""
    if spec.kind != ONNX_FILE.name or not input_schema:
        return spec
    return ONNX_FILE.as_recorded(spec, input_schema)
