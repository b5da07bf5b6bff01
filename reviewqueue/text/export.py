"""Export all-MiniLM-L6-v2 to ONNX, with mean pooling and L2 normalisation inside the graph.

This is the only module that touches torch and transformers, and it imports them inside its functions: a
serving process imports ``reviewqueue.text.serving`` (onnxruntime + tokenizers) and must never load torch,
whose thread pool would fight onnxruntime's for the same cores.

Why pooling lives in the graph: the score is a function of the *pooled, normalised* embedding; keeping those
steps in ONNX means serving cannot drift from training (no numpy re-implementation to get subtly wrong) and
the linear head can be appended to the same graph (``graph.fuse_head``).

Exporter notes for torch 2.13 (see ``export_encoder``): the default exporter is the dynamo one, which needs the
``onnxscript`` package (not installed, and not needed); we ask for the TorchScript exporter (``dynamo=False``),
which still works but warns that it is deprecated. ``external_data`` defaults to True in 2.13; we turn it off so
the weights stay inside ``encoder.onnx`` and one file's sha256 covers the whole model.
"""

from __future__ import annotations

import inspect
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["ENCODER_FILE", "TOKENIZER_FILE", "TorchEncoder", "export_classifier", "export_encoder",
           "max_abs_diff_vs_torch", "torch_embed"]

ENCODER_FILE = "encoder.onnx"
TOKENIZER_FILE = "tokenizer.json"
EMBEDDING_DIM = 384


def _offline() -> None:
    # Set before transformers is imported (it reads these at import time): a missing file must fail, not download.
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    # registration prints its own one-line outcome: no tqdm "Loading weights" bar from the library in the middle
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    import transformers

    transformers.utils.logging.disable_progress_bar()


def _load_model(model_dir: Path) -> Any:
    _offline()
    from transformers import AutoModel

    # sdpa (the default) traces to plain MatMul/Softmax with the padding mask applied; verified equal to torch
    # on padded batches by tests/text/test_export.py.
    return AutoModel.from_pretrained(str(model_dir), local_files_only=True).eval()


def _mean_normalised(states: Any, attention_mask: Any) -> Any:
    """L2-normalised mean of the token states, padded positions excluded (clamped: an all-padding row cannot
    divide by zero)."""
    import torch

    mask = attention_mask.unsqueeze(-1).to(states.dtype)
    summed = (states * mask).sum(dim=1)
    counts = mask.sum(dim=1).clamp(min=1e-9)
    return torch.nn.functional.normalize(summed / counts, p=2.0, dim=1)


def _pooled(model: Any) -> Any:
    """Wrap a transformers encoder as (input_ids, attention_mask) -> L2-normalised mean of token states.

    Same maths as sentence-transformers' Pooling(mean) + Normalize: padded positions are excluded from the mean
    (mask-weighted sum / number of real tokens, clamped so an all-padding row cannot divide by zero).
    """
    import torch

    class MeanPooledEncoder(torch.nn.Module):
        def __init__(self, encoder: Any) -> None:
            super().__init__()
            self.encoder = encoder

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            # Keyword arguments: transformers 5's BertModel.forward has keyword-only extras after the first few.
            states = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            return _mean_normalised(states, attention_mask)

    return MeanPooledEncoder(model).eval()


def export_tokenizer(model_dir: Path, out_path: Path, max_length: int = 256) -> Path:
    """Write a ``tokenizers`` file configured for serving: truncation at ``max_length``, pad to the longest.

    The packaged tokenizer.json pads every text to a *fixed* 128 tokens and truncates at 128, whereas the
    sentence-transformers model was trained with max_seq_length 256; we set both explicitly so the file says what
    serving does.
    """
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(model_dir / TOKENIZER_FILE))
    pad_id = tokenizer.token_to_id("[PAD]")
    if pad_id is None:
        raise ValueError(f"{model_dir / TOKENIZER_FILE} has no [PAD] token")
    tokenizer.enable_truncation(max_length=max_length)
    tokenizer.enable_padding(pad_id=pad_id, pad_token="[PAD]")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tokenizer.save(str(out_path))
    return out_path


