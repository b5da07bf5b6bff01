"""Benchmark the text encoder: onnxruntime vs transformers + PyTorch on CPU, and int8 vs fp32.

The same 1,000 texts (generated deterministically from templates: patient-message-like, 1-8 sentences, ~10 %
with a concerning sentence) go through
  * transformers + PyTorch (``reviewqueue.text.export.TorchEncoder``, the reference),
  * onnxruntime on the fused fp32 graph (``TextSession`` on model.onnx: encoder + pooling + zero-shot head),
  * onnxruntime on its dynamic-int8 quantisation,
at batch 32 and batch 1, with the same length-sorted micro-batches and the same thread count for both engines.
Reported: max |ONNX − torch| of the embeddings, texts/s and ratios, int8's Spearman of scores vs fp32, file sizes.
Timing: every micro-batch runs ``--reps`` times per engine, the engines taking turns, and the fastest run counts
(``interleaved_rate``), so a noisy neighbour on a shared machine hurts each engine alike. One thread per engine by
default: DESIGN.md gives each serving process cores / processes threads, i.e. 1 on the 2-core target, and a
single thread is far less sensitive to a busy neighbour than a 2-thread pool on 2 cores.

    .venv/bin/python bench/text_encoder.py                 # writes bench/results/text_encoder.md
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import random
import shlex
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")  # measure the engines, not the tokenizer's thread pool

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from reviewqueue.text.export import TorchEncoder, export_encoder  # noqa: E402
from reviewqueue.text.graph import fuse_head, quantize_int8  # noqa: E402
from reviewqueue.text.locate import minilm_dir  # noqa: E402
from reviewqueue.text.phrases import SEED_CALIBRATION, SEED_CONCERN, SEED_NO_CONCERN  # noqa: E402
from reviewqueue.text.serving import TextSession, session_options  # noqa: E402
from reviewqueue.text.zero_shot import zero_shot_head  # noqa: E402

TORCH_BATCH1_BUDGET_S = 180.0

# -- texts --------------------------------------------------------------------------------------------------

FILL = {
    "day": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "the 14th", "next week"],
    "drug": ["sertraline", "amlodipine", "metformin", "my inhaler", "omeprazole", "the new tablets"],
    "test": ["blood", "cholesterol", "thyroid", "allergy", "liver function", "urine"],
    "part": ["knee", "back", "shoulder", "wrist", "chest", "stomach"],
    "name": ["Patel", "Okafor", "Smith", "Nguyen", "Kowalski", "Garcia"],
    "n": ["two", "three", "five", "ten"],
    "effect": ["dizzy", "sleepy", "nauseous", "restless"],
}
OPENERS = ["", "Hi,", "Hello,", "Dear Dr {name},", "Good morning.", "Sorry to bother you again."]
ROUTINE = [
    "I need to reschedule my appointment on {day}.",
    "Can you send my repeat prescription for {drug} to the pharmacy?",
    "What were the results of my {test} test?",
    "I have a question about the bill I received for my visit on {day}.",
    "Is the clinic open on {day}?",
    "Please update my phone number and address on my record.",
    "I need a sick note for {n} days for my employer.",
    "My {part} has been sore for {n} days and it is not getting better.",
    "Since starting {drug} I have been feeling {effect} in the mornings.",
    "Could someone call me back about the referral letter?",
    "The pharmacy says they have not received anything from you yet.",
    "I would like to book a flu vaccination for me and my partner.",
]
LOW_MOOD = [
    "Work has been really stressful lately and I am not sleeping well.",
    "I have been feeling a bit low since the winter started.",
    "Things have been hard at home but I am coping.",
]
CONCERN = [
    "I have been thinking about ending my life.",
    "I hurt myself again last night and I am scared.",
    "I don't want to be here anymore.",
    "Everyone would be better off without me.",
    "I have been saving my tablets so I can take them all at once.",
]
CLOSERS = ["", "Thanks.", "Thank you for your help.", "Kind regards, {name}", "Many thanks"]


def make_texts(count: int = 1000, seed: int = 3) -> tuple[list[str], list[int]]:
    """``count`` messages and labels (1 = contains a concerning sentence), identical on every run."""
    rng = random.Random(seed)

    def fill(template: str) -> str:
        return template.format(**{key: rng.choice(values) for key, values in FILL.items()})

    texts, labels = [], []
    for _ in range(count):
        sentences = [fill(rng.choice(ROUTINE)) for _ in range(rng.choice([1, 1, 2, 2, 3, 4, 6, 8]))]
        if rng.random() < 0.15:
            sentences.insert(rng.randrange(len(sentences) + 1), rng.choice(LOW_MOOD))
        concern = rng.random() < 0.10
        if concern:
            sentences.insert(rng.randrange(len(sentences) + 1), rng.choice(CONCERN))
        parts = [fill(rng.choice(OPENERS)), *sentences, fill(rng.choice(CLOSERS))]
        texts.append(" ".join(p for p in parts if p))
        labels.append(int(concern))
    return texts, labels


# -- timing -------------------------------------------------------------------------------------------------

Run = Callable[[Sequence[str]], np.ndarray]  # texts -> float32 [N, 384] embeddings


def interleaved_rate(runs: dict[str, Run], chunks: Sequence[Sequence[str]],
                     reps: int) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """texts/s per engine and each engine's outputs (rows in chunk order).

    Each chunk (one micro-batch) goes through every engine ``reps`` times, the engines taking turns in an order
    that rotates; a chunk's time is its fastest run. Engines thus meet the same background load within a second
    of each other, and a burst from a neighbour on a shared machine costs one run, not the figure.
    """
    names = list(runs)
    best = {name: np.full(len(chunks), np.inf) for name in names}
    outputs: dict[str, list[np.ndarray]] = {name: [] for name in names}
    for index, chunk in enumerate(chunks):
        for rep in range(reps):
            for position in range(len(names)):
                name = names[(position + rep + index) % len(names)]
                began = time.perf_counter()
                result = runs[name](chunk)
                best[name][index] = min(best[name][index], time.perf_counter() - began)
                if rep == 0:
                    outputs[name].append(result)
    count = sum(len(chunk) for chunk in chunks)
    return {name: count / float(best[name].sum()) for name in names}, \
        {name: np.concatenate(parts) for name, parts in outputs.items()}


def _load() -> str:
    return ", ".join(f"{x:.1f}" for x in os.getloadavg())


def machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} logical cores, {platform.platform()}, Python {platform.python_version()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--texts", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=1,
                        help="for torch and onnxruntime alike (1: what each serving process gets on 2 shared cores)")
    parser.add_argument("--reps", type=int, default=2, help="runs per micro-batch and engine (fastest kept)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "text_encoder.md")
    args = parser.parse_args()

    import onnxruntime
    import torch
    import transformers
    from rich.console import Console
    from rich.table import Table
    from scipy.stats import spearmanr
    from sklearn.metrics import roc_auc_score
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    torch.set_num_threads(args.threads)
    console = Console()
    load_before = _load()  # the machine may be shared: both loads go into the results
    texts, labels = make_texts(args.texts)
    work = Path(tempfile.mkdtemp(prefix="text-bench-"))
    try:
        began = time.perf_counter()
        encoder_path = export_encoder(minilm_dir(), work)
        export_s = time.perf_counter() - began
        encoder = TextSession(work, model_file=encoder_path.name, options=session_options(args.threads))
        weights, bias = zero_shot_head(encoder.embed, SEED_CONCERN, SEED_NO_CONCERN, SEED_CALIBRATION)
        fuse_head(encoder_path, weights, bias, work / "model.onnx")
        began = time.perf_counter()
        quantize_int8(work / "model.onnx", work / "model_int8.onnx")
        quantize_s = time.perf_counter() - began
        sizes = {name: (work / name).stat().st_size / 2**20 for name in ("encoder.onnx", "model.onnx",
                                                                         "model_int8.onnx")}

        reference = TorchEncoder(minilm_dir())
        fp32 = TextSession(work, options=session_options(args.threads), windows=False)
        int8 = TextSession(work, model_file="model_int8.onnx", options=session_options(args.threads), windows=False)
        tokens = fp32.token_counts(texts)

        runs: dict[str, Run] = {"torch": lambda chunk: reference.embed(chunk, len(chunk)), "onnx": fp32.embed,
                                "onnx_int8": int8.embed}
        ordered = [texts[i] for i in np.argsort(tokens, kind="stable")]  # what both engines' sorting produces
        for run in runs.values():  # warm up: first-call allocations, ORT's graph preparation
            run(ordered[-32:])
        console.print(f"[bold]{len(texts)} texts[/], {tokens.min()}-{tokens.max()} tokens (median "
                      f"{int(np.median(tokens))}), {args.threads} thread(s); batch 32 ...")
        batch32, out32 = interleaved_rate(runs, [ordered[i:i + 32] for i in range(0, len(ordered), 32)], args.reps)
        diff32 = float(np.abs(out32["onnx"] - out32["torch"]).max())
        cosine = float(np.min(np.sum(out32["onnx"] * out32["onnx_int8"], axis=1)))

        # Batch 1 through torch can be slow: probe, and fall back to an evenly spread subset past the budget.
        probe = ordered[::max(1, len(ordered) // 50)]
        began = time.perf_counter()
        for text in probe:
            reference.embed([text], 1)
        projected = (time.perf_counter() - began) / len(probe) * len(texts) * args.reps
        keep = len(texts) if projected <= TORCH_BATCH1_BUDGET_S else max(100, int(len(texts) * TORCH_BATCH1_BUDGET_S
                                                                                 / projected))
        subset = ordered[::-(-len(ordered) // keep)]
        console.print(f"batch 1 on {len(subset)} texts (torch projected {projected:.0f} s for all) ...")
        batch1, out1 = interleaved_rate(runs, [[text] for text in subset], args.reps)
        diff1 = float(np.abs(out1["onnx"] - out1["torch"]).max())

        fp32.batch_size = int8.batch_size = 32
        p32, p8 = fp32.score(texts), int8.score(texts)
        rho = float(spearmanr(p32, p8).statistic)
        sentences = TextSession(work, options=session_options(args.threads), per_sentence=True)
        auc_whole, auc_sentence = roc_auc_score(labels, p32), roc_auc_score(labels, sentences.score(texts))
    finally:
        shutil.rmtree(work, ignore_errors=True)

    rows = [
        ("transformers + PyTorch, fp32", batch32["torch"], batch1["torch"]),
        ("onnxruntime, fp32 fused graph", batch32["onnx"], batch1["onnx"]),
        ("onnxruntime, int8 dynamic", batch32["onnx_int8"], batch1["onnx_int8"]),
    ]
    notes = [
        f"ONNX fp32 vs torch embeddings: max abs diff {diff32:.1e} at batch 32, {diff1:.1e} at batch 1",
        f"int8 vs fp32: {batch32['onnx_int8'] / batch32['onnx']:.2f}x (batch 32), "
        f"{batch1['onnx_int8'] / batch1['onnx']:.2f}x (batch 1); scores' Spearman {rho:.4f}, max abs diff of p "
        f"{np.abs(p32 - p8).max():.3f}; embeddings' lowest cosine similarity {cosine:.4f}",
        "graph sizes: " + ", ".join(f"{k} {v:.1f} MiB" for k, v in sizes.items())
        + f"; export {export_s:.1f} s (with loading torch and transformers), int8 quantisation {quantize_s:.1f} s",
        f"zero-shot AUC on these synthetic texts: whole text {auc_whole:.3f}, per-sentence max {auc_sentence:.3f}",
    ]
    table = Table(title=f"Text encoder on CPU: {args.threads} threads, {len(texts)} texts (batch 1: {len(subset)})")
    for column in ("engine", "texts/s b32", "texts/s b1", "× torch b32", "× torch b1"):
        table.add_column(column, justify="left" if column == "engine" else "right")
    for name, r32, r1 in rows:
        table.add_row(name, f"{r32:.1f}", f"{r1:.1f}", f"{r32 / batch32['torch']:.2f}", f"{r1 / batch1['torch']:.2f}")
    console.print(table)
    for note in notes:
        console.print(f"- {note}")

    command = " ".join([".venv/bin/python", "bench/text_encoder.py", *map(shlex.quote, sys.argv[1:])])
    lines = [
        "## Text encoder: all-MiniLM-L6-v2 through onnxruntime vs transformers + PyTorch (issue 3)",
        "",
        f"- Command: `{command}`",
        f"- Date: {dt.datetime.now(dt.UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- Machine: {machine()}; load average (1, 5, 15 min) {load_before} at the start, {_load()} at the end "
        "(the machine may be shared: timings move with it, the agreement figures do not)",
        f"- Versions: torch {torch.__version__}, transformers {transformers.__version__}, "
        f"onnxruntime {onnxruntime.__version__}; {args.threads} thread(s) for each engine "
        "(torch.set_num_threads, ORT intra_op_num_threads)",
        f"- Texts: {len(texts)} templated patient messages, {tokens.min()}-{tokens.max()} word pieces "
        f"(median {int(np.median(tokens))}), {sum(labels)} with a concerning sentence; the same length-sorted "
        f"micro-batches for both engines, timed text → embedding (tokenisation included). Each micro-batch ran "
        f"{args.reps} times per engine, engines interleaved, fastest run kept. Batch 1 on {len(subset)} texts"
        + ("." if len(subset) == len(texts) else f" spread evenly over the lengths (torch was projected at "
           f"{projected:.0f} s for all)."),
        "",
        "| engine | texts/s, batch 32 | texts/s, batch 1 | × torch, batch 32 | × torch, batch 1 |",
        "|---|---:|---:|---:|---:|",
        *[f"| {name} | {r32:.1f} | {r1:.1f} | {r32 / batch32['torch']:.2f} | {r1 / batch1['torch']:.2f} |"
          for name, r32, r1 in rows],
        "",
        *[f"- {note[0].upper()}{note[1:]}." for note in notes],
        "",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines))
    console.print(f"wrote {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}")


if __name__ == "__main__":
    main()
