"""Score free text with a fused ONNX graph: onnxruntime + tokenizers, never torch or transformers.

A model version is a folder with ``model.onnx`` (encoder + pooling + head, see ``graph.fuse_head``) and
``tokenizer.json`` (see ``export.export_tokenizer``). ``TextSession`` tokenises once, sorts the token windows by
length so each micro-batch pads little, runs the graph, and puts results back in the caller's order.

Long texts are scored in overlapping windows of ``max_length`` tokens and a text's score is its *highest*
window's: the product accepts messages of up to 20,000 characters, and plain truncation at 256 tokens would hide
a concerning sentence near the end. Its embedding is the re-normalised mean of its windows' embeddings.

Mean pooling also *dilutes*: "Please move my appointment to Friday. I want to kill myself." scores about half
what the second sentence scores alone. ``per_sentence=True`` scores each sentence too and keeps the maximum
(more sensitive, more false alarms on short fragments); off by default until clinicians choose (see BENCHMARKS.md
§8 "Text encoder", its notes on dilution: whole-text vs per-sentence AUC).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

from reviewqueue.errors import ConfigurationError
from reviewqueue.serving.sessions import choose_providers, session_options, verify_sha256

__all__ = ["MODEL_FILE", "TOKENIZER_FILE", "TextSession", "session_options"]

log = logging.getLogger(__name__)

MODEL_FILE = "model.onnx"
TOKENIZER_FILE = "tokenizer.json"
EMBEDDING = "embedding"
LOGIT = "logit"
PROBABILITIES = "probabilities"
# Words for explanations: letters/digits with inner apostrophes ("don't", "I'm"), so punctuation and spaces are
# never highlighted and removing a word never glues its neighbours together.
WORD = re.compile(r"\w+(?:['’]\w+)*")
# Sentences for per_sentence scoring: runs up to terminal punctuation or a line break. Over-splitting
# ("Dr. Smith") only adds a harmless low-scoring fragment.
SENTENCE = re.compile(r"[^.!?;\n]+[.!?;]*")


class TextSession:
    """One loaded text model: ``score``, ``embed`` and ``explain`` free texts.

    ``model_file`` may name the bare encoder (``encoder.onnx``): ``embed`` works (zero-shot calibration needs
    embeddings before any head exists); ``score`` and ``explain`` then raise ``ConfigurationError``
    (``has_head`` tells which).
    ``windows=False`` truncates long texts instead (what sentence-transformers does; used to compare with torch).
    ``per_sentence=True`` makes ``score`` the max of the whole text's and each sentence's score (module docstring).
    ``sha256``, when given, is checked before loading, as for tabular artifacts.
    ``threads`` sizes the default ``options`` (0 = auto, see ``serving.sessions.ort_threads``).
    """

    def __init__(
        self,
        folder: Path,
        *,
        model_file: str = MODEL_FILE,
        providers: Sequence[str] | None = None,
        options: ort.SessionOptions | None = None,
        threads: int = 0,
        batch_size: int = 32,
        windows: bool = True,
        window_stride: int = 64,
        per_sentence: bool = False,
        sha256: str | None = None,
    ) -> None:
        folder = Path(folder)
        model_path, tokenizer_path = folder / model_file, folder / TOKENIZER_FILE
        for path in (model_path, tokenizer_path):
            if not path.is_file():
                raise ConfigurationError(f"text model file {path} is missing")
        if sha256 is not None:
            verify_sha256(model_path, sha256)
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self.batch_size = batch_size
        self.windows = windows
        self.per_sentence = per_sentence

        self._tokenizer = Tokenizer.from_file(str(tokenizer_path))
        truncation = self._tokenizer.truncation
        if not truncation:
            raise ConfigurationError(f"{tokenizer_path} does not configure truncation; re-export the tokenizer")
        self.max_length = int(truncation["max_length"])
        padding = self._tokenizer.padding
        self._pad_id = int(padding["pad_id"]) if padding else int(self._tokenizer.token_to_id("[PAD]") or 0)
        # Pad ourselves per micro-batch (after sorting); tokenise each text once, windows as overflow.
        self._tokenizer.no_padding()
        stride = min(window_stride, self.max_length // 2) if windows else 0
        self._tokenizer.enable_truncation(max_length=self.max_length, stride=stride)
        self._counter = Tokenizer.from_file(str(tokenizer_path))
        self._counter.no_padding()
        self._counter.no_truncation()

        self._session = ort.InferenceSession(str(model_path), options or session_options(threads),
                                             providers=list(providers) if providers else choose_providers())
        outputs = {out.name: out for out in self._session.get_outputs()}
        inputs = {inp.name for inp in self._session.get_inputs()}
        if EMBEDDING not in outputs or inputs != {"input_ids", "attention_mask"}:
            raise ConfigurationError(f"{model_path} is not a text encoder graph (inputs {sorted(inputs)}, "
                                     f"outputs {sorted(outputs)})")
        width = outputs[EMBEDDING].shape[1]
        if not isinstance(width, int):
            raise ConfigurationError(f"{model_path}: the embedding width is symbolic ({width}); re-export the encoder")
        self.dim = width
        self._outputs = set(outputs)
        log.info("text session loaded", extra={"action": "text_session_loaded", "path": str(model_path),
                                               "providers": self._session.get_providers()})

    @property
    def has_head(self) -> bool:
        return PROBABILITIES in self._outputs

    @property
    def providers(self) -> list[str]:
        return list(self._session.get_providers())

    def token_counts(self, texts: Sequence[str]) -> np.ndarray:
        """Word pieces per text including [CLS]/[SEP], *before* truncation: > ``max_length`` means windows."""
        return np.array([len(e.ids) for e in self._counter.encode_batch(list(texts))], dtype=np.int64)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """float32 [N, dim] unit-norm embeddings, rows in the order of ``texts``."""
        windows, owner = self._windows(texts)
        embeddings = self._run(windows, EMBEDDING)
        counts = np.bincount(owner, minlength=len(texts))
        if np.all(counts == 1):
            return embeddings
        pooled = np.zeros((len(texts), self.dim), dtype=np.float64)
        np.add.at(pooled, owner, embeddings)
        pooled /= np.linalg.norm(pooled, axis=1, keepdims=True).clip(min=1e-12)
        single = counts == 1  # keep single-window rows bit-identical to the graph's output
        pooled[single] = embeddings[np.searchsorted(owner, np.flatnonzero(single))]
        return pooled.astype(np.float32)

    def score(self, texts: Sequence[str]) -> np.ndarray:
        """P(concern) per text, float32 [N], in the order of ``texts`` (max over windows for long texts, and over
        sentences with ``per_sentence``)."""
        if not self.per_sentence:
            return self._per_text(texts, PROBABILITIES)
        units: list[str] = []
        owner: list[int] = []
        for index, text in enumerate(texts):
            sentences = [m.group().strip() for m in SENTENCE.finditer(text) if WORD.search(m.group())]
            parts = [text, *sentences] if len(sentences) > 1 else [text]
            units.extend(parts)
            owner.extend([index] * len(parts))
        best = np.full(len(texts), -np.inf, dtype=np.float32)
        np.maximum.at(best, np.array(owner, dtype=np.int64), self._per_text(units, PROBABILITIES))
        return best

    def explain(self, text: str, top_k: int = 8, *, max_words: int = 64,
                min_contribution: float = 0.1) -> list[dict[str, Any]]:
        """The words that move this text's score most, by leaving each out once.

        ``contribution`` = logit(text) − logit(text without the word), in log-odds: positive words push towards
        concern. Log-odds, not probability, because an obviously concerning text sits at p ≈ 0.99 where every
        word's probability effect looks tiny. At most ``max_words`` words are considered: for a longer text,
        the ``max_words``-word stretch that scores highest on its own (stretches overlap by half) is explained,
        so the cost stays at most ``max_words + 1`` short variants plus one call to rank the stretches. Variants
        are scored in one batched call. Words with |contribution| < ``min_contribution`` are dropped; the rest
        are sorted by |contribution|, at most ``top_k``; ``start``/``end`` are character offsets into ``text``.
        """
        self._require(LOGIT)
        words, lo, hi = self._passage(text, max_words)
        if not words:
            return []
        variants = [text[lo:hi]] + [text[lo:start] + text[end:hi] for start, end in words]
        logits = self._per_text(variants, LOGIT)
        effects = [(float(logits[0] - value), start, end)
                   for (start, end), value in zip(words, logits[1:], strict=True)]
        effects = sorted((e for e in effects if abs(e[0]) >= min_contribution), key=lambda e: -abs(e[0]))
        return [{"word": text[start:end], "start": start, "end": end, "contribution": contribution}
                for contribution, start, end in effects[:top_k]]

    # -- internals ---------------------------------------------------------------------------------------------

    def _require(self, output: str) -> None:
        if output not in self._outputs:
            raise ConfigurationError(f"this graph has no '{output}' output: fuse a head onto the encoder "
                                     "(reviewqueue.text.graph.fuse_head)")

    def _passage(self, text: str, max_words: int) -> tuple[list[tuple[int, int]], int, int]:
        """Word spans to explain and the character span [lo, hi) they are explained within."""
        words = [(m.start(), m.end()) for m in WORD.finditer(text)]
        if len(words) <= max_words:
            return words, 0, len(text)
        step = max(1, max_words // 2)
        starts = list(range(0, len(words) - max_words + 1, step))
        if starts[-1] != len(words) - max_words:
            starts.append(len(words) - max_words)  # the last stretch ends at the last word
        spans = [(words[s][0], words[s + max_words - 1][1]) for s in starts]
        best = int(np.argmax(self._per_text([text[a:b] for a, b in spans], LOGIT)))
        return words[starts[best]:starts[best] + max_words], spans[best][0], spans[best][1]

    def _per_text(self, texts: Sequence[str], output: str) -> np.ndarray:
        """A per-window scalar output (probability of concern or logit), maximised over each text's windows."""
        self._require(output)
        windows, owner = self._windows(texts)
        values = self._run(windows, output)
        best = np.full(len(texts), -np.inf, dtype=np.float32)
        np.maximum.at(best, owner, values)
        return best

    def _windows(self, texts: Sequence[str]) -> tuple[list[list[int]], np.ndarray]:
        """Token ids of every window of every text and, per window, the index of its text (non-decreasing)."""
        windows: list[list[int]] = []
        owner: list[int] = []
        for index, encoding in enumerate(self._tokenizer.encode_batch(list(texts))):
            parts = [encoding, *encoding.overflowing] if self.windows else [encoding]
            windows.extend(part.ids for part in parts)
            owner.extend([index] * len(parts))
        return windows, np.array(owner, dtype=np.int64)

    def _run(self, windows: list[list[int]], output: str) -> np.ndarray:
        """One graph output for token windows, run in length-sorted micro-batches, rows in the windows' order.

        ``embedding`` → [W, dim]; ``logit`` → [W]; ``probabilities`` → [W] (the positive column).
        """
        count = len(windows)
        result = np.zeros((count, self.dim) if output == EMBEDDING else count, dtype=np.float32)
        order = np.argsort([len(ids) for ids in windows], kind="stable")
        for start in range(0, count, self.batch_size):
            chunk = order[start:start + self.batch_size]
            width = max(len(windows[i]) for i in chunk)
            input_ids = np.full((len(chunk), width), self._pad_id, dtype=np.int64)
            attention_mask = np.zeros((len(chunk), width), dtype=np.int64)
            for row, i in enumerate(chunk):
                input_ids[row, :len(windows[i])] = windows[i]
                attention_mask[row, :len(windows[i])] = 1
            (values,) = self._session.run([output], {"input_ids": input_ids, "attention_mask": attention_mask})
            result[chunk] = values if output == EMBEDDING else values[:, -1]
        return result