def export_encoder(model_dir: Path, out_dir: Path, max_length: int = 256, opset: int = 17) -> Path:
    """Write ``out_dir/encoder.onnx`` and ``out_dir/tokenizer.json``; return the ONNX path.

    Graph: inputs ``input_ids``, ``attention_mask`` (int64 [batch, sequence], both axes dynamic) → output
    ``embedding`` (float32 [batch, 384], mean-pooled and L2-normalised). The trace uses a *padded* dummy batch
    so the masking path is what gets recorded, never an all-ones shortcut.
    """
    import onnx

    model = _load_model(model_dir)
    positions = int(model.config.max_position_embeddings)
    if not 2 <= max_length <= positions:
        raise ValueError(f"max_length must be in 2..{positions}, got {max_length}")
    out_dir.mkdir(parents=True, exist_ok=True)
    export_tokenizer(model_dir, out_dir / TOKENIZER_FILE, max_length)

    path = out_dir / ENCODER_FILE
    _trace(_pooled(model), path, ["embedding"], opset)
    graph = onnx.load(str(path))
    # The tracer names the width symbolically ("Divembedding_dim_1"); pin it so consumers see [batch, 384].
    graph.graph.output[0].type.tensor_type.shape.dim[1].dim_value = int(model.config.hidden_size)
    onnx.checker.check_model(graph)
    graph.doc_string = "all-MiniLM-L6-v2 encoder + mean pooling + L2 normalisation (reviewqueue.text.export)"
    for key, value in {"reviewqueue.encoder": "sentence-transformers/all-MiniLM-L6-v2",
                       "reviewqueue.pooling": "mean, L2-normalised", "reviewqueue.max_length": str(max_length)}.items():
        graph.metadata_props.add(key=key, value=value)
    onnx.save(graph, str(path))
    return path


def export_classifier(model_dir: Path, out_dir: Path, positive_label: str, max_length: int = 256,
                      opset: int = 17) -> Path:
    """Export a local ``*ForSequenceClassification`` folder as a text model version: ``out_dir/model.onnx`` +
    ``out_dir/tokenizer.json``; return the ONNX path.

    Graph: ``input_ids``, ``attention_mask`` → ``embedding`` (the mean-pooled, L2-normalised last hidden states),
    ``logit`` [N, 1] (log-odds of ``positive_label``: its logit minus the log-sum-exp of the others, so a softmax
    over any number of labels reduces to one binary score) and ``probabilities`` [N, 2] = [1 − p, p]: the
    outputs a fused text version has, so ``TextSession`` scores, windows and explains it unchanged.
    """
    import onnx
    import torch
    from transformers import AutoModelForSequenceClassification

    _offline()
    model = AutoModelForSequenceClassification.from_pretrained(str(model_dir), local_files_only=True).eval()
    labels = {str(name): int(index) for index, name in model.config.id2label.items()}
    if positive_label not in labels or len(labels) < 2:
        raise ValueError(f"{model_dir}: positive_label {positive_label!r} is not one of its labels {sorted(labels)}")
    positive = labels[positive_label]

    class PositiveClass(torch.nn.Module):
        def __init__(self, classifier: Any) -> None:
            super().__init__()
            self.classifier = classifier

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, ...]:
            out = self.classifier(input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=True)
            logits = out.logits
            others = torch.cat([logits[:, :positive], logits[:, positive + 1:]], dim=1)
            logit = (logits[:, positive] - torch.logsumexp(others, dim=1)).unsqueeze(1)
            p = torch.sigmoid(logit)
            return _mean_normalised(out.hidden_states[-1], attention_mask), logit, torch.cat([1 - p, p], dim=1)

    out_dir.mkdir(parents=True, exist_ok=True)
    export_tokenizer(model_dir, out_dir / TOKENIZER_FILE, max_length)
    path = out_dir / "model.onnx"
    _trace(PositiveClass(model).eval(), path, ["embedding", "logit", "probabilities"], opset)
    graph = onnx.load(str(path))
    for output, width in zip(graph.graph.output, (int(model.config.hidden_size), 1, 2), strict=True):
        output.type.tensor_type.shape.dim[1].dim_value = width  # pinned: consumers see [batch, width]
    onnx.checker.check_model(graph)
    graph.doc_string = f"{model_dir.name}: sequence classifier, P({positive_label}) (reviewqueue.text.export)"
    onnx.save(graph, str(path))
    return path


