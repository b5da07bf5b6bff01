"""Does the loop learn? The served version's held-out ROC AUC after 64 / 256 / 1024 labels gathered by the
product's own policy, beside as many random labels and as many top-of-queue labels (issue 9).

Each data set of ``bench/loop_models.py`` (two real: ISLR Default, tabular; the SMS Spam Collection, short text
with a zero-shot start; one synthetic) is replayed by ``reviewqueue.services.simulate`` — the real ingest,
routing (review band, audits, budgeted learning draws), claims with their reserved share, decisions, and the
real retraining gate with its default rule (promote only when better with 95% confidence) — with a scripted
reviewer answering with the true label. The reviewer pauses when the labels reach each checkpoint; the model
retrains there, and three models are measured on the same untouched 30% of the file:

- **served**: whatever version the product serves after the gate;
- **random**: the model's own ``train`` on its seed rows + N labels drawn uniformly from the traffic so far;
- **top of queue**: the same on the N events version 1 scored highest (a reviewer who only works the top of a
  score-ranked queue: no audits, no learning sample).

    .venv/bin/python bench/loop.py                      # all three data sets, seeds 0 1 2
    .venv/bin/python bench/loop.py --sets sms_spam --seeds 0

Results: ``bench/results/loop.json`` and a Markdown table on stdout (the one in BENCHMARKS.md).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
for folder in (ROOT, BENCH):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

import loop_models  # noqa: E402
from reviewqueue.registry import Registry  # noqa: E402
from reviewqueue.services import simulate as simulation  # noqa: E402

RESULTS = BENCH / "results"
CHECKPOINTS = (64, 256, 1024)
# Days the 70% stream is spread over, and the reviewer's daily capacity: enough capacity for 1024 labels, so
# what the product gathers is decided by its routing, audits and learning budget, not by the reviewer.
PLAN = {"credit_default": (14, 200), "sms_spam": (12, 200), "synthetic": (14, 200)}
TOLERANCE = 0.01
"""How far below the version before it a served version may score and still count as 'not worse'."""

console = Console()


def registry_for(confidence: float | None) -> Registry:
    """The bench models, with the gate's confidence overridden when asked (to compare gate settings)."""
    loaded = Registry()
    loaded.load_modules(["loop_models"])
    if confidence is None:
        return loaded.freeze()
    registry = Registry()
    for spec in loaded.models():
        registry.add_model(dataclasses.replace(spec, retrain=dataclasses.replace(spec.retrain, confidence=confidence)))
    return registry.freeze()


def run(name: str, seed: int, encoder_store: Path, confidence: float | None = None) -> simulation.Simulation:
    registry = registry_for(confidence)
    rows, labels = loop_models.labelled_file(name)
    days, per_day = PLAN[name]
    options = simulation.Options(days=days, reviews_per_day=per_day, retrain_every=0, seed=seed,
                                 checkpoints=CHECKPOINTS)
    with Progress(TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(), console=console) as bar:
        task = bar.add_task(f"{name} seed {seed}", total=1.0)
        return simulation.simulate(
            registry, name, rows, labels, options,
            progress=lambda step, done: bar.update(task, completed=done, description=f"{name} seed {seed}: {step}"),
            artifacts_from=encoder_store)


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _verdict(c: dict) -> str:
    """'yes' when served ≥ random; 'within noise' when random lies inside the served AUC's 95% interval."""
    served, randomly, high = c["served_auc"], c["random_auc"], c["served_auc_high"]
    if served is None:
        return "**no** (not measurable)"
    if randomly is None or served >= randomly:
        return "yes"
    if high is not None and randomly <= high:
        return f"within noise ({served - randomly:+.3f})"
    return f"**no** ({served - randomly:+.3f})"


