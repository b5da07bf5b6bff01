"""`reviewqueue bench-model`: how one model version serves on this machine, measured, and the best config applied.

For every configuration this host offers — CPU at 1, 2, 4 … cores intra-op threads, the same with a dynamically
quantised int8 copy of the graph (``model.int8.onnx``, written beside the version's file, never over one), CUDA and
TensorRT when this onnxruntime build has them — the version is loaded exactly as serving loads it
(``kind.load_scorer`` through ``serving.providers.OrtRuntime``) and timed on a sample of the model's own inputs:
latency p50/p99 one row at a time, and rows per second at batch sizes 1, 8, 64, 256. The framework the model came
from is timed beside it when it can be rebuilt here (sklearn's ``predict_proba`` refit on the base split; the
transformers + PyTorch encoder with the version's head), for reference only.

Parity, per configuration, against the stored fp32 graph on CPU (the artifact training evaluated): max |Δp|,
Spearman's rank correlation, and how many of the sample's routing decisions (``RoutingPolicy.route`` at the
model's thresholds) would change. A configuration passes when at most ``max_route_changes`` change (0 unless
declared). ``apply_config`` serves the fastest passing one (or the one named) and refuses one that fails.

The int8 configurations are skipped, with a one-line reason in the profile's ``skipped``, when the copy cannot be
made (the quantiser fails), an existing ``model.int8.onnx`` cannot be read or loaded (never written over: the
reason says to delete it), or the graph has nothing to quantise (a tree ensemble, a linear classifier: the copy
would be the fp32 graph again, and could win ``--apply`` on timing noise alone). Every other one is still measured.
"""

from __future__ import annotations

import contextlib
import logging
import os
import platform
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort

from reviewqueue.db import predictions as prediction_queries
from reviewqueue.db import versions as version_queries
from reviewqueue.db.versions import StoredVersion
from reviewqueue.domain.permissions import Actor, Permission, authorize
from reviewqueue.errors import Conflict, NotFound, ValidationFailed
from reviewqueue.kinds import Progress, kind_for, no_progress
from reviewqueue.registry import ModelSpec
from reviewqueue.services import audit
from reviewqueue.services.context import AppContext
from reviewqueue.serving.providers import CPU, CUDA, TENSORRT, ServingConfig, available_providers
from reviewqueue.serving.sessions import sha256_file

__all__ = ["BATCH_SIZES", "INT8_FILE", "apply_config", "bench_model", "check_config", "config_names",
           "serving_profile", "thread_counts"]

log = logging.getLogger(__name__)

BATCH_SIZES = (1, 8, 64, 256)
INT8_FILE = "model.int8.onnx"
MODEL_FILE = "model.onnx"  # the stored fp32 graph
TIE = 0.05  # p50s this close are a tie (see _fastest)
LATENCY_ROWS = 200  # single-row calls timed per configuration (fewer when the sample is smaller)
MIN_SECONDS = 0.5  # a throughput figure runs the sample again until this long has passed (a fast model's
MAX_PASSES = 50  # single pass over a small sample is too short to time), at most MAX_PASSES times

Score = Callable[[Sequence[dict[str, Any]]], np.ndarray]


@dataclass(frozen=True)
class Variant:
    """One configuration to measure: an ONNX file on providers with threads, or a framework reference."""

    name: str
    label: str
    providers: tuple[str, ...]
    threads: int
    model_file: str
    sha256: str
    applicable: bool = True  # False for framework references: measured for comparison, never served


def thread_counts(cores: int | None = None) -> list[int]:
    """1, 2, 4 … up to the number of cores (powers of two)."""
    cores = max(1, cores or os.cpu_count() or 1)
    counts, n = [], 1
    while n <= cores:
        counts.append(n)
        n *= 2
    return counts


def _target(ctx: AppContext, model_name: str, version: int | None) -> StoredVersion:
    with ctx.read() as conn:
        if version is None:
            champ = version_queries.find_champion(conn, model_name)
            if champ is None:
                raise NotFound(f"model {model_name!r} has no champion version; name one with --version",
                               field="version")
            version = champ.version
        found = version_queries.version_by_number(conn, model_name, version)
    if found is None:
        raise NotFound(f"model {model_name!r} has no version {version}", field="version")
    return found


