"""Scoring with ONNX Runtime: one session per model version, cached; champions swap without a restart."""

from reviewqueue.serving.sessions import SessionCache, choose_providers

__all__ = ["SessionCache", "choose_providers"]
