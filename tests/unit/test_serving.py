from __future__ import annotations

import pytest

from reviewqueue.errors import ConfigurationError
from reviewqueue.serving.sessions import SessionCache, choose_providers


def test_cuda_is_preferred_when_offered_and_cpu_is_always_the_fallback() -> None:
    assert choose_providers(["CUDAExecutionProvider", "CPUExecutionProvider"]) == \
        ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert choose_providers(["CPUExecutionProvider"]) == ["CPUExecutionProvider"]
    assert choose_providers()[-1] == "CPUExecutionProvider"


def test_a_tampered_artifact_is_refused(tmp_path) -> None:
    path = tmp_path / "model.onnx"
    path.write_bytes(b"not the model we trained")
    with pytest.raises(ConfigurationError, match="sha256"):
        SessionCache().get(1, str(path), "0" * 64)
