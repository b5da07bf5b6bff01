"""Bring your own transformer classifier: a local *ForSequenceClassification folder (built here from the shipped
all-MiniLM-L6-v2 with a fresh two-label head, saved with save_pretrained: nothing downloaded) is exported with
the text kind's exporter at registration, stored as a text version, served through ingest (items routed, scores
stored, words explained) with onnxruntime + tokenizers; bad declarations are refused naming the field, and a
changed folder registered again is a candidate the gate judges."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import func, select

import reviewqueue as rq
from reviewqueue.db.tables import ModelVersion, Prediction, ReviewItem, TrainingRun
from reviewqueue.errors import ConfigurationError
from reviewqueue.registry import SPEC_ATTRIBUTE, ModelSpec
from reviewqueue.services import ingest, registration
from reviewqueue.text.locate import minilm_dir
from tests.byo.conftest import REVIEW_ALL
from tests.integration.test_training import SYSTEM, table

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json")


@pytest.fixture(scope="session")
def classifier_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """MiniLM with a seeded two-label head (ham, spam), saved as a data scientist would hand it over."""
    import torch
    from transformers import AutoModelForSequenceClassification

    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(
        str(minilm_dir()), num_labels=2, id2label={0: "ham", 1: "spam"}, label2id={"ham": 0, "spam": 1},
        local_files_only=True)
    folder = tmp_path_factory.mktemp("spam-classifier")
    model.save_pretrained(str(folder))
    for name in TOKENIZER_FILES:
        if (minilm_dir() / name).is_file():
            shutil.copy(minilm_dir() / name, folder / name)
    return folder


def spam_spec(folder: Path, **declared: Any) -> ModelSpec:
    options: dict[str, Any] = {"positive_label": "spam", **declared}

    @rq.model(name="spam", transformer=folder, verdicts={"spam": [], "ham": []}, positive_verdict="spam",
              negative_verdict="ham", routing=REVIEW_ALL, **options)
    def spam(df: Any) -> None:
        """The messaging team's classifier, served and judged by reviewqueue."""

    spec: ModelSpec = getattr(spam, SPEC_ATTRIBUTE)
    return spec


def message(i: int, text: str) -> dict[str, Any]:
    return {"external_id": f"sms-{i}", "features": {"text": text}, "context": {}}


def test_a_transformer_folder_registers_serves_and_a_changed_one_is_gated(byo_ctx, classifier_dir, tmp_path,
                                                                          capfd):
    ctx = byo_ctx(spam_spec(classifier_dir))
    first = registration.register(ctx, ctx.registry.model("spam"))
    assert first.run is not None and first.run.promoted and first.run.version == 1, first
    assert "Loading weights" not in capfd.readouterr().err, "no library progress bar inside the command's output"
    [version] = table(ctx, ModelVersion)
    assert version.lineage["byo"] == "hf_classifier" and version.lineage["positive_label"] == "spam"
    assert version.input_schema["input"] == "text"
    folder = Path(version.artifact_path).parent
    assert sorted(p.name for p in folder.iterdir()) == ["model.onnx", "tokenizer.json"]

    texts = ["WINNER!! claim your free prize now", "see you at lunch tomorrow"]
    served = ingest.ingest(ctx, SYSTEM, "spam", [message(i, t) for i, t in enumerate(texts)])
    assert [p.model_version for p in served] == [1, 1] and [p.route for p in served] == ["review", "review"]
    with ctx.engine.connect() as conn:
        stored = [row.score for row in conn.execute(select(Prediction.score).order_by(Prediction.id))]
        items = conn.execute(select(func.count()).select_from(ReviewItem)).scalar_one()
    assert stored == pytest.approx([p.score for p in served]) and items == 2
    assert all(0 < s < 1 for s in stored)
    # the served graph is the transformer's own softmax(logits)[spam], computed without torch
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model = AutoModelForSequenceClassification.from_pretrained(str(classifier_dir), local_files_only=True).eval()
    batch = AutoTokenizer.from_pretrained(str(classifier_dir), local_files_only=True)(texts, padding=True,
                                                                                      return_tensors="pt")
    with torch.no_grad():
        reference = torch.softmax(model(**batch).logits, dim=1)[:, 1].numpy()
    assert np.max(np.abs(np.array(stored) - reference)) < 1e-4
    scorer = ctx.scorers.get(ctx.registry.model("spam"), version.id, version.artifact_path, version.sha256)
    words = scorer.explain({"text": texts[0]}, version.input_schema)
    assert all(texts[0][w["start"]:w["end"]] == w["value"] for w in words)

    assert registration.register(ctx, ctx.registry.model("spam")).existing_version == 1
    swapped = tmp_path / "swapped"
    shutil.copytree(classifier_dir, swapped)
    config = json.loads((swapped / "config.json").read_text())
    config["id2label"], config["label2id"] = {"0": "spam", "1": "ham"}, {"spam": 0, "ham": 1}
    (swapped / "config.json").write_text(json.dumps(config))
    candidate = byo_ctx(spam_spec(swapped))
    run = registration.register(candidate, candidate.registry.model("spam")).run
    assert run is not None and not run.promoted and run.version == 2
    assert run.decision == "kept v1: not enough evidence (0 positive fresh labels, need 10)"
    assert {v.version: v.status for v in table(candidate, ModelVersion)} == {1: "champion", 2: "rejected"}


def test_a_bad_transformer_declaration_is_refused_naming_the_field(byo_ctx, classifier_dir, tmp_path):
    ctx = byo_ctx(spam_spec(classifier_dir, positive_label="fraud"))
    with pytest.raises(ConfigurationError, match=r"positive_label 'fraud' is not one of its labels \['ham', "
                                                 r"'spam'\]") as refused:
        registration.register(ctx, ctx.registry.model("spam"))
    assert refused.value.field == "positive_label"
    encoder_only = byo_ctx(spam_spec(minilm_dir()))
    with pytest.raises(ConfigurationError, match=r"is not a sequence classifier \(architectures \['BertModel'\]")\
            as not_a_classifier:
        registration.register(encoder_only, encoder_only.registry.model("spam"))
    assert not_a_classifier.value.field == "transformer"
    empty = byo_ctx(spam_spec(tmp_path))
    with pytest.raises(ConfigurationError, match="has no config.json"):
        registration.register(empty, empty.registry.model("spam"))
    with ctx.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(TrainingRun)).scalar_one() == 0
    with pytest.raises(ConfigurationError, match="needs positive_label"):
        spam_spec(classifier_dir, positive_label=None)
    with pytest.raises(ConfigurationError, match="reads one text feature"):
        spam_spec(classifier_dir, features={"text": rq.Text(), "amount": float})
