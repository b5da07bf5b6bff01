"""TextSession: batching is invisible, long texts are windowed, explanations point at the words, no torch."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from reviewqueue.errors import ConfigurationError
from reviewqueue.text.serving import TextSession, session_options
from tests.text.messages import EVAL_CONCERN, EVAL_ORDINARY, FIXED_TEXTS

TEXTS = FIXED_TEXTS + EVAL_CONCERN + EVAL_ORDINARY


def test_length_sorted_micro_batches_match_one_by_one_in_the_original_order(fused_dir: Path) -> None:
    batched = TextSession(fused_dir, options=session_options(2), batch_size=8)
    single = TextSession(fused_dir, options=session_options(2), batch_size=1)
    # Interleave long and short texts so sorting really reorders them.
    texts = [t for pair in zip(TEXTS[::2], TEXTS[1::2], strict=False) for t in reversed(pair)]
    expected_scores = np.concatenate([single.score([t]) for t in texts])
    expected_embeddings = np.concatenate([single.embed([t]) for t in texts])
    np.testing.assert_allclose(batched.score(texts), expected_scores, atol=1e-5, rtol=0)
    np.testing.assert_allclose(batched.embed(texts), expected_embeddings, atol=1e-5, rtol=0)
    assert batched.score([]).shape == (0,) and batched.embed([]).shape == (0, 384)


def test_a_concern_at_the_end_of_a_long_message_is_not_truncated_away(session: TextSession,
                                                                        fused_dir: Path) -> None:
    filler = "I have a question about the bill for my last appointment and the parking charges. " * 25
    text = filler + "Honestly, I have been thinking about killing myself."
    assert session.token_counts([text])[0] > session.max_length
    truncated = TextSession(fused_dir, options=session_options(2), windows=False)
    sentences = TextSession(fused_dir, options=session_options(2), per_sentence=True)
    windowed_p, truncated_p = float(session.score([text])[0]), float(truncated.score([text])[0])
    sentence_p = float(sentences.score([text])[0])
    print(f"\nlong text: truncated p = {truncated_p:.3f}, windowed p = {windowed_p:.3f}, per-sentence p = "
          f"{sentence_p:.3f}")
    # Windows see the last sentence, but mean pooling over ~250 tokens of filler still dilutes it;
    # per-sentence scoring does not.
    assert windowed_p > truncated_p
    assert sentence_p > 0.9
    np.testing.assert_allclose(np.linalg.norm(session.embed([text, "short"]), axis=1), 1.0, atol=1e-5)

    # The explanation finds the concerning sentence, not the first 64 words of filler.
    words = session.explain(text, top_k=3)
    assert words and all(item["start"] >= len(filler) for item in words)


def test_per_sentence_scoring_undoes_the_dilution_of_a_mixed_message(session: TextSession, fused_dir: Path) -> None:
    sentences = TextSession(fused_dir, options=session_options(2), per_sentence=True)
    mixed = "Please move my appointment to Friday. I want to kill myself."
    whole_p, sentence_p = float(session.score([mixed])[0]), float(sentences.score([mixed])[0])
    alone_p = float(session.score(["I want to kill myself."])[0])
    print(f"\nmixed message: whole-text p = {whole_p:.3f}, per-sentence p = {sentence_p:.3f}, "
          f"concerning sentence alone p = {alone_p:.3f}")
    assert sentence_p == pytest.approx(alone_p, abs=1e-6) and sentence_p > whole_p
    single = ["I need a repeat prescription", "Is the clinic open today?"]  # one sentence: nothing changes
    np.testing.assert_array_equal(sentences.score(single), session.score(single))


def test_explain_points_at_the_concerning_words(session: TextSession) -> None:
    text = "Please move my appointment to Friday. I want to kill myself."
    words = session.explain(text, top_k=5)
    print("\nexplain:", [(w["word"], round(w["contribution"], 2)) for w in words])
    raising = [w["word"] for w in words if w["contribution"] > 0]
    lowering = [w["word"] for w in words if w["contribution"] < 0]
    assert raising[0] == "kill" and "myself" in raising[:3]
    assert "appointment" in lowering  # the administrative sentence pulls the score down
    for item in words:
        assert text[item["start"]:item["end"]] == item["word"]
        assert abs(item["contribution"]) >= 0.1
    magnitudes = [abs(w["contribution"]) for w in words]
    assert magnitudes == sorted(magnitudes, reverse=True)
    assert session.explain("...!?") == []


def test_the_bare_encoder_embeds_but_refuses_to_score(encoder_session: TextSession) -> None:
    assert not encoder_session.has_head
    with pytest.raises(ConfigurationError, match="probabilities"):
        encoder_session.score(["hello"])


def test_a_tampered_model_file_is_refused(fused_dir: Path) -> None:
    with pytest.raises(ConfigurationError, match="sha256"):
        TextSession(fused_dir, sha256="0" * 64)


def test_serving_loads_and_scores_without_torch_or_transformers(fused_dir: Path) -> None:
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "import reviewqueue.text.graph, reviewqueue.text.zero_shot, reviewqueue.text.locate\n"
        "from reviewqueue.text.serving import TextSession\n"
        f"p = TextSession(Path({str(fused_dir)!r})).score(['I need a repeat prescription'])\n"
        "assert p.shape == (1,)\n"
        "print(sorted(m for m in ('torch', 'transformers', 'sentence_transformers') if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.strip() == "[]", result.stdout
