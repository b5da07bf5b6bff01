"""reviewqueue: score events with ONNX models, route the uncertain ones to human review, act, and learn.

The public surface for model authors and integrators is small: the ``model`` decorator and its value
objects, ``Settings``, the typed HTTP ``Client`` and the ``errors`` tree.
"""

from reviewqueue import errors
from reviewqueue.domain.four_eyes import FourEyes
from reviewqueue.domain.policies import ExpectedLoss, RetryPolicy, RoutingPolicy, ScorePriority
from reviewqueue.features import Category, Text
from reviewqueue.registry import ActionSpec, LearningQueue, Registry, Retrain, Sla, ZeroShot, action, model
from reviewqueue.settings import Settings

__all__ = [
    "ActionSpec",
    "Category",
    "Client",
    "ExpectedLoss",
    "FourEyes",
    "LearningQueue",
    "Registry",
    "Retrain",
    "RetryPolicy",
    "RoutingPolicy",
    "ScorePriority",
    "Settings",
    "Sla",
    "Text",
    "ZeroShot",
    "action",
    "errors",
    "model",
]


def __getattr__(name: str) -> object:
    # The client pulls in httpx; load it only for callers that use it.
    if name == "Client":
        from reviewqueue.client import Client

        return Client
    raise AttributeError(name)
