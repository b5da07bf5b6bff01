"""Registering a bring-your-own model's file (``reviewqueue models register NAME``): checked, deduplicated, gated.

1. the declared ONNX file or transformer folder is checked before anything is recorded
   (``kinds.source_identity``: a ConfigurationError naming ``onnx``, ``inputs``, ``output``, ``transformer``
   or ``positive_label``; no run, no version);
2. a file a version already records with the same declaration (output and column, positive label …) adds
   nothing: the answer names that version; the same file declared otherwise scores differently, a new version;
   a version the gate rejected holds nothing: registering its file again is judged again;
3. otherwise it is a training run like any other (``training.train_version``, trigger "register"): the first
   version serves; a later one is a candidate the promotion gate compares with the champion on fresh labels.
"""

from __future__ import annotations

from dataclasses import dataclass

from reviewqueue.kinds import Progress, no_progress, retrainable, source_identity
from reviewqueue.kinds.base import base_split
from reviewqueue.registry import ModelSpec
from reviewqueue.services import training, versions
from reviewqueue.services.context import AppContext
from reviewqueue.services.training import RunResult

__all__ = ["Registration", "brings_its_own", "register"]


@dataclass(frozen=True)
class Registration:
    """A run for a new file, or the version that already holds it (``run`` None)."""

    fingerprint: str
    run: RunResult | None
    existing_version: int | None = None

    @property
    def summary(self) -> str:
        if self.run is None:
            return (f"version {self.existing_version} already holds this file (sha256 {self.fingerprint[:12]}…) "
                    "and declaration; nothing registered")
        return self.run.decision or (self.run.error or "")


def brings_its_own(spec: ModelSpec) -> bool:
    """A model declared with onnx=… or transformer=…: registered from its file, never trained by reviewqueue."""
    return not retrainable(spec)


def register(ctx: AppContext, spec: ModelSpec, progress: Progress = no_progress) -> Registration:
    """Check the declared file, then record it as a version (gated) unless one already holds it."""
    fingerprint, declared = source_identity(spec)
    if spec.dataset is not None:
        base_split(spec)  # a dataset too small to judge the file on is refused before a run is recorded
    for existing in versions.model_versions(ctx, spec.name):
        # a version from before declarations were recorded is matched on its file alone; a rejected one is judged
        # again (its dataset may be fixed, or more labels may decide otherwise): it never served
        if existing.status != "rejected" and existing.lineage.get("source_sha256") == fingerprint and \
                existing.lineage.get("declaration", declared) == declared:
            return Registration(fingerprint, None, existing.version)
    return Registration(fingerprint, training.train_version(ctx, spec, trigger="register", progress=progress))