def _trace(wrapper: Any, path: Path, output_names: list[str], opset: int) -> None:
    """TorchScript-trace ``wrapper(input_ids, attention_mask)`` to ``path`` (batch and sequence axes dynamic).

    The trace uses a *padded* dummy batch so the masking path is what gets recorded, never an all-ones shortcut.
    """
    import torch

    input_ids = torch.tensor([[101, 7592, 2088, 2003, 1037, 3231, 102], [101, 7592, 102, 0, 0, 0, 0]])
    attention_mask = (input_ids != 0).to(torch.int64)
    options: dict[str, Any] = {}
    parameters = inspect.signature(torch.onnx.export).parameters
    if "dynamo" in parameters:
        options["dynamo"] = False  # the dynamo exporter needs onnxscript; the TorchScript one does not
    if "external_data" in parameters:
        options["external_data"] = False  # one self-contained file, so one sha256 covers the weights
    with warnings.catch_warnings():
        # Expected noise: the TorchScript exporter's deprecation notice; TracerWarnings from transformers 5's
        # mask helpers, which compare shapes that are equal for every input here (key length vs mask length,
        # query length > 1); and the aten::index note about negative indices (the mask is indexed by aranges).
        # Equality with torch on padded batches of 2..256 tokens (tests/text/test_export.py) is the guard that
        # the trace generalises.
        warnings.simplefilter("ignore", category=DeprecationWarning)
        warnings.simplefilter("ignore", category=torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", message=".*aten::index.*")
        with torch.no_grad():
            torch.onnx.export(
                wrapper,
                (input_ids, attention_mask),
                str(path),
                input_names=["input_ids", "attention_mask"],
                output_names=output_names,
                dynamic_axes={"input_ids": {0: "batch", 1: "sequence"}, "attention_mask": {0: "batch", 1: "sequence"},
                              **{name: {0: "batch"} for name in output_names}},
                opset_version=opset,
                do_constant_folding=True,
                **options,
            )


class TorchEncoder:
    """The reference encoder, loaded once: transformers + torch, the same pooling and normalisation as the graph.

    Tokenises with transformers' own tokenizer (not our exported file), so comparing with the ONNX path checks
    the tokenizer configuration as well as the graph. ``embed`` runs micro-batches sorted by token length, like
    the serving path, so a timing comparison pads the same amount; rows come back in the input order.
    """

    def __init__(self, model_dir: Path, max_length: int = 256) -> None:
        _offline()
        from transformers import AutoTokenizer

        self.max_length = max_length
        self.tokenizer = AutoTokenizer.from_pretrained(str(model_dir), local_files_only=True)
        self.module = _pooled(_load_model(model_dir))

    def embed(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        import torch

        out = np.zeros((len(texts), EMBEDDING_DIM), dtype=np.float32)
        if not texts:
            return out
        ids: list[list[int]] = self.tokenizer(list(texts), truncation=True, max_length=self.max_length)["input_ids"]
        order = np.argsort([len(row) for row in ids], kind="stable")
        with torch.inference_mode():
            for start in range(0, len(order), batch_size):
                chunk = order[start:start + batch_size]
                batch = self.tokenizer.pad({"input_ids": [ids[i] for i in chunk]}, return_tensors="pt")
                out[chunk] = self.module(batch["input_ids"], batch["attention_mask"]).numpy()
        return out


def torch_embed(model_dir: Path, texts: Sequence[str], batch_size: int = 32, max_length: int = 256) -> np.ndarray:
    """Reference embeddings of ``texts`` (loads the model each call; use ``TorchEncoder`` to embed repeatedly)."""
    return TorchEncoder(model_dir, max_length).embed(texts, batch_size)


def max_abs_diff_vs_torch(model_dir: Path, onnx_path: Path, texts: Sequence[str]) -> float:
    """Largest absolute difference between ONNX and torch embeddings of ``texts``.

    ``onnx_path`` may be the bare encoder or a fused graph (its ``embedding`` output is read by name); the
    tokenizer is the ``tokenizer.json`` next to it. Long texts are truncated on both sides (no windows).
    """
    from reviewqueue.text.serving import TextSession

    session = TextSession(onnx_path.parent, model_file=onnx_path.name, windows=False)
    return float(np.max(np.abs(session.embed(texts) - torch_embed(model_dir, texts, max_length=session.max_length))))
