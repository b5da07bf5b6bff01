"""The exported encoder computes what sentence-transformers' all-MiniLM-L6-v2 computes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx

from reviewqueue.text.export import max_abs_diff_vs_torch
from reviewqueue.text.serving import TextSession
from tests.text.messages import FIXED_TEXTS


def test_onnx_embeddings_equal_torch_on_fixed_texts(model_dir: Path, encoder_path: Path) -> None:
    # One padded batch of 20 texts from 2 to 256 word pieces, tokenised by transformers on the torch side and by
    # our tokenizer.json on the ONNX side: this checks the trace, the pooling and the tokenizer settings at once.
    diff = max_abs_diff_vs_torch(model_dir, encoder_path, FIXED_TEXTS)
    print(f"\nexport: max |onnx - torch| over {len(FIXED_TEXTS)} texts = {diff:.2e}")
    assert diff < 1e-4


def test_graph_interface_is_dynamic_int64_in_float32_unit_vectors_out(encoder_path: Path,
                                                                       encoder_session: TextSession) -> None:
    graph = onnx.load(str(encoder_path), load_external_data=False)
    inputs = {i.name: i.type.tensor_type for i in graph.graph.input}
    assert set(inputs) == {"input_ids", "attention_mask"}
    for tensor in inputs.values():
        assert tensor.elem_type == onnx.TensorProto.INT64
        assert [d.dim_param for d in tensor.shape.dim] == ["batch", "sequence"]
    (output,) = graph.graph.output
    assert output.name == "embedding"
    assert [d.dim_param or d.dim_value for d in output.type.tensor_type.shape.dim] == ["batch", 384]
    # Self-contained: one file, so one sha256 covers the weights (torch 2.13 defaults to external data).
    assert not any(t.data_location == onnx.TensorProto.EXTERNAL for t in graph.graph.initializer)
    assert [p.name for p in encoder_path.parent.iterdir() if p.suffix == ".data"] == []

    embeddings = encoder_session.embed(["short", "a somewhat longer text that needs more padding than the first"])
    assert embeddings.dtype == np.float32 and embeddings.shape == (2, 384)
    np.testing.assert_allclose(np.linalg.norm(embeddings, axis=1), 1.0, atol=1e-5)


def test_tokenizer_file_truncates_at_max_length_and_pads_to_the_longest(encoder_path: Path) -> None:
    config = json.loads((encoder_path.parent / "tokenizer.json").read_text())
    # The packaged file says Fixed(128)/128; serving must use the model's 256 and dynamic padding.
    assert config["truncation"]["max_length"] == 256
    assert config["padding"]["strategy"] == "BatchLongest"
    assert config["padding"]["pad_token"] == "[PAD]"
