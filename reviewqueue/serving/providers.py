"""Which execution providers and how many threads an ONNX Runtime session gets: one builder for every session.

Serving (``serving.sessions``, ``kinds``), training-time evaluation (it scores the champion through the same
scorer cache) and ``reviewqueue bench-model`` all open sessions through ``OrtRuntime``, so a setting means the
same thing everywhere. What a version is served with is, in order: ``Settings.ort_providers`` /
``Settings.ort_intra_op_threads`` when set, else the version's applied serving config (measured by
``bench-model --apply``), else auto — CUDA when this onnxruntime build and machine offer it, then CPU, and
cores // 2 threads.

A provider named in Settings that this build lacks stops the process at start with one line naming it and the
``reviewqueue[gpu]`` extra: a silent fallback to CPU would hide a misconfigured GPU host. A provider named only in
a stored serving config (measured on another host) is dropped with a warning instead: the version still serves.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import onnxruntime as ort

from reviewqueue.errors import ConfigurationError

__all__ = ["CPU", "CUDA", "GPU_EXTRA", "TENSORRT", "OrtRuntime", "ServingConfig", "available_providers",
           "check_available", "choose_providers", "ort_threads", "session_options"]

log = logging.getLogger(__name__)

CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"
TENSORRT = "TensorrtExecutionProvider"
GPU_EXTRA = (f"pip install 'reviewqueue[gpu]', then keep only the GPU wheel: pip uninstall -y onnxruntime "
             f"onnxruntime-gpu && pip install onnxruntime-gpu=={ort.__version__} (README, 'The GPU extra')")


def available_providers() -> list[str]:
    """What this onnxruntime build can run on this machine (the CPU wheel: CPUExecutionProvider only)."""
    return list(ort.get_available_providers())


def choose_providers(available: Sequence[str] | None = None) -> list[str]:
    """Auto: CUDA first when this onnxruntime build and machine offer it, CPU always as the fallback."""
    available = list(available if available is not None else available_providers())
    chosen = [p for p in (CUDA,) if p in available]
    return [*chosen, CPU]


def check_available(providers: Sequence[str], available: Sequence[str] | None = None,
                    source: str = "REVIEWQUEUE_ORT_PROVIDERS") -> None:
    """Refuse, in one line, a provider this onnxruntime build does not offer."""
    available = list(available if available is not None else available_providers())
    missing = [p for p in providers if p not in available]
    if missing:
        raise ConfigurationError(
            f"{source}: ONNX Runtime execution provider {missing[0]} is not available in this onnxruntime "
            f"{ort.__version__} build (available: {', '.join(available)}); for GPU providers: {GPU_EXTRA}")


def ort_threads(configured: int = 0) -> int:
    """Intra-op threads per session: ``configured`` if > 0, else max(1, cores // 2).

    On a small machine several processes (API, worker) share the cores: don't let each spin up a full pool.
    """
    return configured if configured > 0 else max(1, (os.cpu_count() or 2) // 2)


def session_options(threads: int = 0) -> ort.SessionOptions:
    """All graph optimisations, ``ort_threads(threads)`` intra-op threads, one inter-op thread."""
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = ort_threads(threads)
    options.inter_op_num_threads = 1
    return options


@dataclass(frozen=True)
class ServingConfig:
    """How one version is served, as ``bench-model --apply`` stored it (model_versions.serving_config).

    ``model_file``: the file beside the version's artifact to load (``model.onnx``, or ``model.int8.onnx`` for
    the dynamically quantised variant) with its ``sha256``; ``providers`` and ``intra_op_threads`` as measured.
    """

    name: str
    model_file: str
    sha256: str
    providers: tuple[str, ...]
    intra_op_threads: int

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> ServingConfig | None:
        if not data:
            return None
        return cls(str(data["name"]), str(data["model_file"]), str(data["sha256"]),
                   tuple(str(p) for p in data.get("providers") or ()), int(data.get("intra_op_threads") or 0))

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "model_file": self.model_file, "sha256": self.sha256,
                "providers": list(self.providers), "intra_op_threads": self.intra_op_threads}


@dataclass(frozen=True)
class OrtRuntime:
    """Providers in order of preference (empty = auto) and intra-op threads (0 = auto) for a session."""

    providers: tuple[str, ...] = ()
    intra_op_threads: int = 0
    # providers from a stored config measured elsewhere: dropped (with a warning) when this build lacks them
    lenient: bool = field(default=False, compare=False)

    @classmethod
    def from_settings(cls, settings: Any) -> OrtRuntime:
        """The configured runtime, checked now: a missing provider stops the process at start, in one line."""
        runtime = cls(tuple(settings.ort_providers or ()), int(settings.ort_intra_op_threads))
        if runtime.providers:
            check_available(runtime.providers)
        return runtime

    def over(self, stored: ServingConfig | None) -> OrtRuntime:
        """This (configured) runtime, with the stored config filling in what is not configured."""
        if stored is None:
            return self
        return OrtRuntime(self.providers or stored.providers, self.intra_op_threads or stored.intra_op_threads,
                          lenient=not self.providers)

    def resolved_providers(self, available: Sequence[str] | None = None) -> list[str]:
        if not self.providers:
            return choose_providers(available)
        if not self.lenient:
            check_available(self.providers, available)
            return list(self.providers)
        present = list(available if available is not None else available_providers())
        kept = [p for p in self.providers if p in present]
        if len(kept) < len(self.providers):
            log.warning("stored serving providers missing here", extra={
                "action": "providers_dropped", "dropped": [p for p in self.providers if p not in present]})
        return kept or choose_providers(present)

    @property
    def threads(self) -> int:
        return ort_threads(self.intra_op_threads)

    def options(self) -> ort.SessionOptions:
        return session_options(self.intra_op_threads)

    def session(self, model: str | bytes | Path) -> ort.InferenceSession:
        """One ONNX Runtime session on these providers and threads."""
        source = str(model) if isinstance(model, Path) else model
        return ort.InferenceSession(source, self.options(), providers=self.resolved_providers())
