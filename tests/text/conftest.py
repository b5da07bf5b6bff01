"""Text-model fixtures: the encoder is exported ONCE per session (about 10 s with torch's import) and every test
reuses it, with the zero-shot head from the seed phrases fused on top."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from reviewqueue.text.export import export_encoder  # noqa: E402
from reviewqueue.text.graph import fuse_head, quantize_int8  # noqa: E402
from reviewqueue.text.locate import minilm_dir  # noqa: E402
from reviewqueue.text.phrases import SEED_CALIBRATION, SEED_CONCERN, SEED_NO_CONCERN  # noqa: E402
from reviewqueue.text.serving import TextSession, session_options  # noqa: E402
from reviewqueue.text.zero_shot import zero_shot_head  # noqa: E402


@pytest.fixture(scope="session")
def model_dir() -> Path:
    return minilm_dir()


@pytest.fixture(scope="session")
def encoder_path(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return export_encoder(model_dir, tmp_path_factory.mktemp("encoder"))


@pytest.fixture(scope="session")
def encoder_session(encoder_path: Path) -> TextSession:
    return TextSession(encoder_path.parent, model_file=encoder_path.name, options=session_options(2))


@pytest.fixture(scope="session")
def head(encoder_session: TextSession) -> tuple[np.ndarray, float]:
    return zero_shot_head(encoder_session.embed, SEED_CONCERN, SEED_NO_CONCERN, SEED_CALIBRATION)


@pytest.fixture(scope="session")
def fused_dir(encoder_path: Path, head: tuple[np.ndarray, float], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model version folder as serving sees it: model.onnx (encoder + zero-shot head) + tokenizer.json."""
    folder = tmp_path_factory.mktemp("fused")
    shutil.copy(encoder_path.parent / "tokenizer.json", folder / "tokenizer.json")
    fuse_head(encoder_path, head[0], head[1], folder / "model.onnx")
    return folder


@pytest.fixture(scope="session")
def session(fused_dir: Path) -> TextSession:
    return TextSession(fused_dir, options=session_options(2))


@pytest.fixture(scope="session")
def int8_session(fused_dir: Path) -> TextSession:
    quantize_int8(fused_dir / "model.onnx", fused_dir / "model_int8.onnx")
    return TextSession(fused_dir, model_file="model_int8.onnx", options=session_options(2))