def markdown(results: dict[str, list[dict]]) -> str:
    lines = ["| data set | labels | served AUC (version) | random labels AUC | top-of-queue AUC | positives "
             "among labels: product / random / top | served ≥ random? |",
             "|---|---|---|---|---|---|---|"]
    for name, runs in results.items():
        for run_ in runs:
            seed = run_["options"]["seed"]
            lines.append(f"| {name} (seed {seed}) | 0 | {_fmt(run_['initial_auc'])} (v{run_['initial_version']}) "
                         "| – | – | – | – |")
            for c in run_["checkpoints"]:
                ok = _verdict(c)
                lines.append(
                    f"| | {c['labels']} | {_fmt(c['served_auc'])} [{_fmt(c['served_auc_low'])}, "
                    f"{_fmt(c['served_auc_high'])}] (v{c['served_version']}) | {_fmt(c['random_auc'])} | "
                    f"{_fmt(c['top_auc'])} | {c['positives']} / {c['random_positives']} / {c['top_positives']} "
                    f"| {ok} |")
            for missed in run_["missed_checkpoints"]:
                lines.append(f"| | {missed} | not reached: the stream ran out of items to review | | | | |")
    return "\n".join(lines)


def summary(results: dict[str, list[dict]]) -> list[str]:
    """The two goals, checked: served ≥ random at every count; never below the version before beyond TOLERANCE."""
    said = []
    for name, runs in results.items():
        for count in CHECKPOINTS:
            points = [c for r in runs for c in r["checkpoints"] if c["labels"] == count]
            gaps = [c["served_auc"] - c["random_auc"] for c in points
                    if c["served_auc"] is not None and c["random_auc"] is not None]
            if gaps:
                said.append(f"{name} @ {count}: served − random = {statistics.mean(gaps):+.3f} on average over "
                            f"{len(gaps)} seed(s) (min {min(gaps):+.3f})")
        for r in runs:
            served = [r["initial_auc"], *(c["served_auc"] for c in r["checkpoints"])]
            drops = [b - a for a, b in zip(served, served[1:], strict=False)
                     if a is not None and b is not None and b < a - TOLERANCE]
            said.append(f"{name} seed {r['options']['seed']}: served AUC "
                        + " → ".join(_fmt(s) for s in served)
                        + (f"; {len(drops)} drop(s) beyond {TOLERANCE}" if drops else f"; no drop beyond {TOLERANCE}"))
    return said


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", default=",".join(loop_models.FILES))
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--out", type=Path, default=RESULTS / "loop.json")
    parser.add_argument("--confidence", type=float, default=None,
                        help="override every model's Retrain.confidence (default: the models' own, 0.9)")
    args = parser.parse_args()
    names = [n for n in args.sets.split(",") if n]
    unknown = set(names) - set(loop_models.FILES)
    if unknown:
        parser.error(f"unknown data set(s): {sorted(unknown)}; choose from {list(loop_models.FILES)}")
    seeds = [int(s) for s in args.seeds.split(",") if s]
    results: dict[str, list[dict]] = {}
    started = time.perf_counter()
    # One encoder export for every text run: simulate copies it from here instead of exporting it again.
    with tempfile.TemporaryDirectory(prefix="rq-loop-encoder-") as store:
        for name in names:
            if loop_models.FILES[name]()[1].columns[0] == "text":
                _keep_encoder(name, Path(store))
        for name in names:
            for seed in seeds:
                result = run(name, seed, Path(store), args.confidence)
                results.setdefault(name, []).append(dataclasses.asdict(result))
                console.print(result.summary(), markup=False, soft_wrap=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(markdown(results))
    print()
    for line in summary(results):
        print(f"- {line}")
    print(f"\n{len(names)} data set(s) × {len(seeds)} seed(s) in {time.perf_counter() - started:.0f} s; "
          f"JSON: {args.out}")


def _keep_encoder(name: str, store: Path) -> None:
    """Export the sentence encoder once into ``store`` (the replays copy it from there)."""
    from reviewqueue.kinds.text import encoder_dir

    encoder_dir(store, registry_for(None).model(name))


if __name__ == "__main__":
    main()