def _local_file(ctx: AppContext, target: StoredVersion) -> Path:
    """The version's model.onnx on this host (fetched from the artifact store where one is configured)."""
    store = getattr(ctx, "artifacts", None)
    return Path(store.version_file(target.artifact_path, target.sha256) if store is not None
                else target.artifact_path)


def _sample_rows(ctx: AppContext, spec: ModelSpec, size: int) -> tuple[list[dict[str, Any]], str]:
    """The model's own recent inputs (stored predictions' features), else its base dataset, else its zero-shot
    phrases; ``size`` rows at most, and where they came from."""
    with ctx.read() as conn:
        recent = prediction_queries.recent_features(conn, spec.name, size)
    if recent:
        return recent, f"{len(recent)} most recent predictions"
    if spec.dataset is not None:
        base = spec.dataset()
        picked = base.sample(n=min(size, len(base)), random_state=0)
        return picked[spec.features.names].to_dict("records"), f"{len(picked)} rows of the base dataset"
    field = spec.features.text_feature
    if field and spec.zero_shot is not None:
        zs = spec.zero_shot
        texts = [*zs.positive, *zs.negative, *(text for text, _ in zs.calibration)][:size]
        return [{field: t} for t in texts], f"{len(texts)} zero-shot phrases (no predictions or dataset yet)"
    raise ValidationFailed(f"model {spec.name!r}: nothing to measure on (no predictions, no dataset=)",
                           field="model")


class _Skip(Exception):
    """The int8 configurations are not measured on this host, and why: one line in the profile (``skipped``)."""


# Operators only a quantised graph has (dynamic quantisation writes MatMulInteger/ConvInteger beside
# DynamicQuantizeLinear; static, QLinear*): a copy with none of them scores exactly as the fp32 graph does
QUANTISED_PREFIXES = ("QLinear", "DynamicQuantize")
QUANTISED_SUFFIXES = ("Integer",)  # MatMulInteger, ConvInteger


def _quantised(model: onnx.ModelProto) -> bool:
    return any(node.op_type.startswith(QUANTISED_PREFIXES) or node.op_type.endswith(QUANTISED_SUFFIXES)
               for node in model.graph.node)


def _int8_variant(folder: Path, source: Path, applied: dict[str, Any] | None) -> tuple[str, str]:
    """The dynamically quantised copy beside the version's file, made when none exists; an existing one is
    measured as it is (parity judges it) unless it cannot be read or is the fp32 graph again. _Skip when there is no
    int8 copy worth measuring; ``applied``: the version's serving config, named when it recorded another file."""
    final = folder / INT8_FILE
    if final.is_file():
        _check_existing(final, source, applied)
    else:
        _make_int8(folder, source, final)
    return final.name, sha256_file(final)


def _make_int8(folder: Path, source: Path, final: Path) -> None:
    """Quantise in a staging folder and link the result into place only if none exists (a link never replaces a
    file). Nothing is linked when quantising fails or quantises nothing: a later run tries again."""
    from reviewqueue.text.graph import quantize_int8  # the head stays fp32: its weights set the thresholds

    staging = Path(tempfile.mkdtemp(prefix=".staging-int8-", dir=folder))
    try:
        staged = staging / INT8_FILE
        quiet = logging.getLogger()  # onnxruntime's "consider pre-processing" goes to the root logger:
        level, quiet.level = quiet.level, logging.ERROR  # not for this graph (text.graph.quantize_int8)
        try:
            quantize_int8(_one_opset_per_domain(source, staging), staged)
        except Exception as exc:  # noqa: BLE001 - the quantiser's failures cost the int8 rows, not the others
            raise _Skip(f"quantisation failed: {_first_line(exc)}") from exc
        finally:
            quiet.setLevel(level)
        if not _quantised(onnx.load(str(staged), load_external_data=False)):
            raise _Skip("nothing to quantise in this graph (its int8 copy would be the fp32 graph again)")
        with contextlib.suppress(FileExistsError):  # another bench made it a moment ago: measure that one
            os.link(staged, final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _one_opset_per_domain(source: Path, staging: Path) -> Path:
    """The graph to quantise: ``source``, or a staged copy of it with one opset per domain (the highest).

    skl2onnx writes the default domain twice (``ai.onnx.ml 1, "" 17, "" 17`` for a LogisticRegression):
    onnx.checker accepts it, onnxruntime's quantiser stops with "Failed to find proper ai.onnx domain". The
    stored file is never changed: its sha256 is what serving verifies.
    """
    model = onnx.load(str(source))
    highest: dict[str, int] = {}
    for entry in model.opset_import:
        highest[entry.domain] = max(entry.version, highest.get(entry.domain, entry.version))
    if len(highest) == len(model.opset_import):
        return source
    del model.opset_import[:]
    model.opset_import.extend(onnx.helper.make_opsetid(domain, v) for domain, v in highest.items())
    staged = staging / MODEL_FILE
    onnx.save(model, str(staged))
    return staged


def _check_existing(final: Path, source: Path, applied: dict[str, Any] | None) -> None:
    """_Skip for an existing int8 file that is not an ONNX graph, or that is the fp32 graph again (left by an
    earlier bench-model, which quantised what has nothing to quantise)."""
    try:
        existing = onnx.load(str(final), load_external_data=False)
    except Exception as exc:  # noqa: BLE001 - DecodeError for a corrupted file; any reason, the same advice
        raise _Skip(_unusable(final, exc, applied)) from exc
    if _quantised(existing):
        return
    stored = onnx.load(str(source), load_external_data=False)
    if (list(existing.graph.node), list(existing.graph.initializer)) == (list(stored.graph.node),
                                                                          list(stored.graph.initializer)):
        raise _Skip(f"nothing to quantise in this graph: {final} is the fp32 graph again (delete it)")


def _unusable(final: Path, exc: BaseException, applied: dict[str, Any] | None) -> str:
    """Why an existing int8 file is not measured, and what to do: bench-model never writes over a file."""
    note = f"{final} cannot be loaded ({_first_line(exc)})"
    config = ServingConfig.from_json(applied)
    if config is not None and config.model_file == final.name and config.sha256 != sha256_file(final):
        note += (f"; it is not the file the applied serving config {config.name} recorded (sha256 "
                 f"{config.sha256[:12]}…, this file {sha256_file(final)[:12]}…)")
    return f"{note}: delete it to re-create it"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__


def _variants(cores: int | None, available: Sequence[str], fp32: tuple[str, str],
              int8: tuple[str, str] | None) -> list[Variant]:
    """The servable configurations, fp32 ``(file, sha256)`` and int8 (None: not measured), the reference first."""
    found: list[Variant] = []
    for threads in thread_counts(cores):
        found.append(Variant(f"cpu-fp32-{threads}t", f"CPU fp32, {threads} thread(s)", (CPU,), threads, *fp32))
        if int8 is not None:
            found.append(Variant(f"cpu-int8-{threads}t", f"CPU int8 (dynamic), {threads} thread(s)", (CPU,),
                                 threads, *int8))
    if CUDA in available:
        found.append(Variant("cuda-fp32", "CUDA fp32", (CUDA, CPU), 1, *fp32))
    if TENSORRT in available:
        found.append(Variant("tensorrt-fp32", "TensorRT fp32", (TENSORRT, CUDA, CPU), 1, *fp32))
    return found


def config_names(cores: int | None = None, available: Sequence[str] | None = None) -> list[str]:
    """The servable configurations this host offers, by name: what ``--config`` may name, known before measuring."""
    offered = available_providers() if available is None else available
    return [v.name for v in _variants(cores, offered, (MODEL_FILE, ""), (INT8_FILE, ""))]


def check_config(name: str, cores: int | None = None) -> None:
    """ValidationFailed, listing the names, unless ``name`` is a configuration this host offers."""
    offered = config_names(cores)
    if name not in offered:
        raise ValidationFailed(f"config: {name!r} is not a configuration this host offers ({', '.join(offered)})",
                               field="config")


def _int8_names(variants: Sequence[Variant]) -> list[str]:
    return [v.name for v in variants if v.model_file == INT8_FILE]


def _load(spec: ModelSpec, folder: Path, variants: Sequence[Variant], applied: dict[str, Any] | None,
          skipped: list[dict[str, Any]]) -> list[tuple[Variant, Score]]:
    """Each configuration's scorer, in order. When onnxruntime cannot load the int8 file (a truncated file can
    still parse as an empty graph), its configurations are noted in ``skipped`` and the others measured."""
    scorers: dict[str, Score] = {}
    try:
        for variant in variants:
            if variant.model_file == INT8_FILE:
                scorers[variant.name] = _onnx_scorer(spec, folder, variant)
    except Exception as exc:  # noqa: BLE001 - InvalidProtobuf, InvalidGraph …: the file's fault, said in one line
        skipped.append({"names": _int8_names(variants), "reason": _unusable(folder / INT8_FILE, exc, applied)})
        scorers.clear()
    scorers.update({v.name: _onnx_scorer(spec, folder, v) for v in variants if v.model_file != INT8_FILE})
    return [(v, scorers[v.name]) for v in variants if v.name in scorers]


def _onnx_scorer(spec: ModelSpec, folder: Path, variant: Variant) -> Score:
    scorer = kind_for(spec).load_scorer(spec, folder / variant.model_file, variant.sha256, list(variant.providers),
                                        variant.threads)
    return scorer.score


def _framework(ctx: AppContext, spec: ModelSpec, target: StoredVersion, source: Path) -> tuple[Variant, Score] | None:
    """The framework the version came from, rebuilt here when it can be: sklearn refit on the base split (tabular
    estimators), or transformers + PyTorch with the version's head (text). None otherwise."""
    lineage = _lineage(ctx, spec.name, target.version)
    if "estimator" in lineage and spec.dataset is not None:
        return _sklearn_reference(ctx, spec, lineage["estimator"])
    if "encoder" in lineage and spec.features.text_feature:
        return _torch_reference(spec, source)
    return None


def _no_reference(ctx: AppContext, spec: ModelSpec, target: StoredVersion) -> str:
    lineage = _lineage(ctx, spec.name, target.version)
    if "byo" in lineage:
        return ("a brought-in file: the framework it was trained in is not part of it, so there is nothing to "
                "rebuild here (parity is against its own ONNX graph on CPU)")
    if "encoder" in lineage:
        return "transformers + PyTorch are not installed here (pip install 'reviewqueue[export]')"
    if "estimator" in lineage:
        return "the model declares no dataset= to refit its estimator on"
    return "this version records no estimator it could be refit from"


def _lineage(ctx: AppContext, model_name: str, version: int) -> dict[str, Any]:
    with ctx.read() as conn:
        found = version_queries.find_version(conn, model_name, version)
    return dict(found.lineage) if found else {}


def _sklearn_reference(ctx: AppContext, spec: ModelSpec, estimator: str) -> tuple[Variant, Score]:
    import pandas as pd

    from reviewqueue.kinds.base import base_split

    kind = kind_for(spec)
    train, _ = base_split(spec)
    fitted = kind.fit(spec, kind.encode(spec, [train], artifact_dir=Path(ctx.settings.artifact_dir))[0])

    def score(rows: Sequence[dict[str, Any]]) -> np.ndarray:
        frame = pd.DataFrame(list(rows), columns=spec.features.names).assign(label=0)
        encoded = kind.encode(spec, [frame], artifact_dir=Path(ctx.settings.artifact_dir))[0]
        return np.asarray(kind.score(spec, fitted, encoded))

    return Variant("sklearn", f"sklearn {estimator}.predict_proba (refit on the base split)", (), 0, "", "",
                   applicable=False), score


def _torch_reference(spec: ModelSpec, source: Path) -> tuple[Variant, Score] | None:
    try:
        import onnx
        import torch
        from onnx import numpy_helper

        from reviewqueue.text.export import TorchEncoder
        from reviewqueue.text.graph import HEAD_PREFIX
        from reviewqueue.text.locate import minilm_dir
    except ImportError:  # the export extra is not installed: no reference, nothing else changes
        return None
    weights = {i.name: numpy_helper.to_array(i) for i in onnx.load(str(source)).graph.initializer
               if i.name.startswith(HEAD_PREFIX)}
    w = weights[HEAD_PREFIX + "weight"].reshape(-1).astype(np.float64)
    b = float(weights[HEAD_PREFIX + "bias"].reshape(-1)[0])
    # One thread, as bench/text_encoder.py: on a busy 2-core host torch at 2 threads took 872 ms per message
    # against 61 ms at 1 (its pool fights every other process for the cores); the CLI process owns this setting.
    torch.set_num_threads(1)
    encoder = TorchEncoder(minilm_dir())
    field = spec.features.text_feature or ""

    def score(rows: Sequence[dict[str, Any]]) -> np.ndarray:
        embedded = encoder.embed([str(r[field]) for r in rows], batch_size=max(1, len(rows)))
        return np.asarray(1.0 / (1.0 + np.exp(-(embedded.astype(np.float64) @ w + b))))

    return Variant("torch", f"transformers + PyTorch {torch.__version__} (truncated at 256 tokens)", (),
                   torch.get_num_threads(), "", "", applicable=False), score


def _latency(score: Score, rows: Sequence[dict[str, Any]]) -> tuple[float, float]:
    """p50 and p99 in milliseconds of single-row calls."""
    picked = list(rows[:LATENCY_ROWS])
    for row in picked[:3]:
        score([row])  # warm-up: first-call allocations
    times = []
    for row in picked:
        began = time.perf_counter()
        score([row])
        times.append((time.perf_counter() - began) * 1000)
    return float(np.percentile(times, 50)), float(np.percentile(times, 99))


def _throughput(score: Score, rows: Sequence[dict[str, Any]], batch: int, min_seconds: float) -> float | None:
    """Rows per second through batches of ``batch`` rows (None when the sample is smaller than one batch)."""
    if batch > len(rows):
        return None
    chunks = [rows[i:i + batch] for i in range(0, len(rows) - batch + 1, batch)]
    score(chunks[0])
    done, began, passes = 0, time.perf_counter(), 0
    while passes == 0 or (passes < MAX_PASSES and time.perf_counter() - began < min_seconds):
        for chunk in chunks:
            score(chunk)
            done += len(chunk)
        passes += 1
    return done / (time.perf_counter() - began)


def _parity(spec: ModelSpec, reference: np.ndarray, scores: np.ndarray) -> dict[str, Any]:
    from scipy.stats import spearmanr

    ref, got = np.asarray(reference, dtype=np.float64), np.asarray(scores, dtype=np.float64)
    rho = float(spearmanr(ref, got).statistic) if np.ptp(ref) > 0 and np.ptp(got) > 0 else None
    changed = sum(spec.routing.route(float(a)) != spec.routing.route(float(b)) for a, b in zip(ref, got, strict=True))
    return {"n": len(ref), "max_abs_diff": float(np.max(np.abs(ref - got))) if len(ref) else 0.0,
            "spearman": None if rho is None or np.isnan(rho) else rho, "changed_routes": int(changed)}


def _host() -> dict[str, Any]:
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    return {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(), "load_1m": load,
            "onnxruntime": ort.__version__, "available_providers": available_providers(),
            "platform": platform.platform()}


def bench_model(ctx: AppContext, actor: Actor, model_name: str, version: int | None = None, *, sample: int = 256,
                batch_sizes: Sequence[int] = BATCH_SIZES, max_route_changes: int = 0, cores: int | None = None,
                frameworks: bool = True, min_seconds: float = MIN_SECONDS, progress: Progress = no_progress,
                store: bool = True) -> dict[str, Any]:
    """Measure every configuration of one version (module docstring) and return the profile; stored on the version
    unless ``store`` is False (``apply_config(measured=…)`` then stores it with the config it applies, or nothing).

    Every check (the model, the version, the options, something to measure on) comes before the first ``progress``
    call: a command can show its progress from that call on, and print nothing else for a refusal.
    """
    authorize(actor, Permission.MODELS_PROMOTE)
    spec = ctx.registry.model(model_name)
    if sample < 1:
        raise ValidationFailed("sample: at least 1 row", field="sample")
    if max_route_changes < 0:
        raise ValidationFailed("max_route_changes: 0 or more", field="max_route_changes")
    if not batch_sizes or min(batch_sizes) < 1:
        raise ValidationFailed("batch_sizes: positive sizes", field="batch_sizes")
    target = _target(ctx, model_name, version)
    source = _local_file(ctx, target)
    rows, origin = _sample_rows(ctx, spec, sample)
    progress("preparing the int8 variant", 0.0)
    measured, skipped = _configurations(spec, target, source, cores)
    if frameworks:
        progress("rebuilding the framework reference", 0.02)
        reference = _framework(ctx, spec, target, source)
        if reference is not None:
            measured.append(reference)
        else:  # said, so that a missing reference row does not read as a failure to find one
            skipped.append({"names": ["framework reference"], "reason": _no_reference(ctx, spec, target)})
    baseline = measured[0][1](rows)  # cpu-fp32-1t: the stored graph as training evaluated it
    results = []
    for index, (variant, score) in enumerate(measured):
        progress(f"measuring {variant.name}", 0.05 + 0.95 * index / len(measured))
        p50, p99 = _latency(score, rows)
        throughput = {str(b): _throughput(score, rows, b, min_seconds) for b in batch_sizes}
        parity = _parity(spec, baseline, score(rows))
        results.append({
            "name": variant.name, "label": variant.label, "providers": list(variant.providers),
            "threads": variant.threads, "model_file": variant.model_file, "sha256": variant.sha256,
            "applicable": variant.applicable, "latency_p50_ms": p50, "latency_p99_ms": p99,
            "throughput": throughput, "parity": parity,
            "passes": parity["changed_routes"] <= max_route_changes,
        })
    progress("done", 1.0)
    fastest = _fastest(results, passing_only=True)
    profile = {
        "version": target.version, "measured_at": ctx.now().isoformat(), "measured_by": actor.name,
        "host": _host(), "sample": {"n": len(rows), "source": origin}, "reference": results[0]["name"],
        "max_route_changes": max_route_changes, "routing": {"review_low": spec.routing.review_low,
                                                             "review_high": spec.routing.review_high},
        "batch_sizes": list(batch_sizes), "variants": results, "skipped": skipped,
        "fastest": (_fastest(results, passing_only=False) or {}).get("name"),
        "fastest_passing": fastest["name"] if fastest else None,
    }
    if store:
        with ctx.engine.begin() as conn:
            _store_profile(conn, model_name, target.id, profile)
    return profile


def _configurations(spec: ModelSpec, target: StoredVersion, source: Path, cores: int | None
                    ) -> tuple[list[tuple[Variant, Score]], list[dict[str, Any]]]:
    """The servable configurations loaded as serving loads them, and the ones skipped (names and why): an int8
    copy that cannot be made, read or loaded, or that quantises nothing, costs its rows and nothing else."""
    skipped: list[dict[str, Any]] = []
    fp32 = (source.name, target.sha256)
    try:
        int8: tuple[str, str] | None = _int8_variant(source.parent, source, target.serving_config)
    except _Skip as why:
        int8 = None
        skipped.append({"names": _int8_names(_variants(cores, (), fp32, (INT8_FILE, ""))), "reason": str(why)})
    variants = _variants(cores, available_providers(), fp32, int8)
    return _load(spec, source.parent, variants, target.serving_config, skipped), skipped


def _store_profile(conn: Any, model_name: str, version_id: int, profile: dict[str, Any]) -> None:
    version_queries.set_serving_profile(conn, version_id, profile)
    log.info("serving profile stored", extra={"action": "serving_profile_stored", "model": model_name,
                                              "version": profile["version"], "fastest": profile["fastest_passing"]})


def _fastest(results: Sequence[dict[str, Any]], *, passing_only: bool) -> dict[str, Any] | None:
    """The servable configuration with the lowest p50 latency at batch 1.

    Configurations within ``TIE`` (5 %) of the best p50 are a tie, measured on a possibly busy machine: the tie
    goes to the stored fp32 graph over a variant, then to fewer threads (cores left to the other processes).
    """
    pool = [r for r in results if r["applicable"] and (r["passes"] or not passing_only)]
    if not pool:
        return None
    best = min(r["latency_p50_ms"] for r in pool)
    tied = [r for r in pool if r["latency_p50_ms"] <= best * (1 + TIE)]
    return min(tied, key=lambda r: (r["model_file"] != MODEL_FILE, r["threads"], r["latency_p50_ms"]))


def serving_profile(ctx: AppContext, model_name: str, version: int) -> tuple[dict[str, Any] | None,
                                                                               dict[str, Any] | None]:
    """A version's stored profile and applied config (NotFound for an unknown model or version)."""
    ctx.registry.model(model_name)
    with ctx.read() as conn:
        row = version_queries.serving_profile(conn, model_name, version)
    if row is None:
        raise NotFound(f"model {model_name!r} has no version {version}", field="version")
    return row.serving_profile, row.serving_config


def apply_config(ctx: AppContext, actor: Actor, model_name: str, version: int, name: str | None = None, *,
                 measured: dict[str, Any] | None = None) -> dict[str, Any]:
    """Serve ``version`` with the measured configuration ``name`` (default: the fastest that passed parity) from
    the next request on; Conflict when it failed parity, was skipped or nothing was measured.

    ``measured``: a profile ``bench_model(store=False)`` just measured, chosen from instead of the stored one and
    stored with the config in one transaction; a refusal stores neither (the stored profile stays as it was).
    """
    authorize(actor, Permission.MODELS_PROMOTE)
    profile = measured if measured is not None else serving_profile(ctx, model_name, version)[0]
    if not profile:
        raise Conflict(f"model {model_name!r} version {version} has no serving profile: run "
                       f"`reviewqueue bench-model {model_name} --version {version}` first", field="version")
    chosen = _chosen(profile, model_name, version, name)
    config = {**ServingConfig(chosen["name"], chosen["model_file"], chosen["sha256"], tuple(chosen["providers"]),
                              int(chosen["threads"])).to_json(),
              "applied_at": ctx.now().isoformat(), "applied_by": actor.name,
              "latency_p50_ms": chosen["latency_p50_ms"], "parity": chosen["parity"]}
    with ctx.engine.begin() as conn:
        row = version_queries.serving_profile(conn, model_name, version)
        if row is None:
            raise NotFound(f"model {model_name!r} has no version {version}", field="version")
        if measured is not None:
            _store_profile(conn, model_name, row.id, measured)
        version_queries.set_serving_config(conn, row.id, config)
        audit.record(ctx, conn, actor, "model.serving_config", f"model:{model_name}",
                     {"version": version, "config": chosen["name"]})
    return config


def _chosen(profile: dict[str, Any], model_name: str, version: int, name: str | None) -> dict[str, Any]:
    """The measured configuration to apply: ``name``, else the fastest passing parity; refused as apply_config says."""
    results = profile["variants"]
    if name is None:
        chosen = _fastest(results, passing_only=True)
        if chosen is None:
            raise Conflict(f"no measured configuration of {model_name} v{version} passes parity "
                           f"(at most {profile['max_route_changes']} changed routing decisions); nothing applied")
        return chosen
    chosen = next((r for r in results if r["name"] == name), None)
    skipped = next((s for s in profile.get("skipped", ()) if name in s["names"]), None)
    if chosen is None and skipped is not None:
        raise Conflict(f"{name} was not measured: {skipped['reason']}; nothing applied", field="config")
    if chosen is None or not chosen["applicable"]:
        known = ", ".join(r["name"] for r in results if r["applicable"])
        raise ValidationFailed(f"config: {name!r} is not a servable measured configuration (measured: {known})",
                               field="config")
    if not chosen["passes"]:
        parity = chosen["parity"]
        raise Conflict(f"{chosen['name']} fails parity: it changes {parity['changed_routes']} of {parity['n']} "
                       f"routing decisions (tolerance {profile['max_route_changes']}), max |Δp| "
                       f"{parity['max_abs_diff']:.4f}; nothing applied", field="config")
    return chosen
